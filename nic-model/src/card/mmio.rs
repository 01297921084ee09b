//! The card's register interface: BAR 0 as `nic_abi::regs` lays it out.
//!
//! `Card::mmio_read`/`Card::mmio_write` decode a 32-bit access at a byte offset. Writes that
//! configure (ring addresses, sizes, owners, ports, key and action words) are latched; writes
//! that act (doorbells, `CONTROL` enables, the management `CMD`, write-1-to-clear bits) take
//! effect at once. Reads of unmapped offsets return 0; writes to them and to read-only
//! registers are ignored, as hardware does. Every write is also a small TLP on the PCIe
//! model's host-to-card direction.
//!
//! Conventions the map leaves to the card, fixed here:
//! - Queue pair `q` uses vector `VECTOR_QUEUE_0 + q` for both TX and RX completions (causes
//!   tell them apart); the miss queue uses `VECTOR_MISS`, the management port `VECTOR_MGMT`.
//! - A queue's completion rings have the size of the ring they complete.
//! - The miss and release rings live in the host's own address space, [`VmId`] 0.
//!
//! # The management port's time
//!
//! The management port is a serial resource in card time, as the RTL's is: a command
//! occupies it for `TableConfig::mgmt_timing` cycles of the NIC clock (a fixed number per
//! command plus one per displacement made, and one more per displacement undone by a failed
//! insert; `nic_abi::table::MgmtTiming`) from the `CMD` write. Until then `STATUS` reads
//! `Busy` and writes to the block (`KEY_n`, `ACTION_n`, `SLOT`, `CMD`) are ignored, as the
//! register map's protocol says. The command also owns the lookup pipeline for that time
//! (the RTL's precedence: management wins): keys that reach the lookup meanwhile wait
//! (`Pipeline::hold_lookups`).
//!
//! Register accesses are timeless in the model (they do not advance the card's clock), so the
//! host says when it issues each one: [`Card::mmio_read_at`] and [`Card::mmio_write_at`] take
//! the issue time, which `host-driver` advances by what each access costs its core (a read
//! stalls the core for the PCIe round trip). Successive `STATUS` polls thus see time move
//! exactly as the core is billed for them, and a command's latency shows as extra polls.
//! The one-way PCIe latency is left out on purpose: the `CMD` write and the reads that poll
//! travel the same way (a read does not pass a posted write), so it shifts the command's start
//! and the polls' arrival alike. [`Card::mmio_read`] and [`Card::mmio_write`] issue at the
//! card's current time.
//!
//! Choices, each of which no protocol-following driver can observe (the protocol of
//! `nic_abi::regs::flow_table` leaves every register but `STATUS` and the header undefined
//! while a command runs): the table changes, and
//! the result registers (`LAST_KICKS`, `SLOT`, `ACTION_n`, the counters) take their values, at
//! the `CMD` write, where the RTL changes them when the command completes; so a lookup in the
//! window may already see the new entry. That window is at most the command's busy time
//! (tens of ns), and it cannot reorder a flow: packets of a flow being set up wait behind its
//! first packet (`miss`) whatever the table holds, and are released only by the agent's
//! release command, which the driver posts after its polls saw the command done. Lookups
//! stalled in the RTL while a command runs (management wins) and the drain of lookups in
//! flight before it starts (up to `LOOKUP_LATENCY_CYCLES`) are not modelled: at a 250 MHz
//! clock a few cycles per installed flow is far below one lookup per cycle.

use nic_abi::action::{Action, ACTION_WORDS};
use nic_abi::desc::{Iova, QueueIndex, RingIndex, VmId};
use nic_abi::key::{FlowKey, PortNo, KEY_WORDS};
use nic_abi::regs::{
    self, device_info, flow_table as ft, interrupts as ir, miss_queue as mq, vm_queues as vq,
    MgmtCommand, MgmtStatus, RegOffset,
};
use nic_abi::time::SimTime;

use super::config::{MissQueueSetup, QueueSetup, RingSetup};
use super::event::Event;
use super::queues::VmQueue;
use super::Card;
use crate::counters::DropReason;
use crate::flow_table::{InsertError, InsertOutcome};
use crate::host::{HostBus, IrqVector};

// Small contract constants as register values (all far below 2^32).
#[allow(clippy::cast_possible_truncation)]
const KEY_WORDS_U32: u32 = KEY_WORDS as u32;
#[allow(clippy::cast_possible_truncation)]
const ACTION_WORDS_U32: u32 = ACTION_WORDS as u32;
#[allow(clippy::cast_possible_truncation)]
const SLOTS_U32: u32 = nic_abi::table::SLOTS_PER_BUCKET as u32;
#[allow(clippy::cast_possible_truncation)]
const MISS_HEADER_U32: u32 = nic_abi::desc::MISS_HEADER_BYTES as u32;

#[allow(clippy::cast_possible_truncation)]
const VECTOR_MGMT: IrqVector = IrqVector(ir::VECTOR_MGMT as u16);
#[allow(clippy::cast_possible_truncation)]
const VECTOR_MISS: IrqVector = IrqVector(ir::VECTOR_MISS as u16);

/// Latched registers of one queue pair.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct QueueRegs {
    control: u32,
    vm_id: u32,
    port: u32,
    pub(super) status: u32,
    tx_base: u64,
    tx_size: u32,
    tx_cpl_base: u64,
    tx_cpl_consumer: u32,
    rx_base: u64,
    rx_size: u32,
    rx_cpl_base: u64,
    rx_cpl_consumer: u32,
}

/// Latched registers of the card.
#[derive(Debug, Clone)]
pub(super) struct RegisterFile {
    key: [u32; KEY_WORDS],
    action: [u32; ACTION_WORDS],
    status: u32,
    last_kicks: u32,
    slot: u32,
    /// Buckets the last `READ_NEXT` passed (its extra busy cycles).
    scan_buckets: u32,
    /// The management port is busy until then (module doc).
    mgmt_busy_until: SimTime,
    /// Time the management port was busy, summed over commands (ps).
    pub(super) mgmt_busy_ps: u64,
    /// Writes to the management port refused because it was busy.
    pub(super) mgmt_ignored_writes: u64,
    counters: [u32; 6],
    miss_base: u64,
    miss_size: u32,
    miss_control: u32,
    pub(super) release_base: u64,
    pub(super) release_size: u32,
    pub(super) release_producer: RingIndex,
    pub(super) release_consumer: RingIndex,
    pub(super) queues: Vec<QueueRegs>,
}

impl Default for RegisterFile {
    fn default() -> Self {
        RegisterFile {
            key: [0; KEY_WORDS],
            action: [0; ACTION_WORDS],
            status: MgmtStatus::Idle.code(),
            last_kicks: 0,
            slot: 0,
            scan_buckets: 0,
            mgmt_busy_until: SimTime::ZERO,
            mgmt_busy_ps: 0,
            mgmt_ignored_writes: 0,
            counters: [0; 6],
            miss_base: 0,
            miss_size: 0,
            miss_control: 0,
            release_base: 0,
            release_size: 0,
            release_producer: RingIndex::default(),
            release_consumer: RingIndex::default(),
            queues: vec![QueueRegs::default(); usize::from(regs::MAX_VM_QUEUES)],
        }
    }
}

fn lo(v: u64) -> u32 {
    v.to_le_bytes()[..4]
        .iter()
        .rev()
        .fold(0, |acc, &b| (acc << 8) | u32::from(b))
}

fn hi(v: u64) -> u32 {
    lo(v >> 32)
}

fn set_lo(v: &mut u64, x: u32) {
    *v = (*v & !0xffff_ffff) | u64::from(x);
}

fn set_hi(v: &mut u64, x: u32) {
    *v = (*v & 0xffff_ffff) | (u64::from(x) << 32);
}

/// The low 16 bits of a register value (ring indices, ports, VM ids are 16 bits wide).
fn low16(x: u32) -> u16 {
    u16::from_le_bytes([x.to_le_bytes()[0], x.to_le_bytes()[1]])
}

/// Which block and relative offset an access falls in.
fn in_block(off: u32, base: RegOffset, size: u32) -> Option<u32> {
    off.checked_sub(base.0).filter(|&rel| rel < size)
}

impl<H: HostBus> Card<H> {
    /// Reads the 32-bit register at byte offset `offset` of BAR 0 (see the module doc),
    /// issued at the card's current time.
    pub fn mmio_read(&mut self, offset: RegOffset) -> u32 {
        let now = self.now();
        self.mmio_read_at(now, offset)
    }

    /// Reads the 32-bit register at byte offset `offset`, the read issued by the host at `at`
    /// (the card's current time if earlier). Only the management port's `STATUS` depends on
    /// it (see the module doc).
    pub fn mmio_read_at(&mut self, at: SimTime, offset: RegOffset) -> u32 {
        let at = at.max(self.now());
        if let Some(v) = regs::header_register(offset) {
            return v;
        }
        let off = offset.0;
        if let Some(rel) = in_block(off, device_info::BASE, device_info::SIZE) {
            return self.read_device_info(rel);
        }
        if let Some(rel) = in_block(off, ft::BASE, ft::SIZE) {
            return self.read_flow_table(rel, at);
        }
        if let Some(rel) = in_block(off, mq::BASE, mq::SIZE) {
            return self.read_miss_queue(rel);
        }
        if let Some(rel) = in_block(off, ir::BASE, ir::SIZE) {
            return self.read_interrupts(rel);
        }
        if let Some(rel) = in_block(off, vq::BASE, vq::SIZE) {
            return self.read_vm_queues(rel);
        }
        0
    }

    /// Writes `value` to the 32-bit register at byte offset `offset` of BAR 0 (see the module
    /// doc), issued at the card's current time; the write reaches the card after its TLP
    /// crosses the link.
    pub fn mmio_write(&mut self, offset: RegOffset, value: u32) {
        let now = self.now();
        self.mmio_write_at(now, offset, value);
    }

    /// Writes `value` to the 32-bit register at byte offset `offset`, the write issued by the
    /// host at `at` (the card's current time if earlier). Only the management port depends on
    /// `at` (its busy time, see the module doc); everything else a write does happens at the
    /// card's current time, as for [`Card::mmio_write`].
    pub fn mmio_write_at(&mut self, at: SimTime, offset: RegOffset, value: u32) {
        let now = self.now();
        let at = at.max(now);
        // The write's TLP, charged once here; doorbells below take effect on its arrival.
        let arrive = self.dma.link_mut().mmio_write(now, 4);
        let off = offset.0;
        if let Some(rel) = in_block(off, ft::BASE, ft::SIZE) {
            self.write_flow_table(rel, value, at);
        } else if let Some(rel) = in_block(off, mq::BASE, mq::SIZE) {
            self.write_miss_queue(rel, value);
        } else if let Some(rel) = in_block(off, ir::BASE, ir::SIZE) {
            self.write_interrupts(rel, value);
        } else if let Some(rel) = in_block(off, vq::BASE, vq::SIZE) {
            self.write_vm_queues(rel, value, arrive);
        }
    }

    fn read_device_info(&self, rel: u32) -> u32 {
        let c = &self.config;
        match rel {
            device_info::SIGNATURE => regs::SIGNATURE,
            device_info::ABI_VERSION => regs::ABI_VERSION,
            device_info::NUM_UPLINKS => u32::try_from(self.macs.len()).unwrap_or(u32::MAX),
            device_info::NUM_VM_QUEUES => u32::from(regs::MAX_VM_QUEUES),
            device_info::TABLE_BUCKETS => self.table.buckets(),
            device_info::SLOTS_PER_BUCKET => SLOTS_U32,
            device_info::KEY_WORDS => KEY_WORDS_U32,
            device_info::ACTION_WORDS => ACTION_WORDS_U32,
            device_info::LOOKUP_LATENCY => {
                u32::try_from(c.pipeline.lookup_latency_cycles).unwrap_or(u32::MAX)
            }
            device_info::MAX_KICKS => self.table.max_kicks(),
            device_info::MISS_HEADER_BYTES => MISS_HEADER_U32,
            device_info::CORE_CLOCK_KHZ => {
                u32::try_from(1_000_000_000 / self.nic_clock.period_ps).unwrap_or(u32::MAX)
            }
            device_info::MGMT_COMMAND_CYCLES => c.table.mgmt_command_cycles,
            device_info::MGMT_KICK_CYCLES => c.table.mgmt_cycles_per_kick,
            _ => 0,
        }
    }

    fn read_flow_table(&self, rel: u32, at: SimTime) -> u32 {
        let r = &self.regs;
        match rel {
            ft::STATUS if at < r.mgmt_busy_until => MgmtStatus::Busy.code(),
            ft::STATUS => r.status,
            ft::OCCUPANCY => u32::try_from(self.table.len()).unwrap_or(u32::MAX),
            ft::LAST_KICKS => r.last_kicks,
            ft::SLOT => r.slot,
            ft::HITS_LO..=ft::LAST_HIT_HI => r.counters[((rel - ft::HITS_LO) / 4) as usize],
            _ if (ft::KEY_0..ft::key(KEY_WORDS_U32)).contains(&rel) => {
                r.key[((rel - ft::KEY_0) / 4) as usize]
            }
            _ if (ft::ACTION_0..ft::action(ACTION_WORDS_U32)).contains(&rel) => {
                r.action[((rel - ft::ACTION_0) / 4) as usize]
            }
            _ => 0,
        }
    }

    fn write_flow_table(&mut self, rel: u32, value: u32, at: SimTime) {
        if at < self.regs.mgmt_busy_until {
            // The port is busy: the protocol says writes to it are ignored.
            self.regs.mgmt_ignored_writes += 1;
            return;
        }
        if (ft::KEY_0..ft::key(KEY_WORDS_U32)).contains(&rel) {
            self.regs.key[((rel - ft::KEY_0) / 4) as usize] = value;
        } else if (ft::ACTION_0..ft::action(ACTION_WORDS_U32)).contains(&rel) {
            self.regs.action[((rel - ft::ACTION_0) / 4) as usize] = value;
        } else if rel == ft::SLOT {
            self.regs.slot = value;
        } else if rel == ft::CMD {
            let status = self.management_command(value);
            self.regs.status = status.code();
            // The port is busy from the write for the command's cycles (module doc).
            let kicks = if value == MgmtCommand::Insert.code() {
                self.regs.last_kicks
            } else {
                0
            };
            // A lookup or counter read that finds its key also reads the counter RAM.
            let read_counters = status == MgmtStatus::Ok
                && (value == MgmtCommand::Lookup.code()
                    || value == MgmtCommand::ReadCounters.code());
            let scan = if value == MgmtCommand::ReadNext.code() {
                u64::from(
                    self.regs
                        .scan_buckets
                        .div_ceil(nic_abi::table::MGMT_SCAN_BUCKETS_PER_CYCLE),
                )
            } else {
                0
            };
            let cycles = self.config.table.mgmt_timing().busy_cycles(
                kicks,
                status == MgmtStatus::TableFull,
                read_counters,
            ) + scan;
            let done = at + self.nic_clock.cycles(cycles);
            self.regs.mgmt_busy_until = done;
            // The command owns the lookup pipeline meanwhile (management wins).
            self.pipeline.hold_lookups(at, done);
            self.regs.mgmt_busy_ps += done.saturating_since(at).as_ps();
            self.ensure_vector(VECTOR_MGMT);
            self.raise(VECTOR_MGMT, ir::CAUSE_MGMT_DONE, done);
        }
    }

    fn load_counters(&mut self, stats: nic_abi::device::EntryStats) {
        let c = &mut self.regs.counters;
        for (i, v) in [stats.hits, stats.bytes, stats.last_hit.0]
            .into_iter()
            .enumerate()
        {
            c[2 * i] = lo(v);
            c[2 * i + 1] = hi(v);
        }
    }

    /// Runs a management command on the latched key and action words.
    fn management_command(&mut self, code: u32) -> MgmtStatus {
        let Ok(cmd) = MgmtCommand::try_from(code) else {
            return MgmtStatus::BadCommand;
        };
        if cmd == MgmtCommand::ReadSlot {
            return self.read_slot();
        }
        if cmd == MgmtCommand::ReadNext {
            return self.read_next();
        }
        if cmd == MgmtCommand::Insert {
            // Every insert sets LAST_KICKS, a refused one to 0.
            self.regs.last_kicks = 0;
        }
        let key = match FlowKey::from_words(&self.regs.key) {
            Ok(k) if k.is_parsed() => k,
            _ => return MgmtStatus::BadKey,
        };
        match cmd {
            MgmtCommand::Insert => {
                let Ok(action) = Action::from_words(&self.regs.action) else {
                    return MgmtStatus::BadAction;
                };
                let now = self.now();
                match self.table.insert_at(&key, action, now) {
                    Ok(InsertOutcome::Inserted { kicks, slot }) => {
                        self.regs.last_kicks = kicks;
                        self.regs.slot = slot.0;
                        MgmtStatus::Ok
                    }
                    Ok(InsertOutcome::Updated { slot }) => {
                        self.regs.last_kicks = 0;
                        self.regs.slot = slot.0;
                        MgmtStatus::Updated
                    }
                    Err(InsertError::TableFull { kicks, .. }) => {
                        self.regs.last_kicks = kicks;
                        MgmtStatus::TableFull
                    }
                    Err(InsertError::UnparsedKey(_)) => MgmtStatus::BadKey,
                }
            }
            MgmtCommand::Delete => {
                let slot = self.table.find(&key);
                match self.table.delete(&key) {
                    Some(_) => {
                        self.regs.slot = slot.map_or(self.regs.slot, |s| s.0);
                        MgmtStatus::Ok
                    }
                    None => MgmtStatus::NotFound,
                }
            }
            MgmtCommand::ReadSlot | MgmtCommand::ReadNext => MgmtStatus::BadCommand,
            MgmtCommand::Lookup | MgmtCommand::ReadCounters => match self.table.entry(&key) {
                Some((action, stats)) => {
                    if let Some(slot) = self.table.find(&key) {
                        self.regs.slot = slot.0;
                    }
                    if cmd == MgmtCommand::Lookup {
                        self.regs.action = action.to_words();
                    }
                    self.load_counters(stats);
                    MgmtStatus::Ok
                }
                None => MgmtStatus::NotFound,
            },
        }
    }

    /// `READ_SLOT`: the entry in slot `SLOT` into the key, action and counter registers.
    fn read_slot(&mut self) -> MgmtStatus {
        let slot = self.regs.slot;
        if u64::from(slot) >= self.table.capacity() as u64 {
            return MgmtStatus::BadCommand;
        }
        match self.table.slot(crate::flow_table::SlotIndex(slot)) {
            Some((key, action, stats)) => {
                self.regs.key = *key;
                self.regs.action = action.to_words();
                self.load_counters(stats);
                MgmtStatus::Ok
            }
            None => MgmtStatus::NotFound,
        }
    }

    /// `READ_NEXT`: the first occupied slot from `SLOT` on, within the scan bound, into the
    /// result registers and `SLOT`; else `NotFound` with `SLOT` where the scan stopped.
    /// Records the buckets passed in `scan_buckets` (the command's extra busy cycles).
    fn read_next(&mut self) -> MgmtStatus {
        let capacity = u32::try_from(self.table.capacity()).unwrap_or(u32::MAX);
        let start = self.regs.slot;
        if start >= capacity {
            return MgmtStatus::BadCommand;
        }
        let slots_per_bucket = SLOTS_U32;
        let first_bucket = start / slots_per_bucket;
        let end = first_bucket
            .saturating_add(nic_abi::table::MGMT_SCAN_MAX_BUCKETS)
            .saturating_mul(slots_per_bucket)
            .min(capacity);
        self.regs.scan_buckets = 0;
        for slot in start..end {
            if let Some((key, action, stats)) = self.table.slot(crate::flow_table::SlotIndex(slot))
            {
                self.regs.key = *key;
                self.regs.action = action.to_words();
                self.load_counters(stats);
                self.regs.slot = slot;
                self.regs.scan_buckets = slot / slots_per_bucket - first_bucket + 1;
                return MgmtStatus::Ok;
            }
        }
        self.regs.slot = end;
        self.regs.scan_buckets = end.div_ceil(slots_per_bucket) - first_bucket;
        MgmtStatus::NotFound
    }

    fn read_miss_queue(&self, rel: u32) -> u32 {
        let r = &self.regs;
        let (producer, consumer) = self
            .miss
            .as_ref()
            .map_or((0, 0), |m| (m.published.value(), m.consumer.value()));
        match rel {
            mq::RING_BASE_LO => lo(r.miss_base),
            mq::RING_BASE_HI => hi(r.miss_base),
            mq::RING_SIZE => r.miss_size,
            mq::PRODUCER => u32::from(producer),
            mq::CONSUMER => u32::from(consumer),
            mq::CONTROL => r.miss_control,
            mq::RELEASE_BASE_LO => lo(r.release_base),
            mq::RELEASE_BASE_HI => hi(r.release_base),
            mq::RELEASE_SIZE => r.release_size,
            mq::RELEASE_PRODUCER => u32::from(r.release_producer.value()),
            mq::RELEASE_CONSUMER => u32::from(r.release_consumer.value()),
            mq::HELD_PACKETS => u32::try_from(self.held.len()).unwrap_or(u32::MAX),
            mq::HELD_LIMIT => self.config.held_packets,
            mq::HELD_OVERFLOW_DROPS => {
                u32::try_from(self.counters.dropped(DropReason::MissQueueFull) & 0xffff_ffff)
                    .unwrap_or(u32::MAX)
            }
            _ => 0,
        }
    }

    fn write_miss_queue(&mut self, rel: u32, value: u32) {
        let r = &mut self.regs;
        match rel {
            mq::RING_BASE_LO => set_lo(&mut r.miss_base, value),
            mq::RING_BASE_HI => set_hi(&mut r.miss_base, value),
            mq::RING_SIZE => r.miss_size = value,
            mq::CONSUMER => self.set_miss_consumer(RingIndex::new(low16(value))),
            mq::CONTROL => {
                let enable = value & mq::CONTROL_ENABLE != 0;
                let was = r.miss_control & mq::CONTROL_ENABLE != 0;
                r.miss_control = value & mq::CONTROL_ENABLE;
                if enable && was && value & mq::CONTROL_REPLAY != 0 {
                    let now = self.now();
                    self.schedule(now, Event::ReplayHeld);
                    return;
                }
                if enable && !was {
                    let setup = MissQueueSetup {
                        vm: VmId(0),
                        ring: RingSetup {
                            base: Iova(r.miss_base),
                            entries: low16(r.miss_size),
                        },
                        vector: VECTOR_MISS,
                    };
                    if u16::try_from(self.regs.miss_size).is_err()
                        || self.set_miss_queue(setup).is_err()
                    {
                        // A ring size that is no power of two: stays disabled.
                        self.regs.miss_control = 0;
                    }
                } else if !enable && was {
                    self.miss = None;
                }
            }
            mq::RELEASE_BASE_LO => set_lo(&mut r.release_base, value),
            mq::RELEASE_BASE_HI => set_hi(&mut r.release_base, value),
            mq::RELEASE_SIZE => r.release_size = value,
            mq::RELEASE_PRODUCER => {
                r.release_producer = RingIndex::new(low16(value));
                let now = self.now();
                self.schedule(now, Event::ReleaseDoorbell);
            }
            _ => {}
        }
    }

    fn read_interrupts(&self, rel: u32) -> u32 {
        if rel == ir::VECTOR_COUNT {
            return 2 + u32::from(regs::MAX_VM_QUEUES);
        }
        let Some(v) = rel.checked_sub(ir::VECTOR_BASE) else {
            return 0;
        };
        let (vector, reg) = (v / ir::VECTOR_STRIDE, v % ir::VECTOR_STRIDE);
        let Some(irq) = self.vectors.get(vector as usize) else {
            return 0;
        };
        match reg {
            ir::CAUSE => irq.cause,
            ir::ENABLE => irq.enable,
            ir::MOD_COUNT => irq.max_events,
            ir::MOD_TIME_NS => u32::try_from(irq.max_delay.0 / 1_000).unwrap_or(u32::MAX),
            _ => 0,
        }
    }

    fn write_interrupts(&mut self, rel: u32, value: u32) {
        let Some(v) = rel.checked_sub(ir::VECTOR_BASE) else {
            return;
        };
        let (vector, reg) = (v / ir::VECTOR_STRIDE, v % ir::VECTOR_STRIDE);
        let Ok(vector) = u16::try_from(vector) else {
            return;
        };
        self.ensure_vector(IrqVector(vector));
        let Some(irq) = self.vectors.get_mut(usize::from(vector)) else {
            return;
        };
        match reg {
            ir::CAUSE => irq.cause &= !value,
            ir::ENABLE => irq.enable = value,
            ir::MOD_COUNT => irq.max_events = value.max(1),
            ir::MOD_TIME_NS => {
                irq.max_delay = nic_abi::time::SimDuration::from_ns(u64::from(value))
            }
            _ => {}
        }
    }

    fn read_vm_queues(&self, rel: u32) -> u32 {
        match rel {
            vq::QUEUE_COUNT => return u32::from(regs::MAX_VM_QUEUES),
            vq::QUEUE_STRIDE => return vq::QUEUE_STRIDE_BYTES,
            _ => {}
        }
        let Some(v) = rel.checked_sub(vq::QUEUE_BASE) else {
            return 0;
        };
        let (q, reg) = (v / vq::QUEUE_STRIDE_BYTES, v % vq::QUEUE_STRIDE_BYTES);
        let Some(r) = self.regs.queues.get(q as usize) else {
            return 0;
        };
        let live = self.queues.get(q as usize).filter(|x| x.enabled);
        let idx = |f: fn(&VmQueue) -> RingIndex| live.map_or(0, |x| u32::from(f(x).value()));
        match reg {
            vq::CONTROL => r.control,
            vq::VM_ID => r.vm_id,
            vq::PORT => r.port,
            vq::STATUS => r.status,
            vq::TX_RING_BASE_LO => lo(r.tx_base),
            vq::TX_RING_BASE_HI => hi(r.tx_base),
            vq::TX_RING_SIZE => r.tx_size,
            vq::TX_PRODUCER => idx(|x| x.tx_producer),
            vq::TX_CONSUMER => idx(|x| x.tx_consumer),
            vq::TX_CPL_BASE_LO => lo(r.tx_cpl_base),
            vq::TX_CPL_BASE_HI => hi(r.tx_cpl_base),
            vq::TX_CPL_PRODUCER => idx(|x| x.tx_cq_producer),
            vq::TX_CPL_CONSUMER => r.tx_cpl_consumer,
            vq::RX_RING_BASE_LO => lo(r.rx_base),
            vq::RX_RING_BASE_HI => hi(r.rx_base),
            vq::RX_RING_SIZE => r.rx_size,
            vq::RX_PRODUCER => idx(|x| x.rx_producer),
            vq::RX_CONSUMER => idx(|x| x.rx_consumer),
            vq::RX_CPL_BASE_LO => lo(r.rx_cpl_base),
            vq::RX_CPL_BASE_HI => hi(r.rx_cpl_base),
            vq::RX_CPL_PRODUCER => idx(|x| x.rx_cq_producer),
            vq::RX_CPL_CONSUMER => r.rx_cpl_consumer,
            _ => 0,
        }
    }

    fn write_vm_queues(&mut self, rel: u32, value: u32, arrive: SimTime) {
        let Some(v) = rel.checked_sub(vq::QUEUE_BASE) else {
            return;
        };
        let (q, reg) = (v / vq::QUEUE_STRIDE_BYTES, v % vq::QUEUE_STRIDE_BYTES);
        let Ok(q) = u16::try_from(q) else {
            return;
        };
        let Some(r) = self.regs.queues.get_mut(usize::from(q)) else {
            return;
        };
        match reg {
            vq::CONTROL => {
                let enable = value & vq::CONTROL_ENABLE != 0;
                let was = r.control & vq::CONTROL_ENABLE != 0;
                r.control = value & vq::CONTROL_ENABLE;
                let r = *r;
                if enable && !was {
                    self.enable_queue_from_registers(q, &r);
                } else if !enable && was {
                    self.disable_queue(QueueIndex(q));
                }
            }
            vq::VM_ID => r.vm_id = value,
            vq::PORT => r.port = value,
            vq::STATUS => r.status &= !value,
            vq::TX_RING_BASE_LO => set_lo(&mut r.tx_base, value),
            vq::TX_RING_BASE_HI => set_hi(&mut r.tx_base, value),
            vq::TX_RING_SIZE => r.tx_size = value,
            vq::TX_CPL_BASE_LO => set_lo(&mut r.tx_cpl_base, value),
            vq::TX_CPL_BASE_HI => set_hi(&mut r.tx_cpl_base, value),
            vq::TX_CPL_CONSUMER => r.tx_cpl_consumer = value,
            vq::RX_RING_BASE_LO => set_lo(&mut r.rx_base, value),
            vq::RX_RING_BASE_HI => set_hi(&mut r.rx_base, value),
            vq::RX_RING_SIZE => r.rx_size = value,
            vq::RX_CPL_BASE_LO => set_lo(&mut r.rx_cpl_base, value),
            vq::RX_CPL_BASE_HI => set_hi(&mut r.rx_cpl_base, value),
            vq::RX_CPL_CONSUMER => r.rx_cpl_consumer = value,
            vq::TX_PRODUCER => {
                let enabled = self.queues.get(usize::from(q)).is_some_and(|x| x.enabled);
                if enabled {
                    let _ =
                        self.set_tx_producer(QueueIndex(q), RingIndex::new(low16(value)), arrive);
                }
            }
            vq::RX_PRODUCER => {
                let enabled = self.queues.get(usize::from(q)).is_some_and(|x| x.enabled);
                if enabled {
                    let _ = self.set_rx_producer(QueueIndex(q), RingIndex::new(low16(value)));
                }
            }
            _ => {}
        }
    }

    /// `CONTROL` enable of queue `q`: set it up from its latched registers. A setup the card
    /// refuses (ring size, port in use, queues not enabled densely from 0) leaves the queue
    /// disabled with `STATUS_DESCRIPTOR_REFUSED` set.
    fn enable_queue_from_registers(&mut self, q: u16, r: &QueueRegs) {
        let vector = IrqVector(
            u16::try_from(ir::VECTOR_QUEUE_0)
                .unwrap_or(2)
                .saturating_add(q),
        );
        let ring = |base: u64, size: u32| RingSetup {
            base: Iova(base),
            entries: u16::try_from(size).unwrap_or(0),
        };
        let setup = QueueSetup {
            vm: VmId(low16(r.vm_id)),
            port: PortNo(low16(r.port)),
            rx: ring(r.rx_base, r.rx_size),
            rx_completions: ring(r.rx_cpl_base, r.rx_size),
            tx: ring(r.tx_base, r.tx_size),
            tx_completions: ring(r.tx_cpl_base, r.tx_size),
            rx_vector: vector,
            tx_vector: vector,
        };
        let sizes_ok = u16::try_from(r.rx_size).is_ok() && u16::try_from(r.tx_size).is_ok();
        if !sizes_ok || self.set_queue(QueueIndex(q), setup).is_err() {
            if let Some(regs) = self.regs.queues.get_mut(usize::from(q)) {
                regs.control = 0;
                regs.status |= vq::STATUS_DESCRIPTOR_REFUSED;
            }
        }
    }
}
