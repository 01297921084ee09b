//! The discrete-event engine: a queue of timed events and clock domains.
//!
//! Time is [`SimTime`] (integer picoseconds); nothing reads the wall clock. Events scheduled
//! for the same time fire in the order they were scheduled: every event gets a sequence number
//! when scheduled, and the queue orders by `(time, sequence)`. A run is single-threaded, so the
//! same inputs give the same event order, hence byte-identical results.
//!
//! The queue is a binary heap of 128-bit keys `time << 64 | sequence << 24 | slot`, so one
//! integer comparison orders two events; payloads (an enum chosen by the model, no boxing per
//! event) stay in a slot store and never move while the heap sifts.
//!
//! ```
//! use nic_model::engine::{Clock, EventQueue};
//! use nic_abi::time::SimTime;
//!
//! let nic = Clock::from_mhz(250)?; // 4 ns cycles
//! let mut q = EventQueue::new();
//! q.schedule_at(SimTime::ZERO + nic.cycles(2), "b")?;
//! q.schedule_at(SimTime::ZERO + nic.cycles(1), "a")?;
//! q.schedule_at(SimTime::ZERO + nic.cycles(2), "c")?; // same time as "b": fires after it
//! let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(t, e)| (t.as_ps(), e)).collect();
//! assert_eq!(order, [(4_000, "a"), (8_000, "b"), (8_000, "c")]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use nic_abi::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

/// Errors of the engine and its clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// An event was scheduled before the current time. This is a bug in the component that
    /// scheduled it; the queue is unchanged and the simulation can go on.
    #[error("event scheduled at {at} ps, before the current time {now} ps")]
    InThePast {
        /// The requested time (ps).
        at: u64,
        /// The queue's current time (ps).
        now: u64,
    },
    /// More than [`MAX_PENDING_EVENTS`] events pending, or more than [`MAX_EVENTS`] scheduled
    /// in one run. The event was not scheduled; the simulation cannot be trusted to go on.
    #[error("event queue full: more than 2^24 events pending or 2^40 scheduled in one run")]
    TooManyEvents,
    /// A clock's frequency or period is zero or does not give a whole number of picoseconds.
    #[error("clock: {0} is not a usable clock (period must be a whole, non-zero number of ps)")]
    BadClock(&'static str),
}

/// A clock domain: converts cycles to simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// The cycle time in picoseconds.
    pub period_ps: u64,
}

impl Clock {
    /// A clock with this period (non-zero).
    pub fn from_period_ps(period_ps: u64) -> Result<Clock, EngineError> {
        if period_ps == 0 {
            return Err(EngineError::BadClock("a zero period"));
        }
        Ok(Clock { period_ps })
    }

    /// A clock of `mhz` MHz; the period must be a whole number of picoseconds (1,000,000 ps
    /// divisible by `mhz`: 100, 125, 200, 250, 500 MHz... are).
    pub fn from_mhz(mhz: u64) -> Result<Clock, EngineError> {
        if mhz == 0 || 1_000_000 % mhz != 0 {
            return Err(EngineError::BadClock(
                "a frequency whose period is not whole picoseconds",
            ));
        }
        Clock::from_period_ps(1_000_000 / mhz)
    }

    /// The duration of `n` cycles.
    #[inline]
    pub fn cycles(self, n: u64) -> SimDuration {
        SimDuration(self.period_ps.saturating_mul(n))
    }

    /// The first clock edge at or after `t` (edges at multiples of the period).
    #[inline]
    pub fn edge_at_or_after(self, t: SimTime) -> SimTime {
        SimTime(t.0.div_ceil(self.period_ps).saturating_mul(self.period_ps))
    }

    /// Whole cycles elapsed in `d`, rounded down.
    pub fn cycles_in(self, d: SimDuration) -> u64 {
        d.0 / self.period_ps
    }
}

/// Bits of a heap key holding the payload's slot; the sequence number takes the bits above,
/// up to the time's 64 bits.
const SLOT_BITS: u32 = 24;
/// Most events pending at once (payload slots).
pub const MAX_PENDING_EVENTS: usize = 1 << SLOT_BITS;
/// Most events one queue schedules over its life.
pub const MAX_EVENTS: u64 = 1 << (64 - SLOT_BITS);

#[inline]
fn key_time(key: u128) -> u64 {
    // The shift leaves the 64 time bits.
    #[allow(clippy::cast_possible_truncation)]
    let t = (key >> 64) as u64;
    t
}

#[inline]
fn key_slot(key: u128) -> u32 {
    // Masked to SLOT_BITS (24) bits.
    #[allow(clippy::cast_possible_truncation)]
    let s = (key & ((1 << SLOT_BITS) - 1)) as u32;
    s
}

/// A queue of events of type `E` ordered by time, then by scheduling order.
#[derive(Debug)]
pub struct EventQueue<E> {
    /// Keys `time << 64 | seq << SLOT_BITS | slot`, smallest first: one integer comparison
    /// orders by time, then scheduling order; the payload stays put in its slot.
    heap: BinaryHeap<Reverse<u128>>,
    payloads: Vec<Option<E>>,
    free_slots: Vec<u32>,
    next_seq: u64,
    now: SimTime,
    fired: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero.
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            payloads: Vec::new(),
            free_slots: Vec::new(),
            next_seq: 0,
            now: SimTime::ZERO,
            fired: 0,
        }
    }

    /// The current time: the time of the last event popped (zero before any).
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events popped so far.
    pub fn fired(&self) -> u64 {
        self.fired
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no event waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The time of the next event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|k| SimTime(key_time(k.0)))
    }

    /// Schedules `event` at `at` (not before [`EventQueue::now`]).
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) -> Result<(), EngineError> {
        if at < self.now {
            return Err(EngineError::InThePast {
                at: at.0,
                now: self.now.0,
            });
        }
        self.push(at, event)
    }

    /// Schedules `event` `after` from now.
    #[inline]
    pub fn schedule_in(&mut self, after: SimDuration, event: E) -> Result<(), EngineError> {
        let at = self.now + after;
        self.push(at, event)
    }

    #[inline]
    fn push(&mut self, at: SimTime, event: E) -> Result<(), EngineError> {
        let seq = self.next_seq;
        if seq >= MAX_EVENTS {
            return Err(EngineError::TooManyEvents);
        }
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.payloads[slot as usize] = Some(event);
                slot
            }
            None => {
                // The new slot's index is taken before the push; below MAX_PENDING_EVENTS
                // = 2^24, so it fits.
                let slot = u32::try_from(self.payloads.len())
                    .ok()
                    .filter(|&s| (s as usize) < MAX_PENDING_EVENTS)
                    .ok_or(EngineError::TooManyEvents)?;
                self.payloads.push(Some(event));
                slot
            }
        };
        self.next_seq += 1;
        let key = (u128::from(at.0) << 64) | (u128::from(seq) << SLOT_BITS) | u128::from(slot);
        self.heap.push(Reverse(key));
        Ok(())
    }

    /// Removes the earliest event, advances the current time to it, and returns it.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        loop {
            let Reverse(key) = self.heap.pop()?;
            let slot = key_slot(key);
            self.free_slots.push(slot);
            // Every key has its payload; a missing one would be a bug here, and skipping it
            // keeps the queue usable.
            if let Some(event) = self.payloads.get_mut(slot as usize).and_then(Option::take) {
                self.now = SimTime(key_time(key));
                self.fired += 1;
                return Some((self.now, event));
            }
        }
    }

    /// Moves the clock forward to `t` (never back), for a caller that acts at `t` with no
    /// event due before it (the host driver doing its work between the card's events).
    /// Events due before `t` are not skipped: they keep their times and fire next.
    pub fn advance_to(&mut self, t: SimTime) {
        self.now = self.now.max(t);
    }

    /// Pops the earliest event if it is due at or before `until`.
    #[inline]
    pub fn pop_until(&mut self, until: SimTime) -> Option<(SimTime, E)> {
        if key_time(self.heap.peek()?.0) > until.0 {
            return None;
        }
        self.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_time_events_fire_in_scheduling_order() {
        let mut q = EventQueue::new();
        for i in 0..100u32 {
            q.schedule_at(SimTime(u64::from(i % 3)), i)
                .expect("not past");
        }
        let mut last = (SimTime::ZERO, None::<u32>);
        while let Some((t, e)) = q.pop() {
            if t == last.0 {
                if let Some(prev) = last.1 {
                    assert!(e > prev, "{e} after {prev} at the same time");
                }
            } else {
                assert!(t > last.0);
            }
            last = (t, Some(e));
        }
        assert_eq!(q.fired(), 100);
    }

    #[test]
    fn scheduling_in_the_past_is_refused() {
        let mut q = EventQueue::new();
        q.schedule_at(SimTime(10), ()).expect("future");
        q.pop();
        assert_eq!(
            q.schedule_at(SimTime(5), ()),
            Err(EngineError::InThePast { at: 5, now: 10 })
        );
        q.schedule_in(SimDuration(3), ()).expect("room");
        assert_eq!(q.pop(), Some((SimTime(13), ())));
        assert_eq!(q.pop_until(SimTime(100)), None);
    }

    #[test]
    fn clocks_convert_cycles() {
        let c = Clock::from_mhz(250).expect("whole ps");
        assert_eq!(c.period_ps, 4_000);
        assert_eq!(c.cycles(8), SimDuration::from_ns(32));
        assert_eq!(c.edge_at_or_after(SimTime(4_001)), SimTime(8_000));
        assert_eq!(c.edge_at_or_after(SimTime(8_000)), SimTime(8_000));
        assert_eq!(c.cycles_in(SimDuration(11_999)), 2);
        assert!(Clock::from_mhz(0).is_err());
        assert!(Clock::from_mhz(3).is_err());
        assert!(Clock::from_period_ps(0).is_err());
    }
}
