//! # hw-rtl: the parser and flow-lookup pipeline in SystemVerilog
//!
//! The RTL lives in `rtl/` (one module per file). `build.rs` runs `verilator --cc` on each
//! top module and compiles the generated C++, the Verilator runtime and a small hand-written
//! `extern "C"` shim per model with the `cc` crate; this crate wraps each model in a safe,
//! typed API (one model per Verilator context; models are not `Send`).
//!
//! Built so far: `flow_key_hash` (the flow table's two bucket hashes, one key per cycle),
//! co-verified against [`nic_abi::hash::key_hashes`]. The packet parser, the lookup pipeline
//! and its management port are not built yet.
//!
//! ```
//! use hw_rtl::key_hash::KeyHashRtl;
//! use nic_abi::hash::key_hashes;
//! use nic_abi::key::{FlowKey, PortNo};
//!
//! let words = FlowKey { in_port: PortNo(1), tp_dst: 443, ..FlowKey::default() }.to_words();
//! let mut rtl = KeyHashRtl::new(None)?;
//! rtl.set_key(&words);
//! let out = rtl.tick();
//! assert_eq!([out.hash0, out.hash1], key_hashes(&words));
//! # Ok::<(), hw_rtl::RtlError>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::ffi::CString;
use std::path::Path;

mod ffi;
pub mod key_hash;

/// The Verilator version the models were built with.
pub const VERILATOR_VERSION: &str = env!("SNICH_VERILATOR_VERSION");

/// Errors of the RTL wrappers.
#[derive(Debug, thiserror::Error)]
pub enum RtlError {
    /// The shim could not allocate the model.
    #[error("could not allocate the Verilator model of {0}")]
    ModelAllocation(&'static str),
    /// A VCD path that cannot be passed to C (it contains a NUL byte or is not UTF-8).
    #[error("VCD path {0:?} cannot be passed to Verilator (NUL byte or not UTF-8)")]
    BadVcdPath(std::path::PathBuf),
}

/// The VCD path as a C string; `None` when no VCD is wanted.
fn vcd_path_cstring(vcd: Option<&Path>) -> Result<Option<CString>, RtlError> {
    vcd.map(|p| {
        p.to_str()
            .and_then(|s| CString::new(s).ok())
            .ok_or_else(|| RtlError::BadVcdPath(p.to_path_buf()))
    })
    .transpose()
}
