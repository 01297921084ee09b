//! The driver core: the one host core on which the control plane's steps run, busy while it
//! works, with the clock that turns simulated time (the agent's costs) into cycles and back.
//!
//! A step starts when the core is free (or when it is due, if later) and ends after its
//! cycles at the core's clock; the core's busy time is the sum of its steps' lengths.
//!
//! ```
//! use nic_abi::time::{SimDuration, SimTime};
//! use snich_system::driver_core::DriverCore;
//!
//! let mut core = DriverCore::new(2_000); // 2 GHz: 2 cycles a nanosecond
//! let end = core.run(SimTime::ZERO, 2_000);
//! assert_eq!(end, SimTime::ZERO + SimDuration::from_ns(1_000));
//! // A step due before the core is free waits for it.
//! let end = core.run(SimTime::ZERO, 2_000);
//! assert_eq!(end, SimTime::ZERO + SimDuration::from_ns(2_000));
//! assert_eq!(core.busy_ps(), 2_000_000);
//! assert_eq!(core.cycles_of(SimDuration::from_ns(5)), 10);
//! ```

use nic_abi::time::{SimDuration, SimTime};

/// One core's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverCore {
    clock_mhz: u32,
    free_at: SimTime,
    busy_ps: u64,
}

impl DriverCore {
    /// An idle core of `clock_mhz` MHz (0 is taken as 1).
    pub fn new(clock_mhz: u32) -> DriverCore {
        DriverCore {
            clock_mhz: clock_mhz.max(1),
            free_at: SimTime::ZERO,
            busy_ps: 0,
        }
    }

    /// Cycles of `d` at the core's clock (rounded down).
    pub fn cycles_of(&self, d: SimDuration) -> u64 {
        let c = u128::from(d.as_ps()) * u128::from(self.clock_mhz) / 1_000_000;
        u64::try_from(c).unwrap_or(u64::MAX)
    }

    /// Runs `cycles` on the core from `at` (or from when it is free, if later); returns when
    /// they end.
    pub fn run(&mut self, at: SimTime, cycles: u64) -> SimTime {
        let start = at.max(self.free_at);
        let ps = (u128::from(cycles) * 1_000_000).div_ceil(u128::from(self.clock_mhz));
        let end = start + SimDuration(u64::try_from(ps).unwrap_or(u64::MAX));
        self.free_at = end;
        self.busy_ps += end.saturating_since(start).as_ps();
        end
    }

    /// Time the core was busy so far (ps).
    pub fn busy_ps(&self) -> u64 {
        self.busy_ps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_after_an_idle_gap_starts_when_due() {
        let mut core = DriverCore::new(1_000); // 1 cycle a ns
        let end = core.run(SimTime(5_000), 10);
        assert_eq!(end, SimTime(15_000));
        let end = core.run(SimTime(100_000), 0);
        assert_eq!(end, SimTime(100_000), "no cycles, no time");
        assert_eq!(core.busy_ps(), 10_000, "the gap is not busy");
    }

    #[test]
    fn partial_cycles_round_up_and_a_zero_clock_is_one_mhz() {
        let mut core = DriverCore::new(3_000);
        // One cycle at 3 GHz is 333.3 ps: the step ends at the next whole ps.
        assert_eq!(core.run(SimTime::ZERO, 1), SimTime(334));
        let slow = DriverCore::new(0);
        assert_eq!(slow.cycles_of(SimDuration::from_ns(1_000)), 1);
    }
}
