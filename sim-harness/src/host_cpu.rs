//! The host CPU model the software baselines (the Linux bridge, Open vSwitch) run on: cores
//! that are busy while they work, so work queues behind work and a software switch saturates
//! where its cores do. (The sNICh system runs its driver and agent on `snich-system`'s own
//! driver core at the same clock; see DESIGN.md, "Baselines, the host CPU model and cost
//! profiles".)
//!
//! A piece of work is a number of cycles on a core, submitted at a time: it starts when the
//! core is free (or at once), finishes `cycles / clock` later, and the core is busy until
//! then. Work is either pinned to a core (a driver domain's NAPI thread, a handler thread) or
//! goes to the core that frees first. Cycles are counted by what they were spent on, so a
//! report can say where the CPU went.
//!
//! ```
//! use nic_abi::time::SimTime;
//! use sim_harness::host_cpu::{CoreId, HostConfig, HostCpu};
//!
//! let mut cpu = HostCpu::new(&HostConfig { cores: 1, clock_mhz: 2_000, memory_gbps: 100.0 })?;
//! // 2,000 cycles at 2 GHz take 1 us; the second job waits for the first.
//! let first = cpu.run_on(CoreId(0), SimTime::ZERO, 2_000, "bridge");
//! let second = cpu.run_on(CoreId(0), SimTime::ZERO, 2_000, "bridge");
//! assert_eq!((first.0, second.0), (1_000_000, 2_000_000));
//! assert_eq!(cpu.cycles("bridge"), 4_000);
//! # Ok::<(), sim_harness::host_cpu::HostCpuError>(())
//! ```

use std::collections::BTreeMap;

use nic_abi::time::SimTime;
use serde::{Deserialize, Serialize};

/// The host's CPU and memory, as a scenario gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Cores of the software baselines' driver domain or hypervisor switch (the sNICh system
    /// and the SR-IOV VEB do not use them).
    pub cores: u16,
    /// Core clock in MHz.
    pub clock_mhz: u32,
    /// Memory bandwidth in GB/s. Validated and reported; no copy is bounded by it yet
    /// ([`HostCpu::memory_copy_ps`] has no caller outside its test).
    pub memory_gbps: f64,
}

impl Default for HostConfig {
    /// Two cores at 2.6 GHz with 100 GB/s: the cores of this project's 2-core EPYC
    /// machines, where `data/real_switches` was measured (one core ran the switch), and the
    /// order of one socket's DDR4-3200 8-channel bandwidth (8 x 25.6 GB/s, derated).
    fn default() -> Self {
        HostConfig {
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
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HostCpuError {
    /// No cores, no clock, or no memory bandwidth.
    #[error("host: {0}")]
    Config(String),
}

/// The host's cores, each busy until some time.
#[derive(Debug, Clone)]
pub struct HostCpu {
    free_at: Vec<SimTime>,
    /// The clock: a cycle is 10^6 / `clock_mhz` ps (2.6 GHz is not a whole number of ps, so
    /// durations are computed exactly from the cycle count and rounded up).
    clock_mhz: u32,
    cycles_by_use: BTreeMap<String, u64>,
    /// Memory bandwidth in MB/s (whole: the scenario's GB/s to three decimals).
    memory_mbps: u64,
}

impl HostCpu {
    /// A host with `config.cores` idle cores.
    pub fn new(config: &HostConfig) -> Result<HostCpu, HostCpuError> {
        if config.cores == 0 {
            return Err(HostCpuError::Config("cores must be at least 1".into()));
        }
        if config.clock_mhz == 0 {
            return Err(HostCpuError::Config("clock_mhz must be at least 1".into()));
        }
        if !config.memory_gbps.is_finite() || config.memory_gbps <= 0.0 {
            return Err(HostCpuError::Config("memory_gbps must be positive".into()));
        }
        Ok(HostCpu {
            free_at: vec![SimTime::ZERO; usize::from(config.cores)],
            clock_mhz: config.clock_mhz,
            cycles_by_use: BTreeMap::new(),
            memory_mbps: gbps_to_mbps(config.memory_gbps),
        })
    }

    /// Cores of the host.
    pub fn cores(&self) -> u16 {
        u16::try_from(self.free_at.len()).unwrap_or(u16::MAX)
    }

    /// Simulated time `cycles` take on one core.
    pub fn cycles_to_ps(&self, cycles: u64) -> u64 {
        let ps = (u128::from(cycles) * 1_000_000).div_ceil(u128::from(self.clock_mhz));
        u64::try_from(ps).unwrap_or(u64::MAX)
    }

    /// Runs `cycles` of work for `what` on `core` (taken modulo the core count), submitted at
    /// `at`; returns when it finishes.
    pub fn run_on(&mut self, core: CoreId, at: SimTime, cycles: u64, what: &str) -> SimTime {
        let i = usize::from(core.0) % self.free_at.len();
        let start = self.free_at[i].max(at);
        let end = SimTime(start.0.saturating_add(self.cycles_to_ps(cycles)));
        self.free_at[i] = end;
        *self.cycles_by_use.entry(what.to_string()).or_insert(0) += cycles;
        end
    }

    /// Runs `cycles` of work for `what` on the core that frees first (lowest index on a
    /// tie, so runs are deterministic); returns the core and when the work finishes.
    pub fn run_anywhere(&mut self, at: SimTime, cycles: u64, what: &str) -> (CoreId, SimTime) {
        let (i, _) = self
            .free_at
            .iter()
            .enumerate()
            .min_by_key(|(i, t)| ((**t).max(at), *i))
            .unwrap_or((0, &SimTime::ZERO));
        let core = CoreId(u16::try_from(i).unwrap_or(0));
        (core, self.run_on(core, at, cycles, what))
    }

    /// When `core` is next free.
    pub fn free_at(&self, core: CoreId) -> SimTime {
        self.free_at[usize::from(core.0) % self.free_at.len()]
    }

    /// Time a memory-to-memory copy of `bytes` takes at the host's memory bandwidth (read and
    /// write both cross the memory bus).
    pub fn memory_copy_ps(&self, bytes: u64) -> u64 {
        // bytes * 2 (read + write) / (MB/s = bytes/us) * 1e6 ps/us, rounded up.
        let ps = (u128::from(bytes) * 2 * 1_000_000).div_ceil(u128::from(self.memory_mbps));
        u64::try_from(ps).unwrap_or(u64::MAX)
    }

    /// Cycles spent on `what` so far.
    pub fn cycles(&self, what: &str) -> u64 {
        self.cycles_by_use.get(what).copied().unwrap_or(0)
    }

    /// Cycles spent so far, by what they were spent on.
    pub fn cycles_by_use(&self) -> &BTreeMap<String, u64> {
        &self.cycles_by_use
    }
}

/// GB/s (validated positive and finite) to whole MB/s, at least 1.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn gbps_to_mbps(gbps: f64) -> u64 {
    // The value is positive and finite; `as` saturates above u64::MAX.
    ((gbps * 1_000.0).round() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cores: u16) -> HostCpu {
        HostCpu::new(&HostConfig {
            cores,
            clock_mhz: 2_600,
            memory_gbps: 100.0,
        })
        .expect("valid host")
    }

    #[test]
    fn work_queues_on_a_busy_core_and_spreads_over_free_ones() {
        let mut cpu = host(2);
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
        let mut cpu = host(1);
        let end = cpu.run_on(CoreId(0), SimTime(5_000_000), 26, "x");
        assert_eq!(end, SimTime(5_010_000));
    }

    #[test]
    fn bad_hosts_are_refused() {
        for (cores, mhz, gbps) in [(0, 1, 1.0), (1, 0, 1.0), (1, 1, 0.0), (1, 1, f64::NAN)] {
            let c = HostConfig {
                cores,
                clock_mhz: mhz,
                memory_gbps: gbps,
            };
            assert!(HostCpu::new(&c).is_err(), "{c:?}");
        }
    }

    #[test]
    fn a_1500_byte_copy_at_100_gbps_takes_30_ns() {
        assert_eq!(host(1).memory_copy_ps(1_500), 30_000);
    }
}
