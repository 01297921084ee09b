//! Misses and releases: a packet without an entry (or with an unparsed key, or a `ToAgent`
//! action) is held on the card under a [`PacketHandle`] and a miss record (key, first bytes)
//! goes to the miss ring; the agent's release command (a typed call, or the release ring in
//! host memory) later says look it up again or apply an action.
//!
//! A table miss makes its key a *pending flow*, bounded by the held-packet buffer. Later
//! packets with a pending key wait on the card behind the first one, in arrival order, with
//! no miss record of their own (one record per flow setup), even once the entry is installed:
//! when the first packet's release arrives, it and every packet behind it go through the
//! lookup pipeline again, in order, and packets that reach the lookup while these are still
//! in the pipeline follow them (another pass), so no later packet of the flow overtakes an
//! earlier one (invariant 5, Order). A release that applies an action applies it to the
//! packets behind too.

use std::collections::VecDeque;

use nic_abi::action::Destination;
use nic_abi::desc::{
    MissFlags, MissReason, MissRecord, PacketHandle, QueueIndex, Release, ReleaseCommand,
    RingIndex, MISS_HEADER_BYTES,
};
use nic_abi::key::KeyWords;
use nic_abi::parse::parse_card;
use nic_abi::time::SimTime;

use super::config::MissQueueSetup;
use super::event::Event;
use super::interrupt::CAUSE_MISS;
use super::packet_store::{PacketId, Source};
use super::queues::Ring;
use super::{Card, CardError};
use crate::counters::DropReason;
use crate::dma::DmaEngine;
use crate::host::{HostBus, Iova, IrqVector, VmId};

/// A packet held for the agent: the packet, and the pending flow it heads (table misses).
#[derive(Debug, Clone, Copy)]
pub(super) struct HeldPacket {
    pkt: PacketId,
    heads: Option<KeyWords>,
    /// Why it was held (its record's reason).
    reason: MissReason,
    /// Its latest miss record has landed in the ring.
    written: bool,
}

/// A key being set up: its first packet is held for the agent, later ones wait behind it.
#[derive(Debug, Default)]
pub(super) struct PendingFlow {
    /// Packets of the flow after the first, in arrival order.
    behind: VecDeque<PacketId>,
    /// The first packet's release arrived: packets of the flow still in the pipeline for
    /// their second pass (until none is, later packets follow them).
    releasing: Option<u32>,
}

/// The miss ring toward the agent, as the card sees it.
#[derive(Debug)]
pub(super) struct MissQueue {
    vm: VmId,
    ring: Ring,
    /// Slots reserved for records (a record's write may still be in flight).
    producer: RingIndex,
    /// Records written, in slot order: what the `PRODUCER` register shows, so the agent
    /// never reads a slot before its record has landed.
    pub(super) published: RingIndex,
    /// When the latest record write completes (records land in slot order).
    last_write: SimTime,
    pub(super) consumer: RingIndex,
    vector: IrqVector,
}

impl MissQueue {
    /// Takes the ring's next slot for a record whose write starts at `now`: the slot, and
    /// when the record is visible. Posted writes of one ring land in order: a record is
    /// visible no earlier than the one before it (the DMA engine's channels could otherwise
    /// finish them out of order).
    fn claim_record_slot(&mut self, dma: &mut DmaEngine, now: SimTime) -> (RingIndex, SimTime) {
        let slot = self.producer;
        self.producer = self.producer.advance(1);
        let done = dma.write(now, MissRecord::SIZE as u64).max(self.last_write);
        self.last_write = done;
        (slot, done)
    }
}

impl<H: HostBus> Card<H> {
    /// Sets up the miss ring toward the agent.
    pub fn set_miss_queue(&mut self, setup: MissQueueSetup) -> Result<(), CardError> {
        self.miss = Some(MissQueue {
            vm: setup.vm,
            ring: Ring::new("miss ring", setup.ring)?,
            producer: RingIndex::default(),
            published: RingIndex::default(),
            last_write: SimTime::ZERO,
            consumer: RingIndex::default(),
            vector: setup.vector,
        });
        self.ensure_vector(setup.vector);
        Ok(())
    }

    /// The agent wrote the miss ring's consumer index (records up to `consumer` are read).
    pub fn miss_doorbell(&mut self, consumer: u16) {
        let now = self.now();
        self.dma.link_mut().mmio_write(now, 4);
        self.set_miss_consumer(RingIndex::new(consumer));
    }

    /// The miss consumer write has reached the card (its TLP already charged).
    pub(super) fn set_miss_consumer(&mut self, consumer: RingIndex) {
        if let Some(m) = &mut self.miss {
            m.consumer = consumer;
        }
    }

    /// The agent's release command for the held packet `handle`.
    pub fn release(&mut self, handle: PacketHandle, release: Release) -> Result<(), CardError> {
        if !self.held.contains_key(&handle) {
            return Err(CardError::NoSuchHandle(handle));
        }
        let now = self.now();
        let arrive = self.dma.link_mut().mmio_write(now, 16);
        self.events
            .schedule_at(arrive, Event::ReleaseArrived { handle, release })?;
        Ok(())
    }

    /// Handles of the packets held for the agent, in handle (arrival) order.
    pub fn held_handles(&self) -> Vec<PacketHandle> {
        let mut v: Vec<PacketHandle> = self.held.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// A parsed packet at the lookup: if its key is pending, it waits behind the flow's
    /// first packet (or, while the flow is being released, takes another pass through the
    /// pipeline behind the released ones); returns whether it was taken. A packet on its
    /// second pass is looked up normally and ends its flow's release when it is the last.
    pub(super) fn wait_behind_setup(
        &mut self,
        pkt: PacketId,
        words: &KeyWords,
        len: u64,
        now: SimTime,
    ) -> bool {
        let p = &mut self.packets[pkt];
        if std::mem::take(&mut p.setup_pass) {
            if let Some(flow) = self.pending.get_mut(words) {
                if let Some(n) = &mut flow.releasing {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.pending.remove(words);
                    }
                }
            }
            return false;
        }
        let Some(flow) = self.pending.get_mut(words) else {
            return false;
        };
        if let Some(n) = &mut flow.releasing {
            *n += 1;
            self.packets[pkt].setup_pass = true;
            let t = self.pipeline.process(now, len);
            self.schedule(t, Event::LookupDone { pkt });
            return true;
        }
        if self.counters.held >= u64::from(self.config.held_packets) {
            self.finish_packet(pkt, Err(DropReason::MissQueueFull), now);
            return true;
        }
        flow.behind.push_back(pkt);
        self.counters.held += 1;
        self.counters.behind_setup += 1;
        self.leave_rx_fifo(pkt);
        true
    }

    /// Makes the key of the packet just held for the agent under `handle` a pending flow
    /// headed by it.
    pub(super) fn start_pending(&mut self, handle: PacketHandle, words: KeyWords) {
        if self.pending.contains_key(&words) {
            // The flow is still being released (this packet missed on its second pass):
            // it is the agent's alone.
            return;
        }
        if let Some(h) = self.held.get_mut(&handle) {
            h.heads = Some(words);
            self.pending.insert(words, PendingFlow::default());
        }
    }

    /// Ends a pending flow whose first packet will not be released: the packets behind it
    /// end as `reason`.
    fn abandon_pending(&mut self, words: &KeyWords, reason: DropReason, now: SimTime) {
        if let Some(flow) = self.pending.remove(words) {
            for pkt in flow.behind {
                self.counters.held = self.counters.held.saturating_sub(1);
                self.finish_packet(pkt, Err(reason), now);
            }
        }
    }

    /// Holds `pkt` for the agent and writes its miss record; returns the handle it allotted,
    /// or `None` when it dropped the packet instead (no miss queue, the ring or the
    /// held-packet buffer full).
    pub(super) fn hold_for_agent(
        &mut self,
        pkt: PacketId,
        reason: MissReason,
        now: SimTime,
    ) -> Option<PacketHandle> {
        let held_limit = u64::from(self.config.held_packets);
        let Some(m) = &mut self.miss else {
            self.finish_packet(pkt, Err(DropReason::MissQueueFull), now);
            return None;
        };
        if m.producer.since(m.consumer) >= m.ring.entries() || self.counters.held >= held_limit {
            self.finish_packet(pkt, Err(DropReason::MissQueueFull), now);
            return None;
        }
        let (slot, done) = m.claim_record_slot(&mut self.dma, now);
        let handle = self.next_handle;
        self.next_handle = PacketHandle(handle.0.wrapping_add(1));
        self.held.insert(
            handle,
            HeldPacket {
                pkt,
                heads: None,
                reason,
                written: false,
            },
        );
        self.counters.held += 1;
        self.leave_rx_fifo(pkt);
        self.schedule(
            done,
            Event::MissWritten {
                pkt,
                handle,
                reason,
                slot,
            },
        );
        Some(handle)
    }

    /// The miss record's write is done: the record lands in the ring (and the producer
    /// register shows it) and the miss vector is raised; a record the host refuses drops the
    /// packet and the packets behind it.
    pub(super) fn on_miss_written(
        &mut self,
        pkt: PacketId,
        handle: PacketHandle,
        reason: MissReason,
        slot: RingIndex,
        now: SimTime,
    ) {
        let Some(m) = &self.miss else {
            return;
        };
        let (addr, agent_vm, vector) = (m.ring.addr(slot, MissRecord::SIZE), m.vm, m.vector);
        let p = &self.packets[pkt];
        let key = parse_card(&p.frame, p.in_port);
        let mut header = [0u8; MISS_HEADER_BYTES];
        let header_len = p.frame.len().min(MISS_HEADER_BYTES);
        header[..header_len].copy_from_slice(&p.frame[..header_len]);
        let (flags, vm, queue) = match p.source {
            Source::Wire { .. } => (MissFlags::NONE, VmId(0), QueueIndex(0)),
            Source::Vm { queue, .. } => (MissFlags(MissFlags::FROM_VM), self.vq(queue).vm, queue),
        };
        let record = MissRecord {
            in_port: p.in_port,
            flags,
            vm,
            queue,
            handle,
            packet_len: u16::try_from(p.frame.len()).unwrap_or(u16::MAX),
            header_len: u16::try_from(header_len).unwrap_or(u16::MAX),
            timestamp: p.arrival,
            reason,
            key: key.to_words(),
            header,
        };
        self.counters.miss_records += 1;
        if let Some(h) = self.held.get_mut(&handle) {
            h.written = true;
        }
        if let Some(m) = &mut self.miss {
            // Records land in slot order (see `hold_for_agent`), so this is the next one.
            m.published = slot.advance(1);
        }
        if self
            .host
            .dma_write(agent_vm, addr, &record.to_bytes())
            .is_err()
        {
            // The agent will never hear of this packet: drop it now rather than hold it
            // forever, and the packets waiting behind it.
            if let Some(HeldPacket {
                heads: Some(words), ..
            }) = self.held.remove(&handle)
            {
                self.abandon_pending(&words, DropReason::DmaFault, now);
            }
            self.counters.held = self.counters.held.saturating_sub(1);
            self.finish_packet(pkt, Err(DropReason::DmaFault), now);
            return;
        }
        self.raise(vector, CAUSE_MISS, now);
    }

    /// A release command reached the card: the held packet (and, heading a pending flow, the
    /// packets behind it) is looked up again or has the action applied.
    pub(super) fn on_release(&mut self, handle: PacketHandle, release: Release, now: SimTime) {
        let Some(HeldPacket { pkt, heads, .. }) = self.held.remove(&handle) else {
            self.counters.bad_releases += 1;
            return;
        };
        self.counters.held = self.counters.held.saturating_sub(1);
        self.counters.releases += 1;
        // The first packet of a pending flow brings the packets behind it.
        let behind = match heads.and_then(|w| self.pending.get_mut(&w).map(|f| (w, f))) {
            Some((words, flow)) => {
                let behind = std::mem::take(&mut flow.behind);
                if matches!(release, Release::Relookup) {
                    let in_pipeline = u32::try_from(behind.len() + 1).unwrap_or(u32::MAX);
                    flow.releasing = Some(in_pipeline);
                } else {
                    self.pending.remove(&words);
                }
                behind
            }
            None => VecDeque::new(),
        };
        self.counters.held = self.counters.held.saturating_sub(behind.len() as u64);
        for pkt in std::iter::once(pkt).chain(behind) {
            match release {
                Release::Relookup => {
                    let p = &mut self.packets[pkt];
                    p.setup_pass = heads.is_some();
                    let len = p.len();
                    let t = self.pipeline.process(now, len);
                    self.schedule(t, Event::LookupDone { pkt });
                }
                Release::Apply(action) => {
                    if action.dest == Destination::Drop {
                        self.finish_packet(pkt, Err(DropReason::AgentDrop), now);
                    } else if action.dest == Destination::ToAgent {
                        // The agent cannot send a packet back to itself: that would hold it
                        // forever.
                        self.finish_packet(pkt, Err(DropReason::AgentDrop), now);
                    } else {
                        self.apply(pkt, action, now);
                    }
                }
            }
        }
    }

    /// The release ring's doorbell: fetch the new commands (up to the ring's end) by DMA.
    pub(super) fn on_release_doorbell(&mut self, now: SimTime) {
        let r = &self.regs;
        let size = u16::try_from(r.release_size).unwrap_or(0);
        if !size.is_power_of_two() || self.release_fetching {
            return;
        }
        let pending = r.release_producer.since(r.release_consumer).min(size);
        if pending == 0 {
            return;
        }
        let first = r.release_consumer;
        let slot = first.value() & (size - 1);
        let n = pending.min(size - slot);
        self.regs.release_consumer = first.advance(n);
        self.release_fetching = true;
        let done = self
            .dma
            .read(now, u64::from(n) * ReleaseCommand::SIZE as u64);
        self.schedule(done, Event::ReleasesFetched { first, count: n });
    }

    /// Release commands are on the card: apply them in ring order.
    pub(super) fn on_releases_fetched(&mut self, first: RingIndex, count: u16, now: SimTime) {
        self.release_fetching = false;
        let size = u16::try_from(self.regs.release_size).unwrap_or(1).max(1);
        let base = self.regs.release_base;
        let slot = first.value() & (size - 1);
        let addr = Iova(base.wrapping_add(u64::from(slot) * ReleaseCommand::SIZE as u64));
        let mut buf = vec![0u8; usize::from(count) * ReleaseCommand::SIZE];
        if self.host.dma_read(VmId(0), addr, &mut buf).is_ok() {
            for chunk in buf.chunks_exact(ReleaseCommand::SIZE) {
                match ReleaseCommand::try_from(chunk) {
                    Ok(cmd) => self.on_release(cmd.handle, cmd.release, now),
                    Err(_) => self.counters.bad_releases += 1,
                }
            }
        } else {
            self.counters.bad_releases += u64::from(count);
        }
        if std::mem::take(&mut self.replay_after_fetch) {
            self.replay_held(now);
        }
        self.on_release_doorbell(now);
    }

    /// The typed form of the miss queue's `CONTROL_REPLAY` bit (`nic_abi::regs::miss_queue::
    /// CONTROL_REPLAY`): a restarted agent asks for a fresh miss record of every held packet
    /// whose record has landed, in arrival order; one that finds the ring full is dropped as
    /// [`DropReason::AgentRestart`]. Effective at the card's current time.
    pub fn replay_held_packets(&mut self) {
        let now = self.now();
        self.schedule(now, Event::ReplayHeld);
    }

    /// `CONTROL_REPLAY` reached the card: replay now, or after the release fetch in flight
    /// (its releases are applied first, so no released packet is replayed).
    pub(super) fn on_replay_request(&mut self, now: SimTime) {
        if self.release_fetching {
            self.replay_after_fetch = true;
        } else {
            self.replay_held(now);
        }
    }

    /// Writes a fresh miss record, under the same handle, for every held packet whose record
    /// has landed, in handle (arrival) order; a packet whose record finds the ring full is
    /// dropped as [`DropReason::AgentRestart`], with the packets waiting behind it.
    fn replay_held(&mut self, now: SimTime) {
        let mut handles: Vec<PacketHandle> = self
            .held
            .iter()
            .filter(|(_, h)| h.written)
            .map(|(k, _)| *k)
            .collect();
        handles.sort_unstable();
        for handle in handles {
            let Some(h) = self.held.get(&handle).copied() else {
                continue;
            };
            let Some(m) = &mut self.miss else {
                return;
            };
            if m.producer.since(m.consumer) >= m.ring.entries() {
                self.held.remove(&handle);
                self.counters.held = self.counters.held.saturating_sub(1);
                if let Some(words) = h.heads {
                    self.abandon_pending(&words, DropReason::AgentRestart, now);
                }
                self.finish_packet(h.pkt, Err(DropReason::AgentRestart), now);
                continue;
            }
            let (slot, done) = m.claim_record_slot(&mut self.dma, now);
            if let Some(x) = self.held.get_mut(&handle) {
                x.written = false;
            }
            self.counters.replayed_records += 1;
            self.schedule(
                done,
                Event::MissWritten {
                    pkt: h.pkt,
                    handle,
                    reason: h.reason,
                    slot,
                },
            );
        }
    }
}
