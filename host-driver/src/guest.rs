//! A mock guest driver: the VM's side of a queue pair, for tests and for `sim-harness`.
//!
//! It lays out its rings and buffers in its own guest memory, grants them to the card,
//! posts RX buffers, sends frames (copy into a TX buffer, descriptor, doorbell), and reads
//! completions, returning each slot to itself. Doorbells are register writes on the card
//! (each VM has its own doorbell page, as SR-IOV virtual functions do); the completion
//! producers are read from the card's registers.
//!
//! ```text
//!   guest address 0   RX ring (entries x 16 B)      granted: card reads
//!                     RX completions (x 24 B)       granted: card writes
//!                     TX ring (x 16 B)              granted: card reads
//!                     TX completions (x 16 B)       granted: card writes
//!   4 KiB aligned     RX buffers (x 2 KiB)          granted: card writes, per post or once
//!                     TX buffers (x 2 KiB)          granted: card reads, per post or once
//! ```
//!
//! IOVAs equal guest addresses (an identity IOMMU mapping, as VFIO sets up), but every
//! access still goes through the grant check. With [`GrantMode::MapPerPost`] each buffer is
//! granted when posted and revoked at its completion; with [`GrantMode::Persistent`] the
//! buffer pool is granted once at attach.
//!
//! Completions may come out of order (a packet held for the agent completes after later
//! ones), so each slot is tracked and the ring's consumer moves over completed slots only.

use nic_abi::desc::{
    Iova, QueueIndex, RingIndex, RingSize, RxCompletion, RxDescriptor, RxStatus, TxCompletion,
    TxDescriptor, TxFlags, TxStatus, VmId,
};
use nic_abi::key::PortNo;
use nic_abi::regs::{vm_queues as vq, RegOffset};
use nic_abi::time::SimTime;
use nic_model::card::Card;

use crate::host::Host;
use crate::iommu::{GrantAccess, GrantError, GrantMode, GrantRef};
use crate::memory::{GuestAddress, GuestMemory, MemoryError};
use crate::ring::{ConsumerRing, ProducerRing, RingError, RingPlace, RingRecord};

/// Bytes of each packet buffer.
pub const BUFFER_BYTES: u16 = 2048;

/// What a guest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestSpec {
    /// The VM.
    pub vm: VmId,
    /// Its switch port.
    pub port: PortNo,
    /// The queue pair index the driver gives it.
    pub queue: QueueIndex,
    /// Entries of each ring.
    pub entries: RingSize,
    /// How it grants its buffers.
    pub grants: GrantMode,
}

/// The queue pair a guest asks the driver to set up: owner, port, where the rings are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// The owning VM.
    pub vm: VmId,
    /// The switch port.
    pub port: PortNo,
    /// Entries of every ring.
    pub entries: RingSize,
    /// RX descriptor ring.
    pub rx: Iova,
    /// RX completion ring.
    pub rx_completions: Iova,
    /// TX descriptor ring.
    pub tx: Iova,
    /// TX completion ring.
    pub tx_completions: Iova,
}

/// Errors of the mock guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestError {
    /// Its memory could not be made or used.
    #[error("{vm}: {source}")]
    Memory {
        /// The VM.
        vm: VmId,
        /// The memory error.
        source: MemoryError,
    },
    /// A grant failed.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// The host refused the VM (duplicate id).
    #[error(transparent)]
    Host(#[from] crate::host::HostError),
    /// A ring operation failed.
    #[error("{vm}: {source}")]
    Ring {
        /// The VM.
        vm: VmId,
        /// The ring error.
        source: RingError,
    },
    /// The frame is shorter than 14 or longer than a buffer.
    #[error("{vm}: a {len}-byte frame does not fit a TX buffer (14..={BUFFER_BYTES} bytes)")]
    FrameSize {
        /// The VM.
        vm: VmId,
        /// Its length.
        len: usize,
    },
    /// Every TX slot is in flight.
    #[error("{vm}: TX ring full")]
    TxFull {
        /// The VM.
        vm: VmId,
    },
    /// The VM's memory is gone from the host.
    #[error("{0}: no memory on the host")]
    NoMemory(VmId),
}

/// A frame the card delivered into one of the guest's buffers (or a buffer it returned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The RX descriptor's ring index.
    pub index: RingIndex,
    /// Outcome.
    pub status: RxStatus,
    /// Bytes written.
    pub len: u16,
    /// Where the frame entered the switch.
    pub in_port: PortNo,
    /// When the completion was written.
    pub timestamp: SimTime,
}

/// A TX slot's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Slot {
    in_flight: bool,
    done: bool,
    grant: Option<GrantRef>,
}

/// Counts of what the guest saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GuestCounters {
    /// Frames sent (descriptors posted).
    pub sent: u64,
    /// TX completions read, by status: done.
    pub tx_done: u64,
    /// TX completions with an error status.
    pub tx_errors: u64,
    /// RX completions with a frame.
    pub received: u64,
    /// RX completions returning a buffer unused.
    pub rx_errors: u64,
    /// Completions naming a slot that was not in flight (a card bug; ignored).
    pub bad_completions: u64,
}

/// The guest's side of one queue pair.
#[derive(Debug, Clone)]
pub struct MockGuest {
    spec: GuestSpec,
    rx: ProducerRing<RxDescriptor>,
    rx_cq: ConsumerRing<RxCompletion>,
    tx: ProducerRing<TxDescriptor>,
    tx_cq: ConsumerRing<TxCompletion>,
    buffers: GuestAddress,
    rx_slots: Vec<Slot>,
    tx_slots: Vec<Slot>,
    rx_grants_persistent: Vec<GrantRef>,
    counters: GuestCounters,
}

fn reg(queue: QueueIndex, r: u32) -> RegOffset {
    vq::BASE.at(vq::queue_reg(u32::from(queue.0), r))
}

impl MockGuest {
    /// Bytes of memory a guest with `entries` ring entries needs.
    pub fn memory_bytes(entries: RingSize) -> u64 {
        let n = u64::from(entries.get());
        let rings = n * (16 + 24 + 16 + 16);
        rings.next_multiple_of(4096) + 2 * n * u64::from(BUFFER_BYTES)
    }

    /// Creates the guest's memory on `host`, lays out its rings and buffers, and grants
    /// them (buffers only in [`GrantMode::Persistent`]).
    pub fn attach(host: &mut Host, spec: GuestSpec) -> Result<MockGuest, GuestError> {
        let vm = spec.vm;
        let mem_err = |source| GuestError::Memory { vm, source };
        let memory = GuestMemory::flat(vm, Self::memory_bytes(spec.entries)).map_err(mem_err)?;
        host.add_vm(memory)?;
        let n = u64::from(spec.entries.get());
        let place = |base| RingPlace {
            base: GuestAddress(base),
            size: spec.entries,
        };
        let rx = place(0);
        let rx_cq = place(rx.base.0 + n * RxDescriptor::SIZE as u64);
        let tx = place(rx_cq.base.0 + n * RxCompletion::SIZE as u64);
        let tx_cq = place(tx.base.0 + n * TxDescriptor::SIZE as u64);
        let buffers =
            GuestAddress((tx_cq.base.0 + n * TxCompletion::SIZE as u64).next_multiple_of(4096));
        for (p, size, access) in [
            (rx, RxDescriptor::SIZE, GrantAccess::DeviceReads),
            (rx_cq, RxCompletion::SIZE, GrantAccess::DeviceWrites),
            (tx, TxDescriptor::SIZE, GrantAccess::DeviceReads),
            (tx_cq, TxCompletion::SIZE, GrantAccess::DeviceWrites),
        ] {
            host.grant(vm, Iova(p.base.0), p.bytes(size), p.base, access)?;
        }
        let mut guest = MockGuest {
            spec,
            rx: ProducerRing::new(rx),
            rx_cq: ConsumerRing::new(rx_cq),
            tx: ProducerRing::new(tx),
            tx_cq: ConsumerRing::new(tx_cq),
            buffers,
            rx_slots: vec![Slot::default(); usize::from(spec.entries.get())],
            tx_slots: vec![Slot::default(); usize::from(spec.entries.get())],
            rx_grants_persistent: Vec::new(),
            counters: GuestCounters::default(),
        };
        if spec.grants == GrantMode::Persistent {
            for i in 0..spec.entries.get() {
                let (rx_buf, tx_buf) = (guest.rx_buffer(i), guest.tx_buffer(i));
                let len = u64::from(BUFFER_BYTES);
                let g = host.grant(vm, Iova(rx_buf.0), len, rx_buf, GrantAccess::DeviceWrites)?;
                guest.rx_grants_persistent.push(g);
                host.grant(vm, Iova(tx_buf.0), len, tx_buf, GrantAccess::DeviceReads)?;
            }
        }
        Ok(guest)
    }

    /// What it is.
    pub fn spec(&self) -> &GuestSpec {
        &self.spec
    }

    /// The counts so far.
    pub fn counters(&self) -> &GuestCounters {
        &self.counters
    }

    /// The queue pair the driver must set up for it.
    pub fn queue_config(&self) -> QueueConfig {
        let iova = |p: RingPlace| Iova(p.base.0);
        QueueConfig {
            vm: self.spec.vm,
            port: self.spec.port,
            entries: self.spec.entries,
            rx: iova(self.rx.place()),
            rx_completions: iova(self.rx_cq.place()),
            tx: iova(self.tx.place()),
            tx_completions: iova(self.tx_cq.place()),
        }
    }

    fn slot_of(&self, index: RingIndex) -> usize {
        index.slot(self.spec.entries)
    }

    /// The RX buffer of ring slot `slot` (taken modulo the ring size).
    pub fn rx_buffer(&self, slot: u16) -> GuestAddress {
        let s = u64::from(slot & (self.spec.entries.get() - 1));
        GuestAddress(self.buffers.0 + s * u64::from(BUFFER_BYTES))
    }

    /// The TX buffer of ring slot `slot`.
    pub fn tx_buffer(&self, slot: u16) -> GuestAddress {
        let n = u64::from(self.spec.entries.get());
        let s = u64::from(slot & (self.spec.entries.get() - 1));
        GuestAddress(self.buffers.0 + (n + s) * u64::from(BUFFER_BYTES))
    }

    /// Every range the card may ever write in this guest's memory: the completion rings and
    /// the RX buffers (for isolation checks).
    pub fn device_writable(&self) -> Vec<(GuestAddress, u64)> {
        let n = u64::from(self.spec.entries.get());
        vec![
            (
                self.rx_cq.place().base,
                self.rx_cq.place().bytes(RxCompletion::SIZE),
            ),
            (
                self.tx_cq.place().base,
                self.tx_cq.place().bytes(TxCompletion::SIZE),
            ),
            (self.buffers, n * u64::from(BUFFER_BYTES)),
        ]
    }

    fn ring_err(&self, source: RingError) -> GuestError {
        GuestError::Ring {
            vm: self.spec.vm,
            source,
        }
    }

    /// Posts a buffer into every free RX slot and rings the RX doorbell once (if any was
    /// posted); returns how many were posted.
    pub fn post_rx_buffers(&mut self, card: &mut Card<Host>) -> Result<u16, GuestError> {
        let vm = self.spec.vm;
        let mut posted = 0;
        while self.rx.free() > 0 {
            let index = self.rx.producer();
            let slot = self.slot_of(index);
            let buf = self.rx_buffer(index.value());
            if self.spec.grants == GrantMode::MapPerPost {
                let g = card.host_mut().grant(
                    vm,
                    Iova(buf.0),
                    u64::from(BUFFER_BYTES),
                    buf,
                    GrantAccess::DeviceWrites,
                )?;
                self.rx_slots[slot].grant = Some(g);
            }
            let d = RxDescriptor {
                buf: Iova(buf.0),
                capacity: BUFFER_BYTES,
            };
            let mem = card
                .host_mut()
                .memory_mut(vm)
                .ok_or(GuestError::NoMemory(vm))?;
            self.rx.post(mem, &d).map_err(|e| self.ring_err(e))?;
            self.rx_slots[slot].in_flight = true;
            self.rx_slots[slot].done = false;
            posted += 1;
        }
        if posted > 0 {
            let producer = self.rx.producer().value();
            card.mmio_write(reg(self.spec.queue, vq::RX_PRODUCER), u32::from(producer));
        }
        Ok(posted)
    }

    /// Sends `frame`: copies it into the next TX buffer, posts its descriptor and rings the
    /// TX doorbell. Returns the descriptor's ring index (the card's outcome names it).
    pub fn send(&mut self, card: &mut Card<Host>, frame: &[u8]) -> Result<RingIndex, GuestError> {
        let vm = self.spec.vm;
        let len = u16::try_from(frame.len())
            .ok()
            .filter(|l| (14..=BUFFER_BYTES).contains(l))
            .ok_or(GuestError::FrameSize {
                vm,
                len: frame.len(),
            })?;
        if self.tx.free() == 0 {
            return Err(GuestError::TxFull { vm });
        }
        let index = self.tx.producer();
        let slot = self.slot_of(index);
        let buf = self.tx_buffer(index.value());
        if self.spec.grants == GrantMode::MapPerPost {
            let g = card.host_mut().grant(
                vm,
                Iova(buf.0),
                u64::from(BUFFER_BYTES),
                buf,
                GrantAccess::DeviceReads,
            )?;
            self.tx_slots[slot].grant = Some(g);
        }
        let d = TxDescriptor {
            buf: Iova(buf.0),
            len,
            flags: TxFlags::NONE,
            vm,
            queue: self.spec.queue,
        };
        let mem = card
            .host_mut()
            .memory_mut(vm)
            .ok_or(GuestError::NoMemory(vm))?;
        mem.write(buf, frame)
            .map_err(|source| GuestError::Memory { vm, source })?;
        self.tx.post(mem, &d).map_err(|e| self.ring_err(e))?;
        self.tx_slots[slot].in_flight = true;
        self.tx_slots[slot].done = false;
        self.counters.sent += 1;
        let producer = self.tx.producer().value();
        card.mmio_write(reg(self.spec.queue, vq::TX_PRODUCER), u32::from(producer));
        Ok(index)
    }

    /// Free TX slots.
    pub fn tx_free(&self) -> u16 {
        self.tx.free()
    }

    /// Reads every new RX and TX completion (the producers from the card's registers),
    /// returns the RX ones into `received`, revokes per-post grants and frees the slots.
    pub fn poll(
        &mut self,
        card: &mut Card<Host>,
        received: &mut Vec<Received>,
    ) -> Result<(), GuestError> {
        let vm = self.spec.vm;
        let q = self.spec.queue;
        let rx_producer = RingIndex::new(low16(card.mmio_read(reg(q, vq::RX_CPL_PRODUCER))));
        let tx_producer = RingIndex::new(low16(card.mmio_read(reg(q, vq::TX_CPL_PRODUCER))));
        let rx = CompletionRing {
            vm,
            cq: &mut self.rx_cq,
            ring: &mut self.rx,
            slots: &mut self.rx_slots,
            counters: &mut self.counters,
        };
        rx.take(
            card,
            rx_producer,
            |c| c.index,
            |c, counters| {
                if c.status == RxStatus::Ok {
                    counters.received += 1;
                } else {
                    counters.rx_errors += 1;
                }
                received.push(Received {
                    index: c.index,
                    status: c.status,
                    len: c.len,
                    in_port: c.in_port,
                    timestamp: c.timestamp,
                });
            },
        )?;
        let tx = CompletionRing {
            vm,
            cq: &mut self.tx_cq,
            ring: &mut self.tx,
            slots: &mut self.tx_slots,
            counters: &mut self.counters,
        };
        tx.take(
            card,
            tx_producer,
            |c| c.index,
            |c, counters| {
                if c.status == TxStatus::Done {
                    counters.tx_done += 1;
                } else {
                    counters.tx_errors += 1;
                }
            },
        )
    }

    /// Marks the slot of ring index `index` done for a completion the card wrote, and takes
    /// its per-post grant (to revoke); `None` when the completion names a descriptor that is
    /// not outstanding or was already completed (a card bug, ignored by the caller).
    fn complete<T: RingRecord>(
        ring: &ProducerRing<T>,
        slots: &mut [Slot],
        index: RingIndex,
    ) -> Option<Option<GrantRef>> {
        let outstanding = index.since(ring.consumer()) < ring.producer().since(ring.consumer());
        let slot = slots.get_mut(index.slot(ring.place().size))?;
        if !outstanding || !slot.in_flight || slot.done {
            return None;
        }
        slot.done = true;
        Some(slot.grant.take())
    }

    /// Moves a ring's consumer over the completed slots at its front.
    fn retire<T: RingRecord>(
        ring: &mut ProducerRing<T>,
        slots: &mut [Slot],
        size: RingSize,
    ) -> Result<(), RingError> {
        let mut c = ring.consumer();
        while c != ring.producer() {
            let s = &mut slots[c.slot(size)];
            if !s.done {
                break;
            }
            *s = Slot::default();
            c = c.advance(1);
        }
        ring.consumed_up_to(c)
    }

    /// The `len` bytes the card wrote into the RX buffer of ring index `index`.
    pub fn rx_data<'h>(
        &self,
        host: &'h Host,
        index: RingIndex,
        len: usize,
    ) -> Result<&'h [u8], GuestError> {
        let vm = self.spec.vm;
        host.memory(vm)
            .ok_or(GuestError::NoMemory(vm))?
            .slice(self.rx_buffer(index.value()), len)
            .map_err(|source| GuestError::Memory { vm, source })
    }

    /// Revokes the per-post grant ([`GrantMode::MapPerPost`]) of the TX buffer of descriptor
    /// `index` while the descriptor is in flight: a guest pulling its memory from under the
    /// card (a fault the card must survive: its read is refused, the packet dropped as a DMA
    /// fault and counted against this VM). Returns whether there was such a grant; its
    /// completion then revokes nothing.
    pub fn revoke_tx_in_flight(
        &mut self,
        host: &mut Host,
        index: RingIndex,
    ) -> Result<bool, GuestError> {
        let slot = self.slot_of(index);
        match self.tx_slots.get_mut(slot).and_then(|s| s.grant.take()) {
            Some(g) => {
                host.revoke(g)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Revokes the per-post grant ([`GrantMode::MapPerPost`]) of the RX buffer posted in ring
    /// slot `slot` (taken modulo the ring size) while the card may still write it: a guest
    /// pulling its memory from under the card. Returns whether there was such a grant; its
    /// completion then revokes nothing.
    pub fn revoke_rx_posted(&mut self, host: &mut Host, slot: u16) -> Result<bool, GuestError> {
        let i = usize::from(slot & (self.spec.entries.get() - 1));
        match self.rx_slots.get_mut(i).and_then(|s| s.grant.take()) {
            Some(g) => {
                host.revoke(g)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Revokes the persistent grant of RX buffer slot `slot` (for tests of reuse after
    /// revocation); returns whether there was one.
    pub fn revoke_rx_buffer(&mut self, host: &mut Host, slot: u16) -> Result<bool, GuestError> {
        let i = usize::from(slot & (self.spec.entries.get() - 1));
        match self.rx_grants_persistent.get(i).copied() {
            Some(g) => match host.revoke(g) {
                Ok(()) => Ok(true),
                Err(GrantError::NotGranted(_)) => Ok(false),
                Err(e) => Err(e.into()),
            },
            None => Ok(false),
        }
    }
}

/// One ring's completion side, borrowed from a guest while it reads completions.
struct CompletionRing<'g, C: RingRecord, D: RingRecord> {
    vm: VmId,
    cq: &'g mut ConsumerRing<C>,
    ring: &'g mut ProducerRing<D>,
    slots: &'g mut [Slot],
    counters: &'g mut GuestCounters,
}

impl<C: RingRecord, D: RingRecord> CompletionRing<'_, C, D> {
    /// Reads every completion up to `producer`: one naming a descriptor in flight marks its
    /// slot done, has its per-post grant revoked and is handed to `each`; one naming none is
    /// counted as bad. Then the ring's consumer moves over the completed slots at its front.
    fn take(
        self,
        card: &mut Card<Host>,
        producer: RingIndex,
        index_of: impl Fn(&C) -> RingIndex,
        mut each: impl FnMut(&C, &mut GuestCounters),
    ) -> Result<(), GuestError> {
        let vm = self.vm;
        let ring_err = |source| GuestError::Ring { vm, source };
        loop {
            let mem = card.host().memory(vm).ok_or(GuestError::NoMemory(vm))?;
            let Some(c) = self.cq.poll(mem, producer).map_err(ring_err)? else {
                break;
            };
            let Some(grant) = MockGuest::complete(self.ring, self.slots, index_of(&c)) else {
                self.counters.bad_completions += 1;
                continue;
            };
            each(&c, self.counters);
            if let Some(g) = grant {
                card.host_mut().revoke(g)?;
            }
        }
        let size = self.ring.place().size;
        MockGuest::retire(self.ring, self.slots, size).map_err(ring_err)
    }
}

/// The low 16 bits of a register value (ring indices are 16 bits wide).
fn low16(x: u32) -> u16 {
    u16::try_from(x & 0xffff).unwrap_or(0)
}
