// extern "C" shim of the pkt_parser model (rtl/pkt_parser.sv).
#include <cstdint>

#include "Vpkt_parser.h"
#include "cosim_harness.h"

using Harness = CosimHarness<Vpkt_parser>;

// Inputs of one cycle; the layout matches hw-rtl/src/pkt_parser.rs (PpInputs).
struct PpInputs {
    uint32_t tdata[16];
    uint32_t frame_len;
    uint16_t in_port;
    uint8_t tvalid;
    uint8_t tfirst;
    uint8_t tlast;
    uint8_t key_ready;
    uint8_t pad[2];
};

// Outputs after one cycle; the layout matches hw-rtl/src/pkt_parser.rs (PpOutputs).
struct PpOutputs {
    uint32_t key[15];
    uint32_t protocol_errors;
    uint8_t tready;
    uint8_t key_valid;
    uint8_t pad[2];
};

extern "C" {

void* snich_pp_new(const char* vcd_path) { return new Harness(vcd_path); }

void snich_pp_free(void* h) { delete static_cast<Harness*>(h); }

uint64_t snich_pp_cycles(void* h) { return static_cast<Harness*>(h)->cycles; }

void snich_pp_layout(uint32_t* inputs, uint32_t* outputs) {
    *inputs = sizeof(PpInputs);
    *outputs = sizeof(PpOutputs);
}

// Sets the inputs, settles, samples tready (whether this edge takes the beat), clocks one
// cycle and reads the registered outputs.
void snich_pp_step(void* h, const PpInputs* in, PpOutputs* out, uint8_t rst) {
    auto* harness = static_cast<Harness*>(h);
    Vpkt_parser* m = harness->model.get();
    m->rst = rst;
    for (int i = 0; i < 16; ++i) m->s_axis_tdata[i] = in->tdata[i];
    m->s_axis_tvalid = in->tvalid;
    m->s_axis_tfirst = in->tfirst;
    m->s_axis_tlast = in->tlast;
    m->s_axis_frame_len = in->frame_len;
    m->s_axis_in_port = in->in_port;
    m->m_axis_key_ready = in->key_ready;
    harness->settle();
    out->tready = m->s_axis_tready;
    harness->tick();
    out->key_valid = m->m_axis_key_valid;
    for (int i = 0; i < 15; ++i) out->key[i] = m->m_axis_key[i];
    out->protocol_errors = m->protocol_errors;
}

}  // extern "C"
