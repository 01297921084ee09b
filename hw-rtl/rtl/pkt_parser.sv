// pkt_parser: the card's header parser. A frame's first bytes arrive on a streaming bus; the
// parser produces the same FlowKey (or the same unparsed class) as nic-abi's card parser,
// nic_abi::parse::parse_card, whose module doc states the rules this file implements in order.
//
// Bus: DATA_BYTES bytes per beat, byte 0 of a beat in s_axis_tdata[7:0]. A frame starts with a
// beat carrying s_axis_tfirst and ends with one carrying s_axis_tlast; s_axis_frame_len (the
// whole frame's length, as the descriptor or the MAC reports it) and s_axis_in_port are
// sampled with the first beat. The stream must carry at least min(frame_len, WINDOW_BYTES)
// bytes; it may carry the whole frame (bytes past the window are consumed and ignored) or
// stop after the header window.
//
// Timing: the parser keeps the first WINDOW_BYTES bytes. The beat that completes the window
// (min(frame_len, WINDOW_BYTES) bytes) or carries tlast, whichever comes first, triggers the
// parse; the key is valid PARSER_LATENCY_CYCLES (2) cycles after that beat's cycle (one cycle
// to register the window, one to parse and register the key). One frame per beat-time: back-to-
// back frames need no idle cycles. m_axis_key_ready low stalls the input once a parsed key
// is waiting.
//
// Protocol errors (a beat without tfirst outside a frame; a tfirst inside a frame whose key
// was not produced) are counted in protocol_errors; the partial frame produces no key.
`default_nettype none

`include "snich_abi.svh"

// Yosys reads package imports only at file scope, and only whole packages.
/* verilator lint_off IMPORTSTAR */
import snich_abi_pkg::*;
/* verilator lint_on IMPORTSTAR */

module pkt_parser #(
    // Bytes per bus beat (nic_abi::parse::PARSER_BEAT_BYTES); at least 8, a power of two.
    parameter int DATA_BYTES = PARSER_BEAT_BYTES,
    // Bytes of a frame the parser may read (nic_abi::parse::HEADER_WINDOW_BYTES).
    parameter int WINDOW_BYTES = HEADER_WINDOW_BYTES
) (
    input  wire                     clk,
    input  wire                     rst,

    // Frame bytes in.
    input  wire                     s_axis_tvalid,
    output wire                     s_axis_tready,
    input  wire [DATA_BYTES*8-1:0]  s_axis_tdata,
    input  wire                     s_axis_tfirst,
    input  wire                     s_axis_tlast,
    input  wire [31:0]              s_axis_frame_len,
    input  wire [15:0]              s_axis_in_port,

    // Keys out.
    output wire                     m_axis_key_valid,
    input  wire                     m_axis_key_ready,
    output wire [KEY_BITS-1:0]      m_axis_key,

    // Beats that broke the framing protocol.
    output wire [31:0]              protocol_errors
);

    initial begin
        if (DATA_BYTES < 8 || (DATA_BYTES & (DATA_BYTES - 1)) != 0) begin
            $error("pkt_parser: DATA_BYTES (%0d) must be a power of two, at least 8", DATA_BYTES);
            $finish;
        end
        if (WINDOW_BYTES < 14 || WINDOW_BYTES % DATA_BYTES != 0) begin
            $error("pkt_parser: WINDOW_BYTES (%0d) must be at least 14 and a multiple of %0d",
                   WINDOW_BYTES, DATA_BYTES);
            $finish;
        end
    end

    localparam int WINDOW_BITS = WINDOW_BYTES * 8;
    // Most bytes allowed after an IP datagram in the frame (OVS 3.1's limit on L2 padding).
    localparam int MAX_L2_PAD = 65535;

    // ------------------------------------------------------------ byte access and key fields

    // The header window: the frame's first WINDOW_BYTES bytes, byte i at bits [8i+7:8i]. The
    // parse functions below read it directly (passing it by value to each would copy it per
    // call in a synthesis front end).
    logic [WINDOW_BITS-1:0] win = '0;

    // The byte at `at` of the window (0 past its end), and big-endian 16- and 32-bit fields:
    // macros rather than functions, so each read is a select of `win` (a function reading a
    // module signal cannot take constant arguments in Yosys, and passing the window by value
    // copies it per call).
`define PP_BYTE_AT(at) 8'(((at) < 0 || (at) >= WINDOW_BYTES) ? 8'd0 \
    : win[(((at) < 0 || (at) >= WINDOW_BYTES) ? 0 : (at)) * 8 +: 8])
`define PP_BE16(at) {`PP_BYTE_AT(at), `PP_BYTE_AT((at) + 1)}
`define PP_BE32(at) {`PP_BE16(at), `PP_BE16((at) + 2)}

    // Writes a field of at most 32 bits at its place in the packed key (word-major, word 0 at
    // bits 31:0), from the include's layout constants. A whole-word masked write: synthesis
    // front ends handle word assignments far faster than one assignment per bit.
    function automatic logic [KEY_BITS-1:0] put(input logic [KEY_BITS-1:0] key,
                                                input int unsigned word, input int unsigned lsb,
                                                input int unsigned width,
                                                input logic [31:0] value);
        logic [31:0] mask;
        mask = (width >= 32 ? 32'hffff_ffff : (32'd1 << width) - 32'd1) << lsb;
        put = key;
        put[word * 32 +: 32] = (key[word * 32 +: 32] & ~mask) | ((value << lsb) & mask);
    endfunction

    // Writes a 128-bit address field: most significant word first.
    function automatic logic [KEY_BITS-1:0] put128(input logic [KEY_BITS-1:0] key,
                                                   input int unsigned word,
                                                   input logic [127:0] value);
        put128 = key;
        for (int unsigned j = 0; j < 4; j++) begin
            put128[(word + 3 - j) * 32 +: 32] = value[j * 32 +: 32];
        end
    endfunction

    function automatic logic [KEY_BITS-1:0] put_class(input logic [KEY_BITS-1:0] key,
                                                      input int unsigned class_code);
        put_class = put(key, KEY_CLASS_WORD, KEY_CLASS_LSB, KEY_CLASS_WIDTH, 32'(class_code));
    endfunction

    // The extent [at, at + n) lies inside the window (already checked against the frame).
    function automatic logic readable(input int at, input int n);
        readable = at + n <= WINDOW_BYTES;
    endfunction

    // ------------------------------------------------------------ the parse, rule by rule
    // Each rule that stops the parse is one branch of an if/else chain (Yosys has no
    // `return`); the branches come in the order of nic_abi::parse::parse_card's rules.

    // L4 of the header at `at` with `avail` bytes left in the datagram; `proto` is nw_proto.
    function automatic logic [KEY_BITS-1:0] parse_l4(input logic [KEY_BITS-1:0] key_in,
                                                     input logic [7:0] proto,
                                                     input int at, input int avail);
        int needs;
        logic ports;
        logic known;
        int data_offset;
        known = 1'b1;
        needs = 0;
        ports = 1'b0;
        case (proto)
            8'd6:   begin needs = 20; ports = 1'b1; end  // TCP
            8'd17:  begin needs = 8;  ports = 1'b1; end  // UDP
            8'd132: begin needs = 12; ports = 1'b1; end  // SCTP
            8'd1, 8'd2, 8'd58: begin needs = 8; ports = 1'b0; end  // ICMP, IGMP, ICMPv6
            default: known = 1'b0;
        endcase
        // TCP, as OVS 3.1: the data offset (the high nibble of TCP byte 12) must cover the
        // 20-byte header and fit the datagram.
        data_offset = (int'(`PP_BYTE_AT(at + 12)) >> 4) * 4;
        if (!known) begin
            parse_l4 = key_in;
        end else if (avail < needs) begin
            parse_l4 = put_class(key_in, CLASS_TRUNCATED);
        end else if (!readable(at, needs)) begin
            parse_l4 = put_class(key_in, CLASS_BEYOND_HEADER_WINDOW);
        end else if (proto == 8'd6 && data_offset < 20) begin
            parse_l4 = put_class(key_in, CLASS_MALFORMED);
        end else if (proto == 8'd6 && avail < data_offset) begin
            parse_l4 = put_class(key_in, CLASS_TRUNCATED);
        end else if (ports) begin
            parse_l4 = put(key_in, KEY_TP_SRC_WORD, KEY_TP_SRC_LSB, KEY_TP_SRC_WIDTH,
                           32'(`PP_BE16(at)));
            parse_l4 = put(parse_l4, KEY_TP_DST_WORD, KEY_TP_DST_LSB, KEY_TP_DST_WIDTH,
                           32'(`PP_BE16(at + 2)));
        end else begin
            parse_l4 = put(key_in, KEY_TP_SRC_WORD, KEY_TP_SRC_LSB, KEY_TP_SRC_WIDTH,
                           32'(`PP_BYTE_AT(at)));
            parse_l4 = put(parse_l4, KEY_TP_DST_WORD, KEY_TP_DST_LSB, KEY_TP_DST_WIDTH,
                           32'(`PP_BYTE_AT(at + 1)));
        end
    endfunction

    function automatic logic [KEY_BITS-1:0] parse_ipv4(input logic [KEY_BITS-1:0] key_in,
                                                       input int len, input int l3);
        logic [KEY_BITS-1:0] key;
        int size;
        int ip_len;
        int total_len;
        logic [7:0] ver_ihl;
        logic [15:0] frag;
        logic [7:0] proto;
        size = len - l3;
        ver_ihl = `PP_BYTE_AT(l3);
        ip_len = int'(ver_ihl[3:0]) * 4;
        total_len = int'(`PP_BE16(l3 + 2));
        proto = `PP_BYTE_AT(l3 + 9);
        frag = `PP_BE16(l3 + 6);
        if (size < 20) begin
            parse_ipv4 = put_class(key_in, CLASS_TRUNCATED);
        end else if (!readable(l3, 20)) begin
            parse_ipv4 = put_class(key_in, CLASS_BEYOND_HEADER_WINDOW);
        end else if (ip_len < 20) begin
            parse_ipv4 = put_class(key_in, CLASS_MALFORMED);
        end else if (size < ip_len || total_len > size) begin
            parse_ipv4 = put_class(key_in, CLASS_TRUNCATED);
        end else if (ip_len > total_len || size - total_len > MAX_L2_PAD) begin
            parse_ipv4 = put_class(key_in, CLASS_MALFORMED);
        end else if (!readable(l3, ip_len)) begin
            parse_ipv4 = put_class(key_in, CLASS_BEYOND_HEADER_WINDOW);
        end else begin
            key = key_in;
            // A wrong version is noted, not a stop: OVS parses the header as IPv4.
            if (ver_ihl[7:4] != 4'd4) key = put_class(key, CLASS_MALFORMED);
            key = put(key, KEY_NW_SRC_WORD + 3, 0, 32, `PP_BE32(l3 + 12));
            key = put(key, KEY_NW_DST_WORD + 3, 0, 32, `PP_BE32(l3 + 16));
            key = put(key, KEY_NW_TOS_WORD, KEY_NW_TOS_LSB, KEY_NW_TOS_WIDTH,
                      32'(`PP_BYTE_AT(l3 + 1)));
            key = put(key, KEY_NW_PROTO_WORD, KEY_NW_PROTO_LSB, KEY_NW_PROTO_WIDTH, 32'(proto));
            if ((frag & 16'h3fff) != 16'd0 && (frag & 16'h1fff) != 16'd0) begin
                parse_ipv4 = put(key, KEY_FRAG_WORD, KEY_FRAG_LSB, KEY_FRAG_WIDTH,
                                 32'(FRAG_ANY | FRAG_LATER));
            end else begin
                if ((frag & 16'h3fff) != 16'd0) begin
                    key = put(key, KEY_FRAG_WORD, KEY_FRAG_LSB, KEY_FRAG_WIDTH, 32'(FRAG_ANY));
                end
                parse_ipv4 = parse_l4(key, proto, l3 + ip_len, total_len - ip_len);
            end
        end
    endfunction

    function automatic logic [KEY_BITS-1:0] parse_ipv6(input logic [KEY_BITS-1:0] key_in,
                                                       input int len, input int l3);
        logic [KEY_BITS-1:0] key;
        int size;
        int payload_len;
        int after;
        logic [11:0] ver_tc;
        logic [7:0] nh;
        logic [127:0] src;
        logic [127:0] dst;
        size = len - l3;
        payload_len = int'(`PP_BE16(l3 + 4));
        after = size - 40;
        // Version (4 bits) and traffic class (8 bits); the flow label is not a key field.
        ver_tc = 12'(`PP_BE16(l3) >> 4);
        for (int i = 0; i < 16; i++) begin
            src[(15 - i) * 8 +: 8] = `PP_BYTE_AT(l3 + 8 + i);
            dst[(15 - i) * 8 +: 8] = `PP_BYTE_AT(l3 + 24 + i);
        end
        nh = `PP_BYTE_AT(l3 + 6);
        if (size < 40) begin
            parse_ipv6 = put_class(key_in, CLASS_TRUNCATED);
        end else if (!readable(l3, 40)) begin
            parse_ipv6 = put_class(key_in, CLASS_BEYOND_HEADER_WINDOW);
        end else if (payload_len > after) begin
            parse_ipv6 = put_class(key_in, CLASS_TRUNCATED);
        end else if (after - payload_len > MAX_L2_PAD) begin
            parse_ipv6 = put_class(key_in, CLASS_MALFORMED);
        end else begin
            key = key_in;
            // A wrong version is noted, not a stop: OVS parses the header as IPv6.
            if (ver_tc[11:8] != 4'd6) key = put_class(key, CLASS_MALFORMED);
            key = put128(key, KEY_NW_SRC_WORD, src);
            key = put128(key, KEY_NW_DST_WORD, dst);
            // Hop-by-hop, routing, fragment, AH, destination options: the card does not walk
            // them.
            if (nh == 8'd0 || nh == 8'd43 || nh == 8'd44 || nh == 8'd51 || nh == 8'd60) begin
                parse_ipv6 = put_class(key, CLASS_IPV6_EXTENSION_HEADER);
            end else begin
                key = put(key, KEY_NW_TOS_WORD, KEY_NW_TOS_LSB, KEY_NW_TOS_WIDTH,
                          32'(ver_tc[7:0]));
                key = put(key, KEY_NW_PROTO_WORD, KEY_NW_PROTO_LSB, KEY_NW_PROTO_WIDTH, 32'(nh));
                parse_ipv6 = parse_l4(key, nh, l3 + 40, payload_len);
            end
        end
    endfunction

    function automatic logic [KEY_BITS-1:0] parse_arp(input logic [KEY_BITS-1:0] key_in,
                                                      input int len, input int o);
        logic [15:0] oper;
        oper = `PP_BE16(o + 6);
        if (len - o < 28) begin
            parse_arp = put_class(key_in, CLASS_TRUNCATED);
        end else if (!readable(o, 28)) begin
            parse_arp = put_class(key_in, CLASS_BEYOND_HEADER_WINDOW);
        end else begin
            parse_arp = key_in;
            if (`PP_BE16(o) == 16'd1 && `PP_BE16(o + 2) == 16'h0800 && `PP_BYTE_AT(o + 4) == 8'd6
                && `PP_BYTE_AT(o + 5) == 8'd4) begin
                parse_arp = put(parse_arp, KEY_NW_SRC_WORD + 3, 0, 32, `PP_BE32(o + 14));
                parse_arp = put(parse_arp, KEY_NW_DST_WORD + 3, 0, 32, `PP_BE32(o + 24));
                if (oper <= 16'd255) begin
                    parse_arp = put(parse_arp, KEY_NW_PROTO_WORD, KEY_NW_PROTO_LSB,
                                    KEY_NW_PROTO_WIDTH, 32'(oper));
                end
            end
        end
    endfunction

    function automatic logic is_vlan_tpid(input logic [15:0] t);
        is_vlan_tpid = t == ETH_TYPE_VLAN[15:0] || t == ETH_TYPE_QINQ[15:0]
            || t == ETH_TYPE_QINQ_LEGACY[15:0];
    endfunction

    function automatic logic [KEY_BITS-1:0] parse_frame(input int len,
                                                        input logic [15:0] in_port);
        logic [KEY_BITS-1:0] key;
        int o;
        int tags;
        logic [15:0] t;
        logic done;
        // The parse has stopped: parse_frame holds the key.
        logic stop;
        stop = 1'b0;
        key = '0;
        key = put(key, KEY_IN_PORT_WORD, KEY_IN_PORT_LSB, KEY_IN_PORT_WIDTH, 32'(in_port));
        parse_frame = key;
        if (len < 14) begin
            parse_frame = put_class(key, CLASS_TRUNCATED);
            stop = 1'b1;
        end
        key = put(key, KEY_DL_DST_HI_WORD, KEY_DL_DST_HI_LSB, KEY_DL_DST_HI_WIDTH, `PP_BE32(0));
        key = put(key, KEY_DL_DST_LO_WORD, KEY_DL_DST_LO_LSB, KEY_DL_DST_LO_WIDTH,
                  32'(`PP_BE16(4)));
        key = put(key, KEY_DL_SRC_HI_WORD, KEY_DL_SRC_HI_LSB, KEY_DL_SRC_HI_WIDTH,
                  32'(`PP_BE16(6)));
        key = put(key, KEY_DL_SRC_LO_WORD, KEY_DL_SRC_LO_LSB, KEY_DL_SRC_LO_WIDTH, `PP_BE32(8));
        o = 12;
        t = `PP_BE16(12);
        tags = 0;
        done = 1'b0;
        // At most three TPIDs are examined: two tags taken, the third refused.
        for (int i = 0; i < 3; i++) begin
            if (!stop && !done && is_vlan_tpid(t)) begin
                if (tags == 2) begin
                    key = put(key, KEY_DL_TYPE_WORD, KEY_DL_TYPE_LSB, KEY_DL_TYPE_WIDTH, 32'(t));
                    parse_frame = put_class(key, CLASS_TOO_MANY_VLAN_TAGS);
                    stop = 1'b1;
                end else if (len - o < 6) begin
                    key = put(key, KEY_DL_TYPE_WORD, KEY_DL_TYPE_LSB, KEY_DL_TYPE_WIDTH, 32'(t));
                    parse_frame = put_class(key, CLASS_TRUNCATED);
                    stop = 1'b1;
                end else if (!readable(o, 6)) begin
                    parse_frame = put_class(key, CLASS_BEYOND_HEADER_WINDOW);
                    stop = 1'b1;
                end else begin
                    if (tags == 0) begin
                        key = put(key, KEY_VLAN_TCI_WORD, KEY_VLAN_TCI_LSB, KEY_VLAN_TCI_WIDTH,
                                  32'(`PP_BE16(o + 2)) | VLAN_TCI_PRESENT);
                    end else begin
                        key = put(key, KEY_INNER_VLAN_TCI_WORD, KEY_INNER_VLAN_TCI_LSB,
                                  KEY_INNER_VLAN_TCI_WIDTH,
                                  32'(`PP_BE16(o + 2)) | VLAN_TCI_PRESENT);
                    end
                    tags = tags + 1;
                    o = o + 4;
                    t = `PP_BE16(o);
                end
            end else begin
                done = 1'b1;
            end
        end
        o = o + 2;
        if (!stop && t < 16'h0600) begin
            key = put(key, KEY_DL_TYPE_WORD, KEY_DL_TYPE_LSB, KEY_DL_TYPE_WIDTH, ETH_TYPE_NONE);
            if (len - o < 8) begin
                parse_frame = key;
                stop = 1'b1;
            end else if (!readable(o, 8)) begin
                parse_frame = put_class(key, CLASS_BEYOND_HEADER_WINDOW);
                stop = 1'b1;
            end else if (`PP_BYTE_AT(o) != 8'haa || `PP_BYTE_AT(o + 1) != 8'haa
                         || `PP_BYTE_AT(o + 2) != 8'h03 || `PP_BYTE_AT(o + 3) != 8'h00
                         || `PP_BYTE_AT(o + 4) != 8'h00 || `PP_BYTE_AT(o + 5) != 8'h00
                         || `PP_BE16(o + 6) < 16'h0600) begin
                parse_frame = key;
                stop = 1'b1;
            end else begin
                t = `PP_BE16(o + 6);
                o = o + 8;
            end
        end
        if (!stop) begin
            key = put(key, KEY_DL_TYPE_WORD, KEY_DL_TYPE_LSB, KEY_DL_TYPE_WIDTH, 32'(t));
            if (t == ETH_TYPE_IPV4[15:0]) begin
                parse_frame = parse_ipv4(key, len, o);
            end else if (t == ETH_TYPE_IPV6[15:0]) begin
                parse_frame = parse_ipv6(key, len, o);
            end else if (t == ETH_TYPE_ARP[15:0] || t == 16'h8035) begin
                parse_frame = parse_arp(key, len, o);
            end else begin
                parse_frame = key;
            end
        end
    endfunction

    // ------------------------------------------------------------ framing and pipeline

    // Lengths beyond 2^31 - 1 bytes are no frame; clamp so the signed arithmetic above holds.
    function automatic int frame_len_int(input logic [31:0] len);
        frame_len_int = len[31] ? 32'h7fff_ffff : int'(len);
    endfunction

    logic [31:0]            frame_len = 32'd0;
    logic [15:0]            in_port = 16'd0;
    logic [15:0]            collected = 16'd0;
    logic                   in_frame = 1'b0;
    logic                   keyed = 1'b0;
    logic                   parse_go = 1'b0;
    logic [31:0]            errors = 32'd0;

    logic                   key_valid_reg = 1'b0;
    logic [KEY_BITS-1:0]    key_reg = '0;

    // The parse of the window, combinational (its own process: synthesis front ends handle
    // it far faster than inside the clocked block).
    logic [KEY_BITS-1:0]    parsed_key;
    always_comb begin
        parsed_key = parse_frame(frame_len_int(frame_len), in_port);
    end

    wire out_free = !key_valid_reg || m_axis_key_ready;
    wire stalled = parse_go && !out_free;

    assign s_axis_tready = !stalled;

    always_ff @(posedge clk) begin
        if (key_valid_reg && m_axis_key_ready) begin
            key_valid_reg <= 1'b0;
        end
        if (parse_go && out_free) begin
            key_reg <= parsed_key;
            key_valid_reg <= 1'b1;
            parse_go <= 1'b0;
        end

        if (s_axis_tvalid && s_axis_tready) begin
            logic [15:0] base;
            logic [31:0] need;
            logic [31:0] len;
            logic start;
            start = s_axis_tfirst;
            if (start && in_frame && !keyed) begin
                errors <= errors + 32'd1;
            end
            if (!start && !in_frame) begin
                errors <= errors + 32'd1;
            end else begin
                len = start ? s_axis_frame_len : frame_len;
                base = start ? 16'd0 : collected;
                if (start) begin
                    frame_len <= s_axis_frame_len;
                    in_port <= s_axis_in_port;
                end
                // Bytes of this beat inside the window go to their place; a new frame's
                // window starts cleared, so nothing of the previous frame is ever read.
                for (int b = 0; b < DATA_BYTES; b++) begin
                    if (int'(base) + b < WINDOW_BYTES) begin
                        win[(int'(base) + b) * 8 +: 8] <= s_axis_tdata[b * 8 +: 8];
                    end
                end
                if (start) begin
                    for (int b = DATA_BYTES; b < WINDOW_BYTES; b++) begin
                        win[b * 8 +: 8] <= 8'd0;
                    end
                end
                need = (len < 32'(WINDOW_BYTES)) ? len : 32'(WINDOW_BYTES);
                collected <= (int'(base) + DATA_BYTES >= WINDOW_BYTES) ? 16'(WINDOW_BYTES)
                                                                      : base + 16'(DATA_BYTES);
                if ((start || !keyed) && (32'(base) + 32'(DATA_BYTES) >= need || s_axis_tlast)) begin
                    parse_go <= 1'b1;
                    keyed <= 1'b1;
                end else if (start) begin
                    keyed <= 1'b0;
                end
                in_frame <= !s_axis_tlast;
            end
        end

        // Only control state is reset.
        if (rst) begin
            in_frame <= 1'b0;
            keyed <= 1'b0;
            parse_go <= 1'b0;
            key_valid_reg <= 1'b0;
            errors <= 32'd0;
        end
    end

    assign m_axis_key_valid = key_valid_reg;
    assign m_axis_key = key_reg;
    assign protocol_errors = errors;

endmodule

`undef PP_BYTE_AT
`undef PP_BE16
`undef PP_BE32
`resetall
