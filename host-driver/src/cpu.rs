//! The host CPU model every switch's host software runs on: the scenario's cores, busy while
//! they work, so work queues behind work and a switch saturates where its cores do; and the
//! host's memory bus, busy while bytes move, so every copy (a core's `memcpy`, a copy
//! engine's transfer) queues behind the copies before it.
//!
//! A piece of work is a number of cycles on a core, submitted at a time: it starts when the
//! core is free (or at once), finishes `cycles / clock` later, and the core is busy until
//! then. Work is either pinned to a core (a NAPI thread, a handler thread) or goes to the core
//! that frees first. A copy on a core also moves its bytes over the memory bus (read and
//! write both cross it): the core is busy until both its cycles and the transfer are done.
//! Cycles are counted by what they were spent on, so a report can say where the CPU went.
//!
//! Work is booked when it is submitted: work submitted later for an earlier time queues
//! behind it on a core (the model keeps one "free at" time per core); on the memory bus it
//! takes an earlier gap if one is long enough ([`MemoryBus`]).
//!
//! ```
//! use nic_abi::time::SimTime;
//! use host_driver::cpu::{CoreId, HostCpu, HostCpuConfig};
//!
//! let mut cpu = HostCpu::new(&HostCpuConfig { cores: 1, clock_mhz: 2_000, memory_gbps: 1.0 })?;
//! // 2,000 cycles at 2 GHz take 1 us; the second job waits for the first.
//! let first = cpu.run_on(CoreId(0), SimTime::ZERO, 2_000, "bridge");
//! let second = cpu.run_on(CoreId(0), SimTime::ZERO, 2_000, "bridge");
//! assert_eq!((first.0, second.0), (1_000_000, 2_000_000));
//! assert_eq!(cpu.cycles("bridge"), 4_000);
//! // A 1,000-byte copy at 1 GB/s moves 2,000 bytes over the bus: 2 us, longer than its
//! // 200 cycles, so the core waits for the bus.
//! let copied = cpu.copy_on(CoreId(0), second, 200, 1_000, "copy");
//! assert_eq!(copied.0, 4_000_000);
//! # Ok::<(), host_driver::cpu::HostCpuError>(())
//! ```

use std::collections::{BTreeMap, VecDeque};

use nic_abi::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

/// The host's CPU and memory, as a scenario gives them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCpuConfig {
    /// Cores every switch's host software runs on (the software switches' driver domain, the
    /// sNICh driver and agent).
    pub cores: u16,
    /// Core clock in MHz.
    pub clock_mhz: u32,
    /// Memory bandwidth in GB/s: every CPU copy and copy-engine transfer crosses it.
    pub memory_gbps: f64,
}

impl Default for HostCpuConfig {
    /// Two cores at 2.6 GHz with 100 GB/s: the cores of this project's 2-core EPYC
    /// machines, where `data/real_switches` was measured (one core ran the switch), and the
    /// order of one socket's DDR4-3200 8-channel bandwidth (8 x 25.6 GB/s, derated).
    fn default() -> Self {
        HostCpuConfig {
            cores: 2,
            clock_mhz: 2_600,
            memory_gbps: 100.0,
        }
    }
}

/// A core's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CoreId(pub u16);

/// A host configuration the model cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostCpuError {
    /// No cores.
    #[error("host: cores must be at least 1")]
    NoCores,
    /// No clock.
    #[error("host: clock_mhz must be at least 1")]
    NoClock,
    /// No (or no finite) memory bandwidth.
    #[error("host: memory_gbps must be positive")]
    NoMemoryBandwidth,
}

/// Busy intervals the memory bus remembers; older ones are forgotten (a transfer that would
/// fit before them is then placed after the oldest one kept). Transfers are booked at most
/// a few microseconds ahead of the simulation's time, so 64 are plenty.
const BUS_INTERVALS: usize = 64;

/// The host's memory bus: one transfer at a time at the host's bandwidth. Transfers are
/// booked when they are submitted, possibly for a later time (a copy engine's transfer after
/// its descriptor fetch); a transfer submitted later for an earlier time takes a gap before
/// them if it fits, else queues behind them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBus {
    /// Bandwidth in MB/s (bytes per microsecond), at least 1.
    mbps: u64,
    /// Busy intervals `[start, end)`, disjoint, in time order (adjacent ones merged).
    busy: VecDeque<(SimTime, SimTime)>,
    busy_ps: u64,
    bytes: u64,
}

impl MemoryBus {
    /// An idle bus of `mbps` MB/s (0 is taken as 1).
    pub fn new(mbps: u64) -> MemoryBus {
        MemoryBus {
            mbps: mbps.max(1),
            busy: VecDeque::with_capacity(BUS_INTERVALS + 1),
            busy_ps: 0,
            bytes: 0,
        }
    }

    /// Time a memory-to-memory copy of `bytes` holds the bus (read and write both cross it).
    pub fn copy_ps(&self, bytes: u64) -> u64 {
        // bytes * 2 (read + write) / (MB/s = bytes/us) * 1e6 ps/us, rounded up.
        let ps = (u128::from(bytes) * 2 * 1_000_000).div_ceil(u128::from(self.mbps));
        u64::try_from(ps).unwrap_or(u64::MAX)
    }

    /// Copies `bytes` from `at` (or from the first time after it the bus is free long
    /// enough); returns when the last byte is written.
    pub fn copy(&mut self, at: SimTime, bytes: u64) -> SimTime {
        if bytes == 0 {
            return at;
        }
        let ps = self.copy_ps(bytes);
        self.busy_ps = self.busy_ps.saturating_add(ps);
        self.bytes = self.bytes.saturating_add(bytes);
        // The common case: the bus is free from `at` on (nothing booked after it).
        let last_end = self.busy.back().map_or(SimTime::ZERO, |&(_, e)| e);
        if last_end <= at {
            let end = at + SimDuration(ps);
            match self.busy.back_mut() {
                Some(last) if last.1 == at => last.1 = end,
                _ => {
                    if self.busy.len() == BUS_INTERVALS {
                        self.busy.pop_front();
                    }
                    self.busy.push_back((at, end));
                }
            }
            return end;
        }
        let mut i = self.busy.partition_point(|&(_, end)| end <= at);
        let mut start = at;
        while let Some(&(s, e)) = self.busy.get(i) {
            if start.0.saturating_add(ps) <= s.0 {
                break;
            }
            start = start.max(e);
            i += 1;
        }
        let end = start + SimDuration(ps);
        let joins_prev = i > 0 && self.busy.get(i - 1).is_some_and(|&(_, e)| e == start);
        let joins_next = self.busy.get(i).is_some_and(|&(s, _)| s == end);
        match (joins_prev, joins_next) {
            (true, true) => {
                let next_end = self.busy.remove(i).map_or(end, |(_, e)| e);
                if let Some(prev) = self.busy.get_mut(i - 1) {
                    prev.1 = next_end;
                }
            }
            (true, false) => {
                if let Some(prev) = self.busy.get_mut(i - 1) {
                    prev.1 = end;
                }
            }
            (false, true) => {
                if let Some(next) = self.busy.get_mut(i) {
                    next.0 = start;
                }
            }
            (false, false) => self.busy.insert(i, (start, end)),
        }
        if self.busy.len() > BUS_INTERVALS {
            self.busy.pop_front();
        }
        end
    }

    /// Time the bus was busy so far (ps).
    pub fn busy_ps(&self) -> u64 {
        self.busy_ps
    }

    /// Bytes copied so far (each counted once, though it crosses the bus twice).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// The host's cores, each busy until some time, and its memory bus.
#[derive(Debug, Clone)]
pub struct HostCpu {
    free_at: Vec<SimTime>,
    /// The clock: a cycle is 10^6 / `clock_mhz` ps (2.6 GHz is not a whole number of ps, so
    /// durations are computed exactly from the cycle count and rounded up).
    clock_mhz: u32,
    cycles_by_use: BTreeMap<&'static str, u64>,
    memory: MemoryBus,
}

impl HostCpu {
    /// A host with `config.cores` idle cores and an idle memory bus.
    pub fn new(config: &HostCpuConfig) -> Result<HostCpu, HostCpuError> {
        if config.cores == 0 {
            return Err(HostCpuError::NoCores);
        }
        if config.clock_mhz == 0 {
            return Err(HostCpuError::NoClock);
        }
        if !config.memory_gbps.is_finite() || config.memory_gbps <= 0.0 {
            return Err(HostCpuError::NoMemoryBandwidth);
        }
        Ok(HostCpu {
            free_at: vec![SimTime::ZERO; usize::from(config.cores)],
            clock_mhz: config.clock_mhz,
            cycles_by_use: BTreeMap::new(),
            memory: MemoryBus::new(gbps_to_mbps(config.memory_gbps)),
        })
    }

    /// Cores of the host.
    pub fn cores(&self) -> u16 {
        u16::try_from(self.free_at.len()).unwrap_or(u16::MAX)
    }

    /// The core clock, MHz.
    pub fn clock_mhz(&self) -> u32 {
        self.clock_mhz
    }

    /// Simulated time `cycles` take on one core.
    pub fn cycles_to_ps(&self, cycles: u64) -> u64 {
        let ps = (u128::from(cycles) * 1_000_000).div_ceil(u128::from(self.clock_mhz));
        u64::try_from(ps).unwrap_or(u64::MAX)
    }

    /// Cycles of `d` at the core clock (rounded down).
    pub fn cycles_of(&self, d: SimDuration) -> u64 {
        let c = u128::from(d.as_ps()) * u128::from(self.clock_mhz) / 1_000_000;
        u64::try_from(c).unwrap_or(u64::MAX)
    }

    fn index(&self, core: CoreId) -> usize {
        usize::from(core.0) % self.free_at.len()
    }

    /// Runs `cycles` of work for `what` on `core` (taken modulo the core count), submitted at
    /// `at`; returns when it finishes.
    pub fn run_on(
        &mut self,
        core: CoreId,
        at: SimTime,
        cycles: u64,
        what: &'static str,
    ) -> SimTime {
        self.copy_on(core, at, cycles, 0, what)
    }

    /// Runs a copy of `bytes` for `what` on `core` submitted at `at`: `cycles` of the core's
    /// work while the bytes cross the memory bus from when the core starts; the core is busy
    /// until both are done. Returns when the copy is complete.
    pub fn copy_on(
        &mut self,
        core: CoreId,
        at: SimTime,
        cycles: u64,
        bytes: u64,
        what: &'static str,
    ) -> SimTime {
        let i = self.index(core);
        let start = self.free_at[i].max(at);
        let worked = start + SimDuration(self.cycles_to_ps(cycles));
        let end = worked.max(self.memory.copy(start, bytes));
        self.free_at[i] = end;
        if cycles > 0 {
            *self.cycles_by_use.entry(what).or_insert(0) += cycles;
        }
        end
    }

    /// The core that frees first after `at` (lowest index on a tie, so runs are
    /// deterministic).
    pub fn first_free(&self, at: SimTime) -> CoreId {
        let i = self
            .free_at
            .iter()
            .enumerate()
            .min_by_key(|(i, t)| ((**t).max(at), *i))
            .map_or(0, |(i, _)| i);
        CoreId(u16::try_from(i).unwrap_or(0))
    }

    /// Runs `cycles` of work for `what` on the core that frees first; returns the core and
    /// when the work finishes.
    pub fn run_anywhere(
        &mut self,
        at: SimTime,
        cycles: u64,
        what: &'static str,
    ) -> (CoreId, SimTime) {
        let core = self.first_free(at);
        (core, self.run_on(core, at, cycles, what))
    }

    /// When `core` is next free.
    pub fn free_at(&self, core: CoreId) -> SimTime {
        self.free_at[self.index(core)]
    }

    /// The memory bus, for transfers no core works on (a copy engine's).
    pub fn memory_mut(&mut self) -> &mut MemoryBus {
        &mut self.memory
    }

    /// The memory bus.
    pub fn memory(&self) -> &MemoryBus {
        &self.memory
    }

    /// Time a memory-to-memory copy of `bytes` holds the memory bus.
    pub fn memory_copy_ps(&self, bytes: u64) -> u64 {
        self.memory.copy_ps(bytes)
    }

    /// Cycles spent on `what` so far.
    pub fn cycles(&self, what: &str) -> u64 {
        self.cycles_by_use.get(what).copied().unwrap_or(0)
    }

    /// Cycles spent so far, by what they were spent on.
    pub fn cycles_by_use(&self) -> &BTreeMap<&'static str, u64> {
        &self.cycles_by_use
    }
}

/// GB/s (validated positive and finite) to whole MB/s, at least 1.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn gbps_to_mbps(gbps: f64) -> u64 {
    // The value is positive and finite; `as` saturates above u64::MAX.
    ((gbps * 1_000.0).round() as u64).max(1)
}

/// A 2.6 GHz host of `cores` cores and `memory_gbps`, for this crate's unit tests.
#[cfg(test)]
pub(crate) fn test_host(cores: u16, memory_gbps: f64) -> HostCpu {
    HostCpu::new(&HostCpuConfig {
        cores,
        clock_mhz: 2_600,
        memory_gbps,
    })
    .expect("valid host")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cores: u16, memory_gbps: f64) -> HostCpu {
        test_host(cores, memory_gbps)
    }

    #[test]
    fn work_queues_on_a_busy_core_and_spreads_over_free_ones() {
        let mut cpu = host(2, 100.0);
        let (c0, e0) = cpu.run_anywhere(SimTime::ZERO, 2_600, "x");
        let (c1, e1) = cpu.run_anywhere(SimTime::ZERO, 2_600, "x");
        let (c2, e2) = cpu.run_anywhere(SimTime::ZERO, 2_600, "x");
        assert_eq!((c0, c1, c2), (CoreId(0), CoreId(1), CoreId(0)));
        assert_eq!(e0, SimTime(1_000_000));
        assert_eq!(e1, SimTime(1_000_000));
        assert_eq!(e2, SimTime(2_000_000));
        assert_eq!(cpu.cycles("x"), 3 * 2_600);
    }

    #[test]
    fn idle_core_starts_work_when_it_arrives() {
        let mut cpu = host(1, 100.0);
        let end = cpu.run_on(CoreId(0), SimTime(5_000_000), 26, "x");
        assert_eq!(end, SimTime(5_010_000));
    }

    #[test]
    fn bad_hosts_are_refused() {
        for (cores, mhz, gbps, e) in [
            (0, 1, 1.0, HostCpuError::NoCores),
            (1, 0, 1.0, HostCpuError::NoClock),
            (1, 1, 0.0, HostCpuError::NoMemoryBandwidth),
            (1, 1, f64::NAN, HostCpuError::NoMemoryBandwidth),
        ] {
            let c = HostCpuConfig {
                cores,
                clock_mhz: mhz,
                memory_gbps: gbps,
            };
            assert_eq!(HostCpu::new(&c).err(), Some(e), "{c:?}");
        }
    }

    #[test]
    fn a_1500_byte_copy_at_100_gbps_takes_30_ns() {
        assert_eq!(host(1, 100.0).memory_copy_ps(1_500), 30_000);
    }

    #[test]
    fn copies_on_two_cores_queue_on_the_memory_bus() {
        // 1 GB/s: a 1,000-byte copy holds the bus 2 us; its 26 cycles take 10 ns.
        let mut cpu = host(2, 1.0);
        let a = cpu.copy_on(CoreId(0), SimTime::ZERO, 26, 1_000, "copy");
        let b = cpu.copy_on(CoreId(1), SimTime::ZERO, 26, 1_000, "copy");
        assert_eq!(a, SimTime(2_000_000));
        assert_eq!(b, SimTime(4_000_000), "the second copy waits for the bus");
        assert_eq!(cpu.free_at(CoreId(1)), b, "its core waits with it");
        assert_eq!(cpu.memory().bytes(), 2_000);
        assert_eq!(cpu.memory().busy_ps(), 4_000_000);
        assert_eq!(
            cpu.cycles("copy"),
            52,
            "waiting for the bus is not counted as work"
        );
        // With ample bandwidth the same copies are bound by their cycles, in parallel.
        let mut fast = host(2, 100.0);
        let a = fast.copy_on(CoreId(0), SimTime::ZERO, 2_600, 1_000, "copy");
        let b = fast.copy_on(CoreId(1), SimTime::ZERO, 2_600, 1_000, "copy");
        assert_eq!((a, b), (SimTime(1_000_000), SimTime(1_000_000)));
    }

    #[test]
    fn an_earlier_transfer_takes_a_gap_before_a_later_booking() {
        let mut bus = MemoryBus::new(1_000); // 1 GB/s: 500 bytes hold it 1 us
        assert_eq!(bus.copy(SimTime(10_000_000), 500), SimTime(11_000_000));
        assert_eq!(
            bus.copy(SimTime::ZERO, 500),
            SimTime(1_000_000),
            "fits before"
        );
        // Does not fit between 1 us and 10 us: 5,000 bytes take 10 us.
        assert_eq!(bus.copy(SimTime(500_000), 5_000), SimTime(21_000_000));
        // Fills the gap exactly; the intervals merge into one.
        assert_eq!(bus.copy(SimTime(1_000_000), 4_500), SimTime(10_000_000));
        assert_eq!(bus.busy.len(), 1);
        assert_eq!(bus.busy_ps(), 21_000_000);
    }

    #[test]
    fn a_transfer_with_no_core_holds_only_the_bus() {
        let mut cpu = host(1, 1.0);
        let done = cpu.memory_mut().copy(SimTime(10), 500);
        assert_eq!(done, SimTime(1_000_010));
        assert_eq!(cpu.memory_mut().copy(SimTime(10), 0), SimTime(10));
        assert_eq!(cpu.free_at(CoreId(0)), SimTime::ZERO);
    }
}
