// flow_hash_pkg: the flow table's two bucket hashes of a packed flow key, as functions.
//
// The hashes are nic-abi's (nic_abi::hash): CRC-32C and CRC-32 (IEEE), reflected, initial
// value and final XOR all ones, over the key's bytes with each 32-bit word little-endian and
// word 0 first. With word i of the key at bits [32*i+31:32*i] of a packed key vector, that byte
// stream is the vector's bits from bit 0 upwards.
//
// A CRC is affine in its message: crc(m) = L(m) ^ C, where C is the CRC of the all-zero key
// and L is linear. So a hash is C XORed with one table entry per 4-bit nibble of the key (the
// XOR of L over that nibble's set bits): the same XOR tree per output bit that synthesis builds
// from a bit-serial description, but 120 table reads per hash in simulation instead of 480
// dependent steps. The tables are computed at elaboration from the polynomials.
`default_nettype none

package flow_hash_pkg;

    // Width of a packed flow key (nic_abi::key::KEY_BITS).
    localparam int KEY_BITS = 480;
    // Reflected polynomial of hash 0, CRC-32C (nic_abi::hash::CRC32C_POLY_REFLECTED).
    localparam logic [31:0] POLY0 = 32'h82F63B78;
    // Reflected polynomial of hash 1, CRC-32 IEEE (nic_abi::hash::CRC32_POLY_REFLECTED).
    localparam logic [31:0] POLY1 = 32'hEDB88320;

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

    // Entry [p*16 + v]: L of the key whose only set bits are nibble p's bits in v. Message bit
    // i enters the register as `poly` and then takes KEY_BITS-1-i zero steps, so the
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

    // Hash 0 (CRC-32C) of a packed key.
    function automatic logic [31:0] key_hash0(input logic [KEY_BITS-1:0] key);
        logic [31:0] h = ZERO_CRC0;
        for (int p = 0; p < NIBBLES; p++) begin
            h = h ^ TABLE0[p * 16 + int'(key[4 * p +: 4])];
        end
        return h;
    endfunction

    // Hash 1 (CRC-32) of a packed key.
    function automatic logic [31:0] key_hash1(input logic [KEY_BITS-1:0] key);
        logic [31:0] h = ZERO_CRC1;
        for (int p = 0; p < NIBBLES; p++) begin
            h = h ^ TABLE1[p * 16 + int'(key[4 * p +: 4])];
        end
        return h;
    endfunction

endpackage

`resetall
