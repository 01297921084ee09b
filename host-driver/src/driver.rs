//! The driver: brings the card up through its registers, sets up queue pairs and the miss
//! and release rings, reads miss records and posts releases, and manages the flow table
//! through the management port ([`FlowTableDevice`]).
//!
//! ```text
//!   bring_up:  walk the register blocks (type, version) -> DeviceInfo (signature, ABI,
//!              layout constants) -> host memory for the miss and release rings, granted
//!              -> miss queue registers, CONTROL enable, read back -> moderation
//!   add_queue: a guest's rings -> the queue's registers -> CONTROL enable, read back
//!   attach_guest: MockGuest::attach (memory, rings, grants) -> add_queue -> RX buffers posted
//!   insert:    15 key words + 2 action words + CMD (MMIO writes) -> STATUS (MMIO reads
//!              until the port is not busy)
//! ```
//!
//! **Ownership.** The driver owns the card (`Card<Host>`, which owns the host and so every
//! VM's memory). Whatever decides the flow table's entries owns the driver as its
//! [`FlowTableDevice`] (in `snich-system`, the flow-setup agent), so the stack is one chain
//! of ownership with no shared handle, ending `Driver -> Card<Host> -> Host`. Callers reach
//! the card through [`Driver::card_mut`], and every register access the driver makes costs
//! what the card charges on its PCIe model plus the driver's CPU cost ([`DriverCosts`]).
//!
//! CPU costs of register accesses are accumulated as they happen (a [`FlowTableDevice`] call
//! has no time argument) and taken with [`Driver::take_unbilled_cycles`] by whoever runs the
//! driver's core in time (`snich-system`'s control plane).
//!
//! **Time of register accesses.** The card's register accesses are timeless, so the driver
//! tells the card when it issues each one: from the card's current time (or where the
//! previous access left off, if later: the access clock never goes back, so a command's busy
//! time is seen by the accesses after it even when the card's clock has not moved, as in
//! tests that drive the driver alone) each access moves the driver's access clock on by its
//! cost at the host's clock ([`crate::cpu::HostCpu`]; a write by [`DriverCosts::mmio_write_cycles`], a read,
//! which stalls the core for the round trip, by [`DriverCosts::mmio_read_cycles`]), the
//! same cycles the core is billed. The management port is busy for a while after a command
//! (the card's `MGMT_COMMAND_CYCLES`, plus `MGMT_KICK_CYCLES` per displacement), so the
//! driver polls `STATUS` until it is done: a slow command costs extra polls, each a
//! read's cycles, counted in [`DriverMetrics::busy_polls`]. The poll bound covers the
//! card's worst case (a failed insert, from the device information); a port still busy
//! after it is [`FlowTableError::Busy`], and the next command first waits for the port.

use nic_abi::action::Action;
use nic_abi::desc::{DescError, Iova, MissRecord, QueueIndex, ReleaseCommand, RingIndex, RingSize};
use nic_abi::device::{
    mgmt_outcome, EntryStats, FlowTableDevice, FlowTableError, FlowTableScan, InsertOutcome,
    MgmtOutcome, ScanStep, SlotEntry,
};
use nic_abi::key::FlowKey;
use nic_abi::regs::{
    self, flow_table as ft, interrupts as ir, miss_queue as mq, vm_queues as vq, BlockType,
    DeviceInfo, FoundBlock, MgmtCommand, MgmtStatus, RegOffset,
};
use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::Card;

use crate::cpu::HostCpu;
use crate::guest::{GuestError, GuestSpec, MockGuest, QueueConfig};
use crate::host::{Host, HostError, HOST_VM};
use crate::iommu::{GrantAccess, GrantError};
use crate::memory::{GuestAddress, GuestMemory, MemoryError};
use crate::ring::{ConsumerRing, ProducerRing, RingError, RingPlace};

/// Host CPU cycles of the driver's operations. Defaults are for a core of about 2.6 GHz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverCosts {
    /// One register write (an uncached posted store). Default 150 cycles, an estimate of an
    /// uncached store's cost to the issuing core (~60 ns).
    pub mmio_write_cycles: u64,
    /// One register read (a non-posted PCIe read: the core stalls for the round trip).
    /// Default 2,600 cycles (1 us at 2.6 GHz), the order of the PCIe read round trips
    /// measured by Neugebauer et al., "Understanding PCIe performance for end host
    /// networking", SIGCOMM 2018.
    pub mmio_read_cycles: u64,
    /// Taking one interrupt (entry, handler dispatch, exit). Default 2,000 cycles, an
    /// estimate of Linux hard-interrupt entry and exit on x86 (about 1 us with the handler's
    /// cache misses).
    pub interrupt_cycles: u64,
    /// Reading and checking one miss record from the miss ring (~232 bytes, cache misses).
    /// Default 300 cycles, an estimate.
    pub miss_record_cycles: u64,
    /// Writing one release command into the release ring. Default 100 cycles, an estimate.
    pub release_cycles: u64,
}

impl Default for DriverCosts {
    fn default() -> Self {
        DriverCosts {
            mmio_write_cycles: 150,
            mmio_read_cycles: 2_600,
            interrupt_cycles: 2_000,
            miss_record_cycles: 300,
            release_cycles: 100,
        }
    }
}

/// Interrupt moderation of one vector, as the driver programs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moderation {
    /// Completions that fire the vector at once.
    pub max_events: u32,
    /// Longest delay from the first pending completion, in ns.
    pub max_delay_ns: u32,
}

/// The driver's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverConfig {
    /// CPU costs.
    pub costs: DriverCosts,
    /// Miss ring entries (a power of two). Default 1,024, the card's default held-packet
    /// limit, so the ring never fills before the card's buffer does.
    pub miss_ring_entries: u16,
    /// Release ring entries (a power of two). Default 1,024, as the miss ring.
    pub release_ring_entries: u16,
    /// The miss vector's moderation. Default: every record at once (1 event, 0 ns): a flow
    /// setup's latency is the point of the miss path, and records come at most once per new
    /// flow.
    pub miss_moderation: Moderation,
    /// The queue vectors' moderation, or `None` to keep the card's default.
    pub queue_moderation: Option<Moderation>,
    /// Least number of status reads of the management port before giving up on a busy one.
    /// The driver raises it to cover the card's worst-case command (a failed insert: the
    /// device information's `MGMT_COMMAND_CYCLES`, `MGMT_KICK_CYCLES`, `MAX_KICKS` and clock)
    /// at the read's cost, plus one read. Default 16.
    pub max_status_polls: u32,
    /// Miss records the control plane takes per poll of the miss ring (its NAPI budget), so
    /// that the first flows of a burst are installed before the whole burst is classified.
    /// Default 64, Linux's `NAPI_POLL_WEIGHT`.
    pub miss_poll_budget: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            costs: DriverCosts::default(),
            miss_ring_entries: 1024,
            release_ring_entries: 1024,
            miss_moderation: Moderation {
                max_events: 1,
                max_delay_ns: 0,
            },
            queue_moderation: None,
            max_status_polls: 16,
            miss_poll_budget: 64,
        }
    }
}

/// Errors of the driver. A bring-up error leaves no driver; the others leave it usable.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The register map is not one this driver can drive.
    #[error("bring-up: {0}")]
    Registers(#[from] regs::RegsError),
    /// The host refused the driver's memory.
    #[error("bring-up: {0}")]
    Host(#[from] HostError),
    /// The driver's memory could not be laid out.
    #[error("bring-up: {0}")]
    Memory(#[from] MemoryError),
    /// A grant of the driver's rings failed.
    #[error("bring-up: {0}")]
    Grant(#[from] GrantError),
    /// A ring size in the configuration is not one a ring can have.
    #[error("driver config: {field}: {source}")]
    RingSize {
        /// The configuration field (`miss_ring_entries`, `release_ring_entries`).
        field: &'static str,
        /// What is wrong with it.
        source: DescError,
    },
    /// The host lost the driver's memory.
    #[error("the host has no memory for the driver's rings")]
    NoHostMemory,
    /// The card kept the miss queue disabled after the enable write.
    #[error("bring-up: the card refused the miss queue (ring of {0} entries)")]
    MissQueueRefused(u16),
    /// The card refused a queue pair's setup.
    #[error("{queue}: the card refused the setup (STATUS {status:#x}); the queue stays disabled")]
    QueueRefused {
        /// The queue.
        queue: QueueIndex,
        /// Its status register.
        status: u32,
    },
    /// The card has no more queue pairs.
    #[error("{queue}: the card has {available} queue pairs")]
    NoSuchQueue {
        /// The queue asked for.
        queue: QueueIndex,
        /// How many the card has.
        available: u16,
    },
    /// A ring of the driver's misbehaved (the card wrote an impossible index).
    #[error(transparent)]
    Ring(#[from] RingError),
    /// A guest could not be attached (its memory, rings or buffers).
    #[error(transparent)]
    Guest(#[from] GuestError),
}

/// Where the blocks the driver uses were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMap {
    /// Device information.
    pub device_info: RegOffset,
    /// Flow-table management port.
    pub flow_table: RegOffset,
    /// Miss and release rings.
    pub miss_queue: RegOffset,
    /// Interrupt vectors.
    pub interrupts: RegOffset,
    /// Queue pairs.
    pub vm_queues: RegOffset,
}

/// Counts of the driver's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriverMetrics {
    /// Register writes.
    pub mmio_writes: u64,
    /// Register reads.
    pub mmio_reads: u64,
    /// Management commands issued.
    pub mgmt_commands: u64,
    /// Reads of the management port's `STATUS` (every poll, the one that saw it done too).
    pub status_polls: u64,
    /// Reads of `STATUS` that found the port busy (the card's command latency, in polls).
    pub busy_polls: u64,
    /// Entries inserted (new keys).
    pub inserts: u64,
    /// Entries whose action was overwritten.
    pub updates: u64,
    /// Entries deleted.
    pub deletes: u64,
    /// Miss records read.
    pub miss_records: u64,
    /// Miss records that did not decode (counted, skipped).
    pub bad_miss_records: u64,
    /// Release commands posted.
    pub releases: u64,
    /// Interrupts taken.
    pub interrupts: u64,
    /// Highest table occupancy seen.
    pub occupancy_peak: u64,
    /// Slots read with `READ_SLOT` (a restarted agent's table scan).
    pub slot_reads: u64,
    /// Miss-service restarts ([`Driver::restart_miss_service`]).
    pub miss_restarts: u64,
    /// Miss records skipped unread at a restart (the card replays their packets).
    pub miss_records_skipped: u64,
}

/// The sNICh driver, owning the card.
#[derive(Debug)]
pub struct Driver {
    card: Card<Host>,
    config: DriverConfig,
    blocks: BlockMap,
    info: DeviceInfo,
    miss: ConsumerRing<MissRecord>,
    release: ProducerRing<ReleaseCommand>,
    occupancy: u64,
    /// Register-access cycles not yet billed on the driver's core.
    unbilled: u64,
    /// When the next register access is issued, at the earliest (module doc).
    access_clock: SimTime,
    /// Status reads after which a busy management port is given up on.
    status_poll_bound: u32,
    /// The last command was given up on while the port was busy.
    port_busy: bool,
    metrics: DriverMetrics,
}

/// Status reads that cover the card's slowest command (a failed insert, undoing all its
/// displacements) at one read's cost each, plus the read that sees it done; at least the
/// configured bound.
fn status_poll_bound(info: &DeviceInfo, config: &DriverConfig, cpu: &HostCpu) -> u32 {
    let worst_cycles = info.mgmt.worst_case_cycles(info.max_kicks);
    let khz = u128::from(info.core_clock_khz.max(1));
    let worst_ps = u128::from(worst_cycles) * 1_000_000_000 / khz;
    let read_ps = u128::from(cpu.cycles_to_ps(config.costs.mmio_read_cycles)).max(1);
    let polls = worst_ps.div_ceil(read_ps) + 1;
    u32::try_from(polls)
        .unwrap_or(u32::MAX)
        .max(config.max_status_polls)
        .max(1)
}

fn lo(v: u64) -> u32 {
    u32::try_from(v & 0xffff_ffff).unwrap_or(0)
}

fn hi(v: u64) -> u32 {
    u32::try_from(v >> 32).unwrap_or(0)
}

impl Driver {
    /// Brings `card` up: enumerates the register blocks (checking each one's type and
    /// version), reads and validates the device information, gives the host the driver's
    /// memory (the miss and release rings, granted to the card), enables the miss queue and
    /// programs moderation. Fails without touching the card's state beyond register reads
    /// when the card is not one this driver knows.
    pub fn bring_up(mut card: Card<Host>, config: DriverConfig) -> Result<Driver, DriverError> {
        let mut reads = 0u64;
        let found = regs::walk_blocks(|off| {
            reads += 1;
            card.mmio_read(off)
        })?;
        let block = |t: BlockType| -> Result<FoundBlock, regs::RegsError> {
            let version = regs::BLOCKS
                .iter()
                .find(|b| b.block_type == t)
                .map_or(1, |b| b.version);
            regs::find_block(&found, t, version)
        };
        let blocks = BlockMap {
            device_info: block(BlockType::DeviceInfo)?.offset,
            flow_table: block(BlockType::FlowTable)?.offset,
            miss_queue: block(BlockType::MissQueue)?.offset,
            interrupts: block(BlockType::Interrupts)?.offset,
            vm_queues: block(BlockType::VmQueues)?.offset,
        };
        let info = DeviceInfo::read(blocks.device_info, |off| {
            reads += 1;
            card.mmio_read(off)
        })?;

        let ring = |field: &'static str, n: u16| {
            RingSize::new(n).map_err(|source| DriverError::RingSize { field, source })
        };
        let miss_ring = ring("miss_ring_entries", config.miss_ring_entries)?;
        let release_ring = ring("release_ring_entries", config.release_ring_entries)?;
        // The driver's memory: the miss ring, then the release ring on its own page.
        let miss_place = RingPlace {
            base: GuestAddress(0),
            size: miss_ring,
        };
        let release_base = miss_place.bytes(MissRecord::SIZE).next_multiple_of(4096);
        let release_place = RingPlace {
            base: GuestAddress(release_base),
            size: release_ring,
        };
        let bytes = release_base + release_place.bytes(ReleaseCommand::SIZE);
        let host = card.host_mut();
        host.add_vm(GuestMemory::flat(HOST_VM, bytes.next_multiple_of(4096))?)?;
        host.grant(
            HOST_VM,
            Iova(0),
            miss_place.bytes(MissRecord::SIZE),
            miss_place.base,
            GrantAccess::DeviceWrites,
        )?;
        host.grant(
            HOST_VM,
            Iova(release_base),
            release_place.bytes(ReleaseCommand::SIZE),
            release_place.base,
            GrantAccess::DeviceReads,
        )?;

        let status_poll_bound = status_poll_bound(&info, &config, card.host().cpu());
        let mut d = Driver {
            card,
            config,
            blocks,
            info,
            miss: ConsumerRing::new(miss_place),
            release: ProducerRing::new(release_place),
            occupancy: 0,
            unbilled: 0,
            access_clock: SimTime::ZERO,
            status_poll_bound,
            port_busy: false,
            metrics: DriverMetrics {
                mmio_reads: reads,
                ..DriverMetrics::default()
            },
        };
        d.unbilled = reads * config.costs.mmio_read_cycles;
        let m = blocks.miss_queue;
        d.write(m.at(mq::RING_BASE_LO), 0);
        d.write(m.at(mq::RING_BASE_HI), 0);
        d.write(m.at(mq::RING_SIZE), u32::from(miss_ring.get()));
        d.write(m.at(mq::RELEASE_BASE_LO), lo(release_base));
        d.write(m.at(mq::RELEASE_BASE_HI), hi(release_base));
        d.write(m.at(mq::RELEASE_SIZE), u32::from(release_ring.get()));
        d.write(m.at(mq::CONTROL), mq::CONTROL_ENABLE);
        if d.read(m.at(mq::CONTROL)) & mq::CONTROL_ENABLE == 0 {
            return Err(DriverError::MissQueueRefused(miss_ring.get()));
        }
        d.moderate(ir::VECTOR_MISS, config.miss_moderation);
        // The driver polls the management port's status; its interrupt stays masked.
        let i = blocks.interrupts;
        d.write(i.at(ir::vector_reg(ir::VECTOR_MGMT, ir::ENABLE)), 0);
        d.occupancy = u64::from(d.read(blocks.flow_table.at(ft::OCCUPANCY)));
        Ok(d)
    }

    fn moderate(&mut self, vector: u32, m: Moderation) {
        let i = self.blocks.interrupts;
        self.write(i.at(ir::vector_reg(vector, ir::MOD_COUNT)), m.max_events);
        self.write(
            i.at(ir::vector_reg(vector, ir::MOD_TIME_NS)),
            m.max_delay_ns,
        );
    }

    /// When an access issued now is issued, and moves the access clock past its `cycles`.
    fn issue(&mut self, cycles: u64) -> SimTime {
        let at = self.access_clock.max(self.card.now());
        self.access_clock = at + SimDuration(self.card.host().cpu().cycles_to_ps(cycles));
        self.unbilled += cycles;
        at
    }

    /// Writes a register (charged: PCIe by the card, CPU here).
    pub fn write(&mut self, off: RegOffset, value: u32) {
        let at = self.issue(self.config.costs.mmio_write_cycles);
        self.card.mmio_write_at(at, off, value);
        self.metrics.mmio_writes += 1;
    }

    /// Reads a register (charged: the core stalls for the round trip).
    pub fn read(&mut self, off: RegOffset) -> u32 {
        let at = self.issue(self.config.costs.mmio_read_cycles);
        self.metrics.mmio_reads += 1;
        self.card.mmio_read_at(at, off)
    }

    /// Status reads after which the driver gives up on a busy management port.
    pub fn status_poll_bound(&self) -> u32 {
        self.status_poll_bound
    }

    /// Sets up queue pair `queue` (queues are numbered densely from 0) for a guest's rings,
    /// through its registers, and checks the card took it.
    pub fn add_queue(&mut self, queue: QueueIndex, q: &QueueConfig) -> Result<(), DriverError> {
        if queue.0 >= self.info.vm_queues {
            return Err(DriverError::NoSuchQueue {
                queue,
                available: self.info.vm_queues,
            });
        }
        let base = self.blocks.vm_queues;
        let r = |reg| base.at(vq::queue_reg(u32::from(queue.0), reg));
        let size = u32::from(q.entries.get());
        self.write(r(vq::VM_ID), u32::from(q.vm.0));
        self.write(r(vq::PORT), u32::from(q.port.0));
        for (lo_reg, hi_reg, iova) in [
            (vq::TX_RING_BASE_LO, vq::TX_RING_BASE_HI, q.tx),
            (vq::TX_CPL_BASE_LO, vq::TX_CPL_BASE_HI, q.tx_completions),
            (vq::RX_RING_BASE_LO, vq::RX_RING_BASE_HI, q.rx),
            (vq::RX_CPL_BASE_LO, vq::RX_CPL_BASE_HI, q.rx_completions),
        ] {
            self.write(r(lo_reg), lo(iova.0));
            self.write(r(hi_reg), hi(iova.0));
        }
        self.write(r(vq::TX_RING_SIZE), size);
        self.write(r(vq::RX_RING_SIZE), size);
        self.write(r(vq::CONTROL), vq::CONTROL_ENABLE);
        if self.read(r(vq::CONTROL)) & vq::CONTROL_ENABLE == 0 {
            let status = self.read(r(vq::STATUS));
            self.write(r(vq::STATUS), status);
            return Err(DriverError::QueueRefused { queue, status });
        }
        if let Some(m) = self.config.queue_moderation {
            self.moderate(ir::VECTOR_QUEUE_0 + u32::from(queue.0), m);
        }
        Ok(())
    }

    /// Attaches a guest: its memory, rings and buffers on the host ([`MockGuest::attach`]),
    /// its queue pair `spec.queue` set up through the registers ([`Driver::add_queue`]), and
    /// all its RX buffers posted.
    pub fn attach_guest(&mut self, spec: GuestSpec) -> Result<MockGuest, DriverError> {
        let mut guest = MockGuest::attach(self.card.host_mut(), spec)?;
        self.add_queue(spec.queue, &guest.queue_config())?;
        guest.post_rx_buffers(&mut self.card)?;
        Ok(guest)
    }

    /// The card.
    pub fn card(&self) -> &Card<Host> {
        &self.card
    }

    /// The card, writable (guests ring their doorbells on it; tests inspect it).
    pub fn card_mut(&mut self) -> &mut Card<Host> {
        &mut self.card
    }

    /// The host.
    pub fn host(&self) -> &Host {
        self.card.host()
    }

    /// What bring-up learnt about the card.
    pub fn device_info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Where the blocks are.
    pub fn blocks(&self) -> &BlockMap {
        &self.blocks
    }

    /// The configuration.
    pub fn config(&self) -> &DriverConfig {
        &self.config
    }

    /// The counts so far.
    pub fn metrics(&self) -> &DriverMetrics {
        &self.metrics
    }

    /// Takes the register-access cycles accumulated since the last call.
    pub fn take_unbilled_cycles(&mut self) -> u64 {
        std::mem::take(&mut self.unbilled)
    }

    /// Counts an interrupt taken (by whoever services the card's interrupts).
    pub fn count_interrupt(&mut self) {
        self.metrics.interrupts += 1;
    }

    /// Reads the miss records the card has published (its producer register), at most
    /// `budget` of them (decoded or not), advances the consumer register, and appends them
    /// to `out`. Records that do not decode are counted and skipped.
    pub fn read_miss_records(
        &mut self,
        out: &mut Vec<MissRecord>,
        budget: usize,
    ) -> Result<(), DriverError> {
        let producer = RingIndex::new(
            u16::try_from(self.read(self.blocks.miss_queue.at(mq::PRODUCER)) & 0xffff).unwrap_or(0),
        );
        let before = out.len();
        let consumer_before = self.miss.consumer();
        for _ in 0..budget {
            let mem = self
                .card
                .host()
                .memory(HOST_VM)
                .ok_or(DriverError::NoHostMemory)?;
            match self.miss.poll(mem, producer) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => break,
                Err(RingError::Record(_)) => self.metrics.bad_miss_records += 1,
                Err(e) => return Err(e.into()),
            }
        }
        let n = out.len() - before;
        self.metrics.miss_records += n as u64;
        self.unbilled += n as u64 * self.config.costs.miss_record_cycles;
        if self.miss.consumer() != consumer_before {
            let consumer = u32::from(self.miss.consumer().value());
            self.write(self.blocks.miss_queue.at(mq::CONSUMER), consumer);
        }
        Ok(())
    }

    /// Whether every release posted has been fetched by the card (its `RELEASE_CONSUMER`
    /// reached the driver's producer); one register read.
    pub fn releases_drained(&mut self) -> bool {
        let consumer = self.read(self.blocks.miss_queue.at(mq::RELEASE_CONSUMER));
        let consumer = RingIndex::new(u16::try_from(consumer & 0xffff).unwrap_or(0));
        // Keep the ring's free count up to date while here.
        let _ = self.release.consumed_up_to(consumer);
        consumer == self.release.producer()
    }

    /// Restarts the miss service for a restarted agent, which lost the records its
    /// predecessor had read but not released: skips every record published and unread
    /// (`CONSUMER` := `PRODUCER`), then writes `CONTROL_REPLAY`, so the card writes a fresh
    /// record for every packet it holds, in arrival order (`nic_abi::regs::miss_queue::
    /// CONTROL_REPLAY`). Call it once [`Driver::releases_drained`], so that no packet whose
    /// release is on its way is replayed. Returns the records skipped.
    pub fn restart_miss_service(&mut self) -> Result<u16, DriverError> {
        let producer = RingIndex::new(
            u16::try_from(self.read(self.blocks.miss_queue.at(mq::PRODUCER)) & 0xffff).unwrap_or(0),
        );
        let skipped = self.miss.skip_to(producer)?;
        let consumer = u32::from(self.miss.consumer().value());
        self.write(self.blocks.miss_queue.at(mq::CONSUMER), consumer);
        self.write(
            self.blocks.miss_queue.at(mq::CONTROL),
            mq::CONTROL_ENABLE | mq::CONTROL_REPLAY,
        );
        self.metrics.miss_restarts += 1;
        self.metrics.miss_records_skipped += u64::from(skipped);
        Ok(skipped)
    }

    /// Posts as many of `releases` as the release ring has room for and rings its doorbell;
    /// returns how many were posted (the rest must be posted later).
    pub fn post_releases(&mut self, releases: &[ReleaseCommand]) -> Result<usize, DriverError> {
        let mut posted = 0;
        for cmd in releases {
            if self.release.free() == 0 {
                let consumer = self.read(self.blocks.miss_queue.at(mq::RELEASE_CONSUMER));
                let consumer = RingIndex::new(u16::try_from(consumer & 0xffff).unwrap_or(0));
                self.release.consumed_up_to(consumer)?;
                if self.release.free() == 0 {
                    break;
                }
            }
            let mem = self
                .card
                .host_mut()
                .memory_mut(HOST_VM)
                .ok_or(DriverError::NoHostMemory)?;
            self.release.post(mem, cmd)?;
            posted += 1;
        }
        if posted > 0 {
            self.metrics.releases += posted as u64;
            self.unbilled += posted as u64 * self.config.costs.release_cycles;
            let producer = u32::from(self.release.producer().value());
            self.write(self.blocks.miss_queue.at(mq::RELEASE_PRODUCER), producer);
        }
        Ok(posted)
    }

    /// Polls `STATUS` until the port is done or the poll bound is reached; returns the last
    /// status and the polls.
    fn poll_status(&mut self) -> Result<(MgmtStatus, u32), FlowTableError> {
        let base = self.blocks.flow_table;
        let mut polls = 0;
        loop {
            let code = self.read(base.at(ft::STATUS));
            polls += 1;
            self.metrics.status_polls += 1;
            let status = MgmtStatus::try_from(code)
                .map_err(|e| FlowTableError::DeviceFault(e.to_string()))?;
            if !status.is_done() {
                self.metrics.busy_polls += 1;
            }
            if status.is_done() || polls >= self.status_poll_bound {
                self.port_busy = !status.is_done();
                return Ok((status, polls));
            }
        }
    }

    /// Writes the key (and action) words and the command, then polls the status. A port
    /// left busy by the last command is waited for first (writes to a busy port are
    /// ignored).
    fn mgmt(
        &mut self,
        cmd: MgmtCommand,
        key: &FlowKey,
        action: Option<&Action>,
    ) -> Result<(MgmtStatus, u32), FlowTableError> {
        if self.port_busy {
            let (status, polls) = self.poll_status()?;
            if !status.is_done() {
                return Err(FlowTableError::Busy { polls });
            }
        }
        let base = self.blocks.flow_table;
        for (n, w) in (0u32..).zip(key.to_words()) {
            self.write(base.at(ft::key(n)), w);
        }
        if let Some(a) = action {
            for (n, w) in (0u32..).zip(a.to_words()) {
                self.write(base.at(ft::action(n)), w);
            }
        }
        self.write(base.at(ft::CMD), cmd.code());
        self.metrics.mgmt_commands += 1;
        self.poll_status()
    }

    fn outcome(
        &mut self,
        cmd: MgmtCommand,
        key: &FlowKey,
        action: Option<&Action>,
    ) -> Result<MgmtOutcome, FlowTableError> {
        let (status, polls) = self.mgmt(cmd, key, action)?;
        mgmt_outcome(cmd, status, polls, self.occupancy, self.capacity())
    }

    fn read_u64(&mut self, lo_reg: u32) -> u64 {
        let base = self.blocks.flow_table;
        let l = self.read(base.at(lo_reg));
        let h = self.read(base.at(lo_reg + 4));
        u64::from(l) | (u64::from(h) << 32)
    }
}

impl Driver {
    /// Issues a slot command (`READ_SLOT`, `READ_NEXT`) at `slot`; returns its outcome.
    fn slot_command(&mut self, cmd: MgmtCommand, slot: u64) -> Result<MgmtOutcome, FlowTableError> {
        if slot >= self.capacity() {
            return Err(FlowTableError::DeviceFault(format!(
                "slot {slot} is beyond the table's {} slots",
                self.capacity()
            )));
        }
        if self.port_busy {
            let (status, polls) = self.poll_status()?;
            if !status.is_done() {
                return Err(FlowTableError::Busy { polls });
            }
        }
        let base = self.blocks.flow_table;
        let slot32 = u32::try_from(slot).map_err(|_| {
            FlowTableError::DeviceFault(format!("slot {slot} does not fit the SLOT register"))
        })?;
        self.write(base.at(ft::SLOT), slot32);
        self.write(base.at(ft::CMD), cmd.code());
        self.metrics.mgmt_commands += 1;
        self.metrics.slot_reads += 1;
        let (status, polls) = self.poll_status()?;
        mgmt_outcome(cmd, status, polls, self.occupancy, self.capacity())
    }

    /// The key and action words in the result registers, as an entry (`slot` for errors).
    fn read_entry(&mut self, slot: u64) -> Result<SlotEntry, FlowTableError> {
        let base = self.blocks.flow_table;
        let mut words = [0u32; nic_abi::key::KEY_WORDS];
        for (n, w) in (0u32..).zip(words.iter_mut()) {
            *w = self.read(base.at(ft::key(n)));
        }
        let key = FlowKey::from_words(&words).map_err(|e| {
            FlowTableError::DeviceFault(format!("slot {slot} holds a bad key: {e}"))
        })?;
        let action_words = [
            self.read(base.at(ft::action(0))),
            self.read(base.at(ft::action(1))),
        ];
        let action = Action::from_words(&action_words).map_err(|e| {
            FlowTableError::DeviceFault(format!("slot {slot} holds a bad action: {e}"))
        })?;
        Ok(SlotEntry { key, action })
    }
}

impl FlowTableScan for Driver {
    /// `SLOT`, then `CMD` = `READ_SLOT`, `STATUS` polled; a slot holding an entry costs the
    /// 15 key words and 2 action words read back (the counters are not read).
    fn read_slot(&mut self, slot: u64) -> Result<Option<SlotEntry>, FlowTableError> {
        match self.slot_command(MgmtCommand::ReadSlot, slot)? {
            MgmtOutcome::NotFound => Ok(None),
            MgmtOutcome::Done | MgmtOutcome::Updated => self.read_entry(slot).map(Some),
        }
    }

    /// `SLOT`, then `CMD` = `READ_NEXT`, `STATUS` polled, `SLOT` read back; an entry found
    /// costs its 17 words read as [`FlowTableScan::read_slot`]'s.
    fn read_next(&mut self, slot: u64) -> Result<ScanStep, FlowTableError> {
        if slot >= self.capacity() {
            return Ok(ScanStep::End);
        }
        let outcome = self.slot_command(MgmtCommand::ReadNext, slot)?;
        let at = u64::from(self.read(self.blocks.flow_table.at(ft::SLOT)));
        match outcome {
            MgmtOutcome::Done | MgmtOutcome::Updated => {
                if at < slot || at >= self.capacity() {
                    return Err(FlowTableError::DeviceFault(format!(
                        "READ_NEXT from slot {slot} found an entry in slot {at}"
                    )));
                }
                let entry = self.read_entry(at)?;
                Ok(ScanStep::Found { slot: at, entry })
            }
            MgmtOutcome::NotFound if at >= self.capacity() => Ok(ScanStep::End),
            MgmtOutcome::NotFound if at > slot => Ok(ScanStep::Continue { next: at }),
            MgmtOutcome::NotFound => Err(FlowTableError::DeviceFault(format!(
                "READ_NEXT from slot {slot} stopped at slot {at} without moving on"
            ))),
        }
    }
}

impl FlowTableDevice for Driver {
    fn insert(&mut self, key: &FlowKey, action: Action) -> Result<InsertOutcome, FlowTableError> {
        if !key.is_parsed() {
            return Err(FlowTableError::UnparsedKey(key.class));
        }
        action.validate()?;
        match self.outcome(MgmtCommand::Insert, key, Some(&action))? {
            MgmtOutcome::Done => {
                self.occupancy += 1;
                self.metrics.inserts += 1;
                self.metrics.occupancy_peak = self.metrics.occupancy_peak.max(self.occupancy);
                Ok(InsertOutcome::Inserted)
            }
            MgmtOutcome::Updated => {
                self.metrics.updates += 1;
                Ok(InsertOutcome::Updated)
            }
            MgmtOutcome::NotFound => Err(FlowTableError::DeviceFault(
                "insert reported not found".into(),
            )),
        }
    }

    fn delete(&mut self, key: &FlowKey) -> Result<bool, FlowTableError> {
        if !key.is_parsed() {
            return Ok(false);
        }
        match self.outcome(MgmtCommand::Delete, key, None)? {
            MgmtOutcome::Done => {
                self.occupancy = self.occupancy.saturating_sub(1);
                self.metrics.deletes += 1;
                Ok(true)
            }
            MgmtOutcome::NotFound | MgmtOutcome::Updated => Ok(false),
        }
    }

    fn lookup(&mut self, key: &FlowKey) -> Result<Option<Action>, FlowTableError> {
        if !key.is_parsed() {
            return Ok(None);
        }
        match self.outcome(MgmtCommand::Lookup, key, None)? {
            MgmtOutcome::Done => {
                let base = self.blocks.flow_table;
                let words = [
                    self.read(base.at(ft::action(0))),
                    self.read(base.at(ft::action(1))),
                ];
                Action::from_words(&words).map(Some).map_err(|e| {
                    FlowTableError::DeviceFault(format!("lookup returned a bad action: {e}"))
                })
            }
            MgmtOutcome::NotFound | MgmtOutcome::Updated => Ok(None),
        }
    }

    fn entry_stats(&mut self, key: &FlowKey) -> Result<Option<EntryStats>, FlowTableError> {
        if !key.is_parsed() {
            return Ok(None);
        }
        match self.outcome(MgmtCommand::ReadCounters, key, None)? {
            MgmtOutcome::Done => Ok(Some(EntryStats {
                hits: self.read_u64(ft::HITS_LO),
                bytes: self.read_u64(ft::BYTES_LO),
                last_hit: SimTime(self.read_u64(ft::LAST_HIT_LO)),
            })),
            MgmtOutcome::NotFound | MgmtOutcome::Updated => Ok(None),
        }
    }

    fn capacity(&self) -> u64 {
        self.info.table.capacity()
    }

    fn occupancy(&self) -> u64 {
        self.occupancy
    }
}
