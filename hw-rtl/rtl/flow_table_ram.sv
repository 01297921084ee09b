// flow_table_ram: a true dual-port RAM with registered reads, the flow table's storage.
//
// Two ports, A and B, each reads or writes one word per cycle. A port with `en` high reads
// the word at `addr` into its output register (the word before the write when `we` is also
// high); with `en` low the output register holds. So a read's data is there one cycle after
// its address: the read latency of an FPGA block RAM (Lattice ECP5 DP16KD, Xilinx RAMB36),
// which synthesis infers from this description (`ram_style`; `no_rw_check` records that no
// read meets a write of the other port to the same word). The two ports must not write
// the same word in the same cycle, and a port must not read a word the other port writes in
// that cycle; the flow table never does either.
//
// Contents start all zero (the table's valid bits clear: an empty table at configuration).
`default_nettype none

module flow_table_ram #(
    parameter int WIDTH = 8,
    parameter int DEPTH = 16,
    localparam int ADDR_BITS = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
    input  wire                  clk,

    input  wire                  a_en,
    input  wire                  a_we,
    input  wire [ADDR_BITS-1:0]  a_addr,
    input  wire [WIDTH-1:0]      a_wdata,
    output logic [WIDTH-1:0]     a_rdata,

    input  wire                  b_en,
    input  wire                  b_we,
    input  wire [ADDR_BITS-1:0]  b_addr,
    input  wire [WIDTH-1:0]      b_wdata,
    output logic [WIDTH-1:0]     b_rdata
);

    (* ram_style = "block", no_rw_check *)
    logic [WIDTH-1:0] mem [0:DEPTH-1];

    initial begin
        for (int i = 0; i < DEPTH; i++) mem[i] = '0;
        a_rdata = '0;
        b_rdata = '0;
    end

    always_ff @(posedge clk) begin
        if (a_en) begin
            if (a_we) mem[a_addr] <= a_wdata;
            a_rdata <= mem[a_addr];
        end
    end

    always_ff @(posedge clk) begin
        if (b_en) begin
            if (b_we) mem[b_addr] <= b_wdata;
            b_rdata <= mem[b_addr];
        end
    end

endmodule

`resetall
