//! The wire side: frames offered on a MAC port arrive after their wire time, enter the port's
//! RX FIFO (or are dropped, `malformed` or `rx_fifo_full`) and go to the parser and lookup;
//! frames leaving through a MAC port queue behind each other on its transmitter.

use bytes::Bytes;
use nic_abi::key::PortNo;
use nic_abi::time::SimTime;

use super::event::Event;
use super::packet_store::{Packet, PacketId, Source};
use super::{Card, CardError, PortTarget};
use crate::counters::DropReason;
use crate::engine::EngineError;
use crate::host::HostBus;

impl<H: HostBus> Card<H> {
    /// Offers `frame` (without FCS) on MAC port `port`, its first bit on the wire at `at` (or
    /// as soon as the wire is free). Must not be earlier than [`Card::now`].
    pub fn offer_from_wire(
        &mut self,
        port: PortNo,
        frame: Bytes,
        at: SimTime,
    ) -> Result<(), CardError> {
        let mac = match self.ports.get(usize::from(port.0)) {
            Some(PortTarget::Mac(m)) => *m,
            _ => return Err(CardError::NotAMacPort(port)),
        };
        if at < self.now() {
            return Err(CardError::Engine(EngineError::InThePast {
                at: at.0,
                now: self.now().0,
            }));
        }
        let len = frame.len() as u64;
        let done = self.macs[usize::from(mac)].receive(at, len);
        let wire_seq = self.counters.offered_from_wire;
        self.counters.enter(true);
        let pkt = self.packets.insert(Packet::arrived(
            frame,
            port,
            Source::Wire { mac },
            done,
            wire_seq,
        ));
        self.events
            .schedule_at(done, Event::WireRxDone { pkt, mac })?;
        Ok(())
    }

    /// A frame's last byte is in: into the RX FIFO and on to the parser and lookup.
    pub(super) fn on_wire_rx(&mut self, pkt: PacketId, mac: u8, now: SimTime) {
        let m = usize::from(mac);
        let len = self.packets[pkt].len();
        if len < 14 || len > self.macs[m].config().max_frame_bytes {
            self.finish_packet(pkt, Err(DropReason::Malformed), now);
            return;
        }
        if !self.macs[m].fifo_push(len) {
            self.finish_packet(pkt, Err(DropReason::RxFifoFull), now);
            return;
        }
        self.packets[pkt].fifo_bytes = len;
        let t = self.pipeline.process(now, len);
        self.schedule(t, Event::LookupDone { pkt });
    }

    /// The packet moves from its MAC's RX FIFO (wire packets) to the held-packet buffer.
    pub(super) fn leave_rx_fifo(&mut self, pkt: PacketId) {
        let p = &mut self.packets[pkt];
        if let Source::Wire { mac } = p.source {
            let fifo = p.fifo_bytes;
            p.fifo_bytes = 0;
            self.macs[usize::from(mac)].fifo_pop(fifo);
        }
    }

    /// Sends a copy of `pkt` out of MAC `mac` once the whole packet is on the card.
    pub(super) fn copy_to_wire(&mut self, pkt: PacketId, mac: u8, now: SimTime) {
        let ready = self.body_ready(pkt, now);
        let len = self.packets[pkt].len();
        let done = self.macs[usize::from(mac)].transmit(ready, len);
        self.schedule(done, Event::WireTxDone { pkt });
    }
}
