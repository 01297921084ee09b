//! Safe wrapper of the `flow_table` RTL model (`rtl/flow_table.sv`): the lookup pipeline and
//! its management port, driven cycle by cycle ([`FlowTableRtl::step`]) or a command at a time
//! ([`FlowTableRtl::execute`]).
#![allow(unsafe_code)]

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::ffi::CString;
use std::path::Path;

use nic_abi::action::{Action, ActionError};
use nic_abi::key::KeyWords;
use nic_abi::time::SimTime;

use crate::{ffi, RtlError};

/// Inputs of one clock cycle, laid out as `FtInputs` in `csrc/flow_table_shim.h`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FtInputs {
    lookup_key: KeyWords,
    mgmt_key: KeyWords,
    mgmt_action: u64,
    lookup_time: u64,
    lookup_tag: u32,
    mgmt_slot: u32,
    lookup_len: u16,
    lookup_valid: u8,
    result_ready: u8,
    mgmt_valid: u8,
    mgmt_op: u8,
    pad: [u8; 2],
}

/// Outputs after one clock cycle, laid out as `FtOutputs` in `csrc/flow_table_shim.h`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FtOutputs {
    mgmt_key: KeyWords,
    result_slot: u32,
    result_action: u64,
    mgmt_action: u64,
    mgmt_hits: u64,
    mgmt_bytes: u64,
    mgmt_last_hit: u64,
    result_tag: u32,
    mgmt_slot: u32,
    mgmt_kicks: u32,
    occupancy: u32,
    lookup_ready: u8,
    mgmt_ready: u8,
    result_valid: u8,
    result_hit: u8,
    mgmt_valid: u8,
    mgmt_status: u8,
    mgmt_entry_valid: u8,
    pad: u8,
}

/// Which verilated build of `flow_table` to run; the two differ only in parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableVariant {
    /// 1024 buckets: realistic occupancy runs.
    Standard,
    /// 16 buckets and a 16-kick bound: random operations fill it, collide and fail inserts.
    Small,
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

impl TableVariant {
    fn shim(self) -> &'static Shim {
        match self {
            TableVariant::Standard => &STANDARD_SHIM,
            TableVariant::Small => &SMALL_SHIM,
        }
    }

    /// Buckets of this build (the `-G` override build.rs gave Verilator).
    pub fn buckets(self) -> u32 {
        let text = match self {
            TableVariant::Standard => env!("SNICH_RTL_FLOW_TABLE_BUCKETS"),
            TableVariant::Small => env!("SNICH_RTL_FLOW_TABLE_SMALL_BUCKETS"),
        };
        parse_build_param(text)
    }

    /// The cuckoo walk's kick bound of this build.
    pub fn max_kicks(self) -> u32 {
        match self {
            TableVariant::Standard => nic_abi::table::DEFAULT_MAX_KICKS,
            TableVariant::Small => parse_build_param(env!("SNICH_RTL_FLOW_TABLE_SMALL_MAX_KICKS")),
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
    pub action: Action,
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
    /// A management command to present, or none.
    pub mgmt: Option<MgmtCommand>,
}

/// What one cycle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleOutputs {
    /// The presented lookup was accepted at this edge.
    pub lookup_accepted: bool,
    /// The presented command was accepted at this edge.
    pub mgmt_accepted: bool,
    /// The result register after the edge (valid until taken with `result_ready`).
    pub result: Option<LookupResult>,
    /// A management response, in the one cycle it is valid.
    pub mgmt_response: Option<MgmtResponse>,
    /// Valid entries after the edge.
    pub occupancy: u32,
}

fn pack_action(a: &Action) -> u64 {
    let [w0, w1] = a.to_words();
    u64::from(w0) | (u64::from(w1) << 32)
}

fn unpack_action(v: u64) -> Result<Action, ActionError> {
    let lo = u32::try_from(v & 0xffff_ffff).unwrap_or(0);
    let hi = u32::try_from(v >> 32).unwrap_or(0);
    Action::try_from([lo, hi])
}

/// The verilated `flow_table`, in its own Verilator context. Not `Send`.
pub struct FlowTableRtl {
    handle: NonNull<c_void>,
    shim: &'static Shim,
    variant: TableVariant,
    _not_send: PhantomData<*const ()>,
}

impl core::fmt::Debug for FlowTableRtl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FlowTableRtl")
            .field("variant", &self.variant)
            .field("cycles", &self.cycles())
            .finish()
    }
}

/// Bound on cycles one command may take before [`FlowTableRtl::execute`] gives up: drain,
/// execute, two cycles per kick (walk and undo), response, with room to spare.
fn command_cycle_bound(variant: TableVariant) -> u64 {
    u64::from(nic_abi::table::LOOKUP_LATENCY_CYCLES) + 2 * u64::from(variant.max_kicks()) + 16
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
        // (`#[repr(C)]`, checked against the header's field order by the size test); the shim
        // keeps neither pointer.
        unsafe { (self.shim.step)(self.handle.as_ptr(), inputs, &mut out, u8::from(rst)) };
        out
    }

    /// One clock cycle with these inputs.
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
        if let Some(cmd) = &inputs.mgmt {
            raw.mgmt_valid = 1;
            raw.mgmt_op = cmd.opcode();
            match cmd {
                MgmtCommand::Insert { key, action } => {
                    raw.mgmt_key = *key;
                    raw.mgmt_action = pack_action(action);
                }
                MgmtCommand::Delete { key }
                | MgmtCommand::Lookup { key }
                | MgmtCommand::ReadCounters { key } => {
                    raw.mgmt_key = *key;
                }
                MgmtCommand::ReadSlot(slot) => raw.mgmt_slot = *slot,
            }
        }
        let out = self.raw_step(&raw, false);
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
        let mgmt_response = if out.mgmt_valid != 0 {
            let entry = if out.mgmt_entry_valid != 0 {
                Some(RtlEntry {
                    key: out.mgmt_key,
                    action: unpack_action(out.mgmt_action)?,
                    hits: out.mgmt_hits,
                    bytes: out.mgmt_bytes,
                    last_hit: SimTime(out.mgmt_last_hit),
                })
            } else {
                None
            };
            Some(MgmtResponse {
                status: MgmtStatus::try_from(u32::from(out.mgmt_status))
                    .map_err(|_| RtlError::BadStatus(out.mgmt_status))?,
                slot: out.mgmt_slot,
                kicks: out.mgmt_kicks,
                entry,
            })
        } else {
            None
        };
        Ok(CycleOutputs {
            lookup_accepted: inputs.lookup.is_some() && out.lookup_ready != 0,
            mgmt_accepted: inputs.mgmt.is_some() && out.mgmt_ready != 0,
            result,
            mgmt_response,
            occupancy: out.occupancy,
        })
    }

    /// Runs one management command to its response, with no lookups in flight. Returns the
    /// response and the cycles from presenting the command to the response (inclusive).
    pub fn execute(&mut self, cmd: MgmtCommand) -> Result<(MgmtResponse, u64), RtlError> {
        let bound = command_cycle_bound(self.variant);
        let mut inputs = CycleInputs {
            lookup: None,
            result_ready: true,
            mgmt: Some(cmd),
        };
        for cycle in 1..=bound {
            let out = self.step(&inputs)?;
            if out.mgmt_accepted {
                inputs.mgmt = None;
            }
            if let Some(rsp) = out.mgmt_response {
                return Ok((rsp, cycle));
            }
        }
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
            mgmt: None,
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
        // 2*60 + 8 + 8 + 4 + 4 + 2 + 4 + 2 pad = 152; FtOutputs: 60 + 4 + 5*8 + 4*4 + 8 = 128.
        assert_eq!(core::mem::size_of::<FtInputs>(), 152);
        assert_eq!(core::mem::size_of::<FtOutputs>(), 128);
        let (mut c_in, mut c_out) = (0u32, 0u32);
        // SAFETY: the function only writes the two u32s it is given.
        unsafe { ffi::snich_ft_layout(&mut c_in, &mut c_out) };
        assert_eq!(c_in as usize, core::mem::size_of::<FtInputs>());
        assert_eq!(c_out as usize, core::mem::size_of::<FtOutputs>());
    }

    #[test]
    fn build_parameters_reach_the_wrapper() {
        assert_eq!(TableVariant::Standard.buckets(), 1024);
        assert_eq!(TableVariant::Small.buckets(), 16);
        assert_eq!(TableVariant::Small.max_kicks(), 16);
    }
}
