//! The agent crashes mid-run and a new one starts: it rebuilds its state from the card's
//! table over the management port, no flow is lost, none goes stale (the rules changed while
//! it was down), and the packets held meanwhile are released in order or counted as dropped.

use std::collections::BTreeSet;

use flow_setup::ofctl::parse_rules;
use host_driver::copy::CopyMode;
use host_driver::iommu::GrantMode;
use nic_abi::action::Action;
use nic_abi::desc::RingSize;
use nic_abi::key::FlowKey;
use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::TableHit;
use nic_model::counters::DropReason;
use snich_system::assemble::SystemSpec;

use super::traffic::{first_reordering, merge, periodic, stamped, From, Run};
use crate::fixtures::{udp_frame, vm_mac};

const OLD_FLOWS: u64 = 64;
/// During the setup of the flow that starts at 1.5 ms.
const CRASH_NS: u64 = 1_502_000;

fn table_keys(run: &Run) -> BTreeSet<FlowKey> {
    run.cp
        .driver()
        .card()
        .table()
        .entries()
        .map(|(_, words, _, _)| FlowKey::from_words(words).expect("a stored key"))
        .collect()
}

#[test]
fn the_agent_crashes_and_restarts_without_losing_or_staling_a_flow() {
    let mut spec =
        SystemSpec::with_guests(4, RingSize::new(256).expect("pow2"), GrantMode::Persistent)
            .with_copy_mode(CopyMode::CopyEngine);
    // 4,096 slots (1,024 buckets), scanned by the restarted agent.
    spec.card.table.buckets = 1024;
    let rules = parse_rules(
        "priority=10,in_port=101,actions=output:102\npriority=10,in_port=103,actions=output:104",
    )
    .expect("rules");
    let (cp, guests) = spec.assemble(rules).expect("system");
    let mut run = Run::new(cp, guests);
    run.cp.driver_mut().card_mut().record_table_hits(true);
    let crash_at = SimTime::ZERO + SimDuration::from_ns(CRASH_NS);
    let down_for = SimDuration::from_us(300);
    run.cp
        .schedule_agent_crash(crash_at, down_for)
        .expect("scheduled");

    // Class 0: 64 long-lived flows VM 1 -> VM 2, one packet every 2 us round robin, 4 ms.
    let base = udp_frame(vm_mac(0), vm_mac(1), 256, || 0x11);
    let old = periodic(2_000, 0, 2_000, From::Guest(0), 0, |i| {
        stamped(
            base.clone(),
            1_000 + u16::try_from(i % OLD_FLOWS).expect("small"),
            i / OLD_FLOWS,
        )
    });
    // Class 1: a new flow VM 3 -> VM 4 every 50 us, each 10 packets 5 us apart: setups are
    // under way at the crash and new flows keep missing while the agent is down.
    let base3 = udp_frame(vm_mac(2), vm_mac(3), 128, || 0x33);
    let mut new = Vec::new();
    for flow in 0..80u64 {
        let sport = 20_000 + u16::try_from(flow).expect("small");
        new.push(periodic(10, flow * 50_000, 5_000, From::Guest(2), 1, |i| {
            stamped(base3.clone(), sport, i)
        }));
    }
    let offers = merge(std::iter::once(old).chain(new).collect());

    // While the agent is down its configuration changes: flow 1000 of VM 1 is now dropped.
    // The entry the old agent installed for it is stale until the new agent fixes it.
    let mut before_crash: Option<BTreeSet<FlowKey>> = None;
    run.offer_all(&offers, |run, at| {
        if at >= crash_at && before_crash.is_none() {
            assert!(run.cp.agent_down(), "down from {crash_at}");
            before_crash = Some(table_keys(run));
            let rule = parse_rules("priority=20,udp,in_port=101,tp_src=1000,actions=drop")
                .expect("rule")
                .remove(0);
            run.cp.agent_mut().add_rule(rule).expect("configured");
        }
    });
    let before_crash = before_crash.expect("the run reached the crash");

    let m = *run.cp.metrics();
    let card = run.cp.driver().card().counters().clone();
    let agent = run.cp.agent().counters();
    let driver = *run.cp.driver().metrics();
    let resumed = crash_at + SimDuration::from_ps(m.down_ps);
    println!(
        "agent restart: down {:.1} us (crash to miss service resumed), rebuild {:.1} us \
         ({} scan commands, {} entries kept, {} fixed), {} miss records skipped and {} replayed, \
         {} miss interrupts while down, {} setups and {} steps of miss service lost with the \
         crash",
        m.down_ps as f64 / 1e6,
        m.rebuild_ps as f64 / 1e6,
        driver.slot_reads,
        m.entries_rebuilt,
        agent.recovery_fixed,
        m.records_skipped,
        card.replayed_records,
        m.interrupts_while_down,
        agent.lost_setups,
        m.work_lost,
    );
    assert!(m.work_lost > 0, "the crash hit miss service under way");
    assert_eq!((m.agent_crashes, m.agent_restarts), (1, 1));
    // READ_NEXT: one command per entry, plus one per 64 empty buckets at most.
    assert!(
        driver.slot_reads <= m.entries_rebuilt + agent.recovery_fixed + 1_024 / 64 + 1,
        "{} scan commands",
        driver.slot_reads
    );
    assert!(m.rebuild_ps > 0 && m.down_ps >= down_for.as_ps() + m.rebuild_ps);
    // Packets missed while the agent was down: held on the card and replayed.
    assert!(card.replayed_records > 0, "{card:?}");
    // More replayed than skipped unread: the crashed agent had read records it never
    // released, and those packets came back too.
    assert!(card.replayed_records > m.records_skipped, "{card:?}");
    assert!(m.interrupts_while_down > 0);

    // No flow lost: every entry on the card at the crash is on it after the restart, and
    // the new agent knows each one.
    let after = table_keys(&run);
    assert!(
        before_crash.len() as u64 >= OLD_FLOWS,
        "{}",
        before_crash.len()
    );
    assert!(
        before_crash.is_subset(&after),
        "{} entries lost",
        before_crash.difference(&after).count()
    );
    let known: BTreeSet<FlowKey> = run.cp.agent().installed().map(|(k, _)| *k).collect();
    assert_eq!(known, after, "the agent knows exactly the card's entries");
    // None stale: every entry agrees with a linear classification of the rules in force.
    run.cp.agent_mut().check_consistency().expect("consistent");
    assert!(agent.recovery_fixed >= 1, "the stale entry was rewritten");
    let mut hits: Vec<TableHit> = Vec::new();
    run.cp.driver_mut().card_mut().take_table_hits(&mut hits);
    let stale: Vec<&TableHit> = hits
        .iter()
        .filter(|h| h.at > resumed && h.key.tp_src == 1000 && h.key.in_port.0 == 101)
        .filter(|h| h.action != Action::DROP)
        .collect();
    assert!(
        stale.is_empty(),
        "{} stale hits, first {:?}",
        stale.len(),
        stale[0]
    );

    // Held packets: released in order, or dropped with a reason.
    for g in [1, 3] {
        assert_eq!(
            first_reordering(&run.received[g]),
            None,
            "guest {g} received a flow out of order"
        );
    }
    let (c0, c1) = (run.class(0), run.class(1));
    println!(
        "old flows: {} offered, {} delivered, dropped {:?}; new flows: {} offered, {} delivered, \
         dropped {:?}, {} refused by the guest's full TX ring",
        c0.offered, c0.delivered, c0.dropped, c1.offered, c1.delivered, c1.dropped, c1.tx_ring_full
    );
    for (name, c) in [("old", &c0), ("new", &c1)] {
        for reason in c.dropped.keys() {
            assert!(
                [
                    DropReason::RuleDrop.name(),
                    DropReason::AgentRestart.name(),
                    DropReason::MissQueueFull.name()
                ]
                .contains(reason),
                "{name} flows: unexpected drops {:?}",
                c.dropped
            );
        }
    }
    // Only flow 1000's packets after the change were dropped by the rule.
    assert!(c0.dropped.get("rule_drop").copied().unwrap_or(0) <= 2_000 / OLD_FLOWS);
    // Every packet is delivered, dropped by the card with a reason, or (while the card held
    // its flow's packets for the agent) refused by the sending guest's full TX ring.
    assert_eq!(
        c1.delivered + c1.dropped.values().sum::<u64>() + c1.tx_ring_full,
        c1.offered
    );
}

/// A second crash while the first restart is rebuilding (between the table scan and the
/// replay): the second new agent starts over; still no entry lost, every flow in order,
/// every packet accounted for.
#[test]
fn a_crash_during_the_rebuild_is_survived() {
    let mut spec =
        SystemSpec::with_guests(2, RingSize::new(256).expect("pow2"), GrantMode::Persistent)
            .with_copy_mode(CopyMode::CopyEngine);
    spec.card.table.buckets = 1024;
    let rules = parse_rules("in_port=101,actions=output:102").expect("rules");
    let (cp, guests) = spec.assemble(rules).expect("system");
    let mut run = Run::new(cp, guests);
    let first = SimTime::ZERO + SimDuration::from_us(500);
    let down = SimDuration::from_us(100);
    run.cp.schedule_agent_crash(first, down).expect("scheduled");
    // The first restart's scan starts at 600 us and takes well over 10 us: crash inside it.
    run.cp
        .schedule_agent_crash(first + down + SimDuration::from_us(10), down)
        .expect("scheduled");
    let base = udp_frame(vm_mac(0), vm_mac(1), 128, || 0x44);
    // A new flow every 20 us, 5 packets 4 us apart, for 2 ms.
    let mut streams = Vec::new();
    for flow in 0..100u64 {
        let sport = 5_000 + u16::try_from(flow).expect("small");
        streams.push(periodic(5, flow * 20_000, 4_000, From::Guest(0), 0, |i| {
            stamped(base.clone(), sport, i)
        }));
    }
    let mut at_crash: Option<BTreeSet<FlowKey>> = None;
    run.offer_all(&merge(streams), |run, at| {
        if at >= first && at_crash.is_none() {
            at_crash = Some(table_keys(run));
        }
    });
    let m = *run.cp.metrics();
    let c = run.class(0);
    println!(
        "two crashes: {} crashes, {} restarts, down {:.1} us in all, {} entries rebuilt; {} of {} \
         delivered, dropped {:?}, {} refused by the full TX ring",
        m.agent_crashes,
        m.agent_restarts,
        m.down_ps as f64 / 1e6,
        m.entries_rebuilt,
        c.delivered,
        c.offered,
        c.dropped,
        c.tx_ring_full
    );
    assert_eq!((m.agent_crashes, m.agent_restarts), (2, 1));
    assert!(
        m.work_lost > 0,
        "the second crash cut the first restart short"
    );
    let before = at_crash.expect("reached the crash");
    assert!(!before.is_empty());
    assert!(before.is_subset(&table_keys(&run)), "no entry lost");
    run.cp.agent_mut().check_consistency().expect("consistent");
    assert_eq!(first_reordering(&run.received[1]), None);
    assert_eq!(
        c.delivered + c.dropped.values().sum::<u64>() + c.tx_ring_full,
        c.offered
    );
    for reason in c.dropped.keys() {
        assert!(
            [
                DropReason::AgentRestart.name(),
                DropReason::MissQueueFull.name()
            ]
            .contains(reason),
            "{:?}",
            c.dropped
        );
    }
}
