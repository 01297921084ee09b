//! The raw `extern "C"` functions of the model shims (`csrc/*_shim.cpp`). Nothing outside this
//! crate sees them; the safe wrappers beside this module own every pointer they hand out.
#![allow(unsafe_code)]

use core::ffi::{c_char, c_void};

extern "C" {
    pub(crate) fn snich_key_hash_new(vcd_path: *const c_char) -> *mut c_void;
    pub(crate) fn snich_key_hash_free(h: *mut c_void);
    pub(crate) fn snich_key_hash_reset(h: *mut c_void, cycles: u32);
    pub(crate) fn snich_key_hash_set_key(h: *mut c_void, valid: u8, key: *const u32, words: u32);
    pub(crate) fn snich_key_hash_tick(h: *mut c_void);
    pub(crate) fn snich_key_hash_get(h: *mut c_void, valid: *mut u8, h0: *mut u32, h1: *mut u32);
    pub(crate) fn snich_key_hash_cycles(h: *mut c_void) -> u64;
}

use crate::flow_table::{FtInputs, FtOutputs};

extern "C" {
    pub(crate) fn snich_ft_new(vcd_path: *const c_char) -> *mut c_void;
    pub(crate) fn snich_ft_free(h: *mut c_void);
    pub(crate) fn snich_ft_cycles(h: *mut c_void) -> u64;
    pub(crate) fn snich_ft_step(h: *mut c_void, i: *const FtInputs, o: *mut FtOutputs, rst: u8);
    #[cfg(test)]
    pub(crate) fn snich_ft_layout(inputs: *mut u32, outputs: *mut u32);
    pub(crate) fn snich_ft_small_new(vcd_path: *const c_char) -> *mut c_void;
    pub(crate) fn snich_ft_small_free(h: *mut c_void);
    pub(crate) fn snich_ft_small_cycles(h: *mut c_void) -> u64;
    pub(crate) fn snich_ft_small_step(
        h: *mut c_void,
        i: *const FtInputs,
        o: *mut FtOutputs,
        rst: u8,
    );
}

#[cfg(feature = "gate-level")]
extern "C" {
    pub(crate) fn snich_ft_gate_new(vcd_path: *const c_char) -> *mut c_void;
    pub(crate) fn snich_ft_gate_free(h: *mut c_void);
    pub(crate) fn snich_ft_gate_cycles(h: *mut c_void) -> u64;
    pub(crate) fn snich_ft_gate_step(
        h: *mut c_void,
        i: *const FtInputs,
        o: *mut FtOutputs,
        rst: u8,
    );
}

use crate::pkt_parser::{PpInputs, PpOutputs};

extern "C" {
    pub(crate) fn snich_pp_new(vcd_path: *const c_char) -> *mut c_void;
    pub(crate) fn snich_pp_free(h: *mut c_void);
    pub(crate) fn snich_pp_cycles(h: *mut c_void) -> u64;
    #[cfg(test)]
    pub(crate) fn snich_pp_layout(inputs: *mut u32, outputs: *mut u32);
    pub(crate) fn snich_pp_step(h: *mut c_void, i: *const PpInputs, o: *mut PpOutputs, rst: u8);
}
