//! The errors of the card's API: [`CardError`], and [`ConfigError`] for a configuration value
//! the card refuses, naming the field.

use nic_abi::desc::PacketHandle;
use nic_abi::key::PortNo;
use nic_abi::table::TableGeometryError;

use crate::engine::EngineError;
use crate::pcie::PcieConfigError;

/// Errors of the card's API. None of them leaves the card inconsistent; the run can go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// A configuration value is invalid.
    #[error("card config: {0}")]
    Config(#[from] ConfigError),
    /// The PCIe configuration is invalid.
    #[error("card config: {0}")]
    Pcie(#[from] PcieConfigError),
    /// The port is not one of the card's MAC ports.
    #[error("port {0} is not a MAC port of the card")]
    NotAMacPort(PortNo),
    /// The port is 0, a MAC port or already used by a queue.
    #[error("port {0} cannot be a VM queue's port: it is 0, a MAC port or taken")]
    PortTaken(PortNo),
    /// The ring size is not a power of two in 1..=32768.
    #[error("{ring}: {entries} entries is not a power of two in 1..=32768")]
    BadRing {
        /// Which ring.
        ring: &'static str,
        /// Its size.
        entries: u16,
    },
    /// Every queue index (0 to 65,535) is already set up.
    #[error("no queue index left: 65,536 queues are set up")]
    TooManyQueues,
    /// No queue with this index.
    #[error("no queue {0}")]
    NoSuchQueue(u16),
    /// No held packet has this handle.
    #[error("no held packet with handle {}", .0 .0)]
    NoSuchHandle(PacketHandle),
    /// The event engine refused (time in the past).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A value of [`CardConfig`](super::CardConfig) the card refuses, by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `pipeline.nic_clock_mhz` gives no usable clock.
    #[error("pipeline.nic_clock_mhz {mhz}: {source}")]
    NicClock {
        /// The frequency given.
        mhz: u64,
        /// Why the clock refused it.
        source: EngineError,
    },
    /// `macs` has no port, or more than 64.
    #[error("macs: {count} ports, expected 1 to 64")]
    MacCount {
        /// The number of ports given.
        count: usize,
    },
    /// `table.buckets` is no table geometry.
    #[error("table.buckets: {0}")]
    TableBuckets(#[source] TableGeometryError),
}
