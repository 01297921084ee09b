//! Simulated time: an integer count of picoseconds.
//!
//! No component reads the wall clock. Time lives here, in the contract crate, because the card
//! stamps it into records the host reads (a miss record's arrival time, an entry's last hit)
//! and the agent's idle eviction compares against it. Clock domains (NIC core, PCIe, host CPU)
//! convert their cycles to it in `nic-model`.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

/// A point in simulated time, in picoseconds since the start of the run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SimTime(pub u64);

/// A span of simulated time, in picoseconds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SimDuration(pub u64);

impl SimTime {
    /// The start of a run.
    pub const ZERO: SimTime = SimTime(0);

    /// Picoseconds since the start of the run.
    pub fn as_ps(self) -> u64 {
        self.0
    }

    /// Nanoseconds since the start of the run, as a float (for reports).
    pub fn as_ns_f64(self) -> f64 {
        self.0 as f64 / 1_000.0
    }

    /// The time elapsed since `earlier`, or zero when `earlier` is later than `self`.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    /// No time.
    pub const ZERO: SimDuration = SimDuration(0);

    /// A duration of `ps` picoseconds.
    pub const fn from_ps(ps: u64) -> SimDuration {
        SimDuration(ps)
    }

    /// A duration of `ns` nanoseconds (saturating).
    pub const fn from_ns(ns: u64) -> SimDuration {
        SimDuration(ns.saturating_mul(1_000))
    }

    /// A duration of `us` microseconds (saturating).
    pub const fn from_us(us: u64) -> SimDuration {
        SimDuration(us.saturating_mul(1_000_000))
    }

    /// A duration of `ms` milliseconds (saturating).
    pub const fn from_ms(ms: u64) -> SimDuration {
        SimDuration(ms.saturating_mul(1_000_000_000))
    }

    /// Picoseconds in this duration.
    pub fn as_ps(self) -> u64 {
        self.0
    }

    /// Nanoseconds in this duration, as a float (for reports).
    pub fn as_ns_f64(self) -> f64 {
        self.0 as f64 / 1_000.0
    }

    /// Seconds in this duration, as a float (for rates in reports).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e12
    }

    /// This duration `n` times over (saturating).
    pub fn times(self, n: u64) -> SimDuration {
        SimDuration(self.0.saturating_mul(n))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;

    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;

    /// The span from `earlier` to `self`, zero if `earlier` is later.
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.saturating_since(earlier)
    }
}

impl Add for SimDuration {
    type Output = SimDuration;

    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}

impl AddAssign for SimDuration {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} ns", self.as_ns_f64())
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} ns", self.as_ns_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let t = SimTime(10) + SimDuration::from_ns(2);
        assert_eq!(t, SimTime(2_010));
        assert_eq!(SimTime(5) - SimTime(7), SimDuration::ZERO);
        assert_eq!(SimTime(u64::MAX) + SimDuration(1), SimTime(u64::MAX));
        assert_eq!(SimDuration::from_us(3).as_ps(), 3_000_000);
        assert_eq!(SimDuration::from_ns(1).times(4), SimDuration(4_000));
    }
}
