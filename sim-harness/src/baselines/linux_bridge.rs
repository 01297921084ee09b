//! The Linux bridge in a driver domain (the sNICh paper's baseline, as in Xen's netback and a
//! bridge in dom0), with the administrator's rules as netfilter (nftables bridge family)
//! rules evaluated one by one.
//!
//! Per packet, on the driver domain's core that serves the sender's queue (VM `i`: core
//! `i % cores`, its back-end thread; the wire: RSS by flow):
//!
//! | step | profile key | use |
//! |---|---|---|
//! | take the frame from the VM's TX ring (copy or grant) or from the NIC's RX ring | `vnic.from_vm` + `vnic.copy_per_byte` x len, or `nic_driver.rx` | `vnic_backend`, `copy`, `driver` |
//! | bridge input, FDB lookup, forward | `linux_bridge.forward` | `bridge` |
//! | netfilter: rules walked in priority order to the first match | `linux_bridge.netfilter_hook` + `netfilter_per_rule` x walked | `netfilter` |
//! | each egress: copy into the VM's RX ring (by that VM's worker, on its core, after its tap queue), or NIC driver TX | `vnic.to_vm` + copy, or `nic_driver.tx` | `vnic_backend`, `copy`, `driver` |
//! | per batch, not per packet: a VM's sleeping vhost-net worker woken; a guest interrupted for a batch delivered to it | `vnic.worker_wakeup`, `vnic.guest_notify` | `vhost_wakeup`, `guest_notify` |
//!
//! **Rules.** A rule that only says "frames to MAC m go to port p" (an exact `dl_dst`, maybe
//! a VLAN, and a single `output`/`normal` action; the scenario generates one per
//! destination) is the bridge's FDB entry, not a netfilter rule: the bridge forwards by its
//! MAC table anyway. Every other rule is a netfilter rule. A packet walks the netfilter rules
//! in rank order (priority descending, then file order) until the first match; a match
//! without actions drops it (`rule_drop`), any other match accepts it, and no match accepts
//! it (chain policy accept). An accepted packet is forwarded by destination MAC (so an
//! `output:N` in a filter rule does not redirect). The rule found first is the one the
//! classifier finds (the highest-ranked match), so the walk's length is that rule's position
//! and the model looks it up with flow-setup's `SplitTree` instead of walking.
//!
//! **`linux-bridge-nftset`**: the same bridge with the rules held in nftables sets, as an
//! administrator with many rules writes them: the rules of one match shape (the same fields
//! matched; prefixes and ranges as interval sets) are the elements of one set, looked up by
//! one hash or interval-tree probe (`linux_bridge.netfilter_set_lookup`, fitted on the
//! measured set records). A large set looked up by many keys costs more per lookup (the
//! kernel's hash set, `net/netfilter/nft_set_hash.c`: a bucket and its elements per key):
//! what `k` distinct keys touch in a set of `n` elements outgrows the cache, and a lookup
//! misses with probability `max(0, 1 - cached / min(n, k))`, adding `netfilter_set_miss`
//! (`netfilter_set_elements_cached` is `cached`; the keys are the packets' values of the
//! set's fields seen so far in the run: traffic of many flows from one source address looks
//! up one key in a set of source addresses). A packet probes the sets in the rank order of their best rule
//! until the one holding its winning rule, so the cost grows with the number of distinct
//! shapes, not rules; the verdict is the rules' (a verdict map gives it the same).

use std::collections::{HashMap, HashSet};

use flow_setup::classifier::{rule_id, Classifier, SplitTree};
use flow_setup::rule::{Action, Field, Point, Rule, RuleId};

use crate::baselines::l2::{L2Decision, L2Fabric};
use crate::baselines::software::{
    software_switch_under_test, Datapath, Packet, SoftwareSwitch, Verdict, Work,
};
use crate::host_cpu::HostCpu;
use crate::profile::{BridgeCosts, Profile};
use crate::switch::{DropReason, SwitchContext, SwitchError, SwitchRun};
use nic_abi::time::SimTime;

/// The switch name reports print.
pub const NAME: &str = "linux-bridge";

/// The name of the variant with the rules in nftables sets.
pub const NFTSET_NAME: &str = "linux-bridge-nftset";

/// How the netfilter rules are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetfilterForm {
    /// One rule after another, walked to the first match.
    Linear,
    /// One set per match shape, probed shape after shape.
    Sets,
}

/// The fields a rule matches (bit `Field::index`): its shape, the key type of its set.
fn shape(rule: &Rule) -> u32 {
    Field::ALL
        .iter()
        .filter(|f| !rule.pattern.get(**f).is_any())
        .fold(0, |acc, f| acc | 1 << f.index())
}

/// A packet's key in a set of `shape`: its values of the set's fields, hashed.
fn set_key(point: &Point, shape: u32) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in Field::ALL {
        if shape & (1 << f.index()) != 0 {
            point.get(f).hash(&mut h);
        }
    }
    h.finish()
}

/// True when `rule` is an FDB entry in rule form: exact destination MAC (and maybe a VLAN),
/// nothing else matched, one `output` or `normal` action.
pub fn is_fdb_rule(rule: &Rule) -> bool {
    rule.l2_destination().is_some()
        && matches!(
            rule.actions.as_slice(),
            [Action::Output(_)] | [Action::Normal]
        )
}

/// The bridge's netfilter ruleset and costs.
#[derive(Debug)]
pub struct BridgeDatapath {
    costs: BridgeCosts,
    classifier: SplitTree,
    form: NetfilterForm,
    /// Position of each netfilter rule in the walk (rank order), by its id: the rule's own
    /// (linear) or its set's (sets).
    position: HashMap<RuleId, usize>,
    /// Steps of a walk that matches nothing: rules (linear) or sets.
    walk_length: usize,
    /// Sets, in probe order: `None` for a rule that matches everything (the chain's final
    /// accept, a plain rule, not a set), else the set's elements and shape (its key's
    /// fields).
    sets: Vec<Option<(u64, u32)>>,
    /// Per set, the distinct keys (the packet's values of the set's fields, hashed) looked up
    /// so far: what the lookups touch grows with them (see [`BridgeCosts::set_lookup`]).
    keys_seen: Vec<HashSet<u64>>,
    /// Whether each rule of the context (by id) drops.
    drops: Vec<bool>,
    netfilter_rules: usize,
    fdb_rules: usize,
    rules_walked: u64,
}

impl BridgeDatapath {
    /// The netfilter rules of `rules` (all but the FDB-like ones).
    pub fn new(
        rules: &[Rule],
        costs: BridgeCosts,
        form: NetfilterForm,
    ) -> Result<BridgeDatapath, SwitchError> {
        let mut netfilter: Vec<(RuleId, &Rule)> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| !is_fdb_rule(r))
            .map(|(i, r)| (rule_id(i), r))
            .collect();
        let fdb_rules = rules.len() - netfilter.len();
        netfilter.sort_by_key(|(id, r)| (u16::MAX - r.priority, *id));
        let mut classifier = SplitTree::new();
        classifier
            .bulk_insert(
                netfilter
                    .iter()
                    .map(|(id, r)| (*id, r.priority, &r.pattern)),
            )
            .map_err(|e| SwitchError::Internal(format!("{NAME}: netfilter rules: {e}")))?;
        let mut shapes: Vec<u32> = Vec::new();
        // Elements of each set (rules of its shape).
        let mut set_elements: Vec<u64> = Vec::new();
        let (position, walk_length) = match form {
            NetfilterForm::Linear => (
                netfilter
                    .iter()
                    .enumerate()
                    .map(|(pos, (id, _))| (*id, pos))
                    .collect(),
                netfilter.len(),
            ),
            NetfilterForm::Sets => {
                let mut position = HashMap::new();
                for (id, r) in &netfilter {
                    let s = shape(r);
                    let set = shapes.iter().position(|x| *x == s).unwrap_or_else(|| {
                        shapes.push(s);
                        set_elements.push(0);
                        shapes.len() - 1
                    });
                    if let Some(n) = set_elements.get_mut(set) {
                        *n += 1;
                    }
                    position.insert(*id, set);
                }
                (position, shapes.len())
            }
        };
        let sets: Vec<Option<(u64, u32)>> = shapes
            .iter()
            .zip(&set_elements)
            .map(|(s, n)| (*s != 0).then_some((*n, *s)))
            .collect();
        let keys_seen = vec![HashSet::new(); sets.len()];
        Ok(BridgeDatapath {
            costs,
            form,
            position,
            walk_length,
            sets,
            keys_seen,
            drops: rules.iter().map(|r| r.actions.is_empty()).collect(),
            netfilter_rules: netfilter.len(),
            fdb_rules,
            classifier,
            rules_walked: 0,
        })
    }

    /// Netfilter rules (the context's rules minus the FDB-like ones).
    pub fn netfilter_rules(&self) -> usize {
        self.netfilter_rules
    }
}

impl Datapath for BridgeDatapath {
    type Install = ();

    fn fast_path(
        &mut self,
        _now: SimTime,
        pkt: &Packet,
        l2: &L2Fabric,
        work: &mut Work,
    ) -> Verdict {
        work.add("bridge", self.costs.forward);
        if self.netfilter_rules > 0 {
            let winner = self.classifier.lookup(&pkt.point);
            let walked = winner
                .and_then(|id| self.position.get(&id))
                .map_or(self.walk_length, |p| p + 1);
            self.rules_walked += walked as u64;
            let walk = match self.form {
                NetfilterForm::Linear => self.costs.netfilter_per_rule * walked as f64,
                NetfilterForm::Sets => {
                    let mut cost = 0.0;
                    for (set, seen) in self.sets.iter().zip(&mut self.keys_seen).take(walked) {
                        cost += match set {
                            None => self.costs.netfilter_per_rule,
                            Some((elements, shape)) => {
                                seen.insert(set_key(&pkt.point, *shape));
                                self.costs.set_lookup(*elements, seen.len() as u64)
                            }
                        };
                    }
                    cost
                }
            };
            work.add("netfilter", self.costs.netfilter_hook + walk);
            let drops = winner
                .and_then(|id| self.drops.get(usize::try_from(id.0).unwrap_or(usize::MAX)))
                .copied()
                .unwrap_or(false);
            if drops {
                return Verdict::Drop(DropReason::RuleDrop);
            }
        }
        match l2.forward(pkt.from, &pkt.key) {
            L2Decision::Forward(egress) => Verdict::Forward(egress),
            L2Decision::Drop(reason) => Verdict::Drop(reason),
        }
    }

    fn slow_path(
        &mut self,
        _now: SimTime,
        _pkt: &Packet,
        _l2: &L2Fabric,
        _work: &mut Work,
    ) -> (Verdict, Option<()>) {
        // The bridge decides everything on its fast path and never upcalls.
        (Verdict::Drop(DropReason::SlowPathUpcall), None)
    }

    fn install(&mut self, _now: SimTime, _install: ()) {}

    fn maintain(&mut self, _now: SimTime, _cpu: &mut HostCpu) {}

    fn report(&self, run: &mut SwitchRun) {
        run.extra
            .insert("netfilter_rules".into(), self.netfilter_rules as u64);
        run.extra.insert("fdb_rules".into(), self.fdb_rules as u64);
        let walked = match self.form {
            NetfilterForm::Linear => "netfilter_rules_walked",
            NetfilterForm::Sets => "netfilter_sets_probed",
        };
        run.extra.insert(walked.into(), self.rules_walked);
        if self.form == NetfilterForm::Sets {
            run.extra
                .insert("netfilter_sets".into(), self.walk_length as u64);
        }
    }
}

/// The Linux bridge baseline.
#[derive(Debug)]
pub struct LinuxBridge {
    inner: SoftwareSwitch<BridgeDatapath>,
}

impl LinuxBridge {
    /// A bridge for `ctx` with the context's profile (or the built-in one), its rules
    /// walked one by one.
    pub fn new(ctx: &SwitchContext) -> Result<LinuxBridge, SwitchError> {
        LinuxBridge::with_profile(ctx, ctx.profile_for(NAME)?)
    }

    /// The bridge with its rules in nftables sets (`linux-bridge-nftset`).
    pub fn with_sets(ctx: &SwitchContext) -> Result<LinuxBridge, SwitchError> {
        let profile = ctx.profile_for(NFTSET_NAME)?;
        LinuxBridge::with_form(ctx, profile, NetfilterForm::Sets)
    }

    /// A bridge for `ctx` with `profile`, rules walked one by one.
    pub fn with_profile(ctx: &SwitchContext, profile: Profile) -> Result<LinuxBridge, SwitchError> {
        LinuxBridge::with_form(ctx, profile, NetfilterForm::Linear)
    }

    /// A bridge for `ctx` with `profile` and its rules written in `form`.
    pub fn with_form(
        ctx: &SwitchContext,
        profile: Profile,
        form: NetfilterForm,
    ) -> Result<LinuxBridge, SwitchError> {
        let datapath = BridgeDatapath::new(&ctx.rules, profile.linux_bridge.clone(), form)?;
        let name = match form {
            NetfilterForm::Linear => NAME,
            NetfilterForm::Sets => NFTSET_NAME,
        };
        Ok(LinuxBridge {
            inner: SoftwareSwitch::new(name, ctx, profile, datapath)?,
        })
    }
}

software_switch_under_test!(LinuxBridge);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testing::{context, offer_stream, udp_frame};
    use crate::switch::{Endpoint, OfferedPacket, SwitchRun, SwitchUnderTest, VmIndex};
    use flow_setup::rule::{MatchBuilder, Rule};
    use nic_abi::time::SimDuration;

    fn bridge(ctx: &SwitchContext) -> Box<LinuxBridge> {
        Box::new(LinuxBridge::new(ctx).expect("bridge"))
    }

    #[test]
    fn delivers_between_vms_and_to_the_wire_and_charges_each_step() {
        let ctx = context(2, 1, 1, Vec::new());
        let mut b = bridge(&ctx);
        let to_vm1 = udp_frame(
            &ctx.topology,
            Endpoint::Vm(VmIndex(0)),
            Endpoint::Vm(VmIndex(1)),
            1,
            60,
        );
        let to_wire = udp_frame(
            &ctx.topology,
            Endpoint::Vm(VmIndex(0)),
            Endpoint::External(crate::switch::ExternalHostIndex(0)),
            1,
            60,
        );
        for (i, f) in [to_vm1, to_wire].into_iter().enumerate() {
            b.offer(OfferedPacket {
                at: SimTime(i as u64 * 10_000_000),
                from: Endpoint::Vm(VmIndex(0)),
                frame: f,
            })
            .expect("offer");
        }
        let run = b.finish().expect("finish");
        assert_eq!(run.ledger.delivered, 2);
        assert_eq!(run.delivered_bytes, 120);
        for use_ in ["vnic_backend", "bridge", "driver", "copy"] {
            assert!(
                run.host_cpu_cycles.get(use_).is_some_and(|c| *c > 0),
                "{use_}"
            );
        }
        assert!(
            !run.host_cpu_cycles.contains_key("netfilter"),
            "no rules, no hook"
        );
        // Only the wire packet crossed PCIe.
        assert!(run.pcie_bytes > 0);
        // VM to VM, both workers asleep: VM 0's worker woken (2,000 ns), 790 + 250 ns, VM 1's
        // worker woken (2,000 ns), 355 ns, the guest interrupted (2,000 cycles, 769 ns), and
        // 12 ns of copies (the slower of the two: the wire packet pays one wake-up).
        let vm_to_vm = run.latency_ns.max();
        assert!((6_170..=6_190).contains(&vm_to_vm), "{vm_to_vm}");
        assert_eq!(
            run.extra["vhost_wakeups"], 3,
            "VM 0's worker for each packet, VM 1's for the one into it"
        );
        assert_eq!(run.extra["guest_notifications"], 1, "one packet into a VM");
    }

    #[test]
    fn vnic_copies_share_the_memory_bus() {
        // Two VMs on two cores send 1,500-byte frames to each other at once; each delivery
        // copies twice (from and to a vNIC). At 100 GB/s the copies are bound by their cycles;
        // at 0.1 GB/s each copy holds the bus 30 us and the copies of both cores queue on it.
        let run_at = |memory_gbps: f64| {
            let mut ctx = context(2, 0, 2, Vec::new());
            ctx.host.memory_gbps = memory_gbps;
            let mut b = bridge(&ctx);
            for s in 0..2u16 {
                let from = Endpoint::Vm(VmIndex(s));
                let to = Endpoint::Vm(VmIndex(1 - s));
                b.offer(OfferedPacket {
                    at: SimTime::ZERO,
                    from,
                    frame: udp_frame(&ctx.topology, from, to, s, 1_500),
                })
                .expect("offer");
            }
            b.finish().expect("finish")
        };
        let fast = run_at(100.0);
        let slow = run_at(0.1);
        assert_eq!((fast.ledger.delivered, slow.ledger.delivered), (2, 2));
        assert_eq!(fast.host_cpu_cycles["copy"], slow.host_cpu_cycles["copy"]);
        let fast_max = fast.latency_ns.max();
        let slow_max = slow.latency_ns.max();
        // Four copies of 30 us each, one after another on the bus; the rest (the workers'
        // wake-ups, the guest interrupts, the per-packet work) is the same at both speeds.
        let bus = slow_max - fast_max;
        assert!(
            (118_000..=122_000).contains(&bus),
            "{slow_max} - {fast_max}"
        );
        assert!(fast_max < 10_000, "{fast_max}");
    }

    /// `packets` 60-byte packets from VMs `0..senders` (of `vms`) in turn, each to the next
    /// VM, one every `interval_ns`, through a bridge on one core.
    fn stream(vms: u16, senders: u16, packets: u64, interval_ns: u64) -> SwitchRun {
        let ctx = context(vms, 0, 1, Vec::new());
        let mut b = bridge(&ctx);
        let interval = SimDuration::from_ns(interval_ns);
        for p in offer_stream(&ctx.topology, packets, interval, senders) {
            b.offer(p).expect("offer");
        }
        b.finish().expect("finish")
    }

    fn cycles_per_packet(r: &SwitchRun) -> f64 {
        r.host_cpu_cycles.values().sum::<u64>() as f64 / r.ledger.delivered as f64
    }

    #[test]
    fn a_burst_from_one_vm_rides_one_wakeup_of_each_worker() {
        // 50 packets from VM 0 to VM 1 at once: VM 0's worker is woken once and drains its
        // ring; VM 1's worker is woken once and its guest interrupted once for the batch.
        let burst = stream(2, 1, 50, 0);
        assert_eq!(burst.ledger.delivered, 50);
        assert_eq!(burst.extra["vhost_wakeups"], 2);
        assert_eq!(burst.extra["guest_notifications"], 1);
        // The same packets 100 us apart: each finds both workers asleep.
        let spread = stream(2, 1, 50, 100_000);
        assert_eq!(spread.ledger.delivered, 50);
        assert_eq!(spread.extra["vhost_wakeups"], 100);
        assert_eq!(spread.extra["guest_notifications"], 50);
        assert_eq!(
            spread.host_cpu_cycles["vhost_wakeup"],
            50 * burst.host_cpu_cycles["vhost_wakeup"]
        );
        assert!(cycles_per_packet(&spread) > cycles_per_packet(&burst) + 5_000.0);
    }

    #[test]
    fn the_same_total_rate_over_more_vms_costs_more_cycles_per_packet() {
        // 64 packets at once from one VM, and from 16 VMs (4 each, VM i to VM i + 1): every
        // worker is woken once for its batch, and a VM's worker serves both its TX and its
        // RX, so VMs 1-15 receive while their worker is awake for their own packets.
        let one = stream(17, 1, 64, 0);
        let many = stream(17, 16, 64, 0);
        assert_eq!((one.ledger.delivered, many.ledger.delivered), (64, 64));
        assert_eq!(one.extra["vhost_wakeups"], 2);
        assert_eq!(many.extra["vhost_wakeups"], 17);
        assert_eq!(many.extra["guest_notifications"], 16);
        assert!(
            cycles_per_packet(&many) > cycles_per_packet(&one) + 15.0 * 2.0 * 2_600.0 / 64.0,
            "15 more wake-ups of 2 us over 64 packets: {} vs {}",
            cycles_per_packet(&many),
            cycles_per_packet(&one)
        );
    }

    #[test]
    fn a_full_tap_queue_drops_the_frames_for_its_vm() {
        // 256 frames from VM 0 to VM 1 at once on one core: each is switched before any is
        // delivered (the deliveries queue behind the switching), so VM 1's tap queue holds
        // them all, or drops those beyond its size.
        let ctx = context(2, 0, 1, Vec::new());
        let offers = || offer_stream(&ctx.topology, 256, SimDuration::from_ns(0), 1);
        let mut b = bridge(&ctx);
        for p in offers() {
            b.offer(p).expect("offer");
        }
        let run = b.finish().expect("finish");
        assert_eq!(run.ledger.delivered, 256);
        assert_eq!(run.extra["rx_queue_drops"], 0);
        let mut profile = Profile::builtin().expect("profile");
        profile.vnic.rx_queue = 10;
        let mut small = Box::new(LinuxBridge::with_profile(&ctx, profile).expect("bridge"));
        for p in offers() {
            small.offer(p).expect("offer");
        }
        let run = small.finish().expect("finish");
        assert_eq!(run.extra["rx_queue_drops"], 246);
        assert_eq!(run.ledger.delivered, 10);
        assert_eq!(run.ledger.dropped.get(&DropReason::QueueFull), Some(&246));
    }

    /// `n` accepting rules on UDP sources 10.99.x.y that the tests' frames never match, then
    /// a rule that drops UDP to port 53.
    fn never_matching_then_drop_53(n: u16) -> Vec<Rule> {
        let mut rules: Vec<Rule> = (0..n)
            .map(|i| {
                let [a, b] = i.to_be_bytes();
                let m = MatchBuilder::new()
                    .udp()
                    .nw_src(std::net::Ipv4Addr::new(10, 99, a, b), 32)
                    .build()
                    .expect("match");
                Rule::new(200, m, vec![Action::Normal])
            })
            .collect();
        let m = MatchBuilder::new().udp().tp_dst(53).build().expect("match");
        rules.push(Rule::new(100, m, Vec::new()));
        rules
    }

    /// VM 0 sends one UDP frame to VM 1's port 53, then 100 us later one to port 80.
    fn offer_to_ports_53_and_80(b: &mut LinuxBridge, ctx: &SwitchContext) {
        for (i, dport) in [53u16, 80].into_iter().enumerate() {
            let frame = crate::baselines::testing::udp_frame_ports(
                &ctx.topology,
                Endpoint::Vm(VmIndex(0)),
                Endpoint::Vm(VmIndex(1)),
                1000,
                dport,
                60,
            );
            b.offer(OfferedPacket {
                at: SimTime(i as u64 * 100_000_000),
                from: Endpoint::Vm(VmIndex(0)),
                frame,
            })
            .expect("offer");
        }
    }

    #[test]
    fn drop_rules_drop_and_walked_rules_cost() {
        // 10 rules that never match, one that drops port 53, then the rest is accepted.
        let ctx = context(2, 0, 1, never_matching_then_drop_53(10));
        let mut b = bridge(&ctx);
        offer_to_ports_53_and_80(&mut b, &ctx);
        let run = b.finish().expect("finish");
        assert_eq!(run.ledger.dropped.get(&DropReason::RuleDrop), Some(&1));
        assert_eq!(run.ledger.delivered, 1);
        // The dropped packet walked all 11 rules, the accepted one 11 too (no match).
        assert_eq!(run.extra.get("netfilter_rules_walked"), Some(&22));
        let nf = run.host_cpu_cycles.get("netfilter").copied().unwrap_or(0);
        assert!(
            (1_180..=1_190).contains(&nf),
            "22 x 20.7 ns x 2.6 = 1184 cycles, got {nf}"
        );
    }

    #[test]
    fn in_sets_the_walk_is_one_probe_per_match_shape_with_the_same_verdicts() {
        // 1,000 rules of one shape (udp, nw_src/32) that never match, and one of another
        // shape (udp, tp_dst) that drops port 53: two sets.
        let ctx = context(2, 0, 1, never_matching_then_drop_53(1_000));
        let run = |b: &mut LinuxBridge| offer_to_ports_53_and_80(b, &ctx);
        let mut sets = LinuxBridge::with_sets(&ctx).expect("bridge");
        run(&mut sets);
        let sets = Box::new(sets).finish().expect("finish");
        let mut linear = LinuxBridge::new(&ctx).expect("bridge");
        run(&mut linear);
        let linear = Box::new(linear).finish().expect("finish");
        assert_eq!(sets.switch, NFTSET_NAME);
        assert_eq!(
            sets.ledger.dropped, linear.ledger.dropped,
            "the same verdicts"
        );
        assert_eq!(sets.ledger.delivered, 1);
        assert_eq!(sets.extra.get("netfilter_sets"), Some(&2));
        // Both packets probe both sets (the drop rule's set is second in rank order).
        assert_eq!(sets.extra.get("netfilter_sets_probed"), Some(&4));
        assert_eq!(linear.extra.get("netfilter_rules_walked"), Some(&2_002));
        let nf = sets.host_cpu_cycles.get("netfilter").copied().unwrap_or(0);
        assert!(
            (1_450..=1_460).contains(&nf),
            "4 x 140 ns x 2.6 = 1456 cycles, got {nf}"
        );
        assert!(nf * 10 < linear.host_cpu_cycles["netfilter"]);
    }

    #[test]
    fn a_set_looked_up_by_more_keys_than_the_cache_holds_costs_a_miss_in_proportion() {
        let p = crate::profile::Profile::builtin().expect("profile");
        let b = &p.linux_bridge;
        let (hit, miss) = (b.netfilter_set_lookup, b.netfilter_set_miss);
        let cached = b.netfilter_set_elements_cached;
        // Twice the cached keys in a set twice that size: half the lookups miss; by one key
        // (or the cached number) none does, however large the set; a small set never misses.
        assert!((b.set_lookup(2 * cached, 2 * cached) - (hit + miss / 2.0)).abs() < 1e-9);
        assert!((b.set_lookup(2 * cached, 1_000_000) - (hit + miss / 2.0)).abs() < 1e-9);
        assert_eq!(b.set_lookup(1_000_000, 1), hit);
        assert_eq!(b.set_lookup(1_000_000, cached), hit);
        assert_eq!(b.set_lookup(cached, 1_000_000), hit);
        // Through the bridge: two packets (two keys) probing a 26,000-element set and the
        // one-element drop set pay 140 ns per probe.
        let ctx = context(2, 0, 1, never_matching_then_drop_53(26_000));
        let mut sets = LinuxBridge::with_sets(&ctx).expect("bridge");
        offer_to_ports_53_and_80(&mut sets, &ctx);
        let sets = Box::new(sets).finish().expect("finish");
        let nf = sets.host_cpu_cycles.get("netfilter").copied().unwrap_or(0);
        assert!(
            (1_450..=1_460).contains(&nf),
            "4 x 140 ns x 2.6 = 1456 cycles, got {nf}"
        );
    }

    #[test]
    fn fdb_like_rules_are_not_walked() {
        let t = context(2, 0, 1, Vec::new()).topology;
        let fwd: Vec<Rule> = t
            .vms
            .iter()
            .enumerate()
            .map(|(i, vm)| {
                let m = MatchBuilder::new().dl_dst(vm.mac).build().expect("match");
                let port = crate::switch::Topology::vm_port(VmIndex(u16::try_from(i).expect("i")));
                Rule::new(1, m, vec![Action::Output(port)])
            })
            .collect();
        assert!(fwd.iter().all(is_fdb_rule));
        let dp = BridgeDatapath::new(
            &fwd,
            Profile::builtin().expect("p").linux_bridge,
            NetfilterForm::Linear,
        )
        .expect("datapath");
        assert_eq!(dp.netfilter_rules(), 0);
    }

    #[test]
    fn saturates_at_one_core_over_the_per_packet_cost_and_drops_the_rest() {
        // Offered at 2 Mpps from one VM; one core at 1,407 ns per packet carries 711 kpps.
        let ctx = context(2, 0, 1, Vec::new());
        let mut b = bridge(&ctx);
        let n = 4_000;
        for p in offer_stream(&ctx.topology, n, SimDuration::from_ns(500), 1) {
            b.offer(p).expect("offer");
        }
        let run = b.finish().expect("finish");
        let l = &run.ledger;
        assert_eq!(l.offered, n);
        assert!(
            l.dropped
                .get(&DropReason::QueueFull)
                .is_some_and(|d| *d > 1_000),
            "{l:?}"
        );
        assert_eq!(l.delivered + l.dropped_total(), n, "conservation");
        let pps = l.delivered as f64 / run.span().as_secs_f64();
        let expected = 1e9 / 1_407.0;
        assert!((pps / expected - 1.0).abs() < 0.01, "{pps} vs {expected}");
    }

    #[test]
    fn two_cores_carry_twice_as_much_from_two_vms() {
        let rate = |cores: u16| {
            let ctx = context(4, 0, cores, Vec::new());
            let mut b = bridge(&ctx);
            for p in offer_stream(&ctx.topology, 4_000, SimDuration::from_ns(250), 2) {
                b.offer(p).expect("offer");
            }
            let run = b.finish().expect("finish");
            run.ledger.delivered as f64 / run.span().as_secs_f64()
        };
        let ratio = rate(2) / rate(1);
        assert!((ratio - 2.0).abs() < 0.05, "{ratio}");
    }

    #[test]
    fn malformed_and_wire_overload_are_counted() {
        let ctx = context(1, 1, 1, Vec::new());
        let mut b = bridge(&ctx);
        b.offer(OfferedPacket {
            at: SimTime::ZERO,
            from: Endpoint::Vm(VmIndex(0)),
            frame: bytes::Bytes::from_static(&[0u8; 10]),
        })
        .expect("offer");
        // 2,000 wire packets back to back at 25G (about 37 Mpps): the 512-entry RX ring fills.
        let frame = udp_frame(
            &ctx.topology,
            Endpoint::External(crate::switch::ExternalHostIndex(0)),
            Endpoint::Vm(VmIndex(0)),
            1,
            60,
        );
        for _ in 0..2_000 {
            b.offer(OfferedPacket {
                at: SimTime(1),
                from: Endpoint::External(crate::switch::ExternalHostIndex(0)),
                frame: frame.clone(),
            })
            .expect("offer");
        }
        let run = b.finish().expect("finish");
        assert_eq!(run.ledger.dropped.get(&DropReason::Malformed), Some(&1));
        assert!(run
            .ledger
            .dropped
            .get(&DropReason::NoRxBuffer)
            .is_some_and(|d| *d > 1_000));
        assert!(run.ledger.delivered >= 512);
        assert_eq!(run.ledger.offered, 2_001);
    }
}
