//! How a packet ends: each copy reports done or failed; when the last copy is done the
//! packet ends delivered (to at least one port) or dropped with the reason of its last
//! failure. Its end updates the counters, frees its RX FIFO space, writes a VM packet's TX
//! completion, records its [`PacketOutcome`] when recording is on, and frees its slot in the
//! packet store.

use bytes::Bytes;
use nic_abi::action::Action;
use nic_abi::desc::{QueueIndex, RingIndex, TxStatus};
use nic_abi::key::{FlowKey, PortNo};
use nic_abi::time::SimTime;

use super::packet_store::{PacketId, Source};
use super::Card;
use crate::counters::DropReason;
use crate::host::HostBus;

/// Which packet a [`PacketOutcome`] is about, in terms its sender knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketOrigin {
    /// The `seq`-th packet offered from the wire (0-based, all MAC ports together, in
    /// [`Card::offer_from_wire`] call order), on `port`.
    Wire {
        /// The MAC port it entered on.
        port: PortNo,
        /// Wire packets offered before it.
        seq: u64,
    },
    /// The packet of TX descriptor `index` of queue pair `queue`.
    Vm {
        /// The queue pair.
        queue: QueueIndex,
        /// The descriptor's ring index.
        index: RingIndex,
    },
}

/// How one packet ended: delivered (to at least one port) or dropped, and when. The time of a
/// delivery is when its last copy was done: its RX completion written into the VM's ring, or
/// its last bit sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketOutcome {
    /// The packet.
    pub origin: PacketOrigin,
    /// Delivered, or the drop reason.
    pub result: Result<(), DropReason>,
    /// When it ended.
    pub at: SimTime,
    /// Its frame length (0 for a VM packet whose descriptor or data could not be read).
    pub len: usize,
}

/// A lookup that hit the flow table: which key, the action the entry gave, and when (the
/// lookup result's time, when the table was read). For checking, after the fact, that no
/// packet was forwarded by a stale entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableHit {
    /// When the table was read.
    pub at: SimTime,
    /// The packet's key.
    pub key: FlowKey,
    /// The entry's action.
    pub action: Action,
}

impl<H: HostBus> Card<H> {
    /// Turns recording of every table hit on or off ([`Card::take_table_hits`]). Off by
    /// default.
    pub fn record_table_hits(&mut self, on: bool) {
        match (on, self.hits.is_some()) {
            (true, false) => self.hits = Some(Vec::new()),
            (false, true) => self.hits = None,
            _ => {}
        }
    }

    /// Moves the table hits recorded since the last call into `out` (in time order).
    pub fn take_table_hits(&mut self, out: &mut Vec<TableHit>) {
        if let Some(v) = &mut self.hits {
            out.append(v);
        }
    }

    /// Turns recording of every packet's outcome on or off ([`Card::take_outcomes`]). Off by
    /// default (it costs a push per packet).
    pub fn record_outcomes(&mut self, on: bool) {
        match (on, self.outcomes.is_some()) {
            (true, false) => self.outcomes = Some(Vec::new()),
            (false, true) => self.outcomes = None,
            _ => {}
        }
    }

    /// Moves the outcomes recorded since the last call into `out` (in the order packets ended).
    pub fn take_outcomes(&mut self, out: &mut Vec<PacketOutcome>) {
        if let Some(v) = &mut self.outcomes {
            out.append(v);
        }
    }

    /// One copy of `pkt` is done (or failed); the last one ends the packet.
    pub(super) fn copy_done(
        &mut self,
        pkt: PacketId,
        result: Result<(), DropReason>,
        now: SimTime,
    ) {
        let p = &mut self.packets[pkt];
        match result {
            Ok(()) => p.any_delivered = true,
            Err(r) => p.last_failure = r,
        }
        p.pending = p.pending.saturating_sub(1);
        if p.pending == 0 {
            let outcome = if p.any_delivered {
                Ok(())
            } else {
                Err(p.last_failure)
            };
            self.finish_packet(pkt, outcome, now);
        }
    }

    /// The packet's end: counters, FIFO space, the TX completion of a VM's packet, and its
    /// slot in the packet store.
    pub(super) fn finish_packet(
        &mut self,
        pkt: PacketId,
        outcome: Result<(), DropReason>,
        now: SimTime,
    ) {
        let (source, fifo) = {
            let p = &mut self.packets[pkt];
            let fifo = p.fifo_bytes;
            p.fifo_bytes = 0;
            if let Some(log) = &mut self.outcomes {
                let origin = match p.source {
                    Source::Wire { .. } => PacketOrigin::Wire {
                        port: p.in_port,
                        seq: p.wire_seq,
                    },
                    Source::Vm { queue, index } => PacketOrigin::Vm { queue, index },
                };
                log.push(PacketOutcome {
                    origin,
                    result: outcome,
                    at: now,
                    len: p.frame.len(),
                });
            }
            p.frame = Bytes::new();
            (p.source, fifo)
        };
        match outcome {
            Ok(()) => self.counters.deliver(),
            Err(r) => self.counters.drop_packet(r),
        }
        match source {
            Source::Wire { mac } => self.macs[usize::from(mac)].fifo_pop(fifo),
            Source::Vm { queue, index } => {
                if outcome == Err(DropReason::BadDescriptor) {
                    self.mark_descriptor_refused(queue);
                }
                let status = match outcome {
                    // A VM learns only that its frame entered the switch (or why it could
                    // not be read), not where it went.
                    Err(DropReason::DmaFault) => TxStatus::DmaFault,
                    Err(DropReason::BadDescriptor) => TxStatus::BadDescriptor,
                    Ok(()) | Err(_) => TxStatus::Done,
                };
                self.tx_complete(queue, index, status, now);
            }
        }
        self.packets.remove(pkt);
    }
}
