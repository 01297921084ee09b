// extern "C" shim of the 1024-bucket flow_table model.
#include "Vflow_table.h"
#include "flow_table_shim.h"

DEFINE_FLOW_TABLE_SHIM(Vflow_table, snich_ft)

// Sizes of the C layouts, so Rust can check its #[repr(C)] copies against them.
extern "C" void snich_ft_layout(uint32_t* inputs, uint32_t* outputs) {
    *inputs = sizeof(FtInputs);
    *outputs = sizeof(FtOutputs);
}
