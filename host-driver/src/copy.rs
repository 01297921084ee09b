//! The inter-VM path: how a packet's payload gets from the sender's TX buffer to the
//! receiver's RX buffer, three ways behind one interface ([`InterVmCopier`]).
//!
//! ```text
//!   CopyEngine  card --copy command (32 B over PCIe)--> host DMA engine (I/OAT style):
//!               channels, a setup per descriptor, a per-channel bandwidth; completion back
//!               to the card. The payload never crosses PCIe; no host core works.
//!   CpuCopy     card --copy command--> a host core copies (memcpy): cycles charged to the
//!               host CPU model. The payload never crosses PCIe.
//!   Hairpin     the card reads the whole packet over PCIe and writes it back into the
//!               receiver's buffer (an SR-IOV embedded bridge's way): twice the payload on
//!               the bus, no host work. The host declines copy commands; the card's
//!               `InterVmPath::Hairpin` does the rest.
//! ```
//!
//! The copier only keeps time and counts; the bytes move in [`crate::host::Host`], which
//! checks both ends with the IOMMU first.

use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::InterVmPath;

/// Which inter-VM path the host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CopyMode {
    /// The host's copy engine (the sNICh design).
    #[default]
    CopyEngine,
    /// A host core copies.
    CpuCopy,
    /// The card hairpins over PCIe.
    Hairpin,
}

impl CopyMode {
    /// The card's configuration for this mode.
    pub fn card_path(self) -> InterVmPath {
        match self {
            CopyMode::CopyEngine | CopyMode::CpuCopy => InterVmPath::CopyEngine,
            CopyMode::Hairpin => InterVmPath::Hairpin,
        }
    }

    /// Whether the host accepts copy commands.
    pub fn takes_copy_commands(self) -> bool {
        self != CopyMode::Hairpin
    }

    /// A short stable name (`copy-engine`, `cpu-copy`, `hairpin`).
    pub fn name(self) -> &'static str {
        match self {
            CopyMode::CopyEngine => "copy-engine",
            CopyMode::CpuCopy => "cpu-copy",
            CopyMode::Hairpin => "hairpin",
        }
    }
}

/// The copy engine's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyEngineConfig {
    /// Channels working in parallel. Default 8: Intel QuickData (I/OAT, "Crystal Beach DMA")
    /// engines on Xeon E5 and later expose 8 channels per socket (Linux `ioatdma`).
    pub channels: u32,
    /// Time from a command's submission to the first byte moving: the descriptor write, the
    /// engine's doorbell and its descriptor fetch from memory. Default 250 ns, an estimate:
    /// one uncached doorbell write (~100 ns) and one DRAM read (~100 ns) plus decode.
    pub setup_ns: u64,
    /// Bytes per microsecond one channel moves. Default 5,000 (5 GB/s), an estimate of the
    /// order of one I/OAT channel's memory-to-memory rate; the same figure as
    /// `nic_model::testing`'s copy engine.
    pub bytes_per_us: u64,
    /// Time from the last byte to the completion being visible (the engine's completion
    /// write). Default 50 ns, an estimate (one posted memory write).
    pub completion_ns: u64,
}

impl Default for CopyEngineConfig {
    fn default() -> Self {
        CopyEngineConfig {
            channels: 8,
            setup_ns: 250,
            bytes_per_us: 5_000,
            completion_ns: 50,
        }
    }
}

/// The CPU copy's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuCopyConfig {
    /// Core clock in MHz. Default 2,600, `sim-harness`'s default host (this project's EPYC
    /// machines).
    pub clock_mhz: u32,
    /// Cycles per copy besides the bytes: taking the command, checking it, the completion.
    /// Default 200, an estimate (a function call, two IOMMU-checked translations, a
    /// completion write).
    pub fixed_cycles: u64,
    /// Bytes copied per cycle. Default 8, an estimate: `rep movsb` moves 32 B/cycle on
    /// cache-resident data; the destination buffer usually misses in cache.
    pub bytes_per_cycle: u64,
}

impl Default for CpuCopyConfig {
    fn default() -> Self {
        CpuCopyConfig {
            clock_mhz: 2_600,
            fixed_cycles: 200,
            bytes_per_cycle: 8,
        }
    }
}

/// Everything about the inter-VM path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyConfig {
    /// Which path.
    pub mode: CopyMode,
    /// The copy engine (used in [`CopyMode::CopyEngine`]).
    pub engine: CopyEngineConfig,
    /// The CPU copy (used in [`CopyMode::CpuCopy`]).
    pub cpu: CpuCopyConfig,
}

/// Counts of the copies made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyMetrics {
    /// Copies done.
    pub copies: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Copies refused (a side failed its IOMMU check).
    pub faults: u64,
    /// Time the engine's channels were busy, summed (ps).
    pub engine_busy_ps: u64,
    /// Host CPU cycles of CPU copies.
    pub cpu_cycles: u64,
}

/// Why a copy configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// A parameter is zero that must not be.
    #[error("copy config: {0} must be at least 1")]
    Zero(&'static str),
}

/// Keeps time for the inter-VM copies of one host.
#[derive(Debug, Clone)]
pub struct InterVmCopier {
    config: CopyConfig,
    channel_free: Vec<SimTime>,
    core_free: SimTime,
    metrics: CopyMetrics,
}

impl InterVmCopier {
    /// An idle copier.
    pub fn new(config: CopyConfig) -> Result<InterVmCopier, CopyError> {
        if config.engine.channels == 0 {
            return Err(CopyError::Zero("engine.channels"));
        }
        if config.engine.bytes_per_us == 0 {
            return Err(CopyError::Zero("engine.bytes_per_us"));
        }
        if config.cpu.clock_mhz == 0 {
            return Err(CopyError::Zero("cpu.clock_mhz"));
        }
        if config.cpu.bytes_per_cycle == 0 {
            return Err(CopyError::Zero("cpu.bytes_per_cycle"));
        }
        Ok(InterVmCopier {
            channel_free: vec![SimTime::ZERO; config.engine.channels as usize],
            core_free: SimTime::ZERO,
            metrics: CopyMetrics::default(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CopyConfig {
        &self.config
    }

    /// The counts so far.
    pub fn metrics(&self) -> &CopyMetrics {
        &self.metrics
    }

    /// Counts a refused copy.
    pub fn refused(&mut self) {
        self.metrics.faults += 1;
    }

    /// Times a copy of `len` bytes submitted at `at` (the bytes have been moved): returns
    /// when it is complete, and the host CPU cycles it cost (0 on the engine).
    pub fn copy(&mut self, len: u64, at: SimTime) -> (SimTime, u64) {
        self.metrics.copies += 1;
        self.metrics.bytes += len;
        match self.config.mode {
            CopyMode::CopyEngine | CopyMode::Hairpin => {
                let e = &self.config.engine;
                let (ch, free) = self
                    .channel_free
                    .iter()
                    .copied()
                    .enumerate()
                    .min_by_key(|&(i, t)| (t, i))
                    .unwrap_or((0, SimTime::ZERO));
                let start = at.max(free) + SimDuration::from_ns(e.setup_ns);
                let move_ps = (u128::from(len) * 1_000_000).div_ceil(u128::from(e.bytes_per_us));
                let moved = start + SimDuration(u64::try_from(move_ps).unwrap_or(u64::MAX));
                if let Some(f) = self.channel_free.get_mut(ch) {
                    *f = moved;
                }
                self.metrics.engine_busy_ps += moved.saturating_since(at.max(free)).as_ps();
                (moved + SimDuration::from_ns(e.completion_ns), 0)
            }
            CopyMode::CpuCopy => {
                let c = &self.config.cpu;
                let cycles = c.fixed_cycles + len.div_ceil(c.bytes_per_cycle);
                let ps = (u128::from(cycles) * 1_000_000).div_ceil(u128::from(c.clock_mhz));
                let start = at.max(self.core_free);
                self.core_free = start + SimDuration(u64::try_from(ps).unwrap_or(u64::MAX));
                self.metrics.cpu_cycles += cycles;
                (self.core_free, cycles)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_channels_and_cpu_core_keep_time() {
        let mut e = InterVmCopier::new(CopyConfig {
            mode: CopyMode::CopyEngine,
            engine: CopyEngineConfig {
                channels: 2,
                ..CopyEngineConfig::default()
            },
            ..CopyConfig::default()
        })
        .expect("valid");
        // 1,500 bytes at 5,000 B/us = 300 ns, after 250 ns of setup, plus 50 ns.
        let (a, cycles) = e.copy(1500, SimTime::ZERO);
        assert_eq!((a, cycles), (SimTime(600_000), 0));
        let (b, _) = e.copy(1500, SimTime::ZERO);
        assert_eq!(b, a, "second channel");
        let (c, _) = e.copy(1500, SimTime::ZERO);
        assert_eq!(
            c,
            SimTime(550_000 + 600_000),
            "queues behind the first channel"
        );
        let mut cpu = InterVmCopier::new(CopyConfig {
            mode: CopyMode::CpuCopy,
            ..CopyConfig::default()
        })
        .expect("valid");
        let (t, cycles) = cpu.copy(1600, SimTime::ZERO);
        assert_eq!(cycles, 200 + 200);
        // 400 cycles at 2.6 GHz: 153.85 ns, rounded up to the picosecond.
        assert_eq!(t, SimTime(153_847));
        assert_eq!(cpu.metrics().cpu_cycles, 400);
        assert!(InterVmCopier::new(CopyConfig {
            engine: CopyEngineConfig {
                channels: 0,
                ..CopyEngineConfig::default()
            },
            ..CopyConfig::default()
        })
        .is_err());
        assert_eq!(CopyMode::Hairpin.card_path(), InterVmPath::Hairpin);
    }
}
