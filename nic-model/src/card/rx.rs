//! Out to a VM: a copy of a packet takes the VM's next RX descriptor (fetched in batches and
//! prefetched), then either the card writes the packet and its completion by DMA (posted
//! writes, in order), or, VM to VM, the host's copy engine copies it and the card writes the
//! completion; the queue's RX interrupt is raised through moderation.

use nic_abi::desc::{
    CopyCommand, CopyCompletion, QueueIndex, RingIndex, RxCompletion, RxDescriptor, RxStatus,
};
use nic_abi::time::SimTime;

use super::config::InterVmPath;
use super::event::{Delivery, Event, RxSlot};
use super::interrupt::CAUSE_RX;
use super::packet_store::{PacketId, Source};
use super::{Card, CardError};
use crate::counters::DropReason;
use crate::host::{HostBus, VmId};

impl<H: HostBus> Card<H> {
    /// The host wrote queue `q`'s RX producer index (buffers posted up to, not including,
    /// `producer`). Takes effect at once (a posted register write).
    pub fn rx_doorbell(&mut self, q: QueueIndex, producer: u16) -> Result<(), CardError> {
        let now = self.now();
        self.dma.link_mut().mmio_write(now, 4);
        self.set_rx_producer(q, RingIndex::new(producer))
    }

    /// The RX producer write has reached the card (its TLP already charged).
    pub(super) fn set_rx_producer(
        &mut self,
        q: QueueIndex,
        producer: RingIndex,
    ) -> Result<(), CardError> {
        self.queue_mut(q)?.rx_producer = producer;
        Ok(())
    }

    /// Fetches the next batch of queue `q`'s posted RX descriptors (up to the batch size,
    /// not across the ring's end) into its cache, each usable when the read completes.
    fn fetch_rx_descriptors(&mut self, q: QueueIndex, now: SimTime) -> Result<(), DropReason> {
        let batch = self.config.dma.descriptor_batch.max(1);
        let vq = self.vq(q);
        let posted = vq.rx_producer.since(vq.rx_consumer);
        // A producer index more than a ring ahead is garbage from the host: nothing usable.
        if posted == 0 || posted > vq.rx.entries() {
            return Err(DropReason::NoRxBuffer);
        }
        let to_wrap = vq.rx.entries() - vq.rx.slot(vq.rx_consumer);
        let n = posted.min(batch).min(to_wrap);
        // At most 32 descriptors per fetch (a 512-byte read, one read request).
        let mut buf = [0u8; 32 * RxDescriptor::SIZE];
        let n = n.min(32);
        let buf = &mut buf[..usize::from(n) * RxDescriptor::SIZE];
        let (vm, addr, first) = (
            vq.vm,
            vq.rx.addr(vq.rx_consumer, RxDescriptor::SIZE),
            vq.rx_consumer,
        );
        if self.host.dma_read(vm, addr, buf).is_err() {
            return Err(DropReason::DmaFault);
        }
        let ready = self.dma.read(now, buf.len() as u64);
        let vq = &mut self.queues[usize::from(q.0)];
        for (i, chunk) in (0u16..).zip(buf.chunks_exact(RxDescriptor::SIZE)) {
            vq.rx_cache.push_back((
                first.advance(i),
                RxDescriptor::try_from(chunk).map_err(|_| ()),
                ready,
            ));
        }
        vq.rx_consumer = vq.rx_consumer.advance(n);
        vq.rx_fetch_ready = ready;
        Ok(())
    }

    /// Takes queue `q`'s next RX descriptor, fetching a batch if none is cached, and
    /// prefetching the next batch when half the cache is used (as NIC descriptor engines do),
    /// so a steady stream rarely waits for a descriptor read.
    fn next_rx_descriptor(
        &mut self,
        q: QueueIndex,
        now: SimTime,
    ) -> Result<(RingIndex, RxDescriptor, SimTime), DropReason> {
        let half_batch = usize::from(self.config.dma.descriptor_batch.max(1) / 2);
        if self.vq(q).rx_cache.is_empty() {
            self.fetch_rx_descriptors(q, now)?;
        }
        let taken = self.vq_mut(q).rx_cache.pop_front();
        let vq = self.vq(q);
        if vq.rx_cache.len() <= half_batch && vq.rx_fetch_ready <= now {
            // A failed prefetch changes nothing: the next demand fetch meets the same error.
            let _ = self.fetch_rx_descriptors(q, now);
        }
        match taken {
            Some((index, Ok(d), ready)) => Ok((index, d, ready.max(now))),
            Some((_, Err(()), _)) => Err(DropReason::BadDescriptor),
            None => Err(DropReason::NoRxBuffer),
        }
    }

    /// True when this packet goes VM to VM through the host's copy engine.
    #[inline]
    fn via_copy_engine(&self, pkt: PacketId) -> bool {
        let p = &self.packets[pkt];
        self.config.inter_vm == InterVmPath::CopyEngine
            && matches!(p.source, Source::Vm { .. })
            && !p.edited
            && self.host.has_copy_engine()
    }

    /// Sends a copy of `pkt` to queue pair `q`'s next RX buffer.
    pub(super) fn copy_to_vm(&mut self, pkt: PacketId, q: QueueIndex, now: SimTime) {
        let body = if self.via_copy_engine(pkt) {
            now
        } else {
            self.body_ready(pkt, now)
        };
        match self.next_rx_descriptor(q, now) {
            Err(reason) => {
                if reason == DropReason::BadDescriptor {
                    self.mark_descriptor_refused(q);
                }
                self.copy_done(pkt, Err(reason), now);
            }
            Ok((index, d, desc_ready)) => {
                let t = body.max(desc_ready);
                let slot = RxSlot {
                    queue: q,
                    index,
                    buf: d.buf,
                    capacity: d.capacity,
                };
                if t > now {
                    self.schedule(t, Event::RxWrite { pkt, slot });
                } else {
                    self.issue_rx_write(pkt, slot, now);
                }
            }
        }
    }

    /// Packet and descriptor are on the card: write the packet, then its completion (posted
    /// writes stay in order on the link, so the completion lands after the data).
    pub(super) fn issue_rx_write(&mut self, pkt: PacketId, slot: RxSlot, now: SimTime) {
        let len = self.packets[pkt].len();
        let fits = u64::from(slot.capacity) >= len;
        if fits && self.via_copy_engine(pkt) {
            // The 32-byte copy command crosses to the host; the payload stays there.
            let at = self.dma.write(now, CopyCommand::SIZE as u64);
            self.schedule(at, Event::CopySubmit { pkt, slot });
            return;
        }
        if fits {
            self.dma.write(now, len);
        }
        let cpl_done = self.dma.write(now, RxCompletion::SIZE as u64);
        self.schedule(
            cpl_done,
            Event::RxCopyDone {
                pkt,
                slot,
                via: Delivery::Write,
            },
        );
    }

    /// The copy command is at the host: the copy engine runs it; when its completion is
    /// visible to the host (`CopyWritten`), the host takes it and tells the card. A refused
    /// copy's status comes back at once.
    pub(super) fn on_copy_submit(&mut self, pkt: PacketId, slot: RxSlot, now: SimTime) {
        let p = &self.packets[pkt];
        let src_vm = match p.source {
            Source::Vm { queue, .. } => self.vq(queue).vm,
            Source::Wire { .. } => VmId(0),
        };
        let len = p.frame.len();
        let cmd = CopyCommand {
            src: p.src_buf,
            dst: slot.buf,
            src_vm,
            dst_vm: self.vq(slot.queue).vm,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            cookie: pkt.cookie(),
        };
        let copied = RxSlot {
            capacity: u16::try_from(len).unwrap_or(u16::MAX),
            ..slot
        };
        self.counters.copy_commands += 1;
        match self.host.copy(&cmd, now) {
            Ok(written) => self.schedule(written, Event::CopyWritten { pkt, slot: copied }),
            Err(_) => self.copy_completion_to_card(pkt, copied, Delivery::CopyFault, now),
        }
    }

    /// The engine's completion of `pkt`'s copy is visible to the host: the host takes it.
    pub(super) fn on_copy_written(&mut self, pkt: PacketId, slot: RxSlot, now: SimTime) {
        let taken = self.host.take_copy_completion(now).max(now);
        if taken > now {
            // The host takes it later (its polling core is busy): the card hears of it then,
            // and only then does its traffic go on the link, behind what is sent meanwhile.
            self.schedule(taken, Event::CopyTaken { pkt, slot });
        } else {
            self.copy_completion_to_card(pkt, slot, Delivery::Copied, now);
        }
    }

    /// The host tells the card at `at` how the copy ended (16 bytes over PCIe), then the
    /// card writes the VM's RX completion.
    pub(super) fn copy_completion_to_card(
        &mut self,
        pkt: PacketId,
        slot: RxSlot,
        via: Delivery,
        at: SimTime,
    ) {
        let cpl_in = self
            .dma
            .link_mut()
            .mmio_write(at, CopyCompletion::SIZE as u64);
        let cpl_done = self.dma.write(cpl_in, RxCompletion::SIZE as u64);
        self.schedule(cpl_done, Event::RxCopyDone { pkt, slot, via });
    }

    /// The copy is in the VM's buffer (or failed): write its RX completion, raise the
    /// queue's RX interrupt, and count the copy done.
    pub(super) fn on_rx_copy_done(
        &mut self,
        pkt: PacketId,
        slot: RxSlot,
        via: Delivery,
        now: SimTime,
    ) {
        let qi = usize::from(slot.queue.0);
        let vm = self.queues[qi].vm;
        let p = &self.packets[pkt];
        let len = p.frame.len();
        let (status, result) = if usize::from(slot.capacity) < len {
            (RxStatus::BufferTooSmall, Err(DropReason::NoRxBuffer))
        } else {
            let written = match via {
                Delivery::Write => self.host.dma_write(vm, slot.buf, &p.frame).is_ok(),
                Delivery::Copied => true,
                Delivery::CopyFault => false,
            };
            if written {
                (RxStatus::Ok, Ok(()))
            } else {
                (RxStatus::DmaFault, Err(DropReason::DmaFault))
            }
        };
        let cpl = RxCompletion {
            index: slot.index,
            len: if result.is_ok() {
                u16::try_from(len).unwrap_or(u16::MAX)
            } else {
                0
            },
            status,
            in_port: p.in_port,
            flow_hash: p.flow_hash,
            timestamp: now,
        };
        let vq = &mut self.queues[qi];
        let addr = vq.rx_cq.addr(vq.rx_cq_producer, RxCompletion::SIZE);
        vq.rx_cq_producer = vq.rx_cq_producer.advance(1);
        if self.host.dma_write(vm, addr, &cpl.to_bytes()).is_err() {
            self.counters.completion_faults += 1;
        }
        if result.is_ok() {
            self.counters.copies_to_vms += 1;
        }
        let vector = self.queues[qi].rx_vector;
        self.raise(vector, CAUSE_RX, now);
        self.copy_done(pkt, result, now);
    }
}
