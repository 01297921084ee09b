//! The card's packet store: every packet inside the card, from its arrival (on the wire or
//! by a VM's TX descriptor) to its end, named by a [`PacketId`]. Events carry the id; the
//! frame and the packet's state stay here. Slots of ended packets are reused.

use std::ops::{Index, IndexMut};

use bytes::Bytes;
use nic_abi::desc::{CopyCookie, QueueIndex, RingIndex};
use nic_abi::key::PortNo;
use nic_abi::time::SimTime;

use crate::counters::DropReason;
use crate::host::Iova;

/// A packet's slot in the [`PacketStore`], valid from its arrival to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PacketId(u32);

impl PacketId {
    /// The packet's tag on a copy command.
    #[inline]
    pub(super) fn cookie(self) -> CopyCookie {
        CopyCookie(u64::from(self.0))
    }
}

/// Where a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// A MAC port.
    Wire { mac: u8 },
    /// TX descriptor `index` of queue pair `queue`.
    Vm { queue: QueueIndex, index: RingIndex },
}

/// A packet inside the card.
#[derive(Debug, Clone)]
pub(super) struct Packet {
    pub(super) frame: Bytes,
    pub(super) in_port: PortNo,
    pub(super) source: Source,
    pub(super) arrival: SimTime,
    pub(super) flow_hash: u32,
    /// Copies still on their way out.
    pub(super) pending: u16,
    pub(super) any_delivered: bool,
    pub(super) last_failure: DropReason,
    /// RX FIFO bytes still held (wire packets until they leave the FIFO).
    pub(super) fifo_bytes: u64,
    /// For packets from a VM: when the rest of the packet (after the header window) is on
    /// the card, once it has been read.
    pub(super) body_ready: Option<SimTime>,
    /// For packets from a VM: the TX buffer holding it.
    pub(super) src_buf: Iova,
    /// An action edited the frame (so the source buffer no longer holds what is sent).
    pub(super) edited: bool,
    /// For wire packets: how many wire packets entered before it (its
    /// [`PacketOrigin`](super::PacketOrigin)).
    pub(super) wire_seq: u64,
    /// The packet is in the pipeline again because its pending flow was released.
    pub(super) setup_pass: bool,
}

impl Packet {
    /// A packet that has just arrived: nothing decided, nothing read beyond `frame`.
    #[inline]
    pub(super) fn arrived(
        frame: Bytes,
        in_port: PortNo,
        source: Source,
        arrival: SimTime,
        wire_seq: u64,
    ) -> Packet {
        Packet {
            frame,
            in_port,
            source,
            arrival,
            flow_hash: 0,
            pending: 0,
            any_delivered: false,
            last_failure: DropReason::NoSuchPort,
            fifo_bytes: 0,
            body_ready: None,
            src_buf: Iova(0),
            edited: false,
            wire_seq,
            setup_pass: false,
        }
    }

    /// The frame's length in bytes.
    #[inline]
    pub(super) fn len(&self) -> u64 {
        self.frame.len() as u64
    }
}

/// The packets inside the card, by [`PacketId`], and the free slots.
#[derive(Debug, Default)]
pub(super) struct PacketStore {
    packets: Vec<Packet>,
    free: Vec<PacketId>,
}

impl PacketStore {
    /// Stores `p` in a free slot (or a new one); returns its id.
    #[inline]
    pub(super) fn insert(&mut self, p: Packet) -> PacketId {
        if let Some(id) = self.free.pop() {
            self[id] = p;
            id
        } else {
            // The store never holds more than u32::MAX packets: offered packets are u64 but
            // the card's buffers are bounded by FIFO sizes and held_packets.
            let id = PacketId(u32::try_from(self.packets.len()).unwrap_or(u32::MAX));
            self.packets.push(p);
            id
        }
    }

    /// Frees the slot of an ended packet for reuse.
    #[inline]
    pub(super) fn remove(&mut self, id: PacketId) {
        self.free.push(id);
    }
}

impl Index<PacketId> for PacketStore {
    type Output = Packet;

    #[inline]
    fn index(&self, id: PacketId) -> &Packet {
        &self.packets[id.0 as usize]
    }
}

impl IndexMut<PacketId> for PacketStore {
    #[inline]
    fn index_mut(&mut self, id: PacketId) -> &mut Packet {
        &mut self.packets[id.0 as usize]
    }
}
