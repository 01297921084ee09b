// extern "C" shim of the 16-bucket flow_table model.
#include "Vflow_table_small.h"
#include "flow_table_shim.h"

DEFINE_FLOW_TABLE_SHIM(Vflow_table_small, snich_ft_small)
