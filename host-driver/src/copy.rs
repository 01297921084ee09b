//! The inter-VM path: how a packet's payload gets from the sender's TX buffer to the
//! receiver's RX buffer, three ways behind one interface ([`InterVmCopier`]), all on the
//! host's cores and memory bus ([`crate::cpu::HostCpu`]).
//!
//! ```text
//!   CopyEngine  card --copy command (32 B over PCIe)--> a host core (first free) takes it,
//!               writes a descriptor into the engine's command ring (a slot held until the
//!               completion is taken; a full ring delays the submission) and rings the
//!               doorbell (submit_cycles) --doorbell + descriptor_fetch--> the engine fetches
//!               the descriptor; a channel moves the bytes (bytes_per_us, and the memory bus)
//!               --completion_write--> completion write-back --> the submitting core takes it
//!               (poll_cycles, or interrupt_cycles) --> the card is told. The payload never
//!               crosses PCIe.
//!   CpuCopy     card --copy command--> a host core (first free) copies (memcpy): its cycles
//!               and the bytes on the memory bus. The payload never crosses PCIe.
//!   Hairpin     the card reads the whole packet over PCIe and writes it back into the
//!               receiver's buffer (an SR-IOV embedded bridge's way): twice the payload on
//!               the bus, no host work. The host declines copy commands; the card's
//!               `InterVmPath::Hairpin` does the rest.
//! ```
//!
//! The copier keeps time and counts; the bytes move in [`crate::host::Host`], which checks
//! both ends with the IOMMU first. A copy happens in two steps, each at its own time, as the
//! card's `CopySubmit`, `CopyWritten` and `RxCopyDone` events model it: [`InterVmCopier::copy`]
//! when the command reaches the host (the submission, on a core; returns when the engine's
//! completion write-back is visible), then [`InterVmCopier::take_completion`] at that time
//! (a core takes the completion, by poll or interrupt, when it is free; returns when the card
//! can be told). The core is free for other work while the engine copies.
//!
//! ```
//! use host_driver::copy::{CopyConfig, CopyMode, InterVmCopier};
//! use host_driver::cpu::{HostCpu, HostCpuConfig};
//! use nic_abi::time::SimTime;
//!
//! let mut cpu = HostCpu::new(&HostCpuConfig::default())?;
//! let mut engine = InterVmCopier::new(CopyConfig::default())?;
//! let written = engine.copy(&mut cpu, 1_500, SimTime::ZERO);
//! // Submission (300 cycles at 2.6 GHz), doorbell and descriptor fetch (250 ns), 300 ns on a
//! // channel, 50 ns to the write-back.
//! assert_eq!(written.at.0, 115_385 + 250_000 + 300_000 + 50_000);
//! assert_eq!(written.copy_cycles, 300);
//! // A core polls the write-back: 260 cycles.
//! let taken = engine.take_completion(&mut cpu, written.at);
//! assert_eq!(taken.at.0, written.at.0 + 100_000);
//! assert_eq!(taken.copy_cycles, 260);
//! assert_eq!(engine.metrics().doorbells, 1);
//! assert_eq!(cpu.memory().bytes(), 1_500);
//! assert_eq!(CopyMode::CopyEngine.name(), "copy-engine");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::InterVmPath;

use crate::cpu::HostCpu;

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

/// How the host learns that the copy engine finished a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompletionMode {
    /// The submitting core polls the engine's completion write-back (ioatdma's
    /// `dma_async_is_tx_complete`): [`CopyEngineConfig::poll_cycles`] per completion.
    #[default]
    Poll,
    /// The engine raises an interrupt per completion: [`CopyEngineConfig::interrupt_cycles`]
    /// on the submitting core.
    Interrupt,
}

/// The copy engine's parameters (a device: a command ring in host memory, a doorbell, a
/// completion write-back). The sNICh system takes every number from the scenario's cost
/// profile (`profiles/*.toml`, `[snich.copy_engine]`, each with its source);
/// [`CopyEngineConfig::default`] is the default profile's values, for this crate's tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyEngineConfig {
    /// Channels working in parallel.
    pub channels: u32,
    /// Descriptors of the command ring (one per copy in flight, from its submission until
    /// its completion is taken); a submission waits for a free slot.
    pub ring_entries: u32,
    /// Host cycles to submit one copy: take the card's command, write a descriptor into the
    /// ring, ring the doorbell (an uncached MMIO write).
    pub submit_cycles: u64,
    /// Time from the doorbell write to the engine seeing it.
    pub doorbell: SimDuration,
    /// Time from the doorbell to the first byte moving: the engine's descriptor fetch from
    /// memory and decode (per descriptor).
    pub descriptor_fetch: SimDuration,
    /// Bytes per microsecond one channel moves (its bytes also cross the memory bus).
    pub bytes_per_us: u64,
    /// Time from the last byte to the completion write-back being visible.
    pub completion_write: SimDuration,
    /// How completions are taken.
    pub completion: CompletionMode,
    /// Host cycles to take one completion by polling.
    pub poll_cycles: u64,
    /// Host cycles to take one completion by interrupt.
    pub interrupt_cycles: u64,
}

impl Default for CopyEngineConfig {
    /// `profiles/default.toml`'s `[snich.copy_engine]` values (sources there), for tests.
    fn default() -> Self {
        CopyEngineConfig {
            channels: 8,
            ring_entries: 1_024,
            submit_cycles: 300,
            doorbell: SimDuration::from_ns(100),
            descriptor_fetch: SimDuration::from_ns(150),
            bytes_per_us: 5_000,
            completion_write: SimDuration::from_ns(50),
            completion: CompletionMode::Poll,
            poll_cycles: 260,
            interrupt_cycles: 2_000,
        }
    }
}

/// The CPU copy's parameters. The sNICh system takes them from the scenario's cost profile
/// (`[snich.cpu_copy] fixed`, and `vnic.copy_per_byte`, the per-byte cost of every switch's
/// CPU copies); [`CpuCopyConfig::default`] is the default profile's values, for this crate's
/// tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuCopyConfig {
    /// Cycles per copy besides the bytes: taking the command, checking it, the completion.
    pub fixed_cycles: u64,
    /// Thousandths of a cycle per byte copied.
    pub per_byte_millicycles: u64,
}

impl CpuCopyConfig {
    /// Cycles of a copy of `len` bytes.
    pub fn cycles(&self, len: u64) -> u64 {
        let bytes = u128::from(len) * u128::from(self.per_byte_millicycles);
        let bytes = u64::try_from(bytes.div_ceil(1_000)).unwrap_or(u64::MAX);
        self.fixed_cycles.saturating_add(bytes)
    }
}

impl Default for CpuCopyConfig {
    /// `[snich.cpu_copy] fixed` 200 cycles; `vnic.copy_per_byte` 0.1 ns at 2.6 GHz, 0.26
    /// cycles.
    fn default() -> Self {
        CpuCopyConfig {
            fixed_cycles: 200,
            per_byte_millicycles: 260,
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
    /// Doorbells rung on the engine (one per submission).
    pub doorbells: u64,
    /// Submissions that waited for a free slot of the command ring.
    pub ring_full_waits: u64,
    /// Most descriptors in the command ring at once.
    pub ring_peak: u32,
    /// Host CPU cycles of copies: CPU copies, or the engine's submissions and polled
    /// completions.
    pub cpu_cycles: u64,
    /// Host CPU cycles of the engine's completion interrupts.
    pub interrupt_cycles: u64,
}

/// Why a copy configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// A parameter is zero that must not be.
    #[error("copy config: {0} must be at least 1")]
    Zero(&'static str),
}

/// A step of a copy: when it ends, and what it cost the host's cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyDone {
    /// [`InterVmCopier::copy`]: when the copy's completion is visible to the host (the
    /// engine's write-back, or the end of a CPU copy). [`InterVmCopier::take_completion`]:
    /// when the host has taken it (and tells the card).
    pub at: SimTime,
    /// Host cycles of copy work (submission, polling, or the CPU copy itself).
    pub copy_cycles: u64,
    /// Host cycles of completion interrupts.
    pub interrupt_cycles: u64,
}

/// Keeps time for the inter-VM copies of one host, on its cores and memory bus.
#[derive(Debug, Clone)]
pub struct InterVmCopier {
    config: CopyConfig,
    channel_free: Vec<SimTime>,
    /// When each descriptor in the command ring is expected back (its write-back plus the
    /// cycles to take it on a free core), earliest first.
    in_ring: BinaryHeap<Reverse<SimTime>>,
    metrics: CopyMetrics,
}

impl InterVmCopier {
    /// An idle copier.
    pub fn new(config: CopyConfig) -> Result<InterVmCopier, CopyError> {
        let e = &config.engine;
        for (zero, what) in [
            (e.channels == 0, "engine.channels"),
            (e.ring_entries == 0, "engine.ring_entries"),
            (e.bytes_per_us == 0, "engine.bytes_per_us"),
        ] {
            if zero {
                return Err(CopyError::Zero(what));
            }
        }
        Ok(InterVmCopier {
            channel_free: vec![SimTime::ZERO; e.channels as usize],
            in_ring: BinaryHeap::new(),
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

    /// Times a copy of `len` bytes whose command reached the host at `at` (the bytes have
    /// been moved), on `cpu`'s cores and memory bus: returns when its completion is visible
    /// (the engine's write-back; a CPU copy's end), and the cycles the submission (or the
    /// CPU copy) cost. The caller takes the completion at that time with
    /// [`InterVmCopier::take_completion`].
    pub fn copy(&mut self, cpu: &mut HostCpu, len: u64, at: SimTime) -> CopyDone {
        self.metrics.copies += 1;
        self.metrics.bytes += len;
        match self.config.mode {
            CopyMode::CopyEngine | CopyMode::Hairpin => self.engine_copy(cpu, len, at),
            CopyMode::CpuCopy => {
                let c = &self.config.cpu;
                let cycles = c.cycles(len);
                let core = cpu.first_free(at);
                let done = cpu.copy_on(core, at, cycles, len, CPU_USE_COPY);
                self.metrics.cpu_cycles += cycles;
                CopyDone {
                    at: done,
                    copy_cycles: cycles,
                    interrupt_cycles: 0,
                }
            }
        }
    }

    /// The engine's path: a ring slot, the submission on a core (descriptor, doorbell), the
    /// engine's descriptor fetch, the transfer on a channel and the memory bus, the
    /// completion write-back, and the completion taken on the submitting core.
    fn engine_copy(&mut self, cpu: &mut HostCpu, len: u64, at: SimTime) -> CopyDone {
        let e = self.config.engine;
        // Slots whose completions were taken by `at` are free again.
        while self.in_ring.peek().is_some_and(|Reverse(t)| *t <= at) {
            self.in_ring.pop();
        }
        let mut submit_at = at;
        if self.in_ring.len() >= e.ring_entries as usize {
            self.metrics.ring_full_waits += 1;
            if let Some(Reverse(t)) = self.in_ring.pop() {
                submit_at = submit_at.max(t);
            }
        }
        // The submitting core's work: the descriptor and the doorbell. The core is free for
        // other work while the engine copies; the completion is taken later
        // (`take_completion`), on the core that is free then.
        let core = cpu.first_free(submit_at);
        let rung = cpu.run_on(core, submit_at, e.submit_cycles, CPU_USE_COPY);
        self.metrics.doorbells += 1;
        let fetched = rung + e.doorbell + e.descriptor_fetch;
        let (ch, free) = self
            .channel_free
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(i, t)| (t, i))
            .unwrap_or((0, SimTime::ZERO));
        let start = fetched.max(free);
        let move_ps = (u128::from(len) * 1_000_000).div_ceil(u128::from(e.bytes_per_us));
        let channel_end = start + SimDuration(u64::try_from(move_ps).unwrap_or(u64::MAX));
        let moved = channel_end.max(cpu.memory_mut().copy(start, len));
        if let Some(f) = self.channel_free.get_mut(ch) {
            *f = moved;
        }
        self.metrics.engine_busy_ps += moved.saturating_since(start).as_ps();
        let written = moved + e.completion_write;
        let (take_cycles, _) = self.completion_work();
        self.in_ring.push(Reverse(
            written + SimDuration(cpu.cycles_to_ps(take_cycles)),
        ));
        let in_ring = u32::try_from(self.in_ring.len()).unwrap_or(u32::MAX);
        self.metrics.ring_peak = self.metrics.ring_peak.max(in_ring);
        self.metrics.cpu_cycles += e.submit_cycles;
        CopyDone {
            at: written,
            copy_cycles: e.submit_cycles,
            interrupt_cycles: 0,
        }
    }

    /// Cycles to take one completion, and the use they are charged under.
    fn completion_work(&self) -> (u64, &'static str) {
        let e = &self.config.engine;
        match e.completion {
            CompletionMode::Poll => (e.poll_cycles, CPU_USE_COPY),
            CompletionMode::Interrupt => (e.interrupt_cycles, CPU_USE_INTERRUPTS),
        }
    }

    /// The completion [`InterVmCopier::copy`] said is visible at `written` is taken: in
    /// copy-engine mode a host core (the first free one) polls it or takes its interrupt,
    /// queued behind that core's work; returns when the host can tell the card, and the
    /// cycles. A CPU copy's completion is its end (its cycles were the copy's).
    pub fn take_completion(&mut self, cpu: &mut HostCpu, written: SimTime) -> CopyDone {
        if self.config.mode == CopyMode::CpuCopy {
            return CopyDone {
                at: written,
                copy_cycles: 0,
                interrupt_cycles: 0,
            };
        }
        let (cycles, what) = self.completion_work();
        let core = cpu.first_free(written);
        let at = cpu.run_on(core, written, cycles, what);
        let (copy_cycles, interrupt_cycles) = if what == CPU_USE_INTERRUPTS {
            (0, cycles)
        } else {
            (cycles, 0)
        };
        self.metrics.cpu_cycles += copy_cycles;
        self.metrics.interrupt_cycles += interrupt_cycles;
        CopyDone {
            at,
            copy_cycles,
            interrupt_cycles,
        }
    }
}

/// The host CPU model's name for copy work ([`crate::host::CpuUse::Copy`]).
const CPU_USE_COPY: &str = "copy";
/// The host CPU model's name for interrupt work ([`crate::host::CpuUse::Interrupts`]).
const CPU_USE_INTERRUPTS: &str = "interrupts";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_host as cpu;

    fn engine(engine: CopyEngineConfig) -> InterVmCopier {
        InterVmCopier::new(CopyConfig {
            mode: CopyMode::CopyEngine,
            engine,
            ..CopyConfig::default()
        })
        .expect("valid")
    }

    /// No host cycles and no fixed latencies: only the channels and the bus.
    fn bare() -> CopyEngineConfig {
        CopyEngineConfig {
            channels: 2,
            submit_cycles: 0,
            doorbell: SimDuration::ZERO,
            descriptor_fetch: SimDuration::ZERO,
            completion_write: SimDuration::ZERO,
            poll_cycles: 0,
            ..CopyEngineConfig::default()
        }
    }

    #[test]
    fn engine_channels_keep_time_and_copies_queue_behind_them() {
        let mut host = cpu(1, 100.0);
        let mut e = engine(bare());
        // 1,500 bytes at 5,000 B/us = 300 ns on a channel.
        let a = e.copy(&mut host, 1_500, SimTime::ZERO);
        assert_eq!((a.at, a.copy_cycles), (SimTime(300_000), 0));
        let b = e.copy(&mut host, 1_500, SimTime::ZERO);
        assert_eq!(b.at, a.at, "second channel");
        let c = e.copy(&mut host, 1_500, SimTime::ZERO);
        assert_eq!(c.at, SimTime(600_000), "queues behind the first channel");
        assert_eq!(e.metrics().engine_busy_ps, 900_000);
    }

    #[test]
    fn engine_transfers_share_the_memory_bus() {
        // 1 GB/s: 1,500 bytes hold the bus 3 us, longer than a channel's 300 ns.
        let mut host = cpu(1, 1.0);
        let mut e = engine(bare());
        let a = e.copy(&mut host, 1_500, SimTime::ZERO);
        let b = e.copy(&mut host, 1_500, SimTime::ZERO);
        assert_eq!(a.at, SimTime(3_000_000));
        assert_eq!(b.at, SimTime(6_000_000), "two channels, one bus");
        // A CPU copy on the same host waits for the bus too.
        let mut c = InterVmCopier::new(CopyConfig {
            mode: CopyMode::CpuCopy,
            ..CopyConfig::default()
        })
        .expect("valid");
        let d = c.copy(&mut host, 1_500, SimTime::ZERO);
        assert_eq!(d.at, SimTime(9_000_000));
    }

    #[test]
    fn submissions_and_completions_cost_host_cycles_on_a_core_each_at_its_time() {
        let mut host = cpu(1, 100.0);
        let mut e = engine(CopyEngineConfig::default());
        let d = e.copy(&mut host, 64, SimTime::ZERO);
        assert_eq!(d.copy_cycles, 300);
        // The core is busy with the submission only while the engine copies.
        let submitted = SimTime(115_385);
        assert_eq!(host.free_at(crate::cpu::CoreId(0)), submitted);
        // Other work takes the core meanwhile; the completion waits for it.
        let other = host.run_on(crate::cpu::CoreId(0), submitted, 2_600, "driver");
        assert!(other > d.at, "the other work outlasts the copy");
        let t = e.take_completion(&mut host, d.at);
        assert_eq!(t.copy_cycles, 260);
        assert_eq!(
            t.at,
            SimTime(other.0 + 100_000),
            "polled once the core is free"
        );
        assert_eq!(host.cycles("copy"), 560);
        assert_eq!(e.metrics().cpu_cycles, 560);
        let mut irq = engine(CopyEngineConfig {
            completion: CompletionMode::Interrupt,
            ..CopyEngineConfig::default()
        });
        let mut host = cpu(1, 100.0);
        let i = irq.copy(&mut host, 64, SimTime::ZERO);
        assert_eq!(i.at, d.at, "the engine's side does not depend on the mode");
        let ti = irq.take_completion(&mut host, i.at);
        assert_eq!((ti.copy_cycles, ti.interrupt_cycles), (0, 2_000));
        assert_eq!(host.cycles("interrupts"), 2_000);
        assert_eq!(ti.at.0, i.at.0 + 769_231, "2,000 cycles at 2.6 GHz");
        assert_eq!(irq.metrics().interrupt_cycles, 2_000);
        assert_eq!(irq.metrics().cpu_cycles, 300);
    }

    #[test]
    fn a_full_command_ring_delays_the_next_submission() {
        let mut host = cpu(1, 100.0);
        let mut e = engine(CopyEngineConfig {
            ring_entries: 1,
            ..bare()
        });
        let a = e.copy(&mut host, 1_500, SimTime::ZERO);
        let b = e.copy(&mut host, 1_500, SimTime::ZERO);
        assert_eq!(
            b.at,
            SimTime(a.at.0 + 300_000),
            "waits for the slot, not the channel"
        );
        assert_eq!(e.metrics().ring_full_waits, 1);
        assert_eq!(e.metrics().ring_peak, 1);
        let c = e.copy(&mut host, 1_500, b.at);
        assert_eq!(c.at, SimTime(b.at.0 + 300_000), "slot free again: no wait");
        assert_eq!(e.metrics().ring_full_waits, 1);
    }

    #[test]
    fn cpu_copies_run_on_a_core_and_configs_are_checked() {
        let mut host = cpu(1, 100.0);
        let mut c = InterVmCopier::new(CopyConfig {
            mode: CopyMode::CpuCopy,
            ..CopyConfig::default()
        })
        .expect("valid");
        let d = c.copy(&mut host, 1_600, SimTime::ZERO);
        // 200 fixed, 0.26 a byte.
        assert_eq!(d.copy_cycles, 200 + 416);
        // 616 cycles at 2.6 GHz: 236.92 ns, rounded up to the picosecond.
        assert_eq!(d.at, SimTime(236_924));
        assert_eq!(c.metrics().cpu_cycles, 616);
        for (engine, what) in [
            (
                CopyEngineConfig {
                    channels: 0,
                    ..CopyEngineConfig::default()
                },
                "engine.channels",
            ),
            (
                CopyEngineConfig {
                    ring_entries: 0,
                    ..CopyEngineConfig::default()
                },
                "engine.ring_entries",
            ),
        ] {
            let e = InterVmCopier::new(CopyConfig {
                engine,
                ..CopyConfig::default()
            });
            assert_eq!(e.err(), Some(CopyError::Zero(what)));
        }
        assert_eq!(CopyMode::Hairpin.card_path(), InterVmPath::Hairpin);
    }
}
