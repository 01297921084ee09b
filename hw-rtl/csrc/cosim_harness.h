// cosim_harness.h: the one piece of C++ every model shim shares. It owns a Verilator model in
// its own VerilatedContext (one model per context, so models never share simulation time),
// drives the clock, and optionally dumps a VCD. The shims expose it to Rust through plain
// extern "C" functions; Rust wraps those in a safe API (hw-rtl/src/ffi.rs).
#pragma once

#include <cstdint>
#include <memory>

#include "verilated.h"
#include "verilated_vcd_c.h"

template <typename Model>
struct CosimHarness {
    std::unique_ptr<VerilatedContext> context;
    std::unique_ptr<Model> model;
    std::unique_ptr<VerilatedVcdC> vcd;
    uint64_t cycles = 0;

    explicit CosimHarness(const char* vcd_path) : context(new VerilatedContext) {
        context->debug(0);
        context->randReset(0);
        if (vcd_path != nullptr) {
            context->traceEverOn(true);
        }
        model.reset(new Model(context.get(), "TOP"));
        if (vcd_path != nullptr) {
            vcd.reset(new VerilatedVcdC);
            model->trace(vcd.get(), 99);
            vcd->open(vcd_path);
        }
        model->clk = 0;
        model->eval();
        dump();
    }

    ~CosimHarness() {
        model->final();
        if (vcd) {
            vcd->close();
        }
    }

    void dump() {
        if (vcd) {
            vcd->dump(context->time());
        }
    }

    // One full clock cycle: the rising edge (registers load inputs set before the call), then
    // the falling edge. Outputs read after tick() are the registers' new values.
    void tick() {
        context->timeInc(1);
        model->clk = 1;
        model->eval();
        dump();
        context->timeInc(1);
        model->clk = 0;
        model->eval();
        dump();
        ++cycles;
    }

    // Settles combinational logic after inputs changed, without a clock edge.
    void settle() { model->eval(); }
};
