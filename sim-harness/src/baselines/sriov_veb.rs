//! An SR-IOV NIC's embedded bridge (VEB): each VM drives its own virtual function, and the
//! NIC switches between VFs and the uplink by destination MAC and VLAN.
//!
//! No host CPU is spent per packet: the switching is on the card, and the guest's own VF
//! driver runs on the VM's CPU, which no switch of a comparison charges (the other switches'
//! guest drivers are not charged either). What it costs is bus and card time:
//!
//! - VM to VM (hairpin): the NIC reads the sender's descriptor and frame over PCIe (DMA
//!   read), switches it, writes it into the receiver's buffer with a completion (DMA write),
//!   and writes the sender's TX completion: the frame crosses PCIe twice.
//! - VM to wire: descriptor and frame read, the frame on the wire, TX completion.
//! - Wire to VM: the frame from the wire, written into the VM with a completion.
//!
//! The embedded switch is a resource busy `sriov_veb.per_packet` per packet that decides
//! `sriov_veb.latency` after it starts. A VM's frames wait in its TX ring (its
//! `queue_entries`) until the NIC has read them; a full ring drops (`queue_full`). The guest
//! is assumed to keep its RX ring stocked (no `no_rx_buffer`). Each step runs as an event at
//! its time, so bus and wire are reserved in time order.
//!
//! **Rules.** A VEB filters only by MAC and VLAN. Rules that match nothing but `in_port`,
//! `dl_src`, `dl_dst` and the VLAN are enforced as MAC/VLAN filters (a winning rule without
//! actions drops, `rule_drop`; any other lets the frame through to its MAC-table
//! destination). Every other rule is not enforced: `extra.rules_not_enforced` counts them,
//! and `extra.packets_against_rules` counts packets the VEB forwarded that the full rule set
//! would have dropped (the flow-setup classifier's verdict over all rules).

use bytes::Bytes;

use flow_setup::classifier::{rule_id, Classifier, SplitTree};
use flow_setup::rule::{Field, Point, Rule};
use nic_abi::parse::parse_software;
use nic_abi::time::SimTime;
use nic_model::engine::EventQueue;

use crate::baselines::host_nic::HostNic;
use crate::baselines::l2::{Egress, L2Decision, L2Fabric};
use crate::baselines::software::{MAX_FRAME_BYTES, MIN_FRAME_BYTES};
use crate::baselines::vm_tx::VmTxRings;
use crate::profile::{Profile, VebCosts};
use crate::switch::{
    DropReason, Endpoint, OfferedPacket, SwitchContext, SwitchError, SwitchRun, SwitchUnderTest,
    Topology,
};

/// The switch name reports print.
pub const NAME: &str = "sriov-veb";

/// True when a VEB can enforce `rule`: it matches only ports, MACs and the VLAN.
pub fn is_l2_rule(rule: &Rule) -> bool {
    Field::ALL
        .iter()
        .filter(|f| {
            !matches!(
                f,
                Field::InPort | Field::DlSrc | Field::DlDst | Field::VlanTci
            )
        })
        .all(|f| rule.pattern.get(*f).is_any())
}

/// A packet on the card.
#[derive(Debug)]
struct OnCard {
    offered_at: SimTime,
    from: Endpoint,
    frame: Bytes,
}

#[derive(Debug)]
enum VebEvent {
    /// The frame is on the card (read from the VM, or received from the wire).
    OnCard(OnCard),
    /// The switch has decided the frame.
    Decided(OnCard),
}

/// The SR-IOV VEB baseline.
#[derive(Debug)]
pub struct SriovVeb {
    costs: VebCosts,
    l2: L2Fabric,
    nic: HostNic,
    /// The enforceable rules, and which rule (by id) drops.
    l2_filter: SplitTree,
    l2_rules: usize,
    /// Every rule, to count what the VEB lets through against them.
    all_rules: SplitTree,
    drops: Vec<bool>,
    rules_not_enforced: u64,
    packets_against_rules: u64,
    hairpins: u64,
    /// Per VM: frames in its TX ring not yet read by the NIC.
    vm_tx: VmTxRings,
    events: EventQueue<VebEvent>,
    switch_free: SimTime,
    run: SwitchRun,
}

impl SriovVeb {
    /// The VEB for `ctx` with the context's profile (or the built-in one).
    pub fn new(ctx: &SwitchContext) -> Result<SriovVeb, SwitchError> {
        SriovVeb::with_profile(ctx, &ctx.profile_for(NAME)?)
    }

    /// The VEB for `ctx` with `profile`.
    pub fn with_profile(ctx: &SwitchContext, profile: &Profile) -> Result<SriovVeb, SwitchError> {
        let internal = |e: flow_setup::classifier::ClassifierError| {
            SwitchError::Internal(format!("{NAME}: rules: {e}"))
        };
        let mut l2_filter = SplitTree::new();
        let l2_rules: Vec<_> = ctx
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| is_l2_rule(r))
            .map(|(i, r)| (rule_id(i), r.priority, &r.pattern))
            .collect();
        let l2_count = l2_rules.len();
        l2_filter.bulk_insert(l2_rules).map_err(internal)?;
        let mut all_rules = SplitTree::new();
        all_rules
            .bulk_insert(
                ctx.rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (rule_id(i), r.priority, &r.pattern)),
            )
            .map_err(internal)?;
        Ok(SriovVeb {
            costs: profile.sriov_veb.clone(),
            l2: L2Fabric::new(&ctx.topology),
            nic: HostNic::new(NAME, &ctx.card)?,
            l2_filter,
            l2_rules: l2_count,
            all_rules,
            drops: ctx.rules.iter().map(|r| r.actions.is_empty()).collect(),
            rules_not_enforced: (ctx.rules.len() - l2_count) as u64,
            packets_against_rules: 0,
            hairpins: 0,
            vm_tx: VmTxRings::new(&ctx.topology),
            events: EventQueue::new(),
            switch_free: SimTime::ZERO,
            run: SwitchRun::new(NAME)?,
        })
    }

    /// Schedules `event` at `at`. Every time scheduled at is the current event's or later (a
    /// decision follows its frame's arrival, an arrival its offer); one before it would be a
    /// bug, reported rather than fired out of order.
    fn schedule(&mut self, at: SimTime, event: VebEvent) -> Result<(), SwitchError> {
        self.events
            .schedule_at(at, event)
            .map_err(|e| SwitchError::Internal(format!("{NAME}: event queue: {e}")))
    }

    /// Fires every event due at or before `until`.
    fn advance(&mut self, until: SimTime) -> Result<(), SwitchError> {
        while let Some((now, event)) = self.events.pop_until(until) {
            match event {
                VebEvent::OnCard(pkt) => {
                    if let Endpoint::Vm(vm) = pkt.from {
                        self.vm_tx.take(vm);
                    }
                    let start = now.max(self.switch_free);
                    self.switch_free = start + self.costs.per_packet;
                    self.schedule(start + self.costs.latency, VebEvent::Decided(pkt))?;
                }
                VebEvent::Decided(pkt) => self.decided(now, pkt),
            }
        }
        Ok(())
    }

    /// Applies the MAC/VLAN filters and sends the frame on.
    fn decided(&mut self, now: SimTime, pkt: OnCard) {
        let key = parse_software(&pkt.frame, Topology::ingress_port(pkt.from));
        let point = Point::from(&key);
        if self.l2_rules > 0 && self.rule_drops(&self.l2_filter, &point) {
            self.run.record_drop(now, DropReason::RuleDrop);
            return;
        }
        let egress = match self.l2.forward(pkt.from, &key) {
            L2Decision::Forward(e) => e,
            L2Decision::Drop(reason) => {
                self.run.record_drop(now, reason);
                return;
            }
        };
        if self.rules_not_enforced > 0 && self.rule_drops(&self.all_rules, &point) {
            self.packets_against_rules += 1;
        }
        let len = pkt.frame.len() as u64;
        let mut last = now;
        for e in egress {
            let at = match e {
                Egress::Vm(_) => {
                    if matches!(pkt.from, Endpoint::Vm(_)) {
                        self.hairpins += 1;
                    }
                    self.nic.write_to_host(now, len)
                }
                Egress::Uplink => self.nic.transmit(now, len),
            };
            last = last.max(at);
        }
        self.run
            .record_delivery(pkt.offered_at, last, pkt.frame.len());
    }

    fn rule_drops(&self, tree: &SplitTree, p: &Point) -> bool {
        tree.lookup(p)
            .and_then(|id| self.drops.get(usize::try_from(id.0).ok()?))
            .copied()
            .unwrap_or(false)
    }
}

impl SwitchUnderTest for SriovVeb {
    fn name(&self) -> String {
        NAME.into()
    }

    fn offer(&mut self, p: OfferedPacket) -> Result<(), SwitchError> {
        self.run.admit_offer(p.at)?;
        self.advance(p.at)?;
        let len = p.frame.len();
        if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&len) {
            self.run.record_drop(p.at, DropReason::Malformed);
            return Ok(());
        }
        let len64 = len as u64;
        let pkt = OnCard {
            offered_at: p.at,
            from: p.from,
            frame: p.frame,
        };
        let on_card = match p.from {
            Endpoint::Vm(vm) => {
                if let Err(reason) = self.vm_tx.post(vm) {
                    self.run.record_drop(p.at, reason);
                    return Ok(());
                }
                let read = self.nic.read_from_host(p.at, len64);
                // Reserved now, like the host NIC's: see `HostNic::send_from_host`.
                self.nic.complete_tx(p.at);
                read
            }
            Endpoint::External(_) => {
                if len64 > self.nic.max_frame_bytes() {
                    self.run.record_drop(p.at, DropReason::Malformed);
                    return Ok(());
                }
                self.nic.receive_on_wire(p.at, len64)
            }
        };
        self.schedule(on_card, VebEvent::OnCard(pkt))?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<SwitchRun, SwitchError> {
        self.advance(SimTime(u64::MAX))?;
        let mut run = self.run;
        run.pcie_bytes = self.nic.pcie_bytes();
        run.extra
            .insert("rules_not_enforced".into(), self.rules_not_enforced);
        run.extra
            .insert("packets_against_rules".into(), self.packets_against_rules);
        run.extra.insert("hairpin_packets".into(), self.hairpins);
        run.check_conservation()?;
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testing::{context, offer_stream, udp_frame, udp_frame_ports};
    use crate::switch::{ExternalHostIndex, VmIndex};
    use flow_setup::rule::{Action, MatchBuilder};
    use nic_abi::time::SimDuration;

    fn one(veb: &mut SriovVeb, from: Endpoint, frame: bytes::Bytes, at: u64) {
        veb.offer(OfferedPacket {
            at: SimTime(at),
            from,
            frame,
        })
        .expect("offer");
    }

    #[test]
    fn inter_vm_crosses_pcie_twice_and_wire_traffic_once() {
        let ctx = context(2, 1, 1, Vec::new());
        let t = &ctx.topology;
        let (a, b, x) = (
            Endpoint::Vm(VmIndex(0)),
            Endpoint::Vm(VmIndex(1)),
            Endpoint::External(ExternalHostIndex(0)),
        );
        let bytes_of = |from: Endpoint, to: Endpoint| {
            let mut veb = Box::new(SriovVeb::new(&ctx).expect("veb"));
            one(&mut veb, from, udp_frame(t, from, to, 0, 1_000), 0);
            let run = veb.finish().expect("finish");
            assert_eq!(run.ledger.delivered, 1);
            assert!(run.host_cpu_cycles.is_empty(), "no host CPU per packet");
            (run.pcie_bytes, run.extra["hairpin_packets"])
        };
        let (hairpin, h) = bytes_of(a, b);
        let (to_wire, _) = bytes_of(a, x);
        let (from_wire, _) = bytes_of(x, a);
        assert_eq!(h, 1);
        // To the wire: TX descriptor read (24 B request, 16 + 20 B completion), the frame
        // read as 2 requests (MRRS 512) answered by 4 completions (MPS 256), TX completion
        // (16 + 24 B).
        assert_eq!(to_wire, 24 + 36 + 2 * 24 + (1_000 + 4 * 20) + 40);
        // From the wire: RX descriptor read, the frame as 4 writes, RX completion.
        assert_eq!(from_wire, 24 + 36 + (1_000 + 4 * 24) + 40);
        // The hairpin pays both.
        assert_eq!(hairpin, to_wire + from_wire);
    }

    #[test]
    fn only_mac_and_vlan_rules_are_enforced() {
        let t = context(3, 0, 1, Vec::new()).topology;
        let block_vm2 = Rule::new(
            50,
            MatchBuilder::new().dl_dst(t.vms[2].mac).build().expect("m"),
            Vec::new(),
        );
        let block_dns = Rule::new(
            40,
            MatchBuilder::new().udp().tp_dst(53).build().expect("m"),
            Vec::new(),
        );
        let allow = Rule::new(
            0,
            MatchBuilder::new().build().expect("m"),
            vec![Action::Normal],
        );
        let mut ctx = context(3, 0, 1, vec![block_vm2, block_dns, allow]);
        ctx.topology = t.clone();
        let mut veb = Box::new(SriovVeb::new(&ctx).expect("veb"));
        let (a, b, c) = (
            Endpoint::Vm(VmIndex(0)),
            Endpoint::Vm(VmIndex(1)),
            Endpoint::Vm(VmIndex(2)),
        );
        one(&mut veb, a, udp_frame(&t, a, c, 0, 60), 0);
        one(
            &mut veb,
            a,
            udp_frame_ports(&t, a, b, 1000, 53, 60),
            1_000_000,
        );
        one(
            &mut veb,
            a,
            udp_frame_ports(&t, a, b, 1000, 80, 60),
            2_000_000,
        );
        let run = veb.finish().expect("finish");
        assert_eq!(
            run.ledger.dropped.get(&DropReason::RuleDrop),
            Some(&1),
            "the MAC rule holds"
        );
        assert_eq!(run.ledger.delivered, 2, "the DNS rule does not");
        assert_eq!(run.extra["rules_not_enforced"], 1);
        assert_eq!(run.extra["packets_against_rules"], 1);
    }

    #[test]
    fn a_full_tx_ring_drops_when_the_bus_cannot_keep_up() {
        // 1,500-byte frames from one VM every 10 ns: a hairpin needs ~1,560 bytes each way
        // per frame, far beyond the Gen3 x8 link's ~7.9 GB/s.
        let ctx = context(2, 0, 1, Vec::new());
        let t = &ctx.topology;
        let mut veb = Box::new(SriovVeb::new(&ctx).expect("veb"));
        let (a, b) = (Endpoint::Vm(VmIndex(0)), Endpoint::Vm(VmIndex(1)));
        let f = udp_frame(t, a, b, 0, 1_500);
        for k in 0..2_000u64 {
            one(&mut veb, a, f.clone(), k * 10_000);
        }
        let run = veb.finish().expect("finish");
        assert!(
            run.ledger
                .dropped
                .get(&DropReason::QueueFull)
                .is_some_and(|d| *d > 100),
            "{:?}",
            run.ledger
        );
        assert_eq!(run.ledger.delivered + run.ledger.dropped_total(), 2_000);
        let gbps = run.delivered_bytes as f64 * 8.0 / run.span().as_secs_f64() / 1e9;
        assert!(gbps > 30.0 && gbps < 63.0, "bounded by PCIe: {gbps}");
    }

    #[test]
    fn small_packets_flow_without_loss_below_line_rate() {
        let ctx = context(2, 0, 1, Vec::new());
        let mut veb = Box::new(SriovVeb::new(&ctx).expect("veb"));
        for p in offer_stream(&ctx.topology, 1_000, SimDuration::from_ns(100), 1) {
            veb.offer(p).expect("offer");
        }
        let run = veb.finish().expect("finish");
        assert_eq!(run.ledger.delivered, 1_000);
    }
}
