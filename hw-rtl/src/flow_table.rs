//! Safe wrapper of the `flow_table` RTL model (`rtl/flow_table.sv`): the lookup pipeline and
//! its management port, driven cycle by cycle ([`FlowTableRtl::step`]) or a command at a time
//! ([`FlowTableRtl::execute`]).
#![allow(unsafe_code)]

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::ffi::CString;
use std::path::Path;

use std::collections::VecDeque;

use nic_abi::action::{Action, ActionError};
use nic_abi::device::{
    mgmt_outcome, EntryStats, FlowTableDevice, FlowTableError, InsertOutcome, MgmtOutcome,
};
use nic_abi::key::{FlowKey, KeyWords};
use nic_abi::regs;
use nic_abi::time::SimTime;

use crate::{ffi, RtlError};

/// Inputs of one clock cycle, laid out as `FtInputs` in `csrc/flow_table_shim.h`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FtInputs {
    lookup_key: KeyWords,
    lookup_tag: u32,
    lookup_time: u64,
    reg_wr_data: u32,
    reg_wr_addr: u16,
    reg_rd_addr: u16,
    lookup_len: u16,
    lookup_valid: u8,
    result_ready: u8,
    reg_wr_en: u8,
    reg_rd_en: u8,
    pad: [u8; 2],
}

/// Outputs after one clock cycle, laid out as `FtOutputs` in `csrc/flow_table_shim.h`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FtOutputs {
    result_action: u64,
    result_slot: u32,
    result_tag: u32,
    reg_rd_data: u32,
    lookup_ready: u8,
    result_valid: u8,
    result_hit: u8,
    mgmt_done: u8,
}

/// Which verilated build of `flow_table` to run; the two differ only in parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableVariant {
    /// 1024 buckets: realistic occupancy runs.
    Standard,
    /// 16 buckets and a 16-kick bound: random operations fill it, collide and fail inserts.
    Small,
    /// The small table's gate-level netlist, as Yosys synthesizes it for a Lattice ECP5
    /// (lookup-table cells, flip-flops and DP16KD block RAMs), built with the `gate-level`
    /// feature.
    #[cfg(feature = "gate-level")]
    GateSmall,
}

struct Shim {
    new: unsafe extern "C" fn(*const core::ffi::c_char) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
    cycles: unsafe extern "C" fn(*mut c_void) -> u64,
    step: unsafe extern "C" fn(*mut c_void, *const FtInputs, *mut FtOutputs, u8),
}

const STANDARD_SHIM: Shim = Shim {
    new: ffi::snich_ft_new,
    free: ffi::snich_ft_free,
    cycles: ffi::snich_ft_cycles,
    step: ffi::snich_ft_step,
};

const SMALL_SHIM: Shim = Shim {
    new: ffi::snich_ft_small_new,
    free: ffi::snich_ft_small_free,
    cycles: ffi::snich_ft_small_cycles,
    step: ffi::snich_ft_small_step,
};

#[cfg(feature = "gate-level")]
const GATE_SHIM: Shim = Shim {
    new: ffi::snich_ft_gate_new,
    free: ffi::snich_ft_gate_free,
    cycles: ffi::snich_ft_gate_cycles,
    step: ffi::snich_ft_gate_step,
};

impl TableVariant {
    fn shim(self) -> &'static Shim {
        match self {
            TableVariant::Standard => &STANDARD_SHIM,
            TableVariant::Small => &SMALL_SHIM,
            #[cfg(feature = "gate-level")]
            TableVariant::GateSmall => &GATE_SHIM,
        }
    }

    /// Buckets of this build (the `-G` override build.rs gave Verilator).
    pub fn buckets(self) -> u32 {
        let text = match self {
            TableVariant::Standard => env!("SNICH_RTL_FLOW_TABLE_BUCKETS"),
            TableVariant::Small => env!("SNICH_RTL_FLOW_TABLE_SMALL_BUCKETS"),
            #[cfg(feature = "gate-level")]
            TableVariant::GateSmall => env!("SNICH_RTL_FLOW_TABLE_GATE_BUCKETS"),
        };
        parse_build_param(text)
    }

    /// The cuckoo walk's kick bound of this build.
    pub fn max_kicks(self) -> u32 {
        match self {
            TableVariant::Standard => nic_abi::table::DEFAULT_MAX_KICKS,
            TableVariant::Small => parse_build_param(env!("SNICH_RTL_FLOW_TABLE_SMALL_MAX_KICKS")),
            #[cfg(feature = "gate-level")]
            TableVariant::GateSmall => {
                parse_build_param(env!("SNICH_RTL_FLOW_TABLE_GATE_MAX_KICKS"))
            }
        }
    }
}

/// Build parameters are decimal literals written by build.rs; a bad one is a build bug.
fn parse_build_param(text: &str) -> u32 {
    text.parse().unwrap_or(0)
}

/// A lookup presented to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupRequest {
    /// The packed key.
    pub key: KeyWords,
    /// Packet length, added to the hit entry's byte counter.
    pub len: u16,
    /// Time of the lookup, stored as the hit entry's last-hit time.
    pub time: SimTime,
    /// An opaque tag returned with the result.
    pub tag: u32,
}

/// A lookup's result, LATENCY enabled cycles after the lookup was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupResult {
    /// The request's tag.
    pub tag: u32,
    /// The hit slot and its action, or `None` for a miss.
    pub hit: Option<(u32, Action)>,
}

/// A management command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MgmtCommand {
    /// Insert or update an entry.
    Insert {
        /// The packed key.
        key: KeyWords,
        /// Its action.
        action: Action,
    },
    /// Delete the entry of a key.
    Delete {
        /// The packed key.
        key: KeyWords,
    },
    /// Read the action of a key's entry.
    Lookup {
        /// The packed key.
        key: KeyWords,
    },
    /// Read the entry (and counters) of a key.
    ReadCounters {
        /// The packed key.
        key: KeyWords,
    },
    /// Read a slot by index (`bucket * SLOTS + slot`), valid or not.
    ReadSlot(u32),
}

impl MgmtCommand {
    /// The command's code in the register map (`nic_abi::regs::MgmtCommand`).
    fn opcode(&self) -> u8 {
        use nic_abi::regs::MgmtCommand as Code;
        let code = match self {
            MgmtCommand::Insert { .. } => Code::Insert,
            MgmtCommand::Delete { .. } => Code::Delete,
            MgmtCommand::Lookup { .. } => Code::Lookup,
            MgmtCommand::ReadCounters { .. } => Code::ReadCounters,
            MgmtCommand::ReadSlot(_) => Code::ReadSlot,
        };
        // Command codes are small (1..=5): the port's opcode field is 4 bits.
        u8::try_from(code.code()).unwrap_or(0)
    }
}

pub use nic_abi::regs::MgmtStatus;

/// An entry as the management port reads it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtlEntry {
    /// The packed key.
    pub key: KeyWords,
    /// Its action.
    /// Its action; `None` for a counter read, which leaves `ACTION_n` alone.
    pub action: Option<Action>,
    /// Lookups that hit it.
    pub hits: u64,
    /// Bytes of the packets that hit it.
    pub bytes: u64,
    /// Time of the last hit (0 if never hit).
    pub last_hit: SimTime,
}

/// A management response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MgmtResponse {
    /// What happened (the register map's status code).
    pub status: MgmtStatus,
    /// The slot concerned (where an insert placed the new entry; the slot found or read).
    pub slot: u32,
    /// Cuckoo kicks the insert made (the bound, for a failed insert).
    pub kicks: u32,
    /// Entries in the table after the command.
    pub occupancy: u32,
    /// The entry read back (read commands), or `None`.
    pub entry: Option<RtlEntry>,
}

/// The inputs of one cycle.
#[derive(Debug, Clone, Copy, Default)]
pub struct CycleInputs {
    /// A lookup to present, or none.
    pub lookup: Option<LookupRequest>,
    /// Whether the consumer takes a result this cycle (false: backpressure).
    pub result_ready: bool,
}

/// What one cycle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleOutputs {
    /// The presented lookup was accepted at this edge.
    pub lookup_accepted: bool,
    /// The result register after the edge (valid until taken with `result_ready`).
    pub result: Option<LookupResult>,
    /// The queued command's `CMD` write happened at this edge: from here on the table holds
    /// every lookup not yet accepted until the command is done.
    pub mgmt_started: bool,
    /// The queued command's response, complete with its result registers read back.
    pub mgmt_response: Option<MgmtResponse>,
}

fn unpack_action(v: u64) -> Result<Action, ActionError> {
    let lo = u32::try_from(v & 0xffff_ffff).unwrap_or(0);
    let hi = u32::try_from(v >> 32).unwrap_or(0);
    Action::try_from([lo, hi])
}

/// Absolute BAR offset of a flow-table register (block-relative `offset`).
fn reg(offset: u32) -> u16 {
    // The block lies in the 64 KiB BAR (nic_abi::regs::BAR_BYTES): offsets fit 16 bits.
    u16::try_from(regs::flow_table::BASE.0 + offset).unwrap_or(u16::MAX)
}

/// The result registers read back after every command, in this order.
const RESULT_REGS: [u32; 11] = [
    regs::flow_table::STATUS,
    regs::flow_table::SLOT,
    regs::flow_table::LAST_KICKS,
    regs::flow_table::OCCUPANCY,
    regs::flow_table::ACTION_0,
    regs::flow_table::ACTION_0 + 4,
    regs::flow_table::HITS_LO,
    regs::flow_table::HITS_HI,
    regs::flow_table::BYTES_LO,
    regs::flow_table::BYTES_HI,
    regs::flow_table::LAST_HIT_LO,
];

/// A command in progress through the register port: writes, then status polls, then reads.
#[derive(Debug, Clone)]
struct CommandSequencer {
    cmd: MgmtCommand,
    writes: VecDeque<(u16, u32)>,
    polls: u32,
    reads: VecDeque<u16>,
    read_back: Vec<u32>,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Writing,
    Polling,
    Reading,
}

impl CommandSequencer {
    fn new(cmd: MgmtCommand) -> CommandSequencer {
        let mut writes = VecDeque::new();
        let key_writes = |w: &mut VecDeque<(u16, u32)>, key: &KeyWords| {
            for (n, word) in (0u32..).zip(key) {
                w.push_back((reg(regs::flow_table::key(n)), *word));
            }
        };
        match &cmd {
            MgmtCommand::Insert { key, action } => {
                key_writes(&mut writes, key);
                for (n, word) in (0u32..).zip(action.to_words()) {
                    writes.push_back((reg(regs::flow_table::action(n)), word));
                }
            }
            MgmtCommand::Delete { key }
            | MgmtCommand::Lookup { key }
            | MgmtCommand::ReadCounters { key } => key_writes(&mut writes, key),
            MgmtCommand::ReadSlot(slot) => writes.push_back((reg(regs::flow_table::SLOT), *slot)),
        }
        writes.push_back((reg(regs::flow_table::CMD), u32::from(cmd.opcode())));
        let mut reads: VecDeque<u16> = RESULT_REGS.iter().map(|&r| reg(r)).collect();
        reads.push_back(reg(regs::flow_table::LAST_HIT_HI));
        if matches!(cmd, MgmtCommand::ReadSlot(_)) {
            reads.extend((0..KEY_WORD_COUNT).map(|n| reg(regs::flow_table::key(n))));
        }
        CommandSequencer {
            cmd,
            writes,
            polls: 0,
            reads,
            read_back: Vec::new(),
            phase: Phase::Writing,
        }
    }

    /// The register access to make this cycle: (write, read).
    fn access(&self) -> (Option<(u16, u32)>, Option<u16>) {
        match self.phase {
            Phase::Writing => (self.writes.front().copied(), None),
            Phase::Polling => (None, Some(reg(regs::flow_table::STATUS))),
            Phase::Reading => (None, self.reads.front().copied()),
        }
    }

    /// Takes the cycle's read data; returns (CMD written this cycle, response when complete).
    fn advance(&mut self, rd_data: u32) -> Result<(bool, Option<MgmtResponse>), RtlError> {
        match self.phase {
            Phase::Writing => {
                let written = self.writes.pop_front();
                let started = written.is_some_and(|(a, _)| a == reg(regs::flow_table::CMD));
                if started {
                    self.phase = Phase::Polling;
                }
                Ok((started, None))
            }
            Phase::Polling => {
                self.polls += 1;
                if rd_data != MgmtStatus::Busy.code() {
                    self.phase = Phase::Reading;
                }
                Ok((false, None))
            }
            Phase::Reading => {
                self.reads.pop_front();
                self.read_back.push(rd_data);
                if self.reads.is_empty() {
                    return Ok((false, Some(self.response()?)));
                }
                Ok((false, None))
            }
        }
    }

    fn response(&self) -> Result<MgmtResponse, RtlError> {
        let r = &self.read_back;
        let get = |i: usize| r.get(i).copied().unwrap_or(0);
        let wide = |lo: usize| u64::from(get(lo)) | (u64::from(get(lo + 1)) << 32);
        let status = MgmtStatus::try_from(get(0))
            .map_err(|_| RtlError::BadStatus(u8::try_from(get(0)).unwrap_or(u8::MAX)))?;
        let key = match &self.cmd {
            MgmtCommand::ReadSlot(_) => {
                let mut k: KeyWords = [0; nic_abi::key::KEY_WORDS];
                for (n, w) in k.iter_mut().enumerate() {
                    *w = get(RESULT_REGS.len() + 1 + n);
                }
                k
            }
            MgmtCommand::Insert { key, .. }
            | MgmtCommand::Delete { key }
            | MgmtCommand::Lookup { key }
            | MgmtCommand::ReadCounters { key } => *key,
        };
        let reads_entry = matches!(
            self.cmd,
            MgmtCommand::Lookup { .. }
                | MgmtCommand::ReadCounters { .. }
                | MgmtCommand::ReadSlot(_)
        );
        let entry = if reads_entry && status == MgmtStatus::Ok {
            Some(RtlEntry {
                key,
                action: if matches!(self.cmd, MgmtCommand::ReadCounters { .. }) {
                    None
                } else {
                    Some(unpack_action(wide(4))?)
                },
                hits: wide(6),
                bytes: wide(8),
                last_hit: SimTime(wide(10)),
            })
        } else {
            None
        };
        Ok(MgmtResponse {
            status,
            slot: get(1),
            kicks: get(2),
            occupancy: get(3),
            entry,
        })
    }
}

/// The key's word count as the register loop takes it.
const KEY_WORD_COUNT: u32 = 15;

/// The verilated `flow_table` behind its register block (`flow_table_regs`), in its own
/// Verilator context. Management goes through the registers of `nic_abi::regs::flow_table`,
/// exactly as a driver writes them. Not `Send`.
pub struct FlowTableRtl {
    handle: NonNull<c_void>,
    shim: &'static Shim,
    variant: TableVariant,
    command: Option<CommandSequencer>,
    occupancy: u64,
    _not_send: PhantomData<*const ()>,
}

impl core::fmt::Debug for FlowTableRtl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FlowTableRtl")
            .field("variant", &self.variant)
            .field("cycles", &self.cycles())
            .field("command", &self.command.as_ref().map(|c| c.cmd))
            .finish()
    }
}

/// Cycles the RTL's management port spends on one cuckoo kick: read the victim, latch it, hash
/// it, read its other bucket, find a free slot, place the carried entry (rtl/flow_table.sv).
pub const KICK_CYCLES: u64 = 6;

/// Cycles the RTL's management port spends undoing one kick: read the path, read the slot,
/// swap.
pub const UNDO_CYCLES: u64 = 3;

/// Bound on cycles one command may take before [`FlowTableRtl::execute`] gives up: register
/// writes, drain, hash, read, compare, execute, every kick walked and undone, reads, with room
/// to spare.
fn command_cycle_bound(variant: TableVariant) -> u64 {
    u64::from(nic_abi::table::LOOKUP_LATENCY_CYCLES)
        + (KICK_CYCLES + UNDO_CYCLES) * u64::from(variant.max_kicks())
        + 128
}

impl FlowTableRtl {
    /// A new, empty table of the given build, reset for two cycles. With `vcd`, every half
    /// cycle is dumped there.
    pub fn new(variant: TableVariant, vcd: Option<&Path>) -> Result<FlowTableRtl, RtlError> {
        let shim = variant.shim();
        let path = crate::vcd_path_cstring(vcd)?;
        let ptr = path
            .as_ref()
            .map_or(core::ptr::null(), |p: &CString| p.as_ptr());
        // SAFETY: `ptr` is null or a NUL-terminated string alive for the call; the shim opens
        // the file during the call and keeps no pointer to the string.
        let raw = unsafe { (shim.new)(ptr) };
        let handle = NonNull::new(raw).ok_or(RtlError::ModelAllocation("flow_table"))?;
        let mut table = FlowTableRtl {
            handle,
            shim,
            variant,
            command: None,
            occupancy: 0,
            _not_send: PhantomData,
        };
        let idle = FtInputs::default();
        for _ in 0..2 {
            table.raw_step(&idle, true);
        }
        Ok(table)
    }

    /// Which build this is.
    pub fn variant(&self) -> TableVariant {
        self.variant
    }

    /// Clock cycles simulated so far, reset included.
    pub fn cycles(&self) -> u64 {
        // SAFETY: the handle is live (owned by self).
        unsafe { (self.shim.cycles)(self.handle.as_ptr()) }
    }

    fn raw_step(&mut self, inputs: &FtInputs, rst: bool) -> FtOutputs {
        let mut out = FtOutputs::default();
        // SAFETY: the handle is live; `inputs` and `out` point to live values of the C layout
        // (`#[repr(C)]`, checked against the C++ structs by a size test); the shim keeps
        // neither pointer.
        unsafe { (self.shim.step)(self.handle.as_ptr(), inputs, &mut out, u8::from(rst)) };
        out
    }

    /// Queues a management command; [`FlowTableRtl::step`] carries it out through the
    /// registers over the next cycles. Fails while another command is in progress.
    pub fn start_command(&mut self, cmd: MgmtCommand) -> Result<(), RtlError> {
        if self.command.is_some() {
            return Err(RtlError::CommandInProgress);
        }
        self.command = Some(CommandSequencer::new(cmd));
        Ok(())
    }

    /// True while a queued command has not produced its response.
    pub fn command_in_progress(&self) -> bool {
        self.command.is_some()
    }

    /// One clock cycle with these inputs (and the queued command's register access, if any).
    pub fn step(&mut self, inputs: &CycleInputs) -> Result<CycleOutputs, RtlError> {
        let mut raw = FtInputs {
            result_ready: u8::from(inputs.result_ready),
            ..Default::default()
        };
        if let Some(l) = &inputs.lookup {
            raw.lookup_valid = 1;
            raw.lookup_key = l.key;
            raw.lookup_len = l.len;
            raw.lookup_time = l.time.as_ps();
            raw.lookup_tag = l.tag;
        }
        if let Some(seq) = &self.command {
            let (write, read) = seq.access();
            if let Some((addr, data)) = write {
                raw.reg_wr_en = 1;
                raw.reg_wr_addr = addr;
                raw.reg_wr_data = data;
            }
            if let Some(addr) = read {
                raw.reg_rd_en = 1;
                raw.reg_rd_addr = addr;
            }
        }
        let out = self.raw_step(&raw, false);
        let (mgmt_started, mgmt_response) = match self.command.as_mut() {
            Some(seq) => seq.advance(out.reg_rd_data)?,
            None => (false, None),
        };
        if let Some(rsp) = &mgmt_response {
            self.command = None;
            self.occupancy = u64::from(rsp.occupancy);
        }
        let result = if out.result_valid != 0 {
            let hit = if out.result_hit != 0 {
                Some((out.result_slot, unpack_action(out.result_action)?))
            } else {
                None
            };
            Some(LookupResult {
                tag: out.result_tag,
                hit,
            })
        } else {
            None
        };
        Ok(CycleOutputs {
            lookup_accepted: inputs.lookup.is_some() && out.lookup_ready != 0,
            result,
            mgmt_started,
            mgmt_response,
        })
    }

    /// One register write (byte offset in the BAR), taking one cycle. Fails while a queued
    /// command owns the register port.
    pub fn mmio_write(&mut self, offset: u16, value: u32) -> Result<(), RtlError> {
        if self.command.is_some() {
            return Err(RtlError::CommandInProgress);
        }
        let raw = FtInputs {
            result_ready: 1,
            reg_wr_en: 1,
            reg_wr_addr: offset,
            reg_wr_data: value,
            ..Default::default()
        };
        self.raw_step(&raw, false);
        Ok(())
    }

    /// One register read (byte offset in the BAR), taking one cycle. Fails while a queued
    /// command owns the register port.
    pub fn mmio_read(&mut self, offset: u16) -> Result<u32, RtlError> {
        if self.command.is_some() {
            return Err(RtlError::CommandInProgress);
        }
        let raw = FtInputs {
            result_ready: 1,
            reg_rd_en: 1,
            reg_rd_addr: offset,
            ..Default::default()
        };
        Ok(self.raw_step(&raw, false).reg_rd_data)
    }

    /// Runs one management command to its response through the registers, with no lookups.
    /// Returns the response and the cycles it took (register writes, the command, the reads).
    pub fn execute(&mut self, cmd: MgmtCommand) -> Result<(MgmtResponse, u64), RtlError> {
        self.start_command(cmd)?;
        let bound = command_cycle_bound(self.variant);
        let idle = CycleInputs {
            lookup: None,
            result_ready: true,
        };
        for cycle in 1..=bound {
            if let Some(rsp) = self.step(&idle)?.mgmt_response {
                return Ok((rsp, cycle));
            }
        }
        self.command = None;
        Err(RtlError::Timeout {
            what: "management command",
            cycles: bound,
        })
    }

    /// Looks up one key with an otherwise idle pipeline. Returns the result and the latency in
    /// cycles: from the cycle the key is accepted to the first cycle its result is valid.
    pub fn lookup(&mut self, req: LookupRequest) -> Result<(LookupResult, u64), RtlError> {
        let bound = command_cycle_bound(self.variant);
        let mut inputs = CycleInputs {
            lookup: Some(req),
            result_ready: true,
        };
        let mut accepted_at = None;
        for cycle in 1..=bound {
            let out = self.step(&inputs)?;
            if out.lookup_accepted {
                inputs.lookup = None;
                accepted_at = Some(cycle);
            }
            // Outputs of step `cycle` are valid during the next cycle; the key was accepted in
            // cycle `at`, so the latency is `cycle + 1 - at`.
            if let (Some(result), Some(at)) = (out.result, accepted_at) {
                return Ok((result, cycle + 1 - at));
            }
        }
        Err(RtlError::Timeout {
            what: "lookup",
            cycles: bound,
        })
    }

    fn slots(&self) -> u64 {
        u64::from(self.variant.buckets()) * nic_abi::table::SLOTS_PER_BUCKET as u64
    }

    fn device_command(
        &mut self,
        cmd: MgmtCommand,
        code: regs::MgmtCommand,
    ) -> Result<(MgmtOutcome, MgmtResponse), FlowTableError> {
        let (rsp, _) = self
            .execute(cmd)
            .map_err(|e| FlowTableError::DeviceFault(e.to_string()))?;
        let outcome = mgmt_outcome(code, rsp.status, 1, u64::from(rsp.occupancy), self.slots())?;
        Ok((outcome, rsp))
    }
}

/// The RTL's management port as the agent sees any flow table: every call is a sequence of
/// register writes, a command, status polls and register reads, as the driver does it.
impl FlowTableDevice for FlowTableRtl {
    fn insert(&mut self, key: &FlowKey, action: Action) -> Result<InsertOutcome, FlowTableError> {
        if !key.is_parsed() {
            return Err(FlowTableError::UnparsedKey(key.class));
        }
        action.validate()?;
        let cmd = MgmtCommand::Insert {
            key: key.to_words(),
            action,
        };
        match self.device_command(cmd, regs::MgmtCommand::Insert)?.0 {
            MgmtOutcome::Updated => Ok(InsertOutcome::Updated),
            _ => Ok(InsertOutcome::Inserted),
        }
    }

    fn delete(&mut self, key: &FlowKey) -> Result<bool, FlowTableError> {
        let cmd = MgmtCommand::Delete {
            key: key.to_words(),
        };
        Ok(self.device_command(cmd, regs::MgmtCommand::Delete)?.0 == MgmtOutcome::Done)
    }

    fn lookup(&mut self, key: &FlowKey) -> Result<Option<Action>, FlowTableError> {
        let cmd = MgmtCommand::Lookup {
            key: key.to_words(),
        };
        let (_, rsp) = self.device_command(cmd, regs::MgmtCommand::Lookup)?;
        Ok(rsp.entry.and_then(|e| e.action))
    }

    fn entry_stats(&mut self, key: &FlowKey) -> Result<Option<EntryStats>, FlowTableError> {
        let cmd = MgmtCommand::ReadCounters {
            key: key.to_words(),
        };
        let (_, rsp) = self.device_command(cmd, regs::MgmtCommand::ReadCounters)?;
        Ok(rsp.entry.map(|e| EntryStats {
            hits: e.hits,
            bytes: e.bytes,
            last_hit: e.last_hit,
        }))
    }

    fn capacity(&self) -> u64 {
        self.slots()
    }

    fn occupancy(&self) -> u64 {
        self.occupancy
    }
}

impl Drop for FlowTableRtl {
    fn drop(&mut self) {
        // SAFETY: the handle came from the shim's `new` and is freed exactly once, here.
        unsafe { (self.shim.free)(self.handle.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_layouts_have_the_header_sizes() {
        // 60 + 4 + 8 + 4 + 2 + 2 + 2 + 4 + 2 pad = 88; FtOutputs: 8 + 3 * 4 + 4 = 24.
        assert_eq!(core::mem::size_of::<FtInputs>(), 88);
        assert_eq!(core::mem::size_of::<FtOutputs>(), 24);
        let (mut c_in, mut c_out) = (0u32, 0u32);
        // SAFETY: the function only writes the two u32s it is given.
        unsafe { ffi::snich_ft_layout(&mut c_in, &mut c_out) };
        assert_eq!(c_in as usize, core::mem::size_of::<FtInputs>());
        assert_eq!(c_out as usize, core::mem::size_of::<FtOutputs>());
    }

    #[test]
    fn key_word_count_matches_nic_abi() {
        assert_eq!(KEY_WORD_COUNT as usize, nic_abi::key::KEY_WORDS);
    }

    #[test]
    fn build_parameters_reach_the_wrapper() {
        assert_eq!(TableVariant::Standard.buckets(), 1024);
        assert_eq!(TableVariant::Small.buckets(), 16);
        assert_eq!(TableVariant::Small.max_kicks(), 16);
    }
}
