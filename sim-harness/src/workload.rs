//! Workloads: the packets a run offers, generated from a seed or replayed from a capture.
//!
//! A generated workload is a stream of flows. Each flow is a sender and a receiver (two VMs
//! for inter-VM traffic, a VM and an external host for VM-to-wire and wire-to-VM), a protocol
//! and a pair of ports. Packets leave at the workload's rate; each packet picks its traffic
//! kind by the mix's shares and, within that kind, one of the active flows by Zipf popularity
//! (the newest flow is the most popular, so locality is temporal, as in real traces). New
//! flows arrive as a Poisson process (`flows.new_per_second`); a new flow sends its first
//! packet next, so new flows per second is the flow-setup load of every switch. A flow ends
//! after `flows.length_packets` packets, or when `flows.max_active` newer flows push it out.
//!
//! Frames are real Ethernet II / IPv4 / UDP or TCP frames, byte-exact: IPv4 total length, UDP
//! length and the IPv4 header checksum are right; the L4 checksum is left zero (no switch
//! here reads it). Sizes are Ethernet frame sizes including the 4-byte FCS, as in RFC 2544's
//! frame-size tables (64 means 60 bytes of frame data offered to the switch).
//!
//! Everything random comes from one `ChaCha8Rng` seeded by the scenario's seed, and no
//! platform math library is used (logarithms and powers come from [`detmath`]), so the same
//! scenario offers the same packets on every machine (invariant 6).
//!
//! A replayed capture (`kind = "pcap"`) maps the capture's unicast MAC addresses, in order of
//! first appearance, round-robin onto the scenario's VMs and then its external hosts, and
//! rewrites each frame's MACs and IPv4 addresses to the mapped endpoints'. Frames that cannot
//! be mapped (shorter than an Ethernet header, a multicast source) are counted by reason and
//! not offered; frames cut short by the capture's snap length are padded back to their length
//! on the wire.
//!
//! ```
//! use sim_harness::scenario::Scenario;
//!
//! let s = Scenario::from_toml("packets = 1000\n[workload]\nkind = \"vm-to-wire\"\n", None)?;
//! let first: Vec<_> = s.workload.packets(&s.topology, s.seed, s.limit).take(3).collect();
//! let again: Vec<_> = s.workload.packets(&s.topology, s.seed, s.limit).take(3).collect();
//! assert_eq!(first, again, "seeded");
//! assert_eq!(first[0].frame.len(), 60, "64-byte frames: 60 bytes without the FCS");
//! # Ok::<(), sim_harness::scenario::ScenarioError>(())
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use nic_abi::key::MacAddr;
use nic_abi::time::SimTime;
use nic_model::mac::MacConfig;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::capture::Capture;
use crate::scenario::Limit;
use crate::switch::{Endpoint, ExternalHostIndex, OfferedPacket, Topology, VmIndex};

/// Bytes of the FCS, which sizes include and offered frames do not.
const FCS_BYTES: usize = 4;
/// Preamble, start delimiter and inter-frame gap: the wire time of a frame beyond its bytes.
const WIRE_OVERHEAD_BYTES: u64 = 8 + 12;

/// What kind of traffic a flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrafficKind {
    /// VM to VM on this host.
    InterVm,
    /// VM to a host on the wire.
    VmToWire,
    /// A host on the wire to a VM.
    WireToVm,
}

impl TrafficKind {
    /// The name scenarios use.
    pub fn name(self) -> &'static str {
        match self {
            TrafficKind::InterVm => "inter-vm",
            TrafficKind::VmToWire => "vm-to-wire",
            TrafficKind::WireToVm => "wire-to-vm",
        }
    }
}

/// `workload.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// Only inter-VM traffic.
    InterVm,
    /// Only VM-to-wire traffic.
    VmToWire,
    /// Only wire-to-VM traffic.
    WireToVm,
    /// The shares of `workload.mix`.
    #[default]
    Mix,
    /// Replay of `workload.pcap.file`.
    Pcap,
}

/// One entry of `workload.mix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    /// The traffic kind.
    pub kind: TrafficKind,
    /// Its share of the packets (shares are normalised to sum to 1).
    pub share: f64,
}

/// `workload.size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SizeSpec {
    /// Every frame this size (FCS included), 64..=9220.
    Fixed(u32),
    /// An IMIX by name: `simple`.
    Imix(String),
    /// The frame lengths of a capture, sampled uniformly.
    Pcap(PathBuf),
}

/// `workload.rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RateSpec {
    /// This fraction of the uplink's line rate, all senders together.
    LineRate(f64),
    /// This fraction of the uplink's line rate for each VM (VM count times the uplink's).
    LineRatePerVm(f64),
    /// Packets per second, evenly spaced.
    Pps(f64),
    /// Packets per second on average, exponential gaps (a Poisson process).
    PoissonPps(f64),
}

/// `workload.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// UDP (IP protocol 17).
    #[default]
    Udp,
    /// TCP (IP protocol 6), ACK segments.
    Tcp,
}

/// `workload.flows`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowsSpec {
    /// Flows active at time 0 (each sends its first packet first).
    pub initial: u32,
    /// New flows per second (a Poisson process); 0: only the initial flows.
    pub new_per_second: f64,
    /// Zipf exponent of flow popularity (0: uniform over the active flows).
    pub zipf_s: f64,
    /// Packets after which a flow ends (0: it never ends by itself).
    pub length_packets: u64,
    /// Active flows at most per traffic kind; the oldest end first.
    pub max_active: u32,
}

impl Default for FlowsSpec {
    fn default() -> Self {
        FlowsSpec {
            initial: 64,
            new_per_second: 0.0,
            zipf_s: 1.0,
            length_packets: 0,
            max_active: 4096,
        }
    }
}

/// How a replay maps addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressMap {
    /// Unicast MACs in order of first appearance onto VMs, then external hosts, round-robin.
    #[default]
    RoundRobin,
}

/// How a replay times its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplayTiming {
    /// At the workload's rate.
    #[default]
    Rate,
    /// At the capture's own timestamps (from the first packet).
    Capture,
}

/// `workload.pcap`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcapSpec {
    /// The capture (pcap or pcapng, gzipped or not; relative to the scenario file).
    pub file: PathBuf,
    /// The address mapping.
    #[serde(default)]
    pub map: AddressMap,
    /// The timing.
    #[serde(default)]
    pub timing: ReplayTiming,
}

/// The workload section as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The traffic kind.
    pub kind: WorkloadKind,
    /// The shares when `kind = "mix"`.
    pub mix: Vec<MixEntry>,
    /// Frame sizes.
    pub size: SizeSpec,
    /// Packet rate.
    pub rate: RateSpec,
    /// Transport protocol of generated packets.
    pub protocol: Protocol,
    /// Flow arrivals, popularity and lengths.
    pub flows: FlowsSpec,
    /// The capture to replay when `kind = "pcap"`.
    pub pcap: Option<PcapSpec>,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            kind: WorkloadKind::Mix,
            mix: vec![
                MixEntry {
                    kind: TrafficKind::InterVm,
                    share: 0.5,
                },
                MixEntry {
                    kind: TrafficKind::VmToWire,
                    share: 0.25,
                },
                MixEntry {
                    kind: TrafficKind::WireToVm,
                    share: 0.25,
                },
            ],
            size: SizeSpec::Fixed(64),
            rate: RateSpec::LineRate(1.0),
            protocol: Protocol::Udp,
            flows: FlowsSpec::default(),
            pcap: None,
        }
    }
}

/// A workload key with a bad value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    /// `key` (relative to `workload`) is wrong.
    #[error("workload.{key}: {what}")]
    Invalid {
        /// The key path below `workload`.
        key: String,
        /// What is wrong.
        what: String,
    },
}

fn invalid(key: &str, what: impl Into<String>) -> WorkloadError {
    WorkloadError::Invalid {
        key: key.to_string(),
        what: what.into(),
    }
}

/// Frame sizes (FCS included).
#[derive(Debug, Clone, PartialEq)]
pub enum SizeDistribution {
    /// One size.
    Fixed(u32),
    /// Sizes with integer weights.
    Weighted(Vec<(u32, u32)>),
    /// Sizes sampled uniformly from a list (a capture's frames).
    Empirical(Arc<Vec<u32>>),
}

/// The "simple IMIX": 7 : 4 : 1 packets of 40, 576 and 1500 bytes of IP packet (Wikipedia,
/// "Internet Mix", after Agilent's and Spirent's test tools), as Ethernet frames with FCS:
/// 64 (40 + 18, padded to the 64-byte minimum), 594 and 1518 bytes.
pub const SIMPLE_IMIX: [(u32, u32); 3] = [(64, 7), (594, 4), (1518, 1)];

impl SizeDistribution {
    fn sample(&self, rng: &mut ChaCha8Rng) -> u32 {
        match self {
            SizeDistribution::Fixed(s) => *s,
            SizeDistribution::Weighted(w) => {
                let total: u32 = w.iter().map(|(_, n)| n).sum();
                let mut r = rng.random_range(0..total.max(1));
                for &(s, n) in w {
                    if r < n {
                        return s;
                    }
                    r -= n;
                }
                w.last().map_or(64, |&(s, _)| s)
            }
            SizeDistribution::Empirical(v) => v[rng.random_range(0..v.len())],
        }
    }

    /// The mean frame size (FCS included).
    pub fn mean(&self) -> f64 {
        match self {
            SizeDistribution::Fixed(s) => f64::from(*s),
            SizeDistribution::Weighted(w) => {
                let total: u32 = w.iter().map(|(_, n)| n).sum();
                w.iter()
                    .map(|&(s, n)| f64::from(s) * f64::from(n))
                    .sum::<f64>()
                    / f64::from(total.max(1))
            }
            SizeDistribution::Empirical(v) => {
                v.iter().map(|&s| f64::from(s)).sum::<f64>() / v.len().max(1) as f64
            }
        }
    }
}

/// The packet rate, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Back to back at this many bits per second of wire time (preamble and gap included).
    Line {
        /// Bits per second, all senders together.
        bits_per_second: f64,
    },
    /// Evenly spaced.
    Fixed {
        /// Packets per second.
        pps: f64,
    },
    /// Exponential gaps.
    Poisson {
        /// Packets per second on average.
        pps: f64,
    },
}

/// Flow arrivals, popularity and lengths, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowModel {
    /// Flows active at time 0.
    pub initial: u32,
    /// New flows per second.
    pub new_per_second: f64,
    /// Zipf exponent.
    pub zipf_s: f64,
    /// Packets per flow (0: unbounded).
    pub length_packets: u64,
    /// Active flows at most per kind.
    pub max_active: u32,
}

/// A generated workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// Traffic kinds with their shares (summing to 1).
    pub shares: Vec<(TrafficKind, f64)>,
    /// Frame sizes.
    pub sizes: SizeDistribution,
    /// Packet rate.
    pub rate: Rate,
    /// Transport protocol.
    pub protocol: Protocol,
    /// Flows.
    pub flows: FlowModel,
}

/// What mapping a capture did: counts scripts can check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayStats {
    /// The capture file.
    pub file: String,
    /// Frames in the capture.
    pub frames: u64,
    /// Frames offered (mapped).
    pub offered: u64,
    /// Frames the capture cut short, padded back to their length.
    pub padded: u64,
    /// Frames not offered, by reason.
    pub malformed: BTreeMap<String, u64>,
    /// Distinct unicast MAC addresses mapped onto endpoints.
    pub addresses_mapped: u64,
}

/// A capture mapped onto the scenario's endpoints.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Sender, frame and capture time (ps from the first frame) of every mapped frame.
    pub frames: Arc<Vec<(Endpoint, Bytes, u64)>>,
    /// What the mapping did.
    pub stats: ReplayStats,
    /// Timing.
    pub timing: ReplayTiming,
    /// The rate when timing is `rate`.
    pub rate: Rate,
}

/// A validated workload.
#[derive(Debug, Clone)]
pub enum Workload {
    /// Generated from the seed.
    Generated(Generated),
    /// Replayed from a capture.
    Replay(Replay),
}

fn positive(key: &str, v: f64) -> Result<f64, WorkloadError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(invalid(key, format!("{v} is not a positive number")))
    }
}

fn rate(spec: &RateSpec, vms: usize, uplink: &MacConfig) -> Result<Rate, WorkloadError> {
    let line = uplink.speed.bits_per_second() as f64;
    Ok(match *spec {
        RateSpec::LineRate(f) => Rate::Line {
            bits_per_second: line * positive("rate.line_rate", f)?,
        },
        RateSpec::LineRatePerVm(f) => Rate::Line {
            bits_per_second: line * positive("rate.line_rate_per_vm", f)? * vms as f64,
        },
        RateSpec::Pps(p) => Rate::Fixed {
            pps: positive("rate.pps", p)?,
        },
        RateSpec::PoissonPps(p) => Rate::Poisson {
            pps: positive("rate.poisson_pps", p)?,
        },
    })
}

fn capture_sizes(path: &Path) -> Result<Vec<u32>, WorkloadError> {
    let c = Capture::open(path).map_err(|e| invalid("size.pcap", e.to_string()))?;
    Ok(c.frames
        .iter()
        .map(|f| (f.orig_len + 4).clamp(64, 9220))
        .collect())
}

impl Workload {
    /// Validates `spec` for `topology`, with `uplink` the card's first MAC port (line rate)
    /// and `resolve` turning a path written in the scenario into one to open.
    pub fn from_spec(
        spec: &WorkloadSpec,
        topology: &Topology,
        uplink: &MacConfig,
        resolve: &dyn Fn(&Path) -> PathBuf,
    ) -> Result<Workload, WorkloadError> {
        let vms = topology.vms.len();
        let rate = rate(&spec.rate, vms, uplink)?;
        if spec.kind == WorkloadKind::Pcap {
            let p = spec
                .pcap
                .as_ref()
                .ok_or_else(|| invalid("pcap", "kind = \"pcap\" needs `pcap = { file = ... }`"))?;
            let path = resolve(&p.file);
            let capture = Capture::open(&path).map_err(|e| invalid("pcap.file", e.to_string()))?;
            return Ok(Workload::Replay(map_capture(
                &capture, topology, p.timing, rate,
            )));
        }
        if spec.pcap.is_some() {
            return Err(invalid("pcap", "is only read when kind = \"pcap\""));
        }
        let shares = match spec.kind {
            WorkloadKind::InterVm => vec![(TrafficKind::InterVm, 1.0)],
            WorkloadKind::VmToWire => vec![(TrafficKind::VmToWire, 1.0)],
            WorkloadKind::WireToVm => vec![(TrafficKind::WireToVm, 1.0)],
            WorkloadKind::Mix | WorkloadKind::Pcap => {
                if spec.mix.is_empty() {
                    return Err(invalid("mix", "kind = \"mix\" needs at least one entry"));
                }
                let mut total = 0.0;
                for (i, m) in spec.mix.iter().enumerate() {
                    if !m.share.is_finite() || m.share < 0.0 {
                        return Err(invalid(
                            &format!("mix[{i}].share"),
                            format!("{} is not a share (a number >= 0)", m.share),
                        ));
                    }
                    if spec.mix[..i].iter().any(|o| o.kind == m.kind) {
                        return Err(invalid(
                            &format!("mix[{i}].kind"),
                            format!("`{}` is listed twice", m.kind.name()),
                        ));
                    }
                    total += m.share;
                }
                if total <= 0.0 {
                    return Err(invalid("mix", "the shares sum to 0"));
                }
                spec.mix
                    .iter()
                    .filter(|m| m.share > 0.0)
                    .map(|m| (m.kind, m.share / total))
                    .collect()
            }
        };
        for (k, _) in &shares {
            let (key, ok, what) = match k {
                TrafficKind::InterVm => (
                    "vms.count",
                    vms >= 2,
                    "inter-VM traffic needs at least 2 VMs",
                ),
                TrafficKind::VmToWire | TrafficKind::WireToVm => (
                    "external_hosts",
                    !topology.external_hosts.is_empty(),
                    "traffic to or from the wire needs at least one external host",
                ),
            };
            if !ok {
                return Err(invalid(
                    if spec.kind == WorkloadKind::Mix {
                        "mix"
                    } else {
                        "kind"
                    },
                    format!("{what} ({key})"),
                ));
            }
        }
        let sizes = match &spec.size {
            SizeSpec::Fixed(s) => {
                if !(64..=9220).contains(s) {
                    return Err(invalid(
                        "size.fixed",
                        format!("{s} is not an Ethernet frame size (64..=9220, FCS included)"),
                    ));
                }
                SizeDistribution::Fixed(*s)
            }
            SizeSpec::Imix(name) if name == "simple" => {
                SizeDistribution::Weighted(SIMPLE_IMIX.to_vec())
            }
            SizeSpec::Imix(name) => {
                return Err(invalid(
                    "size.imix",
                    format!("`{name}` is not an IMIX this version knows (simple)"),
                ))
            }
            SizeSpec::Pcap(p) => SizeDistribution::Empirical(Arc::new(capture_sizes(&resolve(p))?)),
        };
        let f = &spec.flows;
        if !f.new_per_second.is_finite() || f.new_per_second < 0.0 {
            return Err(invalid(
                "flows.new_per_second",
                format!("{} is not a rate (a number >= 0)", f.new_per_second),
            ));
        }
        if !f.zipf_s.is_finite() || !(0.0..=10.0).contains(&f.zipf_s) {
            return Err(invalid(
                "flows.zipf_s",
                format!("{} is not a Zipf exponent (0..=10)", f.zipf_s),
            ));
        }
        if f.max_active == 0 || f.max_active > 1 << 20 {
            return Err(invalid(
                "flows.max_active",
                format!("{} is not in 1..=1048576", f.max_active),
            ));
        }
        if f.initial > f.max_active.saturating_mul(3) {
            return Err(invalid(
                "flows.initial",
                format!(
                    "{} initial flows do not fit max_active = {} per kind",
                    f.initial, f.max_active
                ),
            ));
        }
        Ok(Workload::Generated(Generated {
            shares,
            sizes,
            rate,
            protocol: spec.protocol,
            flows: FlowModel {
                initial: f.initial,
                new_per_second: f.new_per_second,
                zipf_s: f.zipf_s,
                length_packets: f.length_packets,
                max_active: f.max_active,
            },
        }))
    }

    /// The packets the workload offers, in non-decreasing time, until `limit`. The same
    /// `seed` gives the same packets.
    pub fn packets<'a>(
        &'a self,
        topology: &'a Topology,
        seed: u64,
        limit: Limit,
    ) -> PacketStream<'a> {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        let source = match self {
            Workload::Generated(g) => Source::Generated(Box::new(GeneratorState::new(g, topology))),
            Workload::Replay(r) => Source::Replay {
                replay: r,
                next: 0,
                last_capture_ps: 0,
            },
        };
        PacketStream {
            rng,
            topology,
            source,
            limit,
            emitted: 0,
            t_ps: 0.0,
            last_at: 0,
        }
    }

    /// Replay statistics, for a replayed workload.
    pub fn replay_stats(&self) -> Option<&ReplayStats> {
        match self {
            Workload::Replay(r) => Some(&r.stats),
            Workload::Generated(_) => None,
        }
    }
}

/// The endpoints of a scenario, in mapping order: VMs, then external hosts.
fn endpoints(t: &Topology) -> Vec<(Endpoint, MacAddr, u32)> {
    let vms = t.vms.iter().enumerate().map(|(i, v)| {
        (
            Endpoint::Vm(VmIndex(u16::try_from(i).unwrap_or(u16::MAX))),
            v.mac,
            v.ipv4,
        )
    });
    let ext = t.external_hosts.iter().enumerate().map(|(i, h)| {
        (
            Endpoint::External(ExternalHostIndex(u16::try_from(i).unwrap_or(u16::MAX))),
            h.mac,
            h.ipv4,
        )
    });
    vms.chain(ext).collect()
}

fn mac_at(frame: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&frame[at..at + 6]);
    MacAddr(m)
}

/// Maps `capture` onto `topology`'s endpoints (see the module doc).
pub fn map_capture(
    capture: &Capture,
    topology: &Topology,
    timing: ReplayTiming,
    rate: Rate,
) -> Replay {
    let eps = endpoints(topology);
    let mut map: BTreeMap<MacAddr, usize> = BTreeMap::new();
    let mut stats = ReplayStats {
        file: capture.path.display().to_string(),
        frames: capture.frames.len() as u64,
        ..ReplayStats::default()
    };
    let mut frames = Vec::with_capacity(capture.frames.len());
    let t0 = capture.frames.first().map_or(0, |f| f.timestamp.as_nanos());
    let malformed = |stats: &mut ReplayStats, reason: &str| {
        *stats.malformed.entry(reason.to_string()).or_insert(0) += 1;
    };
    for f in &capture.frames {
        let mut data = f.data.clone();
        if data.len() < 14 {
            malformed(&mut stats, "shorter_than_ethernet_header");
            continue;
        }
        let src = mac_at(&data, 6);
        if src.0[0] & 1 != 0 {
            malformed(&mut stats, "multicast_source_mac");
            continue;
        }
        let dst = mac_at(&data, 0);
        let mut index = |mac: MacAddr| {
            let next = map.len();
            *map.entry(mac).or_insert(next) % eps.len()
        };
        let (from, src_mac, src_ip) = eps[index(src)];
        let dst_ep = (dst.0[0] & 1 == 0).then(|| eps[index(dst)]);
        data[6..12].copy_from_slice(&src_mac.0);
        if let Some((_, mac, _)) = dst_ep {
            data[0..6].copy_from_slice(&mac.0);
        }
        rewrite_ipv4(&mut data, src_ip, dst_ep.map(|(_, _, ip)| ip));
        let wire_len = usize::try_from(f.orig_len).unwrap_or(usize::MAX);
        if data.len() < wire_len && wire_len <= 9216 {
            data.resize(wire_len, 0);
            stats.padded += 1;
        }
        let ts = u64::try_from(
            f.timestamp
                .as_nanos()
                .saturating_sub(t0)
                .saturating_mul(1_000),
        )
        .unwrap_or(u64::MAX);
        frames.push((from, Bytes::from(data), ts));
    }
    stats.offered = frames.len() as u64;
    stats.addresses_mapped = map.len() as u64;
    Replay {
        frames: Arc::new(frames),
        stats,
        timing,
        rate,
    }
}

/// Rewrites the IPv4 addresses of an Ethernet frame (after up to two VLAN tags) and fixes
/// the header checksum; leaves other frames alone.
fn rewrite_ipv4(frame: &mut [u8], src: u32, dst: Option<u32>) {
    let mut at = 12;
    while at + 2 <= frame.len()
        && matches!(
            u16::from_be_bytes([frame[at], frame[at + 1]]),
            0x8100 | 0x88a8
        )
    {
        at += 4;
    }
    if at + 2 > frame.len() || u16::from_be_bytes([frame[at], frame[at + 1]]) != 0x0800 {
        return;
    }
    let ip = at + 2;
    if ip + 20 > frame.len() || frame[ip] >> 4 != 4 {
        return;
    }
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    if ihl < 20 || ip + ihl > frame.len() {
        return;
    }
    frame[ip + 12..ip + 16].copy_from_slice(&src.to_be_bytes());
    if let Some(d) = dst {
        frame[ip + 16..ip + 20].copy_from_slice(&d.to_be_bytes());
    }
    let sum = ipv4_checksum(&frame[ip..ip + ihl]);
    frame[ip + 10..ip + 12].copy_from_slice(&sum.to_be_bytes());
}

/// The IPv4 header checksum of `header` (its checksum field counted as zero).
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for (i, pair) in header.chunks(2).enumerate() {
        if i == 5 {
            continue;
        }
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(u16::try_from(sum).unwrap_or(0xffff))
}

/// One flow of a generated workload.
#[derive(Debug, Clone)]
struct Flow {
    from: Endpoint,
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: u32,
    dst_ip: u32,
    vlan: Option<u16>,
    src_port: u16,
    dst_port: u16,
    sent: u64,
    /// The flow's number among all flows of the run (a reused slot gets a new one).
    serial: u64,
    /// Still in its pool.
    active: bool,
    /// The last frame built, reused while the size stays the same.
    cached: Option<Bytes>,
}

#[derive(Debug)]
struct GeneratorState<'a> {
    g: &'a Generated,
    flows: Vec<Flow>,
    free: Vec<u32>,
    /// Active flows per kind (indices into `flows`), oldest first.
    pools: Vec<Vec<u32>>,
    /// Flows whose first packet is still to go (slot, serial).
    pending: VecDeque<(u32, u64)>,
    /// Cumulative Zipf weights of ranks 1..=max_active.
    zipf_cdf: Vec<f64>,
    next_arrival_ps: f64,
    serial: u64,
    started: bool,
}

impl<'a> GeneratorState<'a> {
    fn new(g: &'a Generated, _topology: &Topology) -> GeneratorState<'a> {
        let n = usize::try_from(g.flows.max_active).unwrap_or(1);
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for r in 1..=n {
            acc += detmath::pow(r as f64, -g.flows.zipf_s);
            cdf.push(acc);
        }
        GeneratorState {
            g,
            flows: Vec::new(),
            free: Vec::new(),
            pools: vec![Vec::new(); g.shares.len()],
            pending: VecDeque::new(),
            zipf_cdf: cdf,
            next_arrival_ps: 0.0,
            serial: 0,
            started: false,
        }
    }

    fn pick_kind(&self, rng: &mut ChaCha8Rng) -> usize {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for (i, (_, s)) in self.g.shares.iter().enumerate() {
            acc += s;
            if u < acc {
                return i;
            }
        }
        self.g.shares.len() - 1
    }

    fn new_flow(&mut self, kind_index: usize, topology: &Topology, rng: &mut ChaCha8Rng) -> u32 {
        let vms = topology.vms.len();
        let ext = topology.external_hosts.len().max(1);
        let (from, to) = match self.g.shares[kind_index].0 {
            TrafficKind::InterVm => {
                let a = rng.random_range(0..vms);
                let b = (a + 1 + rng.random_range(0..vms.saturating_sub(1).max(1))) % vms;
                (vm(a), vm(b))
            }
            TrafficKind::VmToWire => (
                vm(rng.random_range(0..vms)),
                ext_host(rng.random_range(0..ext)),
            ),
            TrafficKind::WireToVm => (
                ext_host(rng.random_range(0..ext)),
                vm(rng.random_range(0..vms)),
            ),
        };
        let (src_mac, src_ip, _) = addresses(topology, from);
        let (dst_mac, dst_ip, dst_vlan) = addresses(topology, to);
        // Frames from the wire to a VM on a VLAN carry its tag; VMs send untagged.
        let vlan = if matches!(from, Endpoint::External(_)) {
            dst_vlan
        } else {
            None
        };
        // Consecutive source ports: no two live flows between a pair share a 5-tuple.
        let serial = self.serial;
        let src_port = 1024 + u16::try_from(serial % 64_512).unwrap_or(0);
        self.serial += 1;
        let flow = Flow {
            from,
            src_mac,
            dst_mac,
            src_ip,
            dst_ip,
            vlan,
            src_port,
            dst_port: rng.random_range(1..=u16::MAX),
            sent: 0,
            serial,
            active: true,
            cached: None,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.flows[id as usize] = flow;
                id
            }
            None => {
                self.flows.push(flow);
                u32::try_from(self.flows.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let pool = &mut self.pools[kind_index];
        pool.push(id);
        if pool.len() > self.zipf_cdf.len() {
            let oldest = pool.remove(0);
            self.flows[oldest as usize].active = false;
            self.free.push(oldest);
        }
        self.pending.push_back((id, serial));
        id
    }

    /// The flow of the next packet at time `t_ps`, and whether it is new.
    fn next_flow(&mut self, t_ps: f64, topology: &Topology, rng: &mut ChaCha8Rng) -> u32 {
        if !self.started {
            self.started = true;
            for i in 0..self.g.flows.initial {
                let k = usize::try_from(i).unwrap_or(0) % self.pools.len();
                self.new_flow(k, topology, rng);
            }
            self.next_arrival_ps = self.arrival_gap(rng);
        }
        if self.g.flows.new_per_second > 0.0 {
            while self.next_arrival_ps <= t_ps {
                let k = self.pick_kind(rng);
                self.new_flow(k, topology, rng);
                self.next_arrival_ps += self.arrival_gap(rng);
            }
        }
        while let Some((id, serial)) = self.pending.pop_front() {
            // A flow pushed out before its first packet went is skipped.
            let f = &self.flows[id as usize];
            if f.active && f.serial == serial {
                return id;
            }
        }
        let k = self.pick_kind(rng);
        if self.pools[k].is_empty() {
            let id = self.new_flow(k, topology, rng);
            // It goes now: not again as a pending first packet (the queue was empty).
            self.pending.pop_back();
            return id;
        }
        let pool = &self.pools[k];
        let rank = if self.g.flows.zipf_s == 0.0 {
            rng.random_range(0..pool.len())
        } else {
            let total = self.zipf_cdf[pool.len() - 1];
            let u: f64 = rng.random::<f64>() * total;
            self.zipf_cdf[..pool.len()]
                .partition_point(|&c| c <= u)
                .min(pool.len() - 1)
        };
        pool[pool.len() - 1 - rank]
    }

    fn arrival_gap(&self, rng: &mut ChaCha8Rng) -> f64 {
        if self.g.flows.new_per_second <= 0.0 {
            return f64::INFINITY;
        }
        exponential(rng) * 1e12 / self.g.flows.new_per_second
    }

    /// Counts a packet of flow `id`; ends the flow when it has sent its length.
    fn sent(&mut self, id: u32) {
        let len = self.g.flows.length_packets;
        let f = &mut self.flows[id as usize];
        f.sent += 1;
        if len > 0 && f.sent >= len {
            for pool in &mut self.pools {
                if let Some(pos) = pool.iter().position(|&x| x == id) {
                    pool.remove(pos);
                    f.active = false;
                    self.free.push(id);
                    break;
                }
            }
        }
    }
}

fn vm(i: usize) -> Endpoint {
    Endpoint::Vm(VmIndex(u16::try_from(i).unwrap_or(u16::MAX)))
}

fn ext_host(i: usize) -> Endpoint {
    Endpoint::External(ExternalHostIndex(u16::try_from(i).unwrap_or(u16::MAX)))
}

fn addresses(t: &Topology, e: Endpoint) -> (MacAddr, u32, Option<u16>) {
    match e {
        Endpoint::Vm(v) => t
            .vms
            .get(usize::from(v.0))
            .map_or((MacAddr([2, 0, 0, 0, 0, 0]), 0, None), |n| {
                (n.mac, n.ipv4, n.vlan)
            }),
        Endpoint::External(h) => t
            .external_hosts
            .get(usize::from(h.0))
            .map_or((MacAddr([2, 0, 0, 0, 0, 0]), 0, None), |n| {
                (n.mac, n.ipv4, None)
            }),
    }
}

/// A unit-mean exponential sample.
fn exponential(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random();
    -detmath::ln(1.0 - u)
}

/// Builds an Ethernet II / [802.1Q] / IPv4 / UDP or TCP frame of `size` bytes with FCS
/// (returned without it), padded with zeros; a size below the headers gives just the headers.
pub fn build_frame(
    protocol: Protocol,
    size: u32,
    dst_mac: MacAddr,
    src_mac: MacAddr,
    vlan: Option<u16>,
    (src_ip, dst_ip): (u32, u32),
    (src_port, dst_port): (u16, u16),
) -> Vec<u8> {
    let l2 = if vlan.is_some() { 18 } else { 14 };
    let l4 = match protocol {
        Protocol::Udp => 8,
        Protocol::Tcp => 20,
    };
    let len = (usize::try_from(size).unwrap_or(usize::MAX) - FCS_BYTES).max(l2 + 20 + l4);
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst_mac.0);
    f.extend_from_slice(&src_mac.0);
    if let Some(v) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&(v & 0x0fff).to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let ip_len = u16::try_from(len - l2).unwrap_or(u16::MAX);
    let proto = match protocol {
        Protocol::Udp => 17,
        Protocol::Tcp => 6,
    };
    let ip_start = f.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&ip_len.to_be_bytes());
    // Identification 0, don't fragment, TTL 64.
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src_ip.to_be_bytes());
    f.extend_from_slice(&dst_ip.to_be_bytes());
    let sum = ipv4_checksum(&f[ip_start..ip_start + 20]);
    f[ip_start + 10..ip_start + 12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&src_port.to_be_bytes());
    f.extend_from_slice(&dst_port.to_be_bytes());
    match protocol {
        Protocol::Udp => {
            f.extend_from_slice(&(ip_len - 20).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        Protocol::Tcp => {
            // Sequence and ACK numbers 0; header length 5 words; ACK; window 65535.
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&[0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
        }
    }
    f.resize(len, 0);
    f
}

#[derive(Debug)]
enum Source<'a> {
    Generated(Box<GeneratorState<'a>>),
    Replay {
        replay: &'a Replay,
        next: usize,
        last_capture_ps: u64,
    },
}

/// The packets of a workload, in non-decreasing time (see [`Workload::packets`]).
#[derive(Debug)]
pub struct PacketStream<'a> {
    rng: ChaCha8Rng,
    topology: &'a Topology,
    source: Source<'a>,
    limit: Limit,
    emitted: u64,
    /// When the next packet may leave, in ps (fractional: rates rarely divide 1 ps).
    t_ps: f64,
    last_at: u64,
}

impl PacketStream<'_> {
    /// Advances the clock past a packet of `size` bytes (FCS included).
    fn advance(&mut self, rate: Rate, size: u32) {
        let gap = match rate {
            Rate::Line { bits_per_second } => {
                (f64::from(size) + WIRE_OVERHEAD_BYTES as f64) * 8.0 * 1e12 / bits_per_second
            }
            Rate::Fixed { pps } => 1e12 / pps,
            Rate::Poisson { pps } => exponential(&mut self.rng) * 1e12 / pps,
        };
        self.t_ps += gap;
    }

    fn stamp(&mut self) -> Option<SimTime> {
        // Rounded to whole ps; never before the previous packet.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let at = (self.t_ps.round() as u64).max(self.last_at);
        if let Limit::Duration(d) = self.limit {
            if at >= d.as_ps() {
                return None;
            }
        }
        self.last_at = at;
        Some(SimTime(at))
    }
}

impl Iterator for PacketStream<'_> {
    type Item = OfferedPacket;

    fn next(&mut self) -> Option<OfferedPacket> {
        if let Limit::Packets(n) = self.limit {
            if self.emitted >= n {
                return None;
            }
        }
        let packet = match &mut self.source {
            Source::Generated(state) => {
                let at = self.t_ps;
                let id = state.next_flow(at, self.topology, &mut self.rng);
                let size = state.g.sizes.sample(&mut self.rng);
                let protocol = state.g.protocol;
                let rate = state.g.rate;
                let flow = &mut state.flows[id as usize];
                let frame = match &flow.cached {
                    Some(b) if b.len() + FCS_BYTES == usize::try_from(size).unwrap_or(0) => {
                        b.clone()
                    }
                    _ => {
                        let b = Bytes::from(build_frame(
                            protocol,
                            size,
                            flow.dst_mac,
                            flow.src_mac,
                            flow.vlan,
                            (flow.src_ip, flow.dst_ip),
                            (flow.src_port, flow.dst_port),
                        ));
                        flow.cached = Some(b.clone());
                        b
                    }
                };
                let from = flow.from;
                state.sent(id);
                let at = self.stamp()?;
                self.advance(rate, size);
                OfferedPacket { at, from, frame }
            }
            Source::Replay {
                replay,
                next,
                last_capture_ps,
            } => {
                let (from, frame, ts) = replay.frames.get(*next)?.clone();
                *next += 1;
                let r = *replay;
                if r.timing == ReplayTiming::Capture {
                    // Capture clocks may step back; time never does.
                    *last_capture_ps = (*last_capture_ps).max(ts);
                    self.t_ps = *last_capture_ps as f64;
                }
                let at = self.stamp()?;
                if r.timing == ReplayTiming::Rate {
                    let size = u32::try_from(frame.len() + FCS_BYTES).unwrap_or(u32::MAX);
                    self.advance(r.rate, size);
                }
                OfferedPacket { at, from, frame }
            }
        };
        self.emitted += 1;
        Some(packet)
    }
}

/// Logarithm, exponential and power from IEEE arithmetic alone, so that random streams do
/// not depend on the platform's math library (whose last bits may differ between machines).
pub mod detmath {
    const LN2: f64 = std::f64::consts::LN_2;

    /// Natural logarithm of `x` > 0 (relative error below 1e-15); `-inf` at 0.
    pub fn ln(x: f64) -> f64 {
        if x <= 0.0 {
            return f64::NEG_INFINITY;
        }
        if !x.is_finite() {
            return x;
        }
        // x = m * 2^e with m in [sqrt(1/2), sqrt(2)).
        let bits = x.to_bits();
        let mut e = i64::try_from((bits >> 52) & 0x7ff).unwrap_or(0) - 1023;
        let mut m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
        if e == -1023 {
            // Subnormal: scale up first.
            return ln(x * (1u64 << 52) as f64) - 52.0 * LN2;
        }
        if m > std::f64::consts::SQRT_2 {
            m /= 2.0;
            e += 1;
        }
        // ln(m) = 2 atanh(z), z = (m - 1) / (m + 1), |z| < 0.172.
        let z = (m - 1.0) / (m + 1.0);
        let z2 = z * z;
        let mut term = z;
        let mut sum = 0.0;
        let mut k = 1.0;
        while k < 40.0 {
            sum += term / k;
            term *= z2;
            k += 2.0;
        }
        2.0 * sum + e as f64 * LN2
    }

    /// `e^x` (relative error below 1e-15 for |x| < 700).
    pub fn exp(x: f64) -> f64 {
        if x > 709.0 {
            return f64::INFINITY;
        }
        if x < -745.0 {
            return 0.0;
        }
        // x = k ln2 + r, |r| <= ln2 / 2.
        #[allow(clippy::cast_possible_truncation)]
        let k = (x / LN2).round() as i32;
        let r = x - f64::from(k) * LN2;
        let mut term = 1.0;
        let mut sum = 1.0;
        for n in 1..30 {
            term *= r / f64::from(n);
            sum += term;
        }
        sum * pow2(k)
    }

    fn pow2(k: i32) -> f64 {
        let mut v = 1.0;
        let step = if k >= 0 { 2.0 } else { 0.5 };
        for _ in 0..k.unsigned_abs() {
            v *= step;
        }
        v
    }

    /// `x^y` for `x` > 0.
    pub fn pow(x: f64, y: f64) -> f64 {
        exp(y * ln(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detmath_agrees_with_the_platform_closely() {
        for x in [
            1e-300, 1e-10, 0.001, 0.5, 1.0, 1.5, 2.0, 10.0, 12345.678, 1e300,
        ] {
            let (ours, std) = (detmath::ln(x), x.ln());
            assert!(
                (ours - std).abs() <= 1e-14 * std.abs().max(1.0),
                "ln {x}: {ours} vs {std}"
            );
        }
        for x in [-700.0, -10.0, -1.0, 0.0, 0.3, 1.0, 5.0, 100.0, 700.0] {
            let (ours, std) = (detmath::exp(x), x.exp());
            assert!(
                (ours - std).abs() <= 1e-13 * std,
                "exp {x}: {ours} vs {std}"
            );
        }
        assert!((detmath::pow(64.0, -1.1) - 64f64.powf(-1.1)).abs() < 1e-15);
    }

    #[test]
    fn frames_are_byte_exact() {
        let f = build_frame(
            Protocol::Udp,
            64,
            MacAddr([2, 0, 0, 0, 0, 2]),
            MacAddr([2, 0, 0, 0, 0, 1]),
            None,
            (0x0a00_0001, 0x0a00_0002),
            (1024, 80),
        );
        assert_eq!(f.len(), 60);
        let p = etherparse::SlicedPacket::from_ethernet(&f).expect("parses");
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("ipv4")
        };
        assert_eq!(ip.header().total_len(), 46);
        assert_eq!(
            ip.header().to_header().calc_header_checksum(),
            ip.header().header_checksum()
        );
        let Some(etherparse::TransportSlice::Udp(u)) = p.transport else {
            panic!("udp")
        };
        assert_eq!(
            (u.source_port(), u.destination_port(), u.length()),
            (1024, 80, 26)
        );
        let t = build_frame(
            Protocol::Tcp,
            1518,
            MacAddr([2, 0, 0, 0, 0, 2]),
            MacAddr([2, 0, 0, 0, 0, 1]),
            Some(7),
            (1, 2),
            (5, 6),
        );
        assert_eq!(t.len(), 1514);
        let p = etherparse::SlicedPacket::from_ethernet(&t).expect("parses");
        assert!(matches!(
            p.transport,
            Some(etherparse::TransportSlice::Tcp(_))
        ));
        assert_eq!(p.vlan_ids().first().map(|v| v.value()), Some(7));
    }
}
