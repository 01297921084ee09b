// flow_table_shim.h: the extern "C" shim of a verilated flow_table_regs (rtl/flow_table_regs.sv),
// as a macro so each build variant (flow_table, flow_table_small) gets its own symbols.
#pragma once

#include <cstdint>

#include "cosim_harness.h"

// Inputs for one clock cycle; the layout matches hw-rtl/src/flow_table.rs (FtInputs).
struct FtInputs {
    uint32_t lookup_key[15];
    uint32_t lookup_tag;
    uint64_t lookup_time;
    uint32_t reg_wr_data;
    uint16_t reg_wr_addr;
    uint16_t reg_rd_addr;
    uint16_t lookup_len;
    uint8_t lookup_valid;
    uint8_t result_ready;
    uint8_t reg_wr_en;
    uint8_t reg_rd_en;
    uint8_t pad[2];
};

// Outputs after one clock cycle; the layout matches hw-rtl/src/flow_table.rs (FtOutputs).
struct FtOutputs {
    uint64_t result_action;
    uint32_t result_slot;
    uint32_t result_tag;
    uint32_t reg_rd_data;
    uint8_t lookup_ready;
    uint8_t result_valid;
    uint8_t result_hit;
    uint8_t mgmt_done;
};

#define DEFINE_FLOW_TABLE_SHIM(MODEL, PREFIX)                                                  \
    extern "C" {                                                                               \
    void* PREFIX##_new(const char* vcd_path) { return new CosimHarness<MODEL>(vcd_path); }     \
    void PREFIX##_free(void* h) { delete static_cast<CosimHarness<MODEL>*>(h); }               \
    uint64_t PREFIX##_cycles(void* h) { return static_cast<CosimHarness<MODEL>*>(h)->cycles; } \
    /* Sets the inputs, settles, samples the ready outputs (what this edge accepts), clocks */ \
    /* one cycle and reads the registered outputs. */                                          \
    void PREFIX##_step(void* h, const FtInputs* in, FtOutputs* out, uint8_t rst) {             \
        auto* harness = static_cast<CosimHarness<MODEL>*>(h);                                  \
        MODEL* m = harness->model.get();                                                       \
        m->rst = rst;                                                                          \
        for (int i = 0; i < 15; ++i) m->s_lookup_key[i] = in->lookup_key[i];                   \
        m->s_lookup_valid = in->lookup_valid;                                                  \
        m->s_lookup_len = in->lookup_len;                                                      \
        m->s_lookup_time = in->lookup_time;                                                    \
        m->s_lookup_tag = in->lookup_tag;                                                      \
        m->m_result_ready = in->result_ready;                                                  \
        m->s_reg_wr_en = in->reg_wr_en;                                                        \
        m->s_reg_wr_addr = in->reg_wr_addr;                                                    \
        m->s_reg_wr_data = in->reg_wr_data;                                                    \
        m->s_reg_rd_en = in->reg_rd_en;                                                        \
        m->s_reg_rd_addr = in->reg_rd_addr;                                                    \
        harness->settle();                                                                     \
        out->lookup_ready = m->s_lookup_ready;                                                 \
        harness->tick();                                                                       \
        out->result_valid = m->m_result_valid;                                                 \
        out->result_hit = m->m_result_hit;                                                     \
        out->result_slot = m->m_result_slot;                                                   \
        out->result_action = m->m_result_action;                                               \
        out->result_tag = m->m_result_tag;                                                     \
        out->reg_rd_data = m->m_reg_rd_data;                                                   \
        out->mgmt_done = m->mgmt_done;                                                         \
    }                                                                                          \
    }
