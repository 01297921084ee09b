//! The card's events: what the event engine fires, each a step of a packet's path or of a
//! ring's traffic. Events are small and `Copy`; the packet itself stays in the
//! [`PacketStore`](super::packet_store::PacketStore). `Card::handle` (in the parent module)
//! dispatches them.

use nic_abi::desc::{MissReason, PacketHandle, QueueIndex, Release, RingIndex};

use super::packet_store::PacketId;
use crate::host::{Iova, IrqVector};

/// The card's events.
#[derive(Debug, Clone, Copy)]
pub(super) enum Event {
    /// A frame's last byte arrived at a MAC port.
    WireRxDone { pkt: PacketId, mac: u8 },
    /// A packet's header is on the card (VM path): parse and look up.
    HeaderReady { pkt: PacketId },
    /// A packet's lookup result is valid.
    LookupDone { pkt: PacketId },
    /// A copy to a VM has its descriptor and data on the card: write it.
    RxWrite { pkt: PacketId, slot: RxSlot },
    /// A copy command reached the host: run it on the copy engine.
    CopySubmit { pkt: PacketId, slot: RxSlot },
    /// The copy engine's completion of a packet's copy is visible to the host: the host
    /// takes it (poll or interrupt) and tells the card.
    CopyWritten { pkt: PacketId, slot: RxSlot },
    /// The host took the copy engine's completion of a packet's copy (later than it became
    /// visible: its core was busy): it tells the card now.
    CopyTaken { pkt: PacketId, slot: RxSlot },
    /// A copy to a VM has been written with its completion.
    RxCopyDone {
        pkt: PacketId,
        slot: RxSlot,
        via: Delivery,
    },
    /// A copy left through a MAC port.
    WireTxDone { pkt: PacketId },
    /// A TX doorbell reached the card.
    TxDoorbell { queue: QueueIndex },
    /// A batch of TX descriptors is on the card.
    TxDescriptorsFetched {
        queue: QueueIndex,
        first: RingIndex,
        count: u16,
    },
    /// A miss record has been written.
    MissWritten {
        pkt: PacketId,
        handle: PacketHandle,
        reason: MissReason,
        slot: RingIndex,
    },
    /// A release command reached the card.
    ReleaseArrived {
        handle: PacketHandle,
        release: Release,
    },
    /// The release ring's producer index was written.
    ReleaseDoorbell,
    /// Release commands read from the release ring are on the card.
    ReleasesFetched { first: RingIndex, count: u16 },
    /// The driver asked for the held packets' records again (`CONTROL_REPLAY`).
    ReplayHeld,
    /// An interrupt moderation timer expired.
    IrqTimer { vector: IrqVector, generation: u32 },
}

/// The RX buffer a copy goes to: descriptor `index` of queue pair `queue`.
#[derive(Debug, Clone, Copy)]
pub(super) struct RxSlot {
    pub(super) queue: QueueIndex,
    pub(super) index: RingIndex,
    pub(super) buf: Iova,
    pub(super) capacity: u16,
}

/// How a copy to a VM's buffer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    /// The card writes the packet by DMA when the completion is due.
    Write,
    /// The host's copy engine copied it.
    Copied,
    /// The copy engine refused the copy.
    CopyFault,
}
