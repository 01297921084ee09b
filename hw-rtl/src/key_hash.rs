//! Safe wrapper of the `flow_key_hash` RTL model (`rtl/flow_key_hash.sv`).
#![allow(unsafe_code)]

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::ffi::CString;
use std::path::Path;

use nic_abi::key::{KeyWords, KEY_WORDS};

use crate::{ffi, RtlError};

/// The key's word count as the shim takes it.
// KEY_WORDS is 15: the cast cannot truncate.
#[allow(clippy::cast_possible_truncation)]
const KEY_WORD_COUNT: u32 = KEY_WORDS as u32;

/// Output of the hash stage after a clock edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashOutput {
    /// A key was accepted one cycle before this output.
    pub valid: bool,
    /// CRC-32C of the key (`nic_abi::hash::key_hashes()[0]`).
    pub hash0: u32,
    /// CRC-32 of the key (`nic_abi::hash::key_hashes()[1]`).
    pub hash1: u32,
}

/// The verilated `flow_key_hash` module in its own Verilator context. Not `Send`: Verilator
/// models belong to the thread that made them.
#[derive(Debug)]
pub struct KeyHashRtl {
    handle: NonNull<c_void>,
    _not_send: PhantomData<*const ()>,
}

impl KeyHashRtl {
    /// A new model, reset for two cycles. With `vcd`, every half cycle is dumped there.
    pub fn new(vcd: Option<&Path>) -> Result<KeyHashRtl, RtlError> {
        let path = crate::vcd_path_cstring(vcd)?;
        let ptr = path
            .as_ref()
            .map_or(core::ptr::null(), |p: &CString| p.as_ptr());
        // SAFETY: `ptr` is null or a NUL-terminated string that outlives the call; the shim
        // copies what it needs (VerilatedVcdC::open opens the file during the call).
        let raw = unsafe { ffi::snich_key_hash_new(ptr) };
        let handle = NonNull::new(raw).ok_or(RtlError::ModelAllocation("flow_key_hash"))?;
        let mut model = KeyHashRtl {
            handle,
            _not_send: PhantomData,
        };
        // SAFETY: `handle` came from snich_key_hash_new and is freed only in Drop.
        unsafe { ffi::snich_key_hash_reset(model.handle.as_ptr(), 2) };
        model.set_idle();
        Ok(model)
    }

    /// Presents a key on the input for the next clock edge.
    pub fn set_key(&mut self, key: &KeyWords) {
        // SAFETY: the handle is live (owned by self); `key` points to KEY_WORDS u32s, the
        // count passed, which the shim copies before returning.
        unsafe {
            ffi::snich_key_hash_set_key(self.handle.as_ptr(), 1, key.as_ptr(), KEY_WORD_COUNT)
        };
    }

    /// Presents no key for the next clock edge.
    pub fn set_idle(&mut self) {
        let zero = [0u32; KEY_WORDS];
        // SAFETY: as in `set_key`.
        unsafe {
            ffi::snich_key_hash_set_key(self.handle.as_ptr(), 0, zero.as_ptr(), KEY_WORD_COUNT)
        };
    }

    /// Advances one clock cycle and returns the outputs after the edge.
    pub fn tick(&mut self) -> HashOutput {
        let (mut valid, mut hash0, mut hash1) = (0u8, 0u32, 0u32);
        // SAFETY: the handle is live; the out-pointers point to live locals.
        unsafe {
            ffi::snich_key_hash_tick(self.handle.as_ptr());
            ffi::snich_key_hash_get(self.handle.as_ptr(), &mut valid, &mut hash0, &mut hash1);
        }
        HashOutput {
            valid: valid != 0,
            hash0,
            hash1,
        }
    }

    /// Clock cycles simulated so far, reset included.
    pub fn cycles(&self) -> u64 {
        // SAFETY: the handle is live.
        unsafe { ffi::snich_key_hash_cycles(self.handle.as_ptr()) }
    }
}

impl Drop for KeyHashRtl {
    fn drop(&mut self) {
        // SAFETY: the handle came from snich_key_hash_new and is freed exactly once, here.
        unsafe { ffi::snich_key_hash_free(self.handle.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_abi::hash::key_hashes;

    #[test]
    fn rtl_hashes_equal_nic_abi_hashes_one_per_cycle() {
        let mut rtl = KeyHashRtl::new(None).expect("model");
        for i in 0..500u32 {
            let mut key = [0u32; KEY_WORDS];
            for (j, w) in (0u32..).zip(key.iter_mut()) {
                *w = i.wrapping_mul(0x9e37_79b9).rotate_left(j) ^ j.wrapping_mul(0x85eb_ca6b);
            }
            rtl.set_key(&key);
            let out = rtl.tick();
            // The output after this edge belongs to the key presented at this edge.
            assert!(out.valid);
            assert_eq!([out.hash0, out.hash1], key_hashes(&key), "key {i}");
        }
        rtl.set_idle();
        assert!(!rtl.tick().valid, "nothing left in flight after idle");
    }
}
