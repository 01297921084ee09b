// extern "C" shim of the gate-level flow_table model: the netlist Yosys writes for the small
// table (16 buckets, 16 kicks), built with the `gate-level` feature.
#include "Vflow_table_gate.h"
#include "flow_table_shim.h"

DEFINE_FLOW_TABLE_SHIM(Vflow_table_gate, snich_ft_gate)
