//! The agent against a mock flow table (the other side of the `FlowTableDevice` boundary).

use std::collections::HashMap;

use flow_setup::agent::{Admission, Agent, AgentConfig, SoftwareReason};
use flow_setup::classifier::{Classifier, LinearClassifier};
use flow_setup::ofctl::parse_rule;
use flow_setup::rule::{Point, Rule, RuleId};
use nic_abi::action::{Action as CardAction, Destination};
use nic_abi::device::{EntryStats, FlowTableDevice, FlowTableError, InsertOutcome};
use nic_abi::key::{EtherType, FlowKey, KeyClass, PortNo, UnparsedReason};
use nic_abi::time::{SimDuration, SimTime};
use proptest::prelude::*;

use crate::strategies::{key_strategy, rule_strategy};

/// A table with a capacity, a clock the test sets, and hits the test records. Like a cuckoo
/// table it may fill before its capacity: inserts fail at `fills_at` entries.
#[derive(Debug, Default)]
struct MockTable {
    capacity: u64,
    fills_at: u64,
    now: SimTime,
    entries: HashMap<FlowKey, (CardAction, EntryStats)>,
}

impl MockTable {
    fn new(capacity: u64) -> MockTable {
        MockTable {
            capacity,
            fills_at: capacity,
            ..MockTable::default()
        }
    }
}

impl FlowTableDevice for MockTable {
    fn insert(
        &mut self,
        key: &FlowKey,
        action: CardAction,
    ) -> Result<InsertOutcome, FlowTableError> {
        if !key.is_parsed() {
            return Err(FlowTableError::UnparsedKey(key.class));
        }
        action.validate()?;
        if let Some(e) = self.entries.get_mut(key) {
            e.0 = action;
            return Ok(InsertOutcome::Updated);
        }
        if self.entries.len() as u64 >= self.fills_at.min(self.capacity) {
            return Err(FlowTableError::TableFull {
                occupancy: self.entries.len() as u64,
                capacity: self.capacity,
            });
        }
        let stats = EntryStats {
            last_hit: self.now,
            ..EntryStats::default()
        };
        self.entries.insert(*key, (action, stats));
        Ok(InsertOutcome::Inserted)
    }
    fn delete(&mut self, key: &FlowKey) -> Result<bool, FlowTableError> {
        Ok(self.entries.remove(key).is_some())
    }
    fn lookup(&mut self, key: &FlowKey) -> Result<Option<CardAction>, FlowTableError> {
        Ok(self.entries.get(key).map(|e| e.0))
    }
    fn entry_stats(&mut self, key: &FlowKey) -> Result<Option<EntryStats>, FlowTableError> {
        Ok(self.entries.get(key).map(|e| e.1))
    }
    fn capacity(&self) -> u64 {
        self.capacity
    }
    fn occupancy(&self) -> u64 {
        self.entries.len() as u64
    }
}

fn tcp_key(port: u16, dst: u16) -> FlowKey {
    FlowKey {
        in_port: PortNo(port),
        dl_type: EtherType::IPV4,
        nw_proto: 6,
        nw_dst: 0x0a00_0001,
        tp_dst: dst,
        ..FlowKey::default()
    }
}

fn agent(capacity: u64, rules: &[&str]) -> Agent<MockTable, u32> {
    let mut a = Agent::new(
        MockTable::new(capacity),
        AgentConfig {
            max_held_per_flow: 3,
            idle_timeout: SimDuration::from_ns(1000),
        },
    );
    for r in rules {
        a.add_rule(parse_rule(r).unwrap()).unwrap();
    }
    a
}

#[test]
fn miss_installs_the_entry_and_releases_held_packets_in_order() {
    let mut a = agent(
        16,
        &[
            "priority=10,tcp,actions=output:2",
            "priority=1,actions=drop",
        ],
    );
    let k = tcp_key(1, 80);
    let admissions: Vec<Admission> = (0..5).map(|i| a.on_miss(k, i)).collect();
    assert_eq!(
        admissions,
        [
            Admission::Started,
            Admission::Held,
            Admission::Held,
            Admission::DroppedHeldOverflow,
            Admission::DroppedHeldOverflow
        ]
    );
    let out = a.process(SimTime(0)).unwrap();
    assert_eq!(out.iter().map(|r| r.packet).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(out
        .iter()
        .all(|r| r.software.is_none() && r.decision.rule == Some(RuleId(0))));
    assert_eq!(
        a.device().entries.get(&k).map(|e| e.0),
        Some(CardAction::output(PortNo(2)))
    );
    let c = a.counters();
    assert_eq!(c.misses, c.started + c.held + c.held_overflow);
    assert_eq!((c.installed, c.held_overflow), (1, 2));
}

#[test]
fn flows_that_are_not_one_card_action_go_to_software() {
    let mut a = agent(
        16,
        &[
            "priority=10,tcp,actions=output:2,output:3",
            "priority=5,udp,actions=normal",
        ],
    );
    a.on_miss(tcp_key(1, 80), 7);
    let out = a.process(SimTime(0)).unwrap();
    assert_eq!(out[0].software, Some(SoftwareReason::NotACardAction));
    let unparsed = FlowKey {
        class: KeyClass::Unparsed(UnparsedReason::Truncated),
        ..tcp_key(1, 81)
    };
    a.on_miss(unparsed, 8);
    let out = a.process(SimTime(0)).unwrap();
    assert_eq!(out[0].software, Some(SoftwareReason::Unparsed));
    assert_eq!(a.device().occupancy(), 0);
    assert_eq!(a.counters().software, 2);
}

#[test]
fn output_to_the_input_port_installs_a_drop() {
    let mut a = agent(16, &["priority=10,tcp,actions=output:1"]);
    a.on_miss(tcp_key(1, 80), 0);
    a.process(SimTime(0)).unwrap();
    let e = a.device().entries.get(&tcp_key(1, 80)).map(|e| e.0.dest);
    assert_eq!(e, Some(Destination::Drop));
}

#[test]
fn full_table_goes_to_software_then_recovers_by_idle_eviction() {
    // Four slots, but (as when a cuckoo insert finds no path) the third insert fails.
    let mut table = MockTable::new(4);
    table.fills_at = 2;
    let mut a: Agent<MockTable, u32> = Agent::new(
        table,
        AgentConfig {
            max_held_per_flow: 3,
            idle_timeout: SimDuration::from_ns(1000),
        },
    );
    a.add_rule(parse_rule("priority=10,tcp,actions=output:2").unwrap())
        .unwrap();
    for (i, port) in [80u16, 81, 82].into_iter().enumerate() {
        a.on_miss(tcp_key(1, port), u32::try_from(i).unwrap());
    }
    let out = a.process(SimTime(0)).unwrap();
    assert_eq!(out[2].software, Some(SoftwareReason::TableFull));
    assert_eq!(a.flow_limit(), 2);
    // Still full and nothing idle: the flow limit sends it to software without probing.
    a.on_miss(tcp_key(1, 83), 3);
    let out = a.process(SimTime(10)).unwrap();
    assert_eq!(out[0].software, Some(SoftwareReason::FlowLimit));
    // Later the two entries are idle: they are evicted and the new flow is installed.
    a.on_miss(tcp_key(1, 84), 4);
    let out = a.process(SimTime(5_000_000)).unwrap();
    assert_eq!(out[0].software, None);
    assert_eq!(a.counters().evicted, 2);
    a.check_consistency().unwrap();
}

#[test]
fn rule_updates_rewrite_exactly_the_affected_entries() {
    let mut a = agent(16, &["priority=10,tcp,actions=output:2"]);
    for p in [80u16, 443] {
        a.on_miss(tcp_key(1, p), 0);
    }
    a.process(SimTime(0)).unwrap();
    let id = a
        .add_rule(parse_rule("priority=20,tcp,tp_dst=80,actions=drop").unwrap())
        .unwrap();
    assert_eq!(a.counters().revalidated, 1);
    assert_eq!(
        a.device().entries.get(&tcp_key(1, 80)).map(|e| e.0),
        Some(CardAction::DROP)
    );
    a.check_consistency().unwrap();
    a.remove_rule(id).unwrap();
    assert_eq!(
        a.device().entries.get(&tcp_key(1, 80)).map(|e| e.0),
        Some(CardAction::output(PortNo(2)))
    );
    a.check_consistency().unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    Add(Box<Rule>),
    Remove(prop::sample::Index),
    Miss(FlowKey),
    Process,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => rule_strategy().prop_map(|r| Op::Add(Box::new(r))),
        1 => any::<prop::sample::Index>().prop_map(Op::Remove),
        4 => key_strategy().prop_map(Op::Miss),
        2 => Just(Op::Process),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Rule updates interleaved with traffic: after every acknowledged update no installed
    /// entry is stale (invariant 4), every released packet got the decision of the rules in
    /// force when it was released (invariant 3), and each flow's packets leave in arrival
    /// order (invariant 5).
    #[test]
    fn updates_interleaved_with_traffic_keep_entries_consistent(
        ops in prop::collection::vec(op_strategy(), 1..60),
    ) {
        let mut a: Agent<MockTable, u32> = Agent::new(MockTable::new(3), AgentConfig {
            max_held_per_flow: 4,
            idle_timeout: SimDuration::from_ns(1000),
        });
        let mut model: Vec<(RuleId, Rule)> = Vec::new();
        let mut next_packet = 0u32;
        let mut sent: HashMap<FlowKey, Vec<u32>> = HashMap::new();
        let mut now = 0u64;
        for op in ops {
            now += 100_000; // 100 ns (SimTime is in picoseconds)
            match op {
                Op::Add(r) => {
                    let id = a.add_rule((*r).clone()).unwrap();
                    model.push((id, *r));
                    a.check_consistency().map_err(TestCaseError::fail)?;
                }
                Op::Remove(ix) => {
                    if !model.is_empty() {
                        let (id, _) = model.remove(ix.index(model.len()));
                        a.remove_rule(id).unwrap();
                        a.check_consistency().map_err(TestCaseError::fail)?;
                    }
                }
                Op::Miss(k) => {
                    if a.on_miss(k, next_packet) != Admission::DroppedHeldOverflow {
                        sent.entry(k).or_default().push(next_packet);
                    }
                    next_packet += 1;
                }
                Op::Process => {
                    let mut linear = LinearClassifier::new();
                    for (id, r) in &model {
                        linear.insert(*id, r.priority, &r.pattern).unwrap();
                    }
                    for rel in a.process(SimTime(now)).unwrap() {
                        let want = linear.lookup(&Point::from(&rel.key));
                        prop_assert_eq!(rel.decision.rule, want);
                        let expected = sent.get_mut(&rel.key).unwrap();
                        prop_assert_eq!(expected.remove(0), rel.packet, "order within a flow");
                    }
                    a.check_consistency().map_err(TestCaseError::fail)?;
                }
            }
        }
        let c = a.counters();
        prop_assert_eq!(c.misses, c.started + c.held + c.held_overflow);
        TOTALS.lock().unwrap().push((c.installed, c.revalidated, c.software, c.evicted));
    }
}

static TOTALS: std::sync::Mutex<Vec<(u64, u64, u64, u64)>> = std::sync::Mutex::new(Vec::new());

#[test]
fn the_interleaving_test_exercises_installs_and_revalidation() {
    updates_interleaved_with_traffic_keep_entries_consistent();
    let t = TOTALS.lock().unwrap();
    let sum = t.iter().fold((0, 0, 0, 0), |a, b| {
        (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3)
    });
    println!(
        "over {} cases: {} installs, {} revalidations, {} software, {} evictions",
        t.len(),
        sum.0,
        sum.1,
        sum.2,
        sum.3
    );
    assert!(sum.0 > 100 && sum.1 > 20 && sum.3 > 10, "{sum:?}");
}
