//! # hw-rtl: the parser and flow-lookup pipeline in SystemVerilog
//!
//! The card's data path in RTL, co-verified against the Rust model (invariant 7: for the same
//! stimulus, the RTL and `nic-model` give the same key, the same lookup result and the same
//! cycle count).
//!
//! ```text
//!  frame beats (64 B) -> pkt_parser -> key -> flow_table_regs ----------> result
//!                                               |  flow_table: hash (flow_key_hash,
//!  register bus (nic_abi::regs::flow_table) --->|  flow_hash.svh), block-RAM buckets
//!                                               |  (flow_table_ram), compare, cuckoo
//!                                               |  insert FSM with undo
//! ```
//!
//! - `rtl/` holds one module per file (`pkt_parser`, `flow_key_hash`, `flow_table_ram`,
//!   `flow_table`, `flow_table_regs`), the hash functions `flow_hash.svh` and
//!   `snich_abi.svh`, generated from `nic-abi` (a nic-abi test fails when it is stale), so no
//!   constant is typed twice. The SystemVerilog is the subset both Verilator (`-Wall`) and
//!   Yosys accept.
//! - `synth/run.sh` synthesizes and places and routes the parser and the table for a Lattice
//!   ECP5 with Yosys and nextpnr from PyPI, and reports LUTs, flip-flops, block RAMs and Fmax;
//!   with the `gate-level` feature, `build.rs` also builds the synthesized netlist of the small
//!   table (`flow_table::TableVariant::GateSmall`), co-simulated like the RTL.
//! - `build.rs` runs `verilator --cc` for each model (no `--build`, no make), compiles the
//!   generated C++, a hand-written `extern "C"` shim per model (`csrc/`) and the Verilator
//!   runtime (compiled once and cached) with the `cc` crate, optimised even in debug builds.
//! - Safe wrappers: [`pkt_parser::PacketParserRtl`], [`flow_table::FlowTableRtl`] (which also
//!   implements `nic_abi::device::FlowTableDevice` through the management registers) and
//!   [`key_hash::KeyHashRtl`]; one model per Verilator context, not `Send`. Each can dump a VCD.
//! - [`cosim`]: frames through both RTL models beside `nic_abi::parse::parse_card`,
//!   `nic-model`'s table and its pipeline timing, comparing every key, result and result cycle;
//!   `snich cosim` (sim-harness, `rtl` feature) runs it from the command line.
//!
//! ```
//! use hw_rtl::flow_table::{FlowTableRtl, LookupRequest, TableVariant};
//! use hw_rtl::pkt_parser::PacketParserRtl;
//! use nic_abi::action::{Action, Destination};
//! use nic_abi::device::FlowTableDevice;
//! use nic_abi::key::PortNo;
//! use nic_abi::parse::parse_card;
//! use nic_abi::time::SimTime;
//!
//! // Ethernet + IPv4 + UDP, 10.0.0.1:5000 -> 10.0.0.2:53.
//! let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
//! frame.extend([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
//! frame.extend([0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0]);
//!
//! // The RTL parser gives nic-abi's key.
//! let mut parser = PacketParserRtl::new(None)?;
//! let (key, _latency) = parser.parse(&frame, PortNo(1))?;
//! let expected = parse_card(&frame, PortNo(1));
//! assert_eq!(key, expected.to_words());
//!
//! // Install through the management registers, then look the key up in the pipeline.
//! let mut table = FlowTableRtl::new(TableVariant::Standard, None)?;
//! let action = Action { dest: Destination::Output(PortNo(7)), ..Action::DROP };
//! table.insert(&expected, action).expect("room in an empty table");
//! let (result, latency) =
//!     table.lookup(LookupRequest { key, len: 64, time: SimTime(0), tag: 1 })?;
//! assert_eq!(result.hit.map(|(_, a)| a), Some(action));
//! assert_eq!(latency, u64::from(nic_abi::table::LOOKUP_LATENCY_CYCLES));
//! # Ok::<(), hw_rtl::RtlError>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::ffi::CString;
use std::path::Path;

pub mod cosim;
mod ffi;
pub mod flow_table;
pub mod key_hash;
pub mod pkt_parser;

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
    /// The model answered with a status code the wrapper does not know.
    #[error("flow_table answered with unknown status code {0}")]
    BadStatus(u8),
    /// The model produced an action word that is not a valid encoding.
    #[error("flow_table produced an invalid action: {0}")]
    BadAction(#[from] nic_abi::action::ActionError),
    /// The co-simulation harness could not be set up.
    #[error("co-simulation: {0}")]
    Harness(String),
    /// A management command was queued while another was in progress.
    #[error("a flow_table management command is already in progress")]
    CommandInProgress,
    /// A frame longer than the parser's 32-bit length field.
    #[error("frame of {0} bytes is longer than the parser's 32-bit length field")]
    FrameTooLong(usize),
    /// The parser refused a beat of a frame presented on an idle parser.
    #[error("{what} refused beat {beat} although nothing was waiting")]
    Stalled {
        /// Which input.
        what: &'static str,
        /// Index of the refused beat.
        beat: usize,
    },
    /// A key appeared while a frame was still streaming into an idle parser.
    #[error("pkt_parser produced a key {0:08x?} before the frame was complete")]
    UnexpectedKey(Box<nic_abi::key::KeyWords>),
    /// An operation did not finish within its cycle bound.
    #[error("{what} did not finish within {cycles} cycles")]
    Timeout {
        /// What was running.
        what: &'static str,
        /// The bound.
        cycles: u64,
    },
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
