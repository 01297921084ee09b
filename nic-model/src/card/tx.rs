//! From a VM: a TX doorbell makes the card fetch descriptors (in batches, one fetch at a
//! time per queue) and read each packet's header window (header-only read) for the parser
//! and lookup; the rest of the packet is read only if it must leave the card through it
//! (to the wire or, hairpin, to a VM). Every packet from a VM ends with a TX completion.

use bytes::Bytes;
use nic_abi::desc::{QueueIndex, RingIndex, TxCompletion, TxDescriptor, TxStatus};
use nic_abi::time::SimTime;

use super::event::Event;
use super::interrupt::CAUSE_TX;
use super::packet_store::{Packet, PacketId, Source};
use super::{Card, CardError};
use crate::counters::DropReason;
use crate::host::HostBus;

impl<H: HostBus> Card<H> {
    /// The host wrote queue `q`'s TX producer index: the card fetches the new descriptors.
    pub fn tx_doorbell(&mut self, q: QueueIndex, producer: u16) -> Result<(), CardError> {
        let now = self.now();
        let arrive = self.dma.link_mut().mmio_write(now, 4);
        self.set_tx_producer(q, RingIndex::new(producer), arrive)
    }

    /// The TX producer write reaches the card at `arrive` (its TLP already charged).
    pub(super) fn set_tx_producer(
        &mut self,
        q: QueueIndex,
        producer: RingIndex,
        arrive: SimTime,
    ) -> Result<(), CardError> {
        self.queue_mut(q)?.tx_producer = producer;
        self.events
            .schedule_at(arrive, Event::TxDoorbell { queue: q })?;
        Ok(())
    }

    /// The doorbell is on the card: fetch the next batch of descriptors (up to the ring's
    /// end) unless a fetch is in flight.
    pub(super) fn on_tx_doorbell(&mut self, q: QueueIndex, now: SimTime) {
        let batch = self.config.dma.descriptor_batch.max(1);
        let Some(vq) = self.queues.get_mut(usize::from(q.0)) else {
            return;
        };
        if vq.tx_fetching || !vq.enabled {
            return;
        }
        let pending = vq.tx_producer.since(vq.tx_consumer);
        if pending == 0 {
            return;
        }
        // A producer more than a ring ahead is garbage: take at most a ring's worth.
        let pending = pending.min(vq.tx.entries());
        let to_wrap = vq.tx.entries() - vq.tx.slot(vq.tx_consumer);
        let n = pending.min(batch).min(to_wrap);
        let first = vq.tx_consumer;
        vq.tx_consumer = vq.tx_consumer.advance(n);
        vq.tx_fetching = true;
        let done = self.dma.read(now, u64::from(n) * TxDescriptor::SIZE as u64);
        self.schedule(
            done,
            Event::TxDescriptorsFetched {
                queue: q,
                first,
                count: n,
            },
        );
    }

    /// A batch of descriptors is on the card: each becomes a packet whose header window is
    /// read; then the next batch.
    pub(super) fn on_tx_fetched(
        &mut self,
        q: QueueIndex,
        first: RingIndex,
        count: u16,
        now: SimTime,
    ) {
        let (vm, addr, port) = {
            let vq = self.vq(q);
            (vq.vm, vq.tx.addr(first, TxDescriptor::SIZE), vq.port)
        };
        let mut buf = vec![0u8; usize::from(count) * TxDescriptor::SIZE];
        let fetched = self.host.dma_read(vm, addr, &mut buf).is_ok();
        let header = self.config.dma.header_read_bytes;
        let max_frame = self
            .config
            .macs
            .iter()
            .map(|m| m.max_frame_bytes)
            .max()
            .unwrap_or(1518);
        for i in 0..count {
            let index = first.advance(i);
            self.counters.enter(false);
            let start = usize::from(i) * TxDescriptor::SIZE;
            let desc = TxDescriptor::try_from(&buf[start..start + TxDescriptor::SIZE]);
            let source = Source::Vm { queue: q, index };
            let pkt = self
                .packets
                .insert(Packet::arrived(Bytes::new(), port, source, now, 0));
            if !fetched {
                self.finish_packet(pkt, Err(DropReason::DmaFault), now);
                continue;
            }
            let d = match desc {
                Ok(d) if u64::from(d.len) <= max_frame && d.vm == vm && d.queue == q => d,
                _ => {
                    self.finish_packet(pkt, Err(DropReason::BadDescriptor), now);
                    continue;
                }
            };
            let mut frame = vec![0u8; usize::from(d.len)];
            if self.host.dma_read(vm, d.buf, &mut frame).is_err() {
                self.finish_packet(pkt, Err(DropReason::DmaFault), now);
                continue;
            }
            let p = &mut self.packets[pkt];
            p.frame = Bytes::from(frame);
            p.src_buf = d.buf;
            let ready = self.dma.read(now, u64::from(d.len).min(header));
            self.schedule(ready, Event::HeaderReady { pkt });
        }
        self.vq_mut(q).tx_fetching = false;
        self.on_tx_doorbell(q, now);
    }

    /// When the whole packet is on the card: at once for wire packets; for VM packets after
    /// reading the rest beyond the header window (once).
    pub(super) fn body_ready(&mut self, pkt: PacketId, now: SimTime) -> SimTime {
        let header = self.config.dma.header_read_bytes;
        let p = &self.packets[pkt];
        match (p.source, p.body_ready) {
            (Source::Wire { .. }, _) => now,
            (Source::Vm { .. }, Some(t)) => t.max(now),
            (Source::Vm { .. }, None) => {
                let rest = p.len().saturating_sub(header);
                let t = if rest > 0 {
                    self.dma.read(now, rest)
                } else {
                    now
                };
                self.packets[pkt].body_ready = Some(t);
                t
            }
        }
    }

    /// Writes the TX completion of descriptor `index` of queue `q` and raises its interrupt.
    pub(super) fn tx_complete(
        &mut self,
        q: QueueIndex,
        index: RingIndex,
        status: TxStatus,
        now: SimTime,
    ) {
        let done = self.dma.write(now, TxCompletion::SIZE as u64);
        let vq = &mut self.queues[usize::from(q.0)];
        let addr = vq.tx_cq.addr(vq.tx_cq_producer, TxCompletion::SIZE);
        vq.tx_cq_producer = vq.tx_cq_producer.advance(1);
        let vm = vq.vm;
        let vector = vq.tx_vector;
        let cpl = TxCompletion {
            index,
            status,
            timestamp: done,
        };
        if self.host.dma_write(vm, addr, &cpl.to_bytes()).is_err() {
            self.counters.completion_faults += 1;
        }
        self.raise(vector, CAUSE_TX, now);
    }

    /// Sets queue `q`'s sticky "descriptor refused" status bit.
    pub(super) fn mark_descriptor_refused(&mut self, q: QueueIndex) {
        if let Some(r) = self.regs.queues.get_mut(usize::from(q.0)) {
            r.status |= nic_abi::regs::vm_queues::STATUS_DESCRIPTOR_REFUSED;
        }
    }
}
