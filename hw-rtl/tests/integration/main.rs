//! hw-rtl's integration tests: the RTL co-verified against nic-abi and nic-model.
mod parser_cosim;
mod regs_cosim;
mod table_cosim;
