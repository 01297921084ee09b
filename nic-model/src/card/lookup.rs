//! The lookup and the action: a packet whose lookup result is valid is parsed, waits behind
//! its flow's setup if its key is pending, else hits (the entry's action applies) or misses
//! (held for the agent); in the VEB configuration the lookup is `mac_vlan`'s instead. An action drops the packet, holds it for the agent, or edits its
//! VLAN tag and sends a copy to each target port (one for `output`, all others for `flood`).

use nic_abi::action::{Action, Destination, VlanOp};
use nic_abi::desc::{MissReason, QueueIndex};
use nic_abi::hash::key_hashes;
use nic_abi::parse::parse_card;
use nic_abi::time::SimTime;

use super::config::LookupMode;
use super::packet_store::PacketId;
use super::vlan::apply_vlan_op;
use super::{Card, PortTarget};
use crate::counters::DropReason;
use crate::host::HostBus;

impl<H: HostBus> Card<H> {
    /// The lookup result of `pkt` is valid: decide its path.
    pub(super) fn on_lookup(&mut self, pkt: PacketId, now: SimTime) {
        if self.config.lookup == LookupMode::MacVlan {
            self.on_mac_vlan_lookup(pkt, now);
            return;
        }
        let p = &self.packets[pkt];
        let key = parse_card(&p.frame, p.in_port);
        let len = p.len();
        if !key.is_parsed() {
            self.counters.table_misses += 1;
            self.hold_for_agent(pkt, MissReason::UnparsedKey, now);
            return;
        }
        let words = key.to_words();
        if self.wait_behind_setup(pkt, &words, len, now) {
            return;
        }
        let hashes = key_hashes(&words);
        self.packets[pkt].flow_hash = hashes[0];
        match self.table.lookup_with_hashes(&words, hashes, len, now) {
            Some(action) => {
                self.counters.table_hits += 1;
                if let Some(log) = &mut self.hits {
                    log.push(super::TableHit {
                        at: now,
                        key,
                        action,
                    });
                }
                self.apply(pkt, action, now);
            }
            None => {
                self.counters.table_misses += 1;
                if let Some(handle) = self.hold_for_agent(pkt, MissReason::TableMiss, now) {
                    self.start_pending(handle, words);
                }
            }
        }
    }

    /// Applies `action` to `pkt`.
    pub(super) fn apply(&mut self, pkt: PacketId, action: Action, now: SimTime) {
        let in_port = self.packets[pkt].in_port;
        let targets: Vec<PortTarget> = match action.dest {
            Destination::Drop => {
                self.finish_packet(pkt, Err(DropReason::RuleDrop), now);
                return;
            }
            Destination::ToAgent => {
                self.hold_for_agent(pkt, MissReason::ToAgent, now);
                return;
            }
            Destination::Output(port) => {
                let t = self
                    .ports
                    .get(usize::from(port.0))
                    .copied()
                    .unwrap_or(PortTarget::None);
                if port == in_port || t == PortTarget::None {
                    self.finish_packet(pkt, Err(DropReason::NoSuchPort), now);
                    return;
                }
                // The common case, without building a target list.
                self.edit_vlan(pkt, action.vlan);
                self.packets[pkt].pending = 1;
                self.copy_to(pkt, t, now);
                return;
            }
            Destination::Flood => {
                let mut v: Vec<PortTarget> = (0..self.macs.len())
                    .filter(|&i| usize::from(in_port.0) != i + 1)
                    .filter_map(|i| u8::try_from(i).ok().map(PortTarget::Mac))
                    .collect();
                v.extend(
                    self.queues
                        .iter()
                        .enumerate()
                        .filter(|(_, q)| q.enabled && q.port != in_port)
                        .filter_map(|(i, _)| {
                            u16::try_from(i)
                                .ok()
                                .map(|i| PortTarget::Queue(QueueIndex(i)))
                        }),
                );
                if v.is_empty() {
                    self.finish_packet(pkt, Err(DropReason::NoSuchPort), now);
                    return;
                }
                v
            }
        };
        self.edit_vlan(pkt, action.vlan);
        self.packets[pkt].pending = u16::try_from(targets.len()).unwrap_or(u16::MAX);
        for t in targets {
            self.copy_to(pkt, t, now);
        }
    }

    /// Applies an action's VLAN edit to the packet's frame (nothing for [`VlanOp::Keep`]).
    #[inline]
    fn edit_vlan(&mut self, pkt: PacketId, op: VlanOp) {
        if op != VlanOp::Keep {
            let p = &mut self.packets[pkt];
            p.frame = apply_vlan_op(&p.frame, op);
            p.edited = true;
        }
    }

    /// Sends one copy of `pkt` toward port target `t`.
    #[inline]
    fn copy_to(&mut self, pkt: PacketId, t: PortTarget, now: SimTime) {
        match t {
            PortTarget::Mac(m) => self.copy_to_wire(pkt, m, now),
            PortTarget::Queue(q) => self.copy_to_vm(pkt, q, now),
            PortTarget::None => self.copy_done(pkt, Err(DropReason::NoSuchPort), now),
        }
    }
}
