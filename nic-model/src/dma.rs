//! The card's DMA engine: channels that issue reads and writes on the PCIe link.
//!
//! A DMA operation goes to the channel that is free first; it starts when the channel is free,
//! after a setup time (the engine decoding the command), and occupies the channel until the
//! link has carried it (for reads: until its read requests are out; the completions come back
//! under the link's tag limit). The card issues an operation only when its data is ready, so
//! a channel is never reserved for an idle future gap.

use nic_abi::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

use crate::engine::Clock;
use crate::pcie::PcieLink;

/// Parameters of the DMA engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DmaConfig {
    /// Channels working in parallel. Default 4, as Corundum's default of several DMA
    /// interface channels per direction (Forencich et al., "Corundum: an open-source 100-Gbps
    /// NIC", FCCM 2020).
    pub channels: u32,
    /// NIC cycles to set up one operation. Default 2: one cycle to accept the command, one to
    /// issue the first TLP, as in Corundum's DMA client interfaces.
    pub setup_cycles: u64,
    /// Descriptors fetched per descriptor read (batching amortises the read latency), at
    /// most 32. Default 8 (Corundum fetches descriptor blocks; 8 x 16 B = 128 B, one read
    /// request).
    pub descriptor_batch: u16,
    /// Bytes of a VM's TX packet read before the lookup (header-only read): the parser's
    /// header window, 128 bytes (`nic_abi::parse::HEADER_WINDOW_BYTES`).
    pub header_read_bytes: u64,
}

impl Default for DmaConfig {
    fn default() -> Self {
        DmaConfig {
            channels: 4,
            setup_cycles: 2,
            descriptor_batch: 8,
            header_read_bytes: 128,
        }
    }
}

/// Byte counts of the engine's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DmaStats {
    /// Read operations.
    pub reads: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Write operations.
    pub writes: u64,
    /// Bytes written.
    pub write_bytes: u64,
}

/// The DMA engine's channels and its link.
#[derive(Debug, Clone)]
pub struct DmaEngine {
    setup: SimDuration,
    channel_free: Vec<SimTime>,
    link: PcieLink,
    stats: DmaStats,
}

impl DmaEngine {
    /// An idle engine on `link`, with the NIC clock for its setup time. At least one channel.
    pub fn new(config: &DmaConfig, nic_clock: Clock, link: PcieLink) -> DmaEngine {
        DmaEngine {
            setup: nic_clock.cycles(config.setup_cycles),
            channel_free: vec![SimTime::ZERO; config.channels.max(1) as usize],
            link,
            stats: DmaStats::default(),
        }
    }

    /// The link.
    pub fn link(&self) -> &PcieLink {
        &self.link
    }

    /// The link, for MMIO from the host.
    pub fn link_mut(&mut self) -> &mut PcieLink {
        &mut self.link
    }

    /// Operation counts.
    pub fn stats(&self) -> DmaStats {
        self.stats
    }

    fn channel(&mut self, now: SimTime) -> (usize, SimTime) {
        let mut best = 0;
        for (i, &t) in self.channel_free.iter().enumerate() {
            if t < self.channel_free[best] {
                best = i;
            }
        }
        (best, now.max(self.channel_free[best]) + self.setup)
    }

    /// Reads `bytes` from host memory, asked at `now`: returns when the data is on the card.
    /// The channel is busy only until its read requests are out; the completions are
    /// tracked by the link's tags.
    pub fn read(&mut self, now: SimTime, bytes: u64) -> SimTime {
        let (ch, start) = self.channel(now);
        let (sent, end) = self.link.dma_read_split(start, bytes);
        self.channel_free[ch] = sent;
        self.stats.reads += 1;
        self.stats.read_bytes += bytes;
        end
    }

    /// Writes `bytes` to host memory, asked at `now`: returns when the last TLP has crossed.
    pub fn write(&mut self, now: SimTime, bytes: u64) -> SimTime {
        let (ch, start) = self.channel(now);
        let end = self.link.dma_write(start, bytes);
        self.channel_free[ch] = end;
        self.stats.writes += 1;
        self.stats.write_bytes += bytes;
        end
    }
}
