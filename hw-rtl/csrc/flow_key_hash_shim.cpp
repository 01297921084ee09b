// extern "C" shim of the flow_key_hash model (rtl/flow_key_hash.sv).
#include "Vflow_key_hash.h"
#include "cosim_harness.h"

using Harness = CosimHarness<Vflow_key_hash>;

extern "C" {

void* snich_key_hash_new(const char* vcd_path) { return new Harness(vcd_path); }

void snich_key_hash_free(void* h) { delete static_cast<Harness*>(h); }

void snich_key_hash_reset(void* h, uint32_t cycles) {
    auto* harness = static_cast<Harness*>(h);
    harness->model->rst = 1;
    for (uint32_t i = 0; i < cycles; ++i) harness->tick();
    harness->model->rst = 0;
}

// key_words points to `words` 32-bit words, word 0 = key bits 31:0.
void snich_key_hash_set_key(void* h, uint8_t valid, const uint32_t* key_words, uint32_t words) {
    auto* m = static_cast<Harness*>(h)->model.get();
    m->s_axis_key_valid = valid;
    for (uint32_t i = 0; i < words; ++i) m->s_axis_key[i] = key_words[i];
}

void snich_key_hash_tick(void* h) { static_cast<Harness*>(h)->tick(); }

void snich_key_hash_get(void* h, uint8_t* valid, uint32_t* hash0, uint32_t* hash1) {
    auto* m = static_cast<Harness*>(h)->model.get();
    *valid = m->m_axis_hash_valid;
    *hash0 = m->m_axis_hash0;
    *hash1 = m->m_axis_hash1;
}

uint64_t snich_key_hash_cycles(void* h) { return static_cast<Harness*>(h)->cycles; }

}  // extern "C"
