// flow_key_hash: the flow table's two bucket hashes of a packed flow key, one key per cycle.
//
// The hashes are nic-abi's (nic_abi::hash): CRC-32C and CRC-32 (IEEE), reflected, initial
// value and final XOR all ones, over the key's bytes with each 32-bit word little-endian and
// word 0 first. With word i of the key at bits [32*i+31:32*i] of s_axis_key, that byte
// stream is the vector's bits from bit 0 upwards, so the CRC consumes s_axis_key[0] first.
//
// Pipeline: one register stage; initiation interval 1, latency 1 cycle. No backpressure: the
// hash stage never stalls (its consumer, the lookup pipeline, accepts one key per cycle).
`default_nettype none

module flow_key_hash #(
    // Width of a packed flow key in bits; a whole number of 32-bit words.
    parameter int KEY_BITS = 480,
    // Reflected polynomial of hash 0 (CRC-32C).
    parameter logic [31:0] POLY0 = 32'h82F63B78,
    // Reflected polynomial of hash 1 (CRC-32, IEEE 802.3).
    parameter logic [31:0] POLY1 = 32'hEDB88320
) (
    input  wire                 clk,
    input  wire                 rst,

    // Key in.
    input  wire                 s_axis_key_valid,
    input  wire [KEY_BITS-1:0]  s_axis_key,

    // Hashes out, one cycle later.
    output wire                 m_axis_hash_valid,
    output wire [31:0]          m_axis_hash0,
    output wire [31:0]          m_axis_hash1
);

    initial begin
        if (KEY_BITS <= 0 || KEY_BITS % 32 != 0) begin
            $error("flow_key_hash: KEY_BITS (%0d) must be a positive multiple of 32", KEY_BITS);
            $finish;
        end
    end

    // Bit-serial reflected CRC, unrolled by the tools into an XOR tree per output bit.
    function automatic logic [31:0] crc_reflected(input logic [31:0] poly,
                                                  input logic [KEY_BITS-1:0] data);
        logic [31:0] c;
        c = 32'hFFFFFFFF;
        for (int i = 0; i < KEY_BITS; i++) begin
            c = (c[0] ^ data[i]) ? ((c >> 1) ^ poly) : (c >> 1);
        end
        return ~c;
    endfunction

    logic        valid_reg = 1'b0;
    logic [31:0] hash0_reg = 32'd0;
    logic [31:0] hash1_reg = 32'd0;

    always_ff @(posedge clk) begin
        // Data registers load only with a valid key: idle cycles cost no hashing.
        if (s_axis_key_valid) begin
            hash0_reg <= crc_reflected(POLY0, s_axis_key);
            hash1_reg <= crc_reflected(POLY1, s_axis_key);
        end
        valid_reg <= s_axis_key_valid;
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
