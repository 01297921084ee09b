//! Co-simulation of the card's data path: frames through the RTL parser into the RTL lookup
//! pipeline, cycle by cycle, beside the reference (nic-abi's card parser and nic-model's flow
//! table), comparing every key and every lookup result.
//!
//! ```text
//!  frames --beats--> pkt_parser (RTL) --key--> FIFO --> flow_table_regs (RTL) --result-->
//!     |                  compare key                      compare result    |
//!     +--> nic_abi::parse::parse_card --> nic_model FlowTable::lookup ------+
//! ```
//!
//! Before the stream, a seeded share of the frames' distinct parsed keys is installed in both
//! tables (the RTL through its management registers), comparing every insert's status. The
//! first disagreement stops the run and is returned with its stimulus.

use std::collections::VecDeque;
use std::path::PathBuf;

use nic_abi::action::{Action, Destination};
use nic_abi::key::{FlowKey, KeyWords, PortNo};
use nic_abi::parse::parse_card;
use nic_abi::table::TableGeometry;
use nic_abi::time::SimTime;
use nic_model::engine::Clock;
use nic_model::flow_table::{FlowTable, InsertError};
use nic_model::pipeline::{Pipeline, PipelineConfig};
use serde::Serialize;

use crate::flow_table::{
    CycleInputs, FlowTableRtl, LookupRequest, LookupResult, MgmtCommand, MgmtStatus, TableVariant,
};
use crate::pkt_parser::{window_beats, Beat, PacketParserRtl};
use crate::RtlError;

/// Simulated time of one NIC core cycle: 4 ns, a 250 MHz clock (the table's counters store
/// lookup times in picoseconds, so both sides stamp the same values).
pub const CYCLE_PS: u64 = 4_000;

/// How a co-simulation runs.
#[derive(Debug, Clone)]
pub struct CosimConfig {
    /// Seeds the choice of installed flows and their actions.
    pub seed: u64,
    /// Share of the distinct parsed keys installed before the stream, in 0..=1.
    pub install_fraction: f64,
    /// Dump a VCD of both RTL models here (`<path>.parser.vcd`, `<path>.table.vcd`).
    pub vcd: Option<PathBuf>,
}

impl Default for CosimConfig {
    fn default() -> CosimConfig {
        CosimConfig {
            seed: 1,
            install_fraction: 0.5,
            vcd: None,
        }
    }
}

/// The run's counts, as `snich cosim` prints them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CosimSummary {
    /// Frames streamed.
    pub packets: u64,
    /// Parser keys compared (one per frame).
    pub keys_compared: u64,
    /// Lookup results compared (one per frame).
    pub lookups_compared: u64,
    /// Inserts compared before the stream.
    pub installs_compared: u64,
    /// Result cycles compared with nic-model's pipeline timing (one per frame).
    pub timing_compared: u64,
    /// Lookups that hit.
    pub hits: u64,
    /// Disagreements (the run stops at the first).
    pub mismatches: u64,
    /// Clock cycles simulated (both RTL models step together).
    pub cycles: u64,
    /// Wall-clock seconds of the run.
    pub wall_seconds: f64,
    /// Simulated cycles per wall-clock second.
    pub cycles_per_second: f64,
}

/// The first disagreement, with what caused it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    /// Which comparison failed: `parser_key`, `lookup`, `timing` or `install`.
    pub kind: &'static str,
    /// Index of the frame in the stream.
    pub packet: u64,
    /// The frame's bytes, hex.
    pub frame_hex: String,
    /// The port it entered on.
    pub in_port: u16,
    /// Cycle of the disagreement.
    pub cycle: u64,
    /// What the reference says.
    pub expected: String,
    /// What the RTL says.
    pub actual: String,
}

/// A run's outcome: the summary, and the first mismatch if there was one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CosimReport {
    /// Counts.
    pub summary: CosimSummary,
    /// The first disagreement.
    pub first_mismatch: Option<Mismatch>,
}

impl Mismatch {
    /// A disagreement about frame `index` of `frames` (or none, for an index beyond them).
    fn at(
        frames: &[(Vec<u8>, PortNo)],
        kind: &'static str,
        index: usize,
        cycle: u64,
        expected: String,
        actual: String,
    ) -> Mismatch {
        let (frame, port) = frames
            .get(index)
            .map_or((&[][..], PortNo(0)), |(f, p)| (&f[..], *p));
        Mismatch {
            kind,
            packet: index as u64,
            frame_hex: hex(frame),
            in_port: port.0,
            cycle,
            expected,
            actual,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A small deterministic generator (SplitMix64) for choosing installed flows: the choice
/// must not depend on the order keys are met, so it hashes each key with the seed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn key_digest(seed: u64, key: &KeyWords) -> u64 {
    key.iter()
        .fold(mix(seed), |acc, &w| mix(acc ^ u64::from(w)))
}

/// The action installed for a key: derived from its digest, so runs repeat exactly.
fn action_for(digest: u64) -> Action {
    let port = u16::try_from(digest % 64 + 1).unwrap_or(1);
    let dest = match (digest >> 8) % 4 {
        0 => Destination::Drop,
        1 => Destination::Flood,
        2 => Destination::ToAgent,
        _ => Destination::Output(PortNo(port)),
    };
    Action {
        dest,
        ..Action::DROP
    }
}

/// Runs `frames` (each with its ingress port) through both sides. Errors are failures of the
/// RTL harness itself (a model that would not build, a timeout); disagreements are reported in
/// the result.
pub fn run(frames: &[(Vec<u8>, PortNo)], config: &CosimConfig) -> Result<CosimReport, RtlError> {
    run_against(frames, config, parse_card)
}

/// [`run`] with another reference parser in place of nic-abi's card parser (tests use it to
/// check that a disagreement is caught and reported).
pub fn run_against(
    frames: &[(Vec<u8>, PortNo)],
    config: &CosimConfig,
    reference_parser: fn(&[u8], PortNo) -> FlowKey,
) -> Result<CosimReport, RtlError> {
    let started = std::time::Instant::now();
    let vcd = |suffix: &str| config.vcd.as_ref().map(|p| p.with_extension(suffix));
    let parser_vcd = vcd("parser.vcd");
    let table_vcd = vcd("table.vcd");
    let mut parser = PacketParserRtl::new(parser_vcd.as_deref())?;
    let variant = TableVariant::Standard;
    let mut table = FlowTableRtl::new(variant, table_vcd.as_deref())?;
    let geometry = TableGeometry::new(variant.buckets())
        .map_err(|e| RtlError::Harness(format!("table geometry: {e}")))?;
    let mut model: FlowTable<Action> = FlowTable::new(geometry, variant.max_kicks());
    let mut summary = CosimSummary {
        packets: frames.len() as u64,
        ..CosimSummary::default()
    };

    let expected_keys: Vec<FlowKey> = frames
        .iter()
        .map(|(frame, port)| reference_parser(frame, *port))
        .collect();

    // Install a share of the distinct parsed keys in both tables.
    let mut seen = std::collections::HashSet::new();
    // A key is installed when its digest, as a fraction of 2^53, falls below the share.
    let share = config.install_fraction.clamp(0.0, 1.0);
    let installs = |digest: u64| ((digest >> 11) as f64) / ((1u64 << 53) as f64) < share;
    for (i, key) in expected_keys.iter().enumerate() {
        if !key.is_parsed() || !seen.insert(*key) {
            continue;
        }
        let digest = key_digest(config.seed, &key.to_words());
        if !installs(digest) {
            continue;
        }
        let action = action_for(digest);
        let expected = match model.insert(key, action) {
            Ok(_) => MgmtStatus::Ok,
            Err(InsertError::TableFull { .. }) => MgmtStatus::TableFull,
            Err(InsertError::UnparsedKey(_)) => MgmtStatus::BadKey,
        };
        let (rsp, _) = table.execute(MgmtCommand::Insert {
            key: key.to_words(),
            action,
        })?;
        summary.installs_compared += 1;
        if rsp.status != expected {
            let mismatch = Mismatch::at(
                frames,
                "install",
                i,
                table.cycles(),
                format!("{expected:?}"),
                format!("{rsp:?}"),
            );
            return Ok(finish(summary, started, &parser, &table, Some(mismatch)));
        }
    }

    // Stream every frame's header window through the parser; keys feed the table.
    let mut beats: VecDeque<Beat> = VecDeque::new();
    for (frame, port) in frames {
        beats.extend(window_beats(frame, *port)?);
    }
    let mut keys_out = 0usize;
    let mut lookups_in = 0usize;
    let mut lookup_fifo: VecDeque<(usize, KeyWords)> = VecDeque::new();
    let mut expected_results: VecDeque<LookupResult> = VecDeque::new();
    // nic-model's timing of the same stream: every frame's header is ready at time 0, so the
    // parser takes them back to back, as the RTL stream does from its first cycle. Model
    // cycle c (time c * CYCLE_PS) is the RTL's stream cycle c + 1.
    let clock =
        Clock::from_period_ps(CYCLE_PS).map_err(|e| RtlError::Harness(format!("clock: {e}")))?;
    let mut pipeline = Pipeline::new(PipelineConfig::default(), clock);
    let expected_cycles: Vec<u64> = frames
        .iter()
        .map(|(frame, _)| pipeline.process(SimTime::ZERO, frame.len() as u64).0 / CYCLE_PS + 1)
        .collect();
    let mut cycle: u64 = 0;
    let bound = 64 * (frames.len() as u64 + 16);
    while summary.lookups_compared < summary.packets {
        cycle += 1;
        if cycle > bound {
            return Err(RtlError::Timeout {
                what: "co-simulation stream",
                cycles: bound,
            });
        }
        let now = SimTime(cycle * CYCLE_PS);
        let pc = parser.step(beats.front(), true);
        if pc.beat_accepted {
            beats.pop_front();
        }
        let lookup = lookup_fifo.front().map(|&(i, key)| LookupRequest {
            key,
            len: u16::try_from(frames[i].0.len()).unwrap_or(u16::MAX),
            time: now,
            tag: u32::try_from(i).unwrap_or(u32::MAX),
        });
        let tc = table.step(&CycleInputs {
            lookup,
            result_ready: true,
        })?;
        if tc.lookup_accepted {
            if let (Some((i, _)), Some(req)) = (lookup_fifo.pop_front(), lookup) {
                let key = &expected_keys[i];
                let slot = model.find(key).map(|s| s.0);
                let action = model.lookup(key, u64::from(req.len), now);
                let hit = slot.zip(action);
                expected_results.push_back(LookupResult { tag: req.tag, hit });
                lookups_in += 1;
            }
        }
        if let Some(result) = tc.result {
            let expected = expected_results.pop_front();
            summary.lookups_compared += 1;
            summary.hits += u64::from(result.hit.is_some());
            // Outputs of step `cycle` are valid during cycle `cycle + 1`.
            let i = result.tag as usize;
            let predicted = expected_cycles.get(i).copied();
            summary.timing_compared += 1;
            if predicted != Some(cycle + 1) {
                let mismatch = Mismatch::at(
                    frames,
                    "timing",
                    i,
                    cycle,
                    format!("result valid in stream cycle {predicted:?} (nic-model)"),
                    format!("result valid in stream cycle {} (RTL)", cycle + 1),
                );
                return Ok(finish(summary, started, &parser, &table, Some(mismatch)));
            }
            if expected != Some(result) {
                let mismatch = Mismatch::at(
                    frames,
                    "lookup",
                    i,
                    cycle,
                    format!("{expected:?}"),
                    format!("{result:?}"),
                );
                return Ok(finish(summary, started, &parser, &table, Some(mismatch)));
            }
        }
        if let Some(key) = pc.key {
            let i = keys_out;
            keys_out += 1;
            summary.keys_compared += 1;
            let expected = expected_keys.get(i).map(FlowKey::to_words);
            if expected != Some(key) {
                let mismatch = Mismatch::at(
                    frames,
                    "parser_key",
                    i,
                    cycle,
                    format!("{:08x?}", expected),
                    format!("{key:08x?}"),
                );
                return Ok(finish(summary, started, &parser, &table, Some(mismatch)));
            }
            lookup_fifo.push_back((i, key));
        }
    }
    debug_assert_eq!(lookups_in, frames.len());
    Ok(finish(summary, started, &parser, &table, None))
}

fn finish(
    mut summary: CosimSummary,
    started: std::time::Instant,
    parser: &PacketParserRtl,
    table: &FlowTableRtl,
    mismatch: Option<Mismatch>,
) -> CosimReport {
    summary.mismatches = u64::from(mismatch.is_some());
    summary.cycles = parser.cycles().max(table.cycles());
    summary.wall_seconds = started.elapsed().as_secs_f64();
    summary.cycles_per_second = if summary.wall_seconds > 0.0 {
        summary.cycles as f64 / summary.wall_seconds
    } else {
        0.0
    };
    CosimReport {
        summary,
        first_mismatch: mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 200 TCP frames to port 80 over 7 source addresses, 8 destination MACs and 3 ports.
    fn small_stream() -> Vec<(Vec<u8>, PortNo)> {
        use nic_abi::emit::TransportRepr;
        use nic_abi::emit::{EthernetRepr, FrameRepr, Ipv4Repr, NetworkRepr, TcpRepr};
        use nic_abi::key::MacAddr;
        (0..200u8)
            .map(|i| {
                let frame = FrameRepr {
                    ethernet: EthernetRepr {
                        dst: MacAddr([0x02, 0, 0, 0, 0, i]),
                        src: MacAddr([0x02, 0, 0, 0, 0, 1]),
                        ..EthernetRepr::default()
                    },
                    network: NetworkRepr::Ipv4(Ipv4Repr {
                        src: [10, 0, 0, i % 7].into(),
                        dst: [10, 0, 0, 2].into(),
                        ..Ipv4Repr::default()
                    }),
                    transport: TransportRepr::Tcp(TcpRepr {
                        src_port: 5000,
                        dst_port: 80,
                        ..TcpRepr::default()
                    }),
                    ..FrameRepr::default()
                }
                .to_vec()
                .expect("a plain TCP frame");
                (frame, PortNo(u16::from(i % 3) + 1))
            })
            .collect()
    }

    #[test]
    fn a_small_stream_agrees_and_counts_every_packet() {
        let frames = small_stream();
        let report = run(&frames, &CosimConfig::default()).expect("harness runs");
        assert_eq!(report.first_mismatch, None);
        assert_eq!(report.summary.keys_compared, 200);
        assert_eq!(report.summary.lookups_compared, 200);
        assert_eq!(report.summary.timing_compared, 200);
        assert!(report.summary.hits > 0 && report.summary.hits < 200);
        assert!(report.summary.installs_compared > 0);
    }
}

#[cfg(test)]
mod mismatch_tests {
    use super::*;

    /// nic-abi's parser, wrong for frames whose source MAC ends in 0x2a.
    fn wrong_parser(frame: &[u8], port: PortNo) -> FlowKey {
        let mut key = parse_card(frame, port);
        if frame.get(11) == Some(&0x2a) {
            key.tp_dst ^= 1;
        }
        key
    }

    #[test]
    fn a_disagreement_stops_the_run_with_its_stimulus() {
        let mut frames: Vec<(Vec<u8>, PortNo)> = (0..50u8)
            .map(|i| {
                (
                    vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, i, 0x88, 0xcc, 0, 0],
                    PortNo(1),
                )
            })
            .collect();
        frames.truncate(50);
        let report = run_against(&frames, &CosimConfig::default(), wrong_parser).expect("runs");
        let m = report.first_mismatch.expect("the wrong parser is caught");
        assert_eq!((m.kind, m.packet), ("parser_key", 42));
        assert_eq!(m.frame_hex, hex(&frames[42].0));
        assert_eq!(report.summary.mismatches, 1);
    }
}
