// flow_table_shim.h: the extern "C" shim of a verilated flow_table (rtl/flow_table.sv), as a
// macro so each build variant (flow_table, flow_table_small) gets its own symbols.
#pragma once

#include <cstdint>

#include "cosim_harness.h"

// Inputs for one clock cycle; the layout matches hw-rtl/src/flow_table.rs (FtInputs).
struct FtInputs {
    uint32_t lookup_key[15];
    uint32_t mgmt_key[15];
    uint64_t mgmt_action;
    uint64_t lookup_time;
    uint32_t lookup_tag;
    uint32_t mgmt_slot;
    uint16_t lookup_len;
    uint8_t lookup_valid;
    uint8_t result_ready;
    uint8_t mgmt_valid;
    uint8_t mgmt_op;
    uint8_t pad[2];
};

// Outputs after one clock cycle; the layout matches hw-rtl/src/flow_table.rs (FtOutputs).
struct FtOutputs {
    uint32_t mgmt_key[15];
    uint32_t result_slot;
    uint64_t result_action;
    uint64_t mgmt_action;
    uint64_t mgmt_hits;
    uint64_t mgmt_bytes;
    uint64_t mgmt_last_hit;
    uint32_t result_tag;
    uint32_t mgmt_slot;
    uint32_t mgmt_kicks;
    uint32_t occupancy;
    uint8_t lookup_ready;
    uint8_t mgmt_ready;
    uint8_t result_valid;
    uint8_t result_hit;
    uint8_t mgmt_valid;
    uint8_t mgmt_status;
    uint8_t mgmt_entry_valid;
    uint8_t pad;
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
        for (int i = 0; i < 15; ++i) m->s_mgmt_key[i] = in->mgmt_key[i];                       \
        m->s_lookup_valid = in->lookup_valid;                                                  \
        m->s_lookup_len = in->lookup_len;                                                      \
        m->s_lookup_time = in->lookup_time;                                                    \
        m->s_lookup_tag = in->lookup_tag;                                                      \
        m->m_result_ready = in->result_ready;                                                  \
        m->s_mgmt_valid = in->mgmt_valid;                                                      \
        m->s_mgmt_op = in->mgmt_op;                                                            \
        m->s_mgmt_action = in->mgmt_action;                                                    \
        m->s_mgmt_slot = in->mgmt_slot;                                                        \
        harness->settle();                                                                     \
        out->lookup_ready = m->s_lookup_ready;                                                 \
        out->mgmt_ready = m->s_mgmt_ready;                                                     \
        harness->tick();                                                                       \
        out->result_valid = m->m_result_valid;                                                 \
        out->result_hit = m->m_result_hit;                                                     \
        out->result_slot = m->m_result_slot;                                                   \
        out->result_action = m->m_result_action;                                               \
        out->result_tag = m->m_result_tag;                                                     \
        out->mgmt_valid = m->m_mgmt_valid;                                                     \
        out->mgmt_status = m->m_mgmt_status;                                                   \
        out->mgmt_slot = m->m_mgmt_slot;                                                       \
        out->mgmt_kicks = m->m_mgmt_kicks;                                                     \
        out->mgmt_entry_valid = m->m_mgmt_entry_valid;                                         \
        for (int i = 0; i < 15; ++i) out->mgmt_key[i] = m->m_mgmt_key[i];                      \
        out->mgmt_action = m->m_mgmt_action;                                                   \
        out->mgmt_hits = m->m_mgmt_hits;                                                       \
        out->mgmt_bytes = m->m_mgmt_bytes;                                                     \
        out->mgmt_last_hit = m->m_mgmt_last_hit;                                               \
        out->occupancy = m->occupancy;                                                         \
    }                                                                                          \
    }
