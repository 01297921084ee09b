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

    // A CRC is affine in its message: crc(m) = L(m) ^ C, where C is the CRC of the all-zero
    // key and L is linear. So the hash is C XORed with one table entry per 4-bit nibble of the
    // key (the XOR of L over that nibble's set bits): the same XOR tree per output bit that
    // synthesis would build from a bit-serial description, but 120 table reads per hash in
    // simulation instead of 480 dependent steps. The tables are computed here, at elaboration,
    // from the polynomials, so no hash constant is typed anywhere but in nic-abi.
    localparam int NIBBLES = KEY_BITS / 4;
    typedef logic [31:0] nibble_table_t [NIBBLES * 16];

    // One step of the reflected CRC register with a zero data bit.
    function automatic logic [31:0] crc_step(input logic [31:0] poly, input logic [31:0] c);
        return c[0] ? ((c >> 1) ^ poly) : (c >> 1);
    endfunction

    // C: the CRC (initial value and final XOR all ones) of a KEY_BITS-bit zero message.
    function automatic logic [31:0] zero_key_crc(input logic [31:0] poly);
        logic [31:0] c = 32'hFFFFFFFF;
        for (int i = 0; i < KEY_BITS; i++) begin
            c = crc_step(poly, c);
        end
        return ~c;
    endfunction

    // Entry [p*16 + v]: L of the key whose only set bits are nibble p's bits in v. The message
    // bit i enters the register as `poly` and then takes KEY_BITS-1-i zero steps, so the
    // contributions are built from the last bit backwards, one step apart.
    function automatic nibble_table_t nibble_table(input logic [31:0] poly);
        nibble_table_t t;
        logic [31:0] bit_term [KEY_BITS];
        logic [31:0] c = poly;
        for (int i = KEY_BITS - 1; i >= 0; i--) begin
            bit_term[i] = c;
            c = crc_step(poly, c);
        end
        for (int p = 0; p < NIBBLES; p++) begin
            for (int v = 0; v < 16; v++) begin
                logic [31:0] acc = 32'd0;
                for (int b = 0; b < 4; b++) begin
                    if (v[b]) acc = acc ^ bit_term[4 * p + b];
                end
                t[p * 16 + v] = acc;
            end
        end
        return t;
    endfunction

    localparam logic [31:0] ZERO_CRC0 = zero_key_crc(POLY0);
    localparam logic [31:0] ZERO_CRC1 = zero_key_crc(POLY1);
    localparam nibble_table_t TABLE0 = nibble_table(POLY0);
    localparam nibble_table_t TABLE1 = nibble_table(POLY1);

    logic        valid_reg = 1'b0;
    logic [31:0] hash0_reg = 32'd0;
    logic [31:0] hash1_reg = 32'd0;

    always_ff @(posedge clk) begin
        // Data registers load only with a valid key: idle cycles cost no hashing.
        if (s_axis_key_valid) begin
            logic [31:0] hash0_next;
            logic [31:0] hash1_next;
            hash0_next = ZERO_CRC0;
            hash1_next = ZERO_CRC1;
            for (int p = 0; p < NIBBLES; p++) begin
                hash0_next = hash0_next ^ TABLE0[p * 16 + int'(s_axis_key[4 * p +: 4])];
                hash1_next = hash1_next ^ TABLE1[p * 16 + int'(s_axis_key[4 * p +: 4])];
            end
            hash0_reg <= hash0_next;
            hash1_reg <= hash1_next;
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
