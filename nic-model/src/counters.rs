//! Packet counters and the conservation law (invariant 1, *Conservation*, in `DESIGN.md`).
//!
//! Every packet that enters the card (from the wire or from a VM's TX queue) ends in exactly
//! one way, and the counters below do not overlap:
//!
//! ```text
//!   offered = delivered + sum(dropped[reason]) + in_flight
//! ```
//!
//! - `delivered`: the packet reached at least one port (a VM's RX queue or an uplink). A
//!   flooded packet counts once here; its copies are counted per port.
//! - `dropped[reason]`: the card discarded it, for the named reason.
//! - `in_flight`: still inside the card, including packets held for the flow-setup agent
//!   after a miss (the card reports them on the miss queue and keeps them until the agent's
//!   release command). After a drain with every held packet released it is zero.
//!
//! [`Counters::check`] verifies the law; the card calls it at the end of every run.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why the card dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The matching entry's action is Drop.
    RuleDrop,
    /// The MAC's receive FIFO had no room for the frame.
    RxFifoFull,
    /// The miss (exception) queue toward the agent had no free buffer.
    MissQueueFull,
    /// The destination VM had posted no receive buffer (or one too small for the packet).
    NoRxBuffer,
    /// A descriptor the host wrote does not decode (reserved bits, zero or out-of-range
    /// length, a buffer that wraps the address space).
    BadDescriptor,
    /// The agent's release command said drop: a drop decided in software (an unparsed key, a
    /// flow that got no entry), a rule whose actions the card cannot apply, or a packet over
    /// the agent's per-flow held limit. The card cannot tell which.
    AgentDrop,
    /// The frame is shorter than an Ethernet header or longer than the maximum frame, or a
    /// TX descriptor's length is zero or beyond the maximum.
    Malformed,
    /// The host refused one of the packet's DMA accesses (IOMMU or grant check).
    DmaFault,
    /// The action sends the packet to a port the card does not have, or back out of the port
    /// it came in on.
    NoSuchPort,
    /// Held for an agent that crashed: when the restarted agent asked for the held packets
    /// again (`CONTROL_REPLAY`), the miss ring had no room for this one's record.
    AgentRestart,
}

impl DropReason {
    /// Every reason, in a fixed order (the order reports print).
    pub const ALL: [DropReason; 10] = [
        DropReason::RuleDrop,
        DropReason::RxFifoFull,
        DropReason::MissQueueFull,
        DropReason::NoRxBuffer,
        DropReason::BadDescriptor,
        DropReason::AgentDrop,
        DropReason::Malformed,
        DropReason::DmaFault,
        DropReason::NoSuchPort,
        DropReason::AgentRestart,
    ];

    /// A short stable name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::RuleDrop => "rule_drop",
            DropReason::RxFifoFull => "rx_fifo_full",
            DropReason::MissQueueFull => "miss_queue_full",
            DropReason::NoRxBuffer => "no_rx_buffer",
            DropReason::BadDescriptor => "bad_descriptor",
            DropReason::AgentDrop => "agent_drop",
            DropReason::Malformed => "malformed",
            DropReason::DmaFault => "dma_fault",
            DropReason::NoSuchPort => "no_such_port",
            DropReason::AgentRestart => "agent_restart",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The card's packet counters (see the module doc for the law they keep).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Packets that entered the card: from the wire, plus from VMs' TX queues.
    pub offered: u64,
    /// Of `offered`, from the wire.
    pub offered_from_wire: u64,
    /// Of `offered`, from VMs.
    pub offered_from_host: u64,
    /// Packets delivered to at least one port.
    pub delivered: u64,
    /// Packets dropped, indexed as [`DropReason::ALL`].
    dropped: [u64; 10],
    /// Packets inside the card.
    pub in_flight: u64,
    /// Table lookups that hit.
    pub table_hits: u64,
    /// Table lookups that missed (including unparsed keys, never looked up).
    pub table_misses: u64,
    /// Copies delivered to VM RX queues.
    pub copies_to_vms: u64,
    /// Copies sent out of uplink ports.
    pub copies_to_wire: u64,
    /// Interrupts raised.
    pub interrupts: u64,
    /// Miss records written to the miss queue (a packet may be reported more than once if the
    /// agent asks for a relookup that misses again). Not an exit: the packet stays held.
    pub miss_records: u64,
    /// Packets released by the agent.
    pub releases: u64,
    /// Packets held for the agent now (including those waiting behind their flow's first
    /// packet).
    pub held: u64,
    /// Packets that waited behind their flow's pending setup, with no miss record of their
    /// own. Not an exit: they leave with the flow's first packet's release.
    pub behind_setup: u64,
    /// Completion records the host refused to accept (the packet's fate is unaffected).
    pub completion_faults: u64,
    /// Copy commands sent to the host's copy engine (inter-VM packets whose payload never
    /// crossed PCIe).
    pub copy_commands: u64,
    /// Release commands that did not decode, named no held packet, or could not be read.
    pub bad_releases: u64,
    /// Miss records written again for held packets at a restarted agent's request
    /// (`CONTROL_REPLAY`; also counted in `miss_records`).
    pub replayed_records: u64,
}

/// The conservation law did not hold. The run's results are not trustworthy; the counters are
/// attached so the report can show them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "conservation violated: offered {} != delivered {} + dropped {} + in_flight {} \
     (counters: {counters:?})",
    counters.offered, counters.delivered, counters.dropped_total(), counters.in_flight
)]
pub struct ConservationError {
    /// The counters at the time of the check.
    pub counters: Box<Counters>,
}

/// Packets were still inside the card at the end of a drained run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinishError {
    /// The law itself failed.
    #[error(transparent)]
    Conservation(#[from] ConservationError),
    /// The event engine failed during the run (an event could not be scheduled).
    #[error("the run cannot be trusted: {0}")]
    Engine(crate::engine::EngineError),
    /// The law held but packets remain in flight after the drain.
    #[error("{in_flight} packets still in flight after the drain")]
    NotDrained {
        /// Packets left inside the card.
        in_flight: u64,
    },
}

impl Counters {
    /// Packets dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Every drop counter, named.
    pub fn dropped_by_reason(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.dropped(r)))
    }

    /// Packets dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// A packet entered the card.
    pub(crate) fn enter(&mut self, from_wire: bool) {
        self.offered += 1;
        if from_wire {
            self.offered_from_wire += 1;
        } else {
            self.offered_from_host += 1;
        }
        self.in_flight += 1;
    }

    /// A packet in flight was dropped.
    pub(crate) fn drop_packet(&mut self, reason: DropReason) {
        self.dropped[reason.index()] += 1;
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A packet in flight was delivered.
    pub(crate) fn deliver(&mut self) {
        self.delivered += 1;
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Checks `offered = delivered + dropped + in_flight`.
    pub fn check(&self) -> Result<(), ConservationError> {
        let accounted = self.delivered + self.dropped_total() + self.in_flight;
        if accounted != self.offered
            || self.offered != self.offered_from_wire + self.offered_from_host
        {
            return Err(ConservationError {
                counters: Box::new(self.clone()),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn law_holds_through_every_exit() {
        let mut c = Counters::default();
        for _ in 0..5 {
            c.enter(true);
        }
        c.enter(false);
        c.deliver();
        c.drop_packet(DropReason::RuleDrop);
        c.drop_packet(DropReason::DmaFault);
        assert_eq!(c.in_flight, 3);
        c.check().expect("law holds");
        assert_eq!(c.dropped(DropReason::DmaFault), 1);
        assert_eq!(c.dropped_total(), 2);
        c.delivered += 1; // a bookkeeping bug
        let err = c.check().expect_err("law broken");
        assert!(err.to_string().contains("conservation violated"));
    }
}
