// pkt_parser_top: the place-and-route harness of pkt_parser (synth/run.sh).
//
// As flow_table_regs_top: every input comes from a shift register loaded one bit per cycle
// from `din`, every output is registered and folded into `dout`, so the module keeps all of
// its logic and every path through it is register to register. run.sh reports the module
// (kept as its own level of hierarchy) without the harness's flip-flops.
`default_nettype none

`include "snich_abi.svh"

/* verilator lint_off IMPORTSTAR */
import snich_abi_pkg::*;
/* verilator lint_on IMPORTSTAR */

module pkt_parser_top (
    input  wire clk,
    input  wire rst,
    input  wire din,
    output wire dout
);

    localparam int DATA_BITS = PARSER_BEAT_BYTES * 8;
    localparam int IN_BITS = 1 + DATA_BITS + 1 + 1 + 32 + 16 + 1;
    localparam int OUT_BITS = 1 + 1 + KEY_BITS + 32;

    logic [IN_BITS-1:0]  in_q = '0;
    logic [OUT_BITS-1:0] out_q = '0;
    logic                dout_q = 1'b0;
    wire  [OUT_BITS-1:0] out_w;

    (* keep_hierarchy *)
    pkt_parser dut (
        .clk(clk),
        .rst(rst),
        .s_axis_tvalid(in_q[0]),
        .s_axis_tready(out_w[0]),
        .s_axis_tdata(in_q[1 +: DATA_BITS]),
        .s_axis_tfirst(in_q[1 + DATA_BITS]),
        .s_axis_tlast(in_q[2 + DATA_BITS]),
        .s_axis_frame_len(in_q[3 + DATA_BITS +: 32]),
        .s_axis_in_port(in_q[35 + DATA_BITS +: 16]),
        .m_axis_key_valid(out_w[1]),
        .m_axis_key_ready(in_q[51 + DATA_BITS]),
        .m_axis_key(out_w[2 +: KEY_BITS]),
        .protocol_errors(out_w[2 + KEY_BITS +: 32])
    );

    always_ff @(posedge clk) begin
        in_q <= {in_q[IN_BITS-2:0], din};
        out_q <= out_w;
        dout_q <= ^out_q;
    end

    assign dout = dout_q;

endmodule

`resetall
