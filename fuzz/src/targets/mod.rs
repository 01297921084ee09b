//! The fuzz targets, one per untrusted input. Each `run` panics only when an invariant breaks.

pub mod capture;
pub mod card;
pub mod frame;
pub mod ring_record;
pub mod rtl;
pub mod rules;
pub mod scenario;
pub mod trace_packets;

/// A fuzz target: which untrusted input it feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// Frames into `nic-abi`'s parsers, against etherparse.
    Frame,
    /// Ring records read from host memory.
    RingRecord,
    /// A hostile guest and driver against `nic-model`'s card.
    Card,
    /// Frames and management-port writes into the RTL (Verilator co-simulation), beside the model.
    Rtl,
    /// Rules files in every format.
    Rules,
    /// Packet descriptions on `rules trace` standard input.
    TracePackets,
    /// Scenario TOML.
    Scenario,
    /// pcap and pcapng files.
    Capture,
}

impl Target {
    /// Every target, in the order `fuzz.sh` runs them.
    pub const ALL: [Target; 8] = [
        Target::Frame,
        Target::RingRecord,
        Target::Card,
        Target::Rtl,
        Target::Rules,
        Target::TracePackets,
        Target::Scenario,
        Target::Capture,
    ];

    /// The target's name: its corpus and regression directories are `fuzz/corpus/NAME` and
    /// `fuzz/regressions/NAME`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Frame => "frame",
            Target::RingRecord => "ring_record",
            Target::Card => "card",
            Target::Rtl => "rtl",
            Target::Rules => "rules",
            Target::TracePackets => "trace_packets",
            Target::Scenario => "scenario",
            Target::Capture => "capture",
        }
    }

    /// The target called `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Feeds `data` to the target; panics when an invariant breaks.
    pub fn run(self, data: &[u8]) {
        match self {
            Target::Frame => frame::run(data),
            Target::RingRecord => ring_record::run(data),
            Target::Card => card::run(data),
            Target::Rtl => rtl::run(data),
            Target::Rules => rules::run(data),
            Target::TracePackets => trace_packets::run(data),
            Target::Scenario => scenario::run(data),
            Target::Capture => capture::run(data),
        }
    }
}

/// Reads a little-endian integer of `N` bytes from `data` at `*at`, advancing it; `None` at
/// the end of the input.
pub(crate) fn take<const N: usize>(data: &[u8], at: &mut usize) -> Option<[u8; N]> {
    let bytes = data.get(*at..at.checked_add(N)?)?;
    *at += N;
    bytes.try_into().ok()
}
