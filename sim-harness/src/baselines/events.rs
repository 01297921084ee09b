//! A small event queue for the baselines: events fire in time order, and events at the same
//! time in the order they were scheduled (a sequence number breaks ties), so a run is
//! deterministic. Unlike `nic_model::engine::EventQueue`, whose payloads are small `Copy`
//! values, an event here may own its packet.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use nic_abi::time::SimTime;

struct Scheduled<E> {
    at: SimTime,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Scheduled<E> {}
impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Scheduled<E> {
    /// Reversed, so the max-heap pops the earliest (time, then scheduling order) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Pending events, earliest first.
pub struct TimedEvents<E> {
    heap: BinaryHeap<Scheduled<E>>,
    seq: u64,
}

impl<E> Default for TimedEvents<E> {
    fn default() -> Self {
        TimedEvents {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<E> std::fmt::Debug for TimedEvents<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedEvents")
            .field("pending", &self.heap.len())
            .finish()
    }
}

impl<E> TimedEvents<E> {
    /// Schedules `event` at `at`.
    pub fn schedule(&mut self, at: SimTime, event: E) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
    }

    /// The earliest event if it is due at or before `until`, removed.
    pub fn pop_due(&mut self, until: SimTime) -> Option<(SimTime, E)> {
        if self.heap.peek()?.at > until {
            return None;
        }
        self.heap.pop().map(|s| (s.at, s.event))
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_ties_in_scheduling_order() {
        let mut q = TimedEvents::default();
        q.schedule(SimTime(5), 'b');
        q.schedule(SimTime(1), 'a');
        q.schedule(SimTime(5), 'c');
        q.schedule(SimTime(9), 'd');
        assert_eq!(q.pop_due(SimTime(0)), None);
        let fired: Vec<char> = std::iter::from_fn(|| q.pop_due(SimTime(5)).map(|e| e.1)).collect();
        assert_eq!(fired, vec!['a', 'b', 'c']);
        assert_eq!(q.len(), 1);
    }
}
