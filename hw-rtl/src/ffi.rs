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
