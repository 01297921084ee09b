//! Workloads: the packets a run offers, generated from a seed or replayed from a capture.
//!
//! - [`spec`]: the `[workload]` section as written ([`WorkloadSpec`]) and its validation
//!   ([`Workload::from_spec`]) into a [`Workload`], errors naming the key.
//! - [`generate`]: seeded flows (inter-VM, VM-to-wire, wire-to-VM, mixes; Zipf popularity,
//!   new flows per second, flow lengths), their sizes and rates, as a [`PacketStream`].
//! - [`replay`]: a capture's addresses mapped onto the scenario's endpoints
//!   ([`map_capture`]) and its frames rewritten to match.
//! - [`frame`]: [`build_frame`], the workload's Ethernet / IPv4 / UDP or TCP frames, emitted by
//!   [`nic_abi::emit`].
//! - [`detmath`]: logarithm, exponential and power from IEEE arithmetic alone.
//!
//! Sizes are Ethernet frame sizes including the 4-byte FCS, as in RFC 2544's frame-size
//! tables (64 means 60 bytes of frame data offered to the switch).
//!
//! Everything random comes from one `ChaCha8Rng` seeded by the scenario's seed, and no
//! platform math library is used (logarithms and powers come from [`detmath`]), so the same
//! scenario offers the same packets on every machine (invariant 6).
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

use crate::switch::{Endpoint, ExternalHostIndex, VmIndex};

pub mod detmath;
pub mod frame;
pub mod generate;
pub mod replay;
pub mod spec;

pub use frame::build_frame;
pub use generate::PacketStream;
pub use replay::{map_capture, Replay, ReplayStats};
pub use spec::{
    AddressMap, FlowModel, FlowsSpec, Generated, MixEntry, PcapSpec, Protocol, Rate, RateSpec,
    ReplayTiming, SizeDistribution, SizeSpec, TrafficKind, Workload, WorkloadError, WorkloadKind,
    WorkloadSpec, SIMPLE_IMIX,
};

/// Bytes of the FCS, which sizes include and offered frames do not.
const FCS_BYTES: usize = 4;
/// Preamble, start delimiter and inter-frame gap: the wire time of a frame beyond its bytes.
const WIRE_OVERHEAD_BYTES: u64 = 8 + 12;

/// VM number `i`.
fn vm(i: usize) -> Endpoint {
    Endpoint::Vm(VmIndex(u16::try_from(i).unwrap_or(u16::MAX)))
}

/// External host number `i`.
fn ext_host(i: usize) -> Endpoint {
    Endpoint::External(ExternalHostIndex(u16::try_from(i).unwrap_or(u16::MAX)))
}
