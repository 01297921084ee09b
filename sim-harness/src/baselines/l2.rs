//! Layer-2 forwarding shared by the baselines: where a frame goes by its destination MAC and
//! VLAN, as a learning bridge that has learnt every address of the topology does.
//!
//! Every baseline learns the same addresses (the scenario's VMs and external hosts), so the
//! MAC table is built once from the [`Topology`]: no learning phase, no ageing. A VM with a
//! VLAN is an access port of it; an untagged VM is in the untagged domain. A frame from the
//! wire is in the VLAN of its outer tag (or untagged). A frame reaches only ports of its own
//! VLAN (the uplink carries every VLAN); group or unknown destinations are flooded to every
//! other port of the VLAN. A frame is never sent back out of the port it came in on.

use std::collections::HashMap;

use nic_abi::key::{FlowKey, MacAddr};

use crate::switch::{DropReason, Endpoint, Topology, VmIndex};

/// Where a baseline sends a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Egress {
    /// Into a VM's receive ring.
    Vm(VmIndex),
    /// Out of the uplink onto the wire.
    Uplink,
}

/// The outcome of an L2 lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L2Decision {
    /// Send to these ports (one for a known unicast address, several for a flood).
    Forward(Vec<Egress>),
    /// Nothing to send to, for this reason (`vlan_mismatch`, `no_egress`).
    Drop(DropReason),
}

/// The MAC table and VLAN membership of a topology.
#[derive(Debug, Clone)]
pub struct L2Fabric {
    by_mac: HashMap<MacAddr, Endpoint>,
    vm_vlans: Vec<Option<u16>>,
}

impl L2Fabric {
    /// The fabric of `topology` (the first owner of a duplicated MAC wins, as
    /// [`Topology::endpoint_of_mac`] does).
    pub fn new(topology: &Topology) -> L2Fabric {
        let mut by_mac = HashMap::new();
        for (i, vm) in topology.vms.iter().enumerate() {
            if let Ok(i) = u16::try_from(i) {
                by_mac.entry(vm.mac).or_insert(Endpoint::Vm(VmIndex(i)));
            }
        }
        for (i, h) in topology.external_hosts.iter().enumerate() {
            if let Ok(i) = u16::try_from(i) {
                by_mac
                    .entry(h.mac)
                    .or_insert(Endpoint::External(crate::switch::ExternalHostIndex(i)));
            }
        }
        L2Fabric {
            by_mac,
            vm_vlans: topology.vms.iter().map(|v| v.vlan).collect(),
        }
    }

    /// Number of VMs.
    pub fn vm_count(&self) -> usize {
        self.vm_vlans.len()
    }

    /// The owner of `mac`, if the topology has one.
    pub fn endpoint_of_mac(&self, mac: MacAddr) -> Option<Endpoint> {
        if mac.is_multicast() {
            return None;
        }
        self.by_mac.get(&mac).copied()
    }

    /// The VLAN a frame from `from` with key `key` belongs to.
    pub fn vlan_of(&self, from: Endpoint, key: &FlowKey) -> Option<u16> {
        match from {
            Endpoint::Vm(vm) => self.vm_vlans.get(usize::from(vm.0)).copied().flatten(),
            Endpoint::External(_) => key.vlan.is_present().then(|| key.vlan.vid()),
        }
    }

    /// Where a frame from `from` with key `key` goes.
    pub fn forward(&self, from: Endpoint, key: &FlowKey) -> L2Decision {
        let vlan = self.vlan_of(from, key);
        match self.endpoint_of_mac(key.dl_dst) {
            Some(Endpoint::Vm(vm)) => {
                if Endpoint::Vm(vm) == from {
                    L2Decision::Drop(DropReason::NoEgress)
                } else if self.vm_vlans.get(usize::from(vm.0)).copied().flatten() != vlan {
                    L2Decision::Drop(DropReason::VlanMismatch)
                } else {
                    L2Decision::Forward(vec![Egress::Vm(vm)])
                }
            }
            Some(Endpoint::External(_)) => match from {
                Endpoint::Vm(_) => L2Decision::Forward(vec![Egress::Uplink]),
                // The FDB puts the destination behind the port the frame came in on.
                Endpoint::External(_) => L2Decision::Drop(DropReason::NoEgress),
            },
            None => self.flood(from, vlan),
        }
    }

    /// Every port of `vlan` except the one `from` came in on.
    pub fn flood(&self, from: Endpoint, vlan: Option<u16>) -> L2Decision {
        let mut out: Vec<Egress> = self
            .vm_vlans
            .iter()
            .enumerate()
            .filter(|(_, v)| **v == vlan)
            .filter_map(|(i, _)| u16::try_from(i).ok().map(VmIndex))
            .filter(|vm| Endpoint::Vm(*vm) != from)
            .map(Egress::Vm)
            .collect();
        if matches!(from, Endpoint::Vm(_)) {
            out.push(Egress::Uplink);
        }
        if out.is_empty() {
            L2Decision::Drop(DropReason::NoEgress)
        } else {
            L2Decision::Forward(out)
        }
    }

    /// Every port except the one `from` came in on, whatever the VLAN (OpenFlow `flood`).
    pub fn all_ports_except(&self, from: Endpoint) -> Vec<Egress> {
        let mut out: Vec<Egress> = (0..self.vm_vlans.len())
            .filter_map(|i| u16::try_from(i).ok().map(VmIndex))
            .filter(|vm| Endpoint::Vm(*vm) != from)
            .map(Egress::Vm)
            .collect();
        if matches!(from, Endpoint::Vm(_)) {
            out.push(Egress::Uplink);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testing::{key_to, topology};
    use crate::switch::ExternalHostIndex;

    #[test]
    fn unicast_goes_to_its_owner_and_unknown_is_flooded() {
        let t = topology(3, 1);
        let l2 = L2Fabric::new(&t);
        let from = Endpoint::Vm(VmIndex(0));
        assert_eq!(
            l2.forward(from, &key_to(t.vms[2].mac)),
            L2Decision::Forward(vec![Egress::Vm(VmIndex(2))])
        );
        assert_eq!(
            l2.forward(from, &key_to(t.external_hosts[0].mac)),
            L2Decision::Forward(vec![Egress::Uplink])
        );
        assert_eq!(
            l2.forward(from, &key_to(MacAddr([0xff; 6]))),
            L2Decision::Forward(vec![
                Egress::Vm(VmIndex(1)),
                Egress::Vm(VmIndex(2)),
                Egress::Uplink
            ])
        );
        let wire = Endpoint::External(ExternalHostIndex(0));
        assert_eq!(
            l2.forward(wire, &key_to(t.external_hosts[0].mac)),
            L2Decision::Drop(DropReason::NoEgress)
        );
        assert_eq!(
            l2.forward(from, &key_to(t.vms[0].mac)),
            L2Decision::Drop(DropReason::NoEgress)
        );
    }

    #[test]
    fn vlans_separate_vms() {
        let mut t = topology(3, 0);
        t.vms[1].vlan = Some(7);
        let l2 = L2Fabric::new(&t);
        let from = Endpoint::Vm(VmIndex(0));
        assert_eq!(
            l2.forward(from, &key_to(t.vms[1].mac)),
            L2Decision::Drop(DropReason::VlanMismatch)
        );
        assert_eq!(
            l2.forward(from, &key_to(MacAddr([0xff; 6]))),
            L2Decision::Forward(vec![Egress::Vm(VmIndex(2)), Egress::Uplink])
        );
    }
}
