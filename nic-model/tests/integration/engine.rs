//! The event queue against a simple model: a list kept sorted by (time, scheduling order).

use nic_abi::time::{SimDuration, SimTime};
use nic_model::engine::{EngineError, EventQueue};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Schedule an event this far after now.
    Schedule(u64),
    /// Schedule an event before now (must be refused once time has moved).
    SchedulePast(u64),
    Pop,
    PopUntil(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..50).prop_map(Op::Schedule),
        1 => (1u64..50).prop_map(Op::SchedulePast),
        3 => Just(Op::Pop),
        1 => (0u64..60).prop_map(Op::PopUntil),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn queue_matches_sorted_list(ops in prop::collection::vec(op(), 1..300)) {
        let mut q = EventQueue::new();
        // (time, id): ids increase with scheduling order.
        let mut model: Vec<(u64, u32)> = Vec::new();
        let mut next_id = 0u32;
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Schedule(d) => {
                    q.schedule_in(SimDuration(d), next_id).expect("room");
                    model.push((now + d, next_id));
                    next_id += 1;
                }
                Op::SchedulePast(d) => {
                    let at = now.saturating_sub(d);
                    let r = q.schedule_at(SimTime(at), next_id);
                    if at < now {
                        prop_assert_eq!(r, Err(EngineError::InThePast { at, now }));
                    } else {
                        prop_assert!(r.is_ok());
                        model.push((at, next_id));
                    }
                    next_id += 1;
                }
                Op::Pop | Op::PopUntil(_) => {
                    // Stable sort: equal times keep scheduling order.
                    model.sort_by_key(|&(t, _)| t);
                    let limit = match op {
                        Op::PopUntil(d) => Some(now + d),
                        _ => None,
                    };
                    let expected = match (model.first(), limit) {
                        (Some(&(t, _)), Some(l)) if t > l => None,
                        (Some(_), _) => Some(model.remove(0)),
                        (None, _) => None,
                    };
                    let got = match limit {
                        Some(l) => q.pop_until(SimTime(l)),
                        None => q.pop(),
                    };
                    prop_assert_eq!(got.map(|(t, e)| (t.0, e)), expected);
                    if let Some((t, _)) = expected {
                        now = t;
                    }
                    prop_assert_eq!(q.now(), SimTime(now));
                }
            }
            prop_assert_eq!(q.len(), model.len());
        }
    }
}
