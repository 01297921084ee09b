//! Rule updates at 10,000 per second during traffic: once an update is acknowledged (the
//! agent's `add_rule`/`remove_rule` returned), no packet is forwarded by a stale entry. Every
//! table hit the card makes is checked, at its simulated time, against the linear reference
//! classifier over the rules in force then.

use std::collections::HashMap;

use flow_setup::agent::card_action;
use flow_setup::classifier::{Classifier, LinearClassifier};
use flow_setup::ofctl::parse_rules;
use flow_setup::rule::{Rule, RuleId};
use host_driver::copy::CopyMode;
use host_driver::iommu::GrantMode;
use nic_abi::action::Action;
use nic_abi::desc::RingSize;
use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::TableHit;
use snich_system::assemble::SystemSpec;

use super::traffic::{merge, periodic, stamped, From, Run};
use crate::fixtures::{udp_frame, vm_mac};

const FLOWS: u64 = 32;
const UPDATE_EVERY_NS: u64 = 100_000;

/// The rules in force from `ack` on.
struct Version {
    ack: SimTime,
    rules: HashMap<RuleId, Rule>,
}

impl Version {
    fn expected(&self, key: &nic_abi::key::FlowKey) -> Option<Action> {
        let mut linear = LinearClassifier::new();
        for (id, r) in &self.rules {
            linear
                .insert(*id, r.priority, &r.pattern)
                .expect("ids unique");
        }
        let actions = linear
            .lookup_key(key)
            .and_then(|id| self.rules.get(&id))
            .map_or(&[][..], |r| r.actions.as_slice());
        card_action(actions, key.in_port)
    }
}

#[test]
fn rule_updates_at_10k_per_second_never_leave_a_stale_entry_in_use() {
    // TX rings of 1,024: the 32 flows' first packets wait for their setups without filling
    // them, so every packet reaches the card and is checked.
    let spec =
        SystemSpec::with_guests(3, RingSize::new(1024).expect("pow2"), GrantMode::Persistent)
            .with_copy_mode(CopyMode::CopyEngine);
    let base_rules = parse_rules("priority=10,in_port=101,actions=output:102").expect("rules");
    let (cp, guests) = spec.assemble(base_rules.clone()).expect("system");
    let mut run = Run::new(cp, guests);
    run.cp.driver_mut().card_mut().record_table_hits(true);
    // 32 flows VM 1 -> VM 2 (or VM 3 while a rule redirects them), a packet every 500 ns
    // round robin (2 Mpps), 20 ms.
    let base = udp_frame(vm_mac(0), vm_mac(1), 128, || 0x55);
    let packets = 40_000u64;
    let offers = merge(vec![periodic(packets, 0, 500, From::Guest(0), 0, |i| {
        stamped(
            base.clone(),
            1_000 + u16::try_from(i % FLOWS).expect("small"),
            i / FLOWS,
        )
    })]);
    let mut versions = vec![Version {
        ack: SimTime::ZERO,
        rules: base_rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| (RuleId(u32::try_from(i).expect("small")), r))
            .collect(),
    }];
    // From 1 ms on, an update every 100 us: add a rule redirecting one flow to VM 3, then
    // remove it, the next flow's the time after.
    let mut next_update = SimTime::ZERO + SimDuration::from_us(1_000);
    let mut updates = 0u64;
    let mut added: Option<RuleId> = None;
    run.offer_all(&offers, |run, at| {
        while at >= next_update {
            let mut rules = versions.last().expect("a version").rules.clone();
            match added.take() {
                None => {
                    let flow = 1_000 + (updates / 2) % FLOWS;
                    let rule = parse_rules(&format!(
                        "priority=20,udp,in_port=101,tp_src={flow},actions=output:103"
                    ))
                    .expect("rule")
                    .remove(0);
                    let id = run.cp.agent_mut().add_rule(rule.clone()).expect("added");
                    rules.insert(id, rule);
                    added = Some(id);
                }
                Some(id) => {
                    run.cp.agent_mut().remove_rule(id).expect("removed");
                    rules.remove(&id);
                }
            }
            // Acknowledged: the call returned, the card's clock is where the update's writes
            // took effect.
            let ack = run.cp.driver().card().now().max(at);
            versions.push(Version { ack, rules });
            updates += 1;
            next_update += SimDuration::from_ns(UPDATE_EVERY_NS);
        }
    });
    let mut hits: Vec<TableHit> = Vec::new();
    run.cp.driver_mut().card_mut().take_table_hits(&mut hits);
    // Each hit against the version acknowledged before it; a hit at the very time of an
    // acknowledgement may have been either side of it, so it may match either version.
    let mut checked = 0u64;
    let mut stale = Vec::new();
    let mut redirected = 0u64;
    let mut v = 0usize;
    let mut cache: HashMap<(usize, u16), Option<Action>> = HashMap::new();
    for h in &hits {
        while v + 1 < versions.len() && versions[v + 1].ack < h.at {
            v += 1;
        }
        let mut want = *cache
            .entry((v, h.key.tp_src))
            .or_insert_with(|| versions[v].expected(&h.key));
        if want != Some(h.action) && v + 1 < versions.len() && versions[v + 1].ack == h.at {
            want = versions[v + 1].expected(&h.key);
        }
        checked += 1;
        if h.action == Action::output(nic_abi::key::PortNo(103)) {
            redirected += 1;
        }
        if want != Some(h.action) {
            stale.push((h.at, h.key.tp_src, h.action, want));
        }
    }
    let agent = run.cp.agent().counters();
    let class = run.class(0);
    println!(
        "rule updates: {updates} updates at one per {UPDATE_EVERY_NS} ns, {} entries \
         revalidated, {checked} table hits checked against the linear classifier, \
         {redirected} by a redirect, {} stale; {} of {} packets delivered, dropped {:?}",
        agent.revalidated,
        stale.len(),
        class.delivered,
        class.offered,
        class.dropped
    );
    assert!(updates >= 180, "{updates} updates");
    assert!(agent.revalidated >= updates / 2, "updates changed entries");
    assert!(redirected > 0, "the redirects were in use");
    assert_eq!(agent.software, 0, "every packet went through the table");
    assert_eq!(class.delivered, class.offered, "{:?}", class.dropped);
    assert!(
        checked >= class.delivered,
        "every delivered packet was a checked hit"
    );
    assert!(
        stale.is_empty(),
        "stale hits: {:?}",
        &stale[..stale.len().min(5)]
    );
    run.cp.agent_mut().check_consistency().expect("consistent");
}
