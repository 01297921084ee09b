//! The gate-level netlist of the small flow table against nic-model: the netlist Yosys writes
//! for a Lattice ECP5 (LUT4s, flip-flops, carry cells and DP16KD block RAMs, simulated with
//! the vendor cell models) through the same co-simulation as the RTL, so keys, results,
//! contents and cycle counts must match exactly. Built with the `gate-level` feature (`./test.sh`
//! runs it); without it there is no gate-level model and nothing to run.

use hw_rtl::flow_table::TableVariant;

use crate::table_cosim::cosim;

#[test]
fn gate_level_small_table_agrees_with_the_model() {
    // A short random stream: the netlist simulates thousands of cells per cycle.
    let (ops, lookups, cycles) = cosim(TableVariant::GateSmall, 3, 96, 3_000);
    eprintln!(
        "gate-level small table: {ops} operations, {lookups} lookups compared, {cycles} cycles"
    );
}
