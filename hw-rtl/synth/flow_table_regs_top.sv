// flow_table_regs_top: the place-and-route harness of flow_table_regs (synth/run.sh).
//
// The module's ports are far wider than an FPGA package's pins (a 480-bit key alone), so the
// harness feeds every input from a shift register loaded one bit per cycle from `din`, and
// registers every output and folds the registers into `dout` with an XOR tree, so synthesis
// keeps all of the module's logic. Every path into and out of the module starts or ends at a
// harness flip-flop: the timing nextpnr reports is the module's own, register to register.
// The harness adds IN_BITS + OUT_BITS + 1 flip-flops, which run.sh does not count as the
// module's: it reports the module (kept as its own level of hierarchy) alone.
`default_nettype none

`include "snich_abi.svh"

/* verilator lint_off IMPORTSTAR */
import snich_abi_pkg::*;
/* verilator lint_on IMPORTSTAR */

module flow_table_regs_top #(
    parameter int BUCKETS = 1024,
    parameter int MAX_KICKS = DEFAULT_MAX_KICKS
) (
    input  wire clk,
    input  wire rst,
    input  wire din,
    output wire dout
);

    localparam int ACTION_BITS = ACTION_WORDS * 32;
    localparam int IN_BITS = 1 + 16 + 32 + 1 + 16 + 1 + KEY_BITS + 16 + 64 + 32 + 1;
    localparam int OUT_BITS = 32 + 1 + 1 + 1 + 32 + ACTION_BITS + 32 + 1;

    logic [IN_BITS-1:0]  in_q = '0;
    logic [OUT_BITS-1:0] out_q = '0;
    logic                dout_q = 1'b0;
    wire  [OUT_BITS-1:0] out_w;

    (* keep_hierarchy *)
    flow_table_regs #(
        .BUCKETS(BUCKETS),
        .MAX_KICKS(MAX_KICKS)
    ) dut (
        .clk(clk),
        .rst(rst),
        .s_reg_wr_en(in_q[0]),
        .s_reg_wr_addr(in_q[1 +: 16]),
        .s_reg_wr_data(in_q[17 +: 32]),
        .s_reg_rd_en(in_q[49]),
        .s_reg_rd_addr(in_q[50 +: 16]),
        .m_reg_rd_data(out_w[0 +: 32]),
        .s_lookup_valid(in_q[66]),
        .s_lookup_ready(out_w[32]),
        .s_lookup_key(in_q[67 +: KEY_BITS]),
        .s_lookup_len(in_q[67 + KEY_BITS +: 16]),
        .s_lookup_time(in_q[83 + KEY_BITS +: 64]),
        .s_lookup_tag(in_q[147 + KEY_BITS +: 32]),
        .m_result_valid(out_w[33]),
        .m_result_ready(in_q[179 + KEY_BITS]),
        .m_result_hit(out_w[34]),
        .m_result_slot(out_w[35 +: 32]),
        .m_result_action(out_w[67 +: ACTION_BITS]),
        .m_result_tag(out_w[67 + ACTION_BITS +: 32]),
        .mgmt_done(out_w[99 + ACTION_BITS])
    );

    always_ff @(posedge clk) begin
        in_q <= {in_q[IN_BITS-2:0], din};
        out_q <= out_w;
        dout_q <= ^out_q;
    end

    assign dout = dout_q;

endmodule

`resetall
