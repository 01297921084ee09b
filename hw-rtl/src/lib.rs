//! # hw-rtl: the parser and flow-lookup pipeline in SystemVerilog
//!
//! Not built yet (issue 4): the RTL, built with Verilator from `build.rs`, wrapped in a safe
//! Rust API and co-verified against `nic-model`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
