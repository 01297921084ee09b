// flow_key_hash: the flow table's two bucket hashes of a packed flow key, one key per cycle.
//
// The hash functions are flow_hash.svh's (nic-abi's CRC-32C and CRC-32). Pipeline: one
// register stage; initiation interval 1, latency 1 enabled cycle. `enable` low freezes the
// stage (the lookup pipeline stalls as a whole under output backpressure).
`default_nettype none

`include "snich_abi.svh"

// Yosys reads package imports only at file scope, and only whole packages.
/* verilator lint_off IMPORTSTAR */
import snich_abi_pkg::*;
/* verilator lint_on IMPORTSTAR */

module flow_key_hash (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 enable,

    // Key in.
    input  wire                 s_axis_key_valid,
    input  wire [KEY_BITS-1:0]  s_axis_key,

    // Hashes out, one enabled cycle later.
    output wire                 m_axis_hash_valid,
    output wire [31:0]          m_axis_hash0,
    output wire [31:0]          m_axis_hash1
);

`include "flow_hash.svh"

    logic        valid_reg = 1'b0;
    logic [31:0] hash0_reg = 32'd0;
    logic [31:0] hash1_reg = 32'd0;

    always_ff @(posedge clk) begin
        if (enable) begin
            // Data registers load only with a valid key: idle cycles cost no hashing.
            if (s_axis_key_valid) begin
                hash0_reg <= key_hash0(s_axis_key);
                hash1_reg <= key_hash1(s_axis_key);
            end
            valid_reg <= s_axis_key_valid;
        end
        // Only control state is reset.
        if (rst) begin
            valid_reg <= 1'b0;
        end
    end

    assign m_axis_hash_valid = valid_reg;
    assign m_axis_hash0 = hash0_reg;
    assign m_axis_hash1 = hash1_reg;

endmodule

`resetall
