//! hw-rtl's integration tests: the RTL (and, with the `gate-level` feature, the synthesized
//! netlist) co-verified against nic-abi and nic-model.
#[cfg(feature = "gate-level")]
mod gate_cosim;
mod parser_cosim;
mod regs_cosim;
mod table_cosim;
