//! An SR-IOV NIC's embedded bridge (VEB): each VM drives its own virtual function, and the
//! NIC switches between VFs and the uplink by destination MAC and VLAN.
//!
//! **One NIC model.** The VEB is `nic-model`'s card in its VEB configuration
//! (`LookupMode::MacVlan`), assembled with the same host, driver and guests as the sNICh
//! system by `snich_system::assemble::SystemSpec::assemble_veb` and run by the same
//! [`SnichSwitch`]: the same DMA engine, descriptor batching, doorbells, interrupt moderation
//! and PCIe accounting, the same guest queues (a full TX ring drops, `queue_full`) and the
//! same interrupt costs for guests whose queues are directly assigned. What differs is the
//! lookup: a MAC/VLAN table written at bring-up through the card's bring-up API
//! (`Card::install_mac_vlan`, not timed: a VEB's filters are programmed when its VFs are
//! created), with no agent and no flow setups; inter-VM packets are hairpinned (the frame
//! crosses PCIe to the card and back). The scenario's cost profile prices nothing here: the
//! card's times are its configuration's, the host's the driver's, as for sNICh.
//!
//! **The table.** For each ingress port (each VM's, its frames untagged; the uplink, in every
//! VLAN of the topology and untagged) and each destination MAC of the topology (and the
//! broadcast address), one entry with [`L2Fabric`]'s decision, the one every baseline
//! forwards by: output to the VM or the uplink, or a flood. A destination the frame may not
//! reach (another VLAN, its own port) has an entry that outputs to the ingress port, which
//! the card drops as `no_such_port`. A MAC without an entry is flooded by the card to every
//! other port, without VLAN scoping (the topologies' workloads send to known addresses).
//!
//! **Rules.** A VEB filters only by MAC and VLAN. Rules that match nothing but `in_port`,
//! `dl_src`, `dl_dst` and the VLAN are enforced in the entries (a winning rule without
//! actions makes the entry drop, `rule_drop`; any other lets the frame through to its
//! MAC-table destination): an entry of a VM's port is judged with that VM's MAC as `dl_src`
//! (the VF's anti-spoofing check pins it), an entry of the uplink drops only when the rules
//! drop frames from every external host. Every other rule is not enforced:
//! `extra.rules_not_enforced` counts them, and `extra.packets_against_rules` counts packets
//! the VEB delivered that the full rule set would have dropped (the flow-setup classifier's
//! verdict over all rules).

use std::collections::BTreeSet;

use flow_setup::classifier::{rule_id, Classifier, SplitTree};
use flow_setup::rule::{Field, Point, Rule};
use nic_abi::action::{Action, Destination, VlanOp};
use nic_abi::key::{FlowKey, MacAddr, PortNo, VlanTci};
use nic_abi::parse::parse_software;
use snich_system::assemble::MacVlanEntry;

use crate::baselines::l2::{Egress, L2Decision, L2Fabric};
use crate::snich_switch::SnichSwitch;
use crate::switch::{
    Endpoint, ExternalHostIndex, OfferedPacket, SwitchContext, SwitchError, SwitchRun,
    SwitchUnderTest, Topology, VmIndex, UPLINK_PORT,
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
                Field::InPort | Field::DlDst | Field::DlSrc | Field::VlanTci
            )
        })
        .all(|f| rule.pattern.get(*f).is_any())
}

/// A rule set and which of its rules (by id) drop.
#[derive(Debug)]
struct RuleVerdicts {
    tree: SplitTree,
    drops: Vec<bool>,
    len: usize,
}

impl RuleVerdicts {
    /// The rules of `rules` that `keep` selects (ids are their places in `rules`).
    fn new(rules: &[Rule], keep: impl Fn(&Rule) -> bool) -> Result<RuleVerdicts, SwitchError> {
        let kept: Vec<_> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| keep(r))
            .map(|(i, r)| (rule_id(i), r.priority, &r.pattern))
            .collect();
        let len = kept.len();
        let mut tree = SplitTree::new();
        tree.bulk_insert(kept)
            .map_err(|e| SwitchError::Internal(format!("{NAME}: rules: {e}")))?;
        Ok(RuleVerdicts {
            tree,
            drops: rules.iter().map(|r| r.actions.is_empty()).collect(),
            len,
        })
    }

    /// True when the winning rule at `p` drops.
    fn drops(&self, p: &Point) -> bool {
        self.len > 0
            && self
                .tree
                .lookup(p)
                .and_then(|id| self.drops.get(usize::try_from(id.0).ok()?))
                .copied()
                .unwrap_or(false)
    }
}

/// A frame's L2 header as a flow key, for the L2 decision and the L2 rules.
fn l2_key(in_port: PortNo, dl_src: MacAddr, dl_dst: MacAddr, vlan: Option<u16>) -> FlowKey {
    FlowKey {
        in_port,
        dl_src,
        dl_dst,
        vlan: vlan.map_or(VlanTci::NONE, |v| VlanTci::new(v, 0)),
        ..FlowKey::default()
    }
}

/// An ingress port's senders: endpoint, port, their source MACs, the VLANs of their frames.
type Sender = (Endpoint, PortNo, Vec<MacAddr>, Vec<Option<u16>>);

/// The keys of the VEB's MAC/VLAN table for `topology`, in the order bring-up writes them
/// (what the scenario checks against the card's table before any switch runs).
pub fn mac_vlan_keys(topology: &Topology) -> Vec<FlowKey> {
    let no_filters = RuleVerdicts {
        tree: SplitTree::new(),
        drops: Vec::new(),
        len: 0,
    };
    mac_vlan_entries(topology, &no_filters)
        .iter()
        .map(|e| nic_model::card::mac_vlan_key(e.in_port, e.dl_dst, e.vlan))
        .collect()
}

/// The VEB's MAC/VLAN table for `topology` under the L2 rules `filters` (see the module doc).
fn mac_vlan_entries(topology: &Topology, filters: &RuleVerdicts) -> Vec<MacVlanEntry> {
    let l2 = L2Fabric::new(topology);
    let dsts: BTreeSet<MacAddr> = topology
        .vms
        .iter()
        .map(|v| v.mac)
        .chain(topology.external_hosts.iter().map(|h| h.mac))
        .chain([MacAddr::BROADCAST])
        .collect();
    let vlans: BTreeSet<Option<u16>> = [None]
        .into_iter()
        .chain(topology.vms.iter().filter_map(|v| v.vlan).map(Some))
        .collect();
    let mut senders: Vec<Sender> = topology
        .vms
        .iter()
        .zip(0u16..)
        .map(|(v, i)| {
            let from = Endpoint::Vm(VmIndex(i));
            (from, Topology::ingress_port(from), vec![v.mac], vec![None])
        })
        .collect();
    if !topology.external_hosts.is_empty() {
        senders.push((
            Endpoint::External(ExternalHostIndex(0)),
            UPLINK_PORT,
            topology.external_hosts.iter().map(|h| h.mac).collect(),
            vlans.into_iter().collect(),
        ));
    }
    let mut entries = Vec::new();
    for (from, in_port, srcs, frame_vlans) in &senders {
        for &vlan in frame_vlans {
            for &dl_dst in &dsts {
                let filtered = srcs
                    .iter()
                    .all(|&src| filters.drops(&Point::from(&l2_key(*in_port, src, dl_dst, vlan))));
                let key = l2_key(*in_port, MacAddr::default(), dl_dst, vlan);
                let dest = if filtered {
                    Destination::Drop
                } else {
                    match l2.forward(*from, &key) {
                        L2Decision::Forward(egress) => match egress.as_slice() {
                            [Egress::Vm(vm)] => Destination::Output(Topology::vm_port(*vm)),
                            [Egress::Uplink] => Destination::Output(UPLINK_PORT),
                            _ => Destination::Flood,
                        },
                        // Nowhere it may go: its own port, which the card refuses.
                        L2Decision::Drop(_) => Destination::Output(*in_port),
                    }
                };
                entries.push(MacVlanEntry {
                    in_port: *in_port,
                    dl_dst,
                    vlan,
                    action: Action {
                        dest,
                        vlan: VlanOp::Keep,
                    },
                });
            }
        }
    }
    entries
}

/// The SR-IOV VEB baseline: the card in its VEB configuration under the sNICh system's
/// guests and host.
#[derive(Debug)]
pub struct SriovVeb {
    system: SnichSwitch,
    /// Every rule, to count what the VEB delivers against them.
    all_rules: RuleVerdicts,
    rules_not_enforced: u64,
}

impl SriovVeb {
    /// The VEB for `ctx`: the card per `ctx.card` in its VEB configuration (its inter-VM path
    /// is always hairpin, whatever `ctx.inter_vm` says), the scenario's host and guests.
    pub fn new(ctx: &SwitchContext) -> Result<SriovVeb, SwitchError> {
        let filters = RuleVerdicts::new(&ctx.rules, is_l2_rule)?;
        let all_rules = RuleVerdicts::new(&ctx.rules, |_| true)?;
        let entries = mac_vlan_entries(&ctx.topology, &filters);
        let system = SnichSwitch::assembled(NAME, ctx, |spec| spec.assemble_veb(&entries))?;
        Ok(SriovVeb {
            system,
            rules_not_enforced: (all_rules.len - filters.len) as u64,
            all_rules,
        })
    }
}

impl SwitchUnderTest for SriovVeb {
    fn name(&self) -> String {
        NAME.into()
    }

    fn offer(&mut self, p: OfferedPacket) -> Result<(), SwitchError> {
        let against_rules = self.rules_not_enforced > 0 && {
            let key = parse_software(&p.frame, Topology::ingress_port(p.from));
            self.all_rules.drops(&Point::from(&key))
        };
        self.system.offer_marked(p, against_rules)
    }

    fn finish(self: Box<Self>) -> Result<SwitchRun, SwitchError> {
        let (mut run, against_rules) = self.system.finish_marked()?;
        run.extra
            .insert("rules_not_enforced".into(), self.rules_not_enforced);
        run.extra
            .insert("packets_against_rules".into(), against_rules);
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testing::{context, offer_stream, udp_frame, udp_frame_ports};
    use crate::switch::DropReason;
    use flow_setup::rule::{Action as RuleAction, MatchBuilder};
    use nic_abi::time::{SimDuration, SimTime};

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
            assert_eq!(run.flow_setups, 0, "no agent");
            assert_eq!(run.extra["miss_records"], 0);
            assert_eq!(run.extra["copies"], 0, "never the copy engine");
            run.pcie_bytes
        };
        let hairpin = bytes_of(a, b);
        let to_wire = bytes_of(a, x);
        let from_wire = bytes_of(x, a);
        // The frame crosses once to or from the wire, twice when hairpinned.
        assert!(
            to_wire > 1_000 && from_wire > 1_000,
            "{to_wire} {from_wire}"
        );
        assert!(hairpin > 2_000, "{hairpin}");
        assert!(hairpin > to_wire + 900 && hairpin > from_wire + 900);
    }

    #[test]
    fn the_table_has_an_entry_per_port_destination_and_vlan() {
        let mut t = context(3, 2, 1, Vec::new()).topology;
        t.vms[2].vlan = Some(7);
        let filters = RuleVerdicts::new(&[], |_| true).expect("no rules");
        let entries = mac_vlan_entries(&t, &filters);
        // 3 VM ports x 6 destinations (3 VMs, 2 hosts, broadcast), and the uplink in the
        // untagged domain and VLAN 7 x 6.
        assert_eq!(entries.len(), 3 * 6 + 2 * 6);
        let find = |port: PortNo, dst: MacAddr, vlan: Option<u16>| {
            entries
                .iter()
                .find(|e| e.in_port == port && e.dl_dst == dst && e.vlan == vlan)
                .expect("entry")
                .action
                .dest
        };
        let (p0, p2) = (Topology::vm_port(VmIndex(0)), Topology::vm_port(VmIndex(2)));
        assert_eq!(
            find(p0, t.vms[1].mac, None),
            Destination::Output(Topology::vm_port(VmIndex(1)))
        );
        assert_eq!(
            find(p0, t.external_hosts[0].mac, None),
            Destination::Output(UPLINK_PORT)
        );
        assert_eq!(find(p0, MacAddr::BROADCAST, None), Destination::Flood);
        // Another VLAN, or its own address: back to the ingress port, which the card refuses.
        assert_eq!(find(p0, t.vms[2].mac, None), Destination::Output(p0));
        assert_eq!(find(p2, t.vms[2].mac, None), Destination::Output(p2));
        assert_eq!(
            find(UPLINK_PORT, t.vms[2].mac, Some(7)),
            Destination::Output(p2)
        );
        assert_eq!(
            find(UPLINK_PORT, t.vms[2].mac, None),
            Destination::Output(UPLINK_PORT)
        );
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
            vec![RuleAction::Normal],
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
        assert!(gbps > 20.0 && gbps < 63.0, "bounded by PCIe: {gbps}");
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
