//! The `[workload]` section of a scenario as written ([`WorkloadSpec`]: serde types, every
//! default filled in) and its validation into a [`Workload`]: a generated workload's traffic
//! shares, [`SizeDistribution`], [`Rate`] and [`FlowModel`], or a capture mapped for replay.
//! Each bad value is a [`WorkloadError`] naming its key below `workload`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nic_model::mac::MacConfig;
use serde::{Deserialize, Serialize};

use super::replay::{map_capture, Replay, ReplayStats};
use super::WIRE_OVERHEAD_BYTES;
use crate::capture::Capture;
use crate::switch::Topology;

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
    /// A ClassBench header trace (`src dst sport dport proto flags filter` per line, gzipped
    /// or not; relative to the scenario file): each new flow takes the next header, in order
    /// and cycling, for its IPv4 addresses, protocol and ports (ports only where the protocol
    /// has them: TCP, UDP, SCTP). The endpoints (MACs, VLANs) still come from the traffic
    /// kind. With the trace's rule set this gives traffic that matches rules at the depths
    /// the trace generator chose. Generated workloads only.
    pub header_trace: Option<PathBuf>,
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
            header_trace: None,
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
    /// The headers of `workload.header_trace` new flows take in turn (never empty).
    pub headers: Option<Arc<[TraceFlowHeader]>>,
}

/// One header of a ClassBench trace, as a flow uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceFlowHeader {
    /// IPv4 source address.
    pub src_ip: u32,
    /// IPv4 destination address.
    pub dst_ip: u32,
    /// IP protocol.
    pub protocol: u8,
    /// Source port (kept only where the protocol has ports).
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

/// The headers of the ClassBench trace at `path` (a file the built-in paper scenarios carry,
/// or one on disk, gzipped or not).
fn header_trace(path: &Path) -> Result<Arc<[TraceFlowHeader]>, WorkloadError> {
    use flow_setup::classbench::{parse_trace, parse_trace_gz};
    let bad = |what: String| invalid("header_trace", format!("{}: {what}", path.display()));
    let parsed = match crate::scenario::built_in_file(path) {
        Some(text) => parse_trace(text),
        None => {
            let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            if bytes.starts_with(&[0x1f, 0x8b]) {
                parse_trace_gz(&bytes)
            } else {
                let text = std::str::from_utf8(&bytes)
                    .map_err(|e| bad(format!("not a text file: {e}")))?;
                parse_trace(text)
            }
        }
    }
    .map_err(|e| bad(e.to_string()))?;
    if parsed.is_empty() {
        return Err(bad("the trace has no headers".into()));
    }
    let low32 = |a: u128| u32::try_from(a & u128::from(u32::MAX)).unwrap_or(0);
    Ok(parsed
        .iter()
        .map(|h| TraceFlowHeader {
            src_ip: low32(h.key.nw_src),
            dst_ip: low32(h.key.nw_dst),
            protocol: h.key.nw_proto,
            src_port: h.key.tp_src,
            dst_port: h.key.tp_dst,
        })
        .collect())
}

/// What mapping a capture did: counts scripts can check.
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
            if spec.header_trace.is_some() {
                return Err(invalid(
                    "header_trace",
                    "a replay keeps its capture's headers; the trace is for generated workloads",
                ));
            }
            let path = resolve(&p.file);
            let capture = Capture::open(&path).map_err(|e| invalid("pcap.file", e.to_string()))?;
            return Ok(Workload::Replay(map_capture(
                &capture, topology, p.timing, rate,
            )));
        }
        if spec.pcap.is_some() {
            return Err(invalid("pcap", "is only read when kind = \"pcap\""));
        }
        let headers = spec
            .header_trace
            .as_ref()
            .map(|p| header_trace(&resolve(p)))
            .transpose()?;
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
            headers,
        }))
    }

    /// Packets per second on average of a generated workload (`None` for a replay).
    pub fn mean_pps(&self) -> Option<f64> {
        match self {
            Workload::Generated(g) => Some(match g.rate {
                Rate::Line { bits_per_second } => {
                    bits_per_second / ((g.sizes.mean() + WIRE_OVERHEAD_BYTES as f64) * 8.0)
                }
                Rate::Fixed { pps } | Rate::Poisson { pps } => pps,
            }),
            Workload::Replay(_) => None,
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
