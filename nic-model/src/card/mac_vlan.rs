//! The card as an SR-IOV embedded bridge (VEB, [`LookupMode::MacVlan`]): the flow table
//! holds one entry per (ingress port, destination MAC, VLAN id), written at bring-up by
//! [`Card::install_mac_vlan`] before any traffic (a VEB's MAC/VLAN filters are programmed by
//! its physical function's driver when the virtual functions are created; that programming is
//! not timed). The lookup takes the same pipeline time and the same table as the flow-key
//! lookup; only the key differs ([`mac_vlan_key`]). There is no agent and no miss path: a
//! packet without an entry is flooded to every other port (unknown unicast), never held.
//!
//! [`LookupMode::MacVlan`]: super::LookupMode::MacVlan

use nic_abi::action::{Action, Destination, VlanOp};
use nic_abi::hash::key_hashes;
use nic_abi::key::{FlowKey, MacAddr, PortNo, VlanTci};
use nic_abi::parse::parse_card;
use nic_abi::time::SimTime;

use super::packet_store::PacketId;
use super::Card;
use crate::flow_table::{InsertError, InsertOutcome};
use crate::host::HostBus;

/// The key of a MAC/VLAN lookup: ingress port, destination MAC and the VLAN id of the
/// frame's outer tag (`None`: untagged); every other field zero.
pub fn mac_vlan_key(in_port: PortNo, dl_dst: MacAddr, vlan: Option<u16>) -> FlowKey {
    FlowKey {
        in_port,
        dl_dst,
        vlan: vlan.map_or(VlanTci::NONE, |vid| {
            VlanTci(VlanTci::PRESENT | (vid & 0x0fff))
        }),
        ..FlowKey::default()
    }
}

impl<H: HostBus> Card<H> {
    /// Writes the MAC/VLAN entry for frames entering on `in_port` to `dl_dst` in `vlan`
    /// (bring-up; see the module doc).
    pub fn install_mac_vlan(
        &mut self,
        in_port: PortNo,
        dl_dst: MacAddr,
        vlan: Option<u16>,
        action: Action,
    ) -> Result<InsertOutcome, InsertError> {
        self.table
            .insert(&mac_vlan_key(in_port, dl_dst, vlan), action)
    }

    /// The MAC/VLAN lookup of `pkt`: its entry's action, or a flood.
    pub(super) fn on_mac_vlan_lookup(&mut self, pkt: PacketId, now: SimTime) {
        let p = &self.packets[pkt];
        let parsed = parse_card(&p.frame, p.in_port);
        let vlan = parsed.vlan.is_present().then(|| parsed.vlan.vid());
        let words = mac_vlan_key(p.in_port, parsed.dl_dst, vlan).to_words();
        let len = p.len();
        let hashes = key_hashes(&words);
        self.packets[pkt].flow_hash = hashes[0];
        let action = match self.table.lookup_with_hashes(&words, hashes, len, now) {
            Some(action) => {
                self.counters.table_hits += 1;
                action
            }
            None => {
                self.counters.table_misses += 1;
                Action {
                    dest: Destination::Flood,
                    vlan: VlanOp::Keep,
                }
            }
        };
        self.apply(pkt, action, now);
    }
}
