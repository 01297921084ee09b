//! The agent against a mock flow table (the other side of the `FlowTableDevice` boundary).

use std::collections::HashMap;

use flow_setup::agent::{Admission, Agent, AgentConfig, SoftwareReason};
use flow_setup::classifier::{Classifier, LinearClassifier};
use flow_setup::ofctl::parse_rule;
use flow_setup::rule::{Point, Rule, RuleId};
use nic_abi::action::{Action as CardAction, Destination};
use nic_abi::device::{EntryStats, FlowTableDevice, FlowTableError, InsertOutcome};
use nic_abi::emit::{FrameRepr, Ipv4Repr, NetworkRepr, TcpRepr, TransportRepr};
use nic_abi::key::{EtherType, FlowKey, KeyClass, PortNo, UnparsedReason};
use nic_abi::time::{SimDuration, SimTime};
use proptest::prelude::*;

use crate::strategies::{key_strategy, rule_strategy};

/// A table with a capacity, a clock the test sets, and hits the test records. Like a cuckoo
/// table it may fill before its capacity: inserts fail at `fills_at` entries.
#[derive(Debug, Default)]
pub(crate) struct MockTable {
    capacity: u64,
    fills_at: u64,
    now: SimTime,
    entries: HashMap<FlowKey, (CardAction, EntryStats)>,
    /// Calls of `entry_stats` (each a counter read over the management port on the card).
    stats_reads: u64,
}

impl MockTable {
    pub(crate) fn new(capacity: u64) -> MockTable {
        MockTable {
            capacity,
            fills_at: capacity,
            ..MockTable::default()
        }
    }
}

impl MockTable {
    /// A packet hit the entry for `key` at `now` (as the card's lookup would record).
    fn hit(&mut self, key: &FlowKey, now: SimTime) {
        if let Some(e) = self.entries.get_mut(key) {
            e.1.hits += 1;
            e.1.bytes += 64;
            e.1.last_hit = now;
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
        self.stats_reads += 1;
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
            ..AgentConfig::default()
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
    // Two misses handled and two packets forwarded in software, at 4,039 ns each, plus the
    // classifier's node visits of the two setups' lookups (at least one each).
    let c = a.counters();
    assert_eq!(c.misses, 2);
    assert!(c.visits >= 2, "{c:?}");
    let per_visit = AgentConfig::default().costs.per_visit;
    assert_eq!(
        a.host_cpu_time(),
        SimDuration::from_ns(4 * 4_039) + per_visit.times(c.visits)
    );
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
fn full_table_goes_to_software_when_eviction_cannot_make_room() {
    // Four slots, but (as when a cuckoo insert finds no path) the third insert fails; the
    // entries are not the agent's (installed behind its back), so it has nothing to evict.
    let mut table = MockTable::new(4);
    table.fills_at = 2;
    for port in [1u16, 2] {
        table
            .insert(&tcp_key(9, port), CardAction::output(PortNo(2)))
            .unwrap();
    }
    let mut a: Agent<MockTable, u32> = Agent::new(
        table,
        AgentConfig {
            max_held_per_flow: 3,
            idle_timeout: SimDuration::from_ns(1000),
            ..AgentConfig::default()
        },
    );
    a.add_rule(parse_rule("priority=10,tcp,actions=output:2").unwrap())
        .unwrap();
    a.on_miss(tcp_key(1, 80), 0);
    let out = a.process(SimTime(0)).unwrap();
    assert_eq!(out[0].software, Some(SoftwareReason::TableFull));
    assert_eq!(a.flow_limit(), 2);
    // Still full: the flow limit sends the next flow to software without probing the table.
    a.on_miss(tcp_key(1, 81), 1);
    let out = a.process(SimTime(10)).unwrap();
    assert_eq!(out[0].software, Some(SoftwareReason::FlowLimit));
    assert_eq!(a.counters().evicted, 0);
}

/// Installs a flow to `dst` for `in_port` 1 at `now`; whether it went to the card.
fn install_at(a: &mut Agent<MockTable, u32>, dst: u16, now: SimTime) -> bool {
    a.device_mut().now = now;
    a.on_miss(tcp_key(1, dst), 0);
    let out = a.process(now).unwrap();
    out.len() == 1 && out[0].software.is_none()
}

#[test]
fn a_full_table_of_live_flows_makes_room_at_a_cost_spread_over_many_installs() {
    // 16 slots; idle timeout 1 us, so a pressure scan runs at most every 10 ns and evicts
    // what is idle for 10 ns; an eviction pass frees an eighth of the table (2 entries).
    let mut a = agent(16, &["priority=10,tcp,actions=output:2"]);
    for dst in 0..16u16 {
        assert!(install_at(&mut a, dst, SimTime(0)));
    }
    // Flows 8-15 see traffic at 5 ns; 0-7 stay idle since 0.
    for dst in 8..16u16 {
        let k = tcp_key(1, dst);
        a.device_mut().hit(&k, SimTime(5_000));
    }
    // Full at 6 ns: the first scan reads every entry's counters, finds nothing idle for 10 ns
    // and evicts the two least recently hit (0 and 1, idle 6 ns, in key order).
    assert!(install_at(&mut a, 100, SimTime(6_000)));
    assert_eq!(a.device().stats_reads, 16);
    assert_eq!(a.counters().evicted, 2);
    for dst in [0u16, 1] {
        assert!(!a.device().entries.contains_key(&tcp_key(1, dst)));
    }
    // The freed room takes one more flow; the next finds the table full again before the next
    // scan is due: the two installed longest ago (2 and 3) go, with no counter read.
    assert!(install_at(&mut a, 101, SimTime(7_000)));
    assert!(install_at(&mut a, 102, SimTime(7_000)));
    assert_eq!(a.device().stats_reads, 16, "no scan between scans");
    assert_eq!(a.counters().evicted, 4);
    for dst in [2u16, 3] {
        assert!(!a.device().entries.contains_key(&tcp_key(1, dst)));
    }
    // At 20 ns a scan is due again and everything has been idle for 10 ns: all of it goes.
    assert!(install_at(&mut a, 103, SimTime(20_000)));
    assert!(install_at(&mut a, 104, SimTime(20_000)));
    assert_eq!(a.device().stats_reads, 32);
    assert_eq!(a.counters().evicted, 4 + 15);
    assert_eq!(a.device().occupancy(), 2);
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
            ..AgentConfig::default()
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

mod stress {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    use flow_setup::agent::{Admission, AgentConfig, Released, SharedAgent};
    use flow_setup::ofctl::parse_rule;
    use nic_abi::key::{EtherType, FlowKey, PortNo};
    use nic_abi::time::{SimDuration, SimTime};

    use super::MockTable;

    fn key(i: u64) -> FlowKey {
        FlowKey {
            in_port: PortNo(1 + (i % 3) as u16),
            dl_type: EtherType::IPV4,
            nw_proto: if i % 2 == 0 { 6 } else { 17 },
            nw_src: 0x0a00_0000 + u128::from(i % 7),
            nw_dst: 0xc0a8_0001,
            tp_dst: [80, 443, 53, 1500][(i % 4) as usize],
            ..FlowKey::default()
        }
    }

    const RULES: &[&str] = &[
        "priority=50,tcp,tp_dst=80,actions=output:2",
        "priority=40,udp,tp_dst=53,actions=output:3",
        "priority=30,ip,nw_src=10.0.0.0/30,actions=drop",
        "priority=20,tcp,actions=output:1",
        "priority=10,ip,actions=flood",
    ];
    const UPDATES: &[&str] = &[
        "priority=60,tcp,tp_dst=443,actions=output:3",
        "priority=45,ip,nw_src=10.0.0.5,actions=output:2",
        "priority=35,udp,actions=controller",
        "priority=55,tcp,in_port=2,actions=in_port",
    ];

    /// Misses from the card, three handler threads, rule updates and idle eviction, all at
    /// once; at the end: every miss is released or counted as dropped, each flow's packets
    /// left in arrival order, and the installed entries agree with the rules (checked after
    /// every acknowledged update too).
    #[test]
    fn concurrent_misses_installs_evictions_and_updates_keep_the_invariants() {
        let rules = RULES.iter().map(|r| parse_rule(r).unwrap()).collect();
        let agent: Arc<SharedAgent<MockTable, u64>> = Arc::new(
            SharedAgent::with_rules(
                MockTable::new(12),
                AgentConfig {
                    max_held_per_flow: 8,
                    idle_timeout: SimDuration::from_ns(50),
                    ..AgentConfig::default()
                },
                rules,
            )
            .unwrap(),
        );
        let clock = Arc::new(AtomicU64::new(0));
        let producing = Arc::new(AtomicBool::new(true));
        let admitted: Arc<parking_lot::Mutex<HashMap<FlowKey, Vec<u64>>>> = Arc::default();

        let producer = {
            let (agent, clock, producing, admitted) = (
                agent.clone(),
                clock.clone(),
                producing.clone(),
                admitted.clone(),
            );
            std::thread::spawn(move || {
                let mut seed = 0x9e37_79b9_7f4a_7c15u64;
                for seq in 0..20_000u64 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let k = key(seed % 40);
                    clock.fetch_add(10_000, Ordering::Relaxed); // 10 ns per miss
                                                                // The pending lock orders admissions; holding `admitted` across the call
                                                                // keeps our record in the same order.
                    {
                        let mut log = admitted.lock();
                        if agent.on_miss(k, seq) != Admission::DroppedHeldOverflow {
                            log.entry(k).or_default().push(seq);
                        }
                    }
                    // The card's miss ring is bounded: when many setups are waiting, the card
                    // stops sending misses until handlers catch up.
                    while agent.pending_flows() > 8 {
                        std::thread::yield_now();
                    }
                    if seq % 64 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(20));
                    }
                }
                producing.store(false, Ordering::Release);
            })
        };
        let handlers: Vec<_> = (0..3)
            .map(|_| {
                let (agent, clock, producing) = (agent.clone(), clock.clone(), producing.clone());
                std::thread::spawn(move || {
                    let mut out: Vec<Vec<Released<u64>>> = Vec::new();
                    loop {
                        let now = SimTime(clock.load(Ordering::Relaxed));
                        match agent.handle_one(now).unwrap() {
                            Some(batch) => out.push(batch),
                            None if !producing.load(Ordering::Acquire)
                                && agent.pending_flows() == 0 =>
                            {
                                break
                            }
                            None => std::thread::yield_now(),
                        }
                    }
                    out
                })
            })
            .collect();
        let updater = {
            let (agent, producing) = (agent.clone(), producing.clone());
            std::thread::spawn(move || {
                let mut added = Vec::new();
                let mut rounds = 0;
                while producing.load(Ordering::Acquire) || rounds < 20 {
                    for u in UPDATES {
                        added.push(agent.add_rule(parse_rule(u).unwrap()).unwrap());
                        agent.check_consistency().unwrap();
                    }
                    for id in added.drain(..) {
                        agent.remove_rule(id).unwrap();
                        agent.check_consistency().unwrap();
                    }
                    rounds += 1;
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
                rounds
            })
        };
        let evictor = {
            let (agent, clock, producing) = (agent.clone(), clock.clone(), producing.clone());
            std::thread::spawn(move || {
                let mut evicted = 0;
                while producing.load(Ordering::Acquire) {
                    evicted += agent
                        .evict_idle(SimTime(clock.load(Ordering::Relaxed)))
                        .unwrap();
                    std::thread::yield_now();
                }
                evicted
            })
        };
        producer.join().unwrap();
        let batches: Vec<Vec<Released<u64>>> = handlers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let rounds = updater.join().unwrap();
        let evicted = evictor.join().unwrap();

        let c = agent.counters();
        let released: usize = batches.iter().map(Vec::len).sum();
        assert_eq!(c.misses, 20_000);
        assert_eq!(c.misses, c.started + c.held + c.held_overflow);
        assert_eq!(c.misses, released as u64 + c.held_overflow, "conservation");
        // Order: a flow's batches, by their first packet, concatenate to what was admitted.
        let mut per_flow: HashMap<FlowKey, Vec<&Vec<Released<u64>>>> = HashMap::new();
        for b in &batches {
            per_flow.entry(b[0].key).or_default().push(b);
        }
        let admitted = admitted.lock();
        for (k, mut bs) in per_flow {
            bs.sort_by_key(|b| b[0].packet);
            let got: Vec<u64> = bs.iter().flat_map(|b| b.iter().map(|r| r.packet)).collect();
            assert_eq!(&got, &admitted[&k], "order of flow {k:?}");
        }
        agent.check_consistency().unwrap();
        println!(
            "stress: {} misses, {} setups, {} held, {} dropped (hold queue full), {} installs, {} software, {} revalidations, {} evictions ({} by the evictor thread), {} update rounds",
            c.misses, c.started, c.held, c.held_overflow, c.installed, c.software, c.revalidated, c.evicted, evicted, rounds
        );
        assert!(
            c.started > 1000,
            "handlers must interleave with the misses: {c:?}"
        );
        assert!(
            c.installed > 0 && c.revalidated > 0 && c.evicted > 0,
            "{c:?}"
        );
    }
}

#[test]
fn unparsed_packets_are_decided_on_a_full_software_parse() {
    let a = agent(16, &["priority=10,tcp,tp_dst=80,actions=output:2"]);
    // Ethernet + IPv4 (no options) + TCP to port 80.
    let frame = FrameRepr {
        network: NetworkRepr::Ipv4(Ipv4Repr {
            src: [10, 0, 0, 1].into(),
            dst: [10, 0, 0, 2].into(),
            ..Ipv4Repr::default()
        }),
        transport: TransportRepr::Tcp(TcpRepr {
            src_port: 1234,
            dst_port: 80,
            ..TcpRepr::default()
        }),
        ..FrameRepr::default()
    }
    .to_vec()
    .unwrap();
    let (key, d) = a.decide_frame(&frame, PortNo(1));
    assert!(key.is_parsed(), "{key:?}");
    assert_eq!((key.nw_proto, key.tp_dst), (6, 80));
    assert_eq!(d.rule, Some(RuleId(0)));
    assert_eq!(d.card, Some(CardAction::output(PortNo(2))));
}

/// The agent over nic-model's card: its cuckoo table through `FlowTableDevice`.
mod on_the_card_model {
    use flow_setup::agent::{Agent, AgentConfig};
    use flow_setup::classbench::{parse_filters, parse_trace_gz};
    use flow_setup::ofctl::parse_rule;
    use flow_setup::rule::Action;
    use nic_abi::action::Action as CardAction;
    use nic_abi::device::FlowTableDevice;
    use nic_abi::key::{FlowKey, PortNo};
    use nic_abi::time::SimTime;
    use nic_model::card::{Card, CardConfig};
    use nic_model::testing::FlatMemoryHost;

    use crate::classbench_tests::data_bytes;
    use crate::data;

    #[test]
    fn acl1_1k_flows_install_into_the_card_table_and_follow_rule_updates() {
        let rules = parse_filters(&data("acl1_1K"), &[Action::Output(PortNo(2))]).unwrap();
        let card = Card::new(CardConfig::default(), FlatMemoryHost::new()).unwrap();
        let mut agent: Agent<Card<FlatMemoryHost>, usize> =
            Agent::with_rules(card, AgentConfig::default(), rules).unwrap();
        let mut keys: Vec<FlowKey> = parse_trace_gz(&data_bytes("acl1_1K_trace.gz"))
            .unwrap()
            .into_iter()
            .take(2000)
            .map(|h| FlowKey {
                in_port: PortNo(1),
                ..h.key
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for (i, k) in keys.iter().enumerate() {
            agent.on_miss(*k, i);
        }
        let out = agent.process(SimTime(0)).unwrap();
        assert_eq!(out.len(), keys.len());
        assert!(out.iter().all(|r| r.software.is_none()));
        assert_eq!(agent.device().occupancy(), keys.len() as u64);
        agent.check_consistency().unwrap();
        // A rule above everything for TCP to port 1521: the affected entries now drop.
        let id = agent
            .add_rule(parse_rule("priority=65000,tcp,tp_dst=1521,actions=drop").unwrap())
            .unwrap();
        let hit = keys
            .iter()
            .filter(|k| k.nw_proto == 6 && k.tp_dst == 1521)
            .count();
        assert!(hit > 0, "the trace has flows to port 1521");
        assert_eq!(agent.counters().revalidated, hit as u64);
        agent.check_consistency().unwrap();
        let k = keys
            .iter()
            .find(|k| k.nw_proto == 6 && k.tp_dst == 1521)
            .unwrap();
        let k = *k;
        assert_eq!(
            agent.device_mut().lookup(&k).unwrap(),
            Some(CardAction::DROP)
        );
        agent.remove_rule(id).unwrap();
        agent.check_consistency().unwrap();
    }
}

mod miss_records {
    use flow_setup::agent::{Admission, Agent, AgentConfig, RecordOutcome, SharedAgent};
    use flow_setup::ofctl::parse_rule;
    use flow_setup::rule::RuleId;
    use nic_abi::action::Action as CardAction;
    use nic_abi::desc::{MissReason, MissRecord, PacketHandle};
    use nic_abi::emit::{FrameRepr, Ipv6ExtHeader, Ipv6Repr, NetworkRepr, TcpRepr, TransportRepr};
    use nic_abi::key::PortNo;
    use nic_abi::parse::parse_card;
    use nic_abi::time::{SimDuration, SimTime};

    use super::MockTable;

    /// Ethernet + IPv6 + TCP to port 80, behind a hop-by-hop options header (PadN) when `hbh`.
    fn ipv6_tcp_frame(hbh: bool) -> Vec<u8> {
        let hop_by_hop = [Ipv6ExtHeader::Options {
            protocol: 0,
            data: &[1, 4, 0, 0, 0, 0],
        }];
        FrameRepr {
            network: NetworkRepr::Ipv6(Ipv6Repr {
                src: "2001:db8::1".parse().unwrap(),
                dst: "2001:db8::2".parse().unwrap(),
                extensions: if hbh { &hop_by_hop } else { &[] },
                ..Ipv6Repr::default()
            }),
            transport: TransportRepr::Tcp(TcpRepr {
                src_port: 1234,
                dst_port: 80,
                ..TcpRepr::default()
            }),
            ..FrameRepr::default()
        }
        .to_vec()
        .unwrap()
    }

    #[test]
    fn records_are_admitted_or_decided_per_packet() {
        let mut a: Agent<MockTable, PacketHandle> = Agent::new(
            MockTable::new(16),
            AgentConfig {
                max_held_per_flow: 4,
                idle_timeout: SimDuration::from_ns(1000),
                ..AgentConfig::default()
            },
        );
        a.add_rule(parse_rule("priority=10,tcp6,tp_dst=80,actions=output:2").unwrap())
            .unwrap();
        let frame = ipv6_tcp_frame(true);
        // The card does not walk IPv6 extension headers: its key is unparsed.
        let card_key = parse_card(&frame, PortNo(1));
        assert!(!card_key.is_parsed());
        let rec = MissRecord::for_packet(
            PortNo(1),
            None,
            PacketHandle(7),
            SimTime(0),
            MissReason::UnparsedKey,
            &card_key,
            &frame,
        )
        .unwrap();
        match a.on_miss_record(&rec).unwrap() {
            RecordOutcome::DecidedInSoftware { key, decision } => {
                assert!(key.is_parsed());
                assert_eq!((key.nw_proto, key.tp_dst), (6, 80));
                assert_eq!(decision.rule, Some(RuleId(0)));
                assert_eq!(decision.card, Some(CardAction::output(PortNo(2))));
            }
            other => panic!("{other:?}"),
        }
        // A plain table miss is admitted with its handle and released after processing.
        let plain = ipv6_tcp_frame(false);
        let key = parse_card(&plain, PortNo(1));
        assert!(key.is_parsed(), "{key:?}");
        let rec = MissRecord::for_packet(
            PortNo(1),
            None,
            PacketHandle(8),
            SimTime(0),
            MissReason::TableMiss,
            &key,
            &plain,
        )
        .unwrap();
        assert_eq!(
            a.on_miss_record(&rec).unwrap(),
            RecordOutcome::Admitted(Admission::Started)
        );
        let out = a.process(SimTime(0)).unwrap();
        assert_eq!(out[0].packet, PacketHandle(8));
        assert_eq!(out[0].decision.rule, Some(RuleId(0)));
        assert_eq!(a.counters().decided_per_packet, 1);
    }

    #[test]
    fn the_shared_agent_handles_records_the_same_way() {
        let shared: SharedAgent<MockTable, PacketHandle> = SharedAgent::with_rules(
            MockTable::new(16),
            AgentConfig::default(),
            vec![parse_rule("priority=10,tcp6,tp_dst=80,actions=output:2").unwrap()],
        )
        .unwrap();
        let frame = ipv6_tcp_frame(true);
        let card_key = parse_card(&frame, PortNo(1));
        let rec = MissRecord::for_packet(
            PortNo(1),
            None,
            PacketHandle(1),
            SimTime(0),
            MissReason::UnparsedKey,
            &card_key,
            &frame,
        )
        .unwrap();
        match shared.on_miss_record(&rec).unwrap() {
            RecordOutcome::DecidedInSoftware { decision, .. } => {
                assert_eq!(decision.rule, Some(RuleId(0)))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(shared.counters().decided_per_packet, 1);
    }
}

#[test]
fn under_pressure_the_least_recently_hit_go_first() {
    let mut a = agent(2, &["priority=10,tcp,actions=output:2"]);
    for (i, port) in [80u16, 81].into_iter().enumerate() {
        a.on_miss(tcp_key(1, port), u32::try_from(i).unwrap());
    }
    a.process(SimTime(0)).unwrap();
    // Flow 80 keeps sending; flow 81 was a single packet.
    a.device_mut().hit(&tcp_key(1, 80), SimTime(15_000));
    // At 20 ns nothing is idle for the 1 us timeout, but flow 81 has been idle for more than
    // 10 ns (a hundredth) and flow 80 for 5 ns: 81 makes room for the new flow.
    a.on_miss(tcp_key(1, 82), 2);
    let out = a.process(SimTime(20_000)).unwrap();
    assert_eq!(out[0].software, None);
    let installed: Vec<u16> = {
        let mut v: Vec<u16> = a.installed().map(|(k, _)| k.tp_dst).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(installed, [80, 82]);
    assert_eq!(a.counters().evicted, 1);
    a.check_consistency().unwrap();
}

#[test]
fn held_misses_cost_less_than_setups() {
    let mut a = agent(16, &["priority=10,tcp,actions=output:2"]);
    // Two setups, three packets held behind them (within the hold limit of 3 per flow).
    for (port, packet) in [(80, 0), (80, 1), (81, 2), (80, 3), (81, 4)] {
        a.on_miss(tcp_key(1, port), packet);
    }
    let c = a.counters();
    assert_eq!((c.started, c.held, c.misses), (2, 3, 5));
    let costs = AgentConfig::default().costs;
    assert!(costs.held < costs.setup);
    assert_eq!(
        a.host_cpu_time(),
        costs.setup.times(2) + costs.held.times(3)
    );
    let out = a.process(SimTime(0)).unwrap();
    assert_eq!(
        out.iter().map(|r| r.packet).collect::<Vec<_>>(),
        [0, 1, 3, 2, 4]
    );
    // Installed: no software forwarding; the two lookups' node visits are added.
    let c = a.counters();
    assert_eq!(c.software, 0);
    assert!(c.visits >= 2, "{c:?}");
    assert_eq!(
        a.host_cpu_time(),
        costs.setup.times(2) + costs.held.times(3) + costs.per_visit.times(c.visits)
    );
}

/// ARP's hardware addresses (`arp_sha`, `arp_tha`) are matchable but not in the card's key:
/// a card key whose decision depends on them gets no entry, and each flow of it is decided on
/// its own addresses.
mod software_fields {
    use flow_setup::agent::{Admission, Agent, AgentConfig, RecordOutcome, SoftwareReason};
    use flow_setup::ofctl::parse_rule;
    use flow_setup::rule::RuleId;
    use nic_abi::action::Action as CardAction;
    use nic_abi::desc::{MissReason, MissRecord, PacketHandle};
    use nic_abi::device::FlowTableDevice;
    use nic_abi::emit::{ArpRepr, FrameRepr, NetworkRepr};
    use nic_abi::key::{MacAddr, PortNo};
    use nic_abi::parse::parse_card;
    use nic_abi::time::{SimDuration, SimTime};

    use super::MockTable;

    const GOOD: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const SPOOFED: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x66]);

    /// An ARP request from 10.0.0.1 for 10.0.0.2 whose sender hardware address is `sha`
    /// (the Ethernet source stays the same: the card's key is the same for every `sha`).
    fn arp_frame(sha: MacAddr) -> Vec<u8> {
        FrameRepr {
            network: NetworkRepr::Arp(ArpRepr {
                oper: 1,
                sha,
                spa: "10.0.0.1".parse().unwrap(),
                tpa: "10.0.0.2".parse().unwrap(),
                ..ArpRepr::default()
            }),
            ..FrameRepr::default()
        }
        .to_vec()
        .unwrap()
    }

    fn record(sha: MacAddr, handle: u32) -> MissRecord {
        let frame = arp_frame(sha);
        let card_key = parse_card(&frame, PortNo(1));
        MissRecord::for_packet(
            PortNo(1),
            None,
            PacketHandle(handle),
            SimTime(0),
            MissReason::TableMiss,
            &card_key,
            &frame,
        )
        .unwrap()
    }

    fn agent(rules: &[&str]) -> Agent<MockTable, PacketHandle> {
        let mut a = Agent::new(
            MockTable::new(16),
            AgentConfig {
                max_held_per_flow: 4,
                idle_timeout: SimDuration::from_ns(1000),
                ..AgentConfig::default()
            },
        );
        for r in rules {
            a.add_rule(parse_rule(r).unwrap()).unwrap();
        }
        a
    }

    /// ARP spoofing guard: only the known sender hardware address is forwarded.
    const GUARD: [&str; 2] = [
        "priority=20,arp,in_port=1,arp_spa=10.0.0.1,arp_sha=02:00:00:00:00:01,actions=output:2",
        "priority=10,arp,actions=drop",
    ];

    #[test]
    fn the_card_key_does_not_hold_the_hardware_addresses() {
        let (good, spoofed) = (record(GOOD, 1), record(SPOOFED, 2));
        assert_eq!(good.key, spoofed.key, "one card key");
    }

    #[test]
    fn a_decision_that_depends_on_them_is_never_installed() {
        let mut a = agent(&GUARD);
        // Two packets of one card key, differing only in arp_sha, and a second packet of the
        // first one's flow: two setups, the second packet held behind the first.
        for (sha, h) in [(GOOD, 1), (SPOOFED, 2), (GOOD, 3)] {
            let want = if h == 3 {
                Admission::Held
            } else {
                Admission::Started
            };
            assert_eq!(
                a.on_miss_record(&record(sha, h)).unwrap(),
                RecordOutcome::Admitted(want)
            );
        }
        let out = a.process(SimTime(0)).unwrap();
        let decided: Vec<(u32, Option<RuleId>, Option<CardAction>)> = out
            .iter()
            .map(|r| (r.packet.0, r.decision.rule, r.decision.card))
            .collect();
        assert_eq!(
            decided,
            vec![
                (1, Some(RuleId(0)), Some(CardAction::output(PortNo(2)))),
                (3, Some(RuleId(0)), Some(CardAction::output(PortNo(2)))),
                (2, Some(RuleId(1)), Some(CardAction::DROP)),
            ]
        );
        assert!(out
            .iter()
            .all(|r| r.software == Some(SoftwareReason::SoftwareFields)));
        assert_eq!(a.device().occupancy(), 0, "no entry for the card key");
        assert_eq!(a.counters().software, 3);
        a.check_consistency().unwrap();
    }

    #[test]
    fn a_decision_that_does_not_depend_on_them_is_installed() {
        // The arp_sha rule never meets packets from port 3: their card key decides.
        let mut a = agent(&GUARD);
        let frame = arp_frame(SPOOFED);
        let key = parse_card(&frame, PortNo(3));
        let rec = MissRecord::for_packet(
            PortNo(3),
            None,
            PacketHandle(9),
            SimTime(0),
            MissReason::TableMiss,
            &key,
            &frame,
        )
        .unwrap();
        a.on_miss_record(&rec).unwrap();
        let out = a.process(SimTime(0)).unwrap();
        assert_eq!(out[0].software, None);
        assert_eq!(out[0].decision.rule, Some(RuleId(1)));
        assert_eq!(a.device().occupancy(), 1);
        a.check_consistency().unwrap();
        // A worse-ranked arp_sha rule cannot change the decision either.
        a.add_rule(
            parse_rule("priority=5,arp,arp_sha=02:00:00:00:00:66,actions=output:4").unwrap(),
        )
        .unwrap();
        assert_eq!(a.device().occupancy(), 1);
        a.check_consistency().unwrap();
    }

    #[test]
    fn adding_a_rule_on_them_deletes_the_entries_it_makes_undecidable() {
        let mut a = agent(&["priority=10,arp,actions=output:2"]);
        a.on_miss_record(&record(GOOD, 1)).unwrap();
        let out = a.process(SimTime(0)).unwrap();
        assert_eq!(out[0].software, None);
        assert_eq!(a.device().occupancy(), 1);
        let id = a
            .add_rule(parse_rule("priority=20,arp,arp_tha=00:00:00:00:00:00,actions=drop").unwrap())
            .unwrap();
        assert_eq!(a.device().occupancy(), 0, "revalidation deleted the entry");
        a.check_consistency().unwrap();
        // Removing it lets the card key decide again.
        a.remove_rule(id).unwrap();
        a.on_miss_record(&record(GOOD, 2)).unwrap();
        let out = a.process(SimTime(0)).unwrap();
        assert_eq!(out[0].software, None);
        assert_eq!(a.device().occupancy(), 1);
        a.check_consistency().unwrap();
    }
}
