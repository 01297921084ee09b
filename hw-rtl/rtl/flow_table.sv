// flow_table: the exact-match flow table with its lookup pipeline and management port.
//
// Organisation and algorithms are nic-abi's (nic_abi::table) and nic-model's flow table, bit
// for bit: BUCKETS buckets (a power of two) of SLOTS slots; a key's candidate buckets are the
// low bits of its two hashes (flow_key_hash); lookups scan bucket b0 slots 0..SLOTS-1 then b1;
// inserts update in place, else take the first free slot of b0 then b1, else run a bounded
// cuckoo walk (the k-th kick evicts slot k % SLOTS of the current bucket) that is undone
// entirely when it fails after MAX_KICKS kicks.
//
// Storage is block RAM with a registered read (flow_table_ram), as silicon has it:
// - one entry RAM per slot position ("bank" s holds slot s of every bucket: valid bit, key,
//   action), BUCKETS words deep, two ports. A lookup reads bucket b0 on port A and b1 on
//   port B of every bank in the same cycle: all 2*SLOTS candidates at once.
// - one counter RAM (hits, bytes, last hit) of BUCKETS*SLOTS words: the lookup pipeline reads
//   the hit slot's counters on port A and writes them back, incremented, on port B.
//
// Lookup pipeline: one key per cycle (initiation interval 1), results exactly LATENCY enabled
// cycles after the key is accepted:
//   stage 1  key registered
//   stage 2  hashes (flow_key_hash); the bucket addresses go to the entry RAMs
//   stage 3  the 2*SLOTS candidate entries come out of the RAMs
//   stage 4  each candidate compared with the key (a match bit per candidate)
//   stage 5  the first match selected: hit, slot, action; the counter read address
//   stage 6  counters out of the RAM (or forwarded, below), incremented, written back
//   stages 6..LATENCY carry the result; stage LATENCY is the output register.
// A hit in stage 6 writes its slot's counters at the same edge that the next lookup's counter
// read samples the RAM, so a lookup that hits the slot the previous one just updated takes
// the written value from the write-back register (forwarding) instead of the RAM: counters
// count every hit, as nic-model's do. The whole pipeline stalls while a result waits on
// m_result_ready (backpressure): the RAMs' read enables and write-backs stall with it.
// A key whose class field is not 0 (not parsed) never hits.
//
// Management port: one command at a time (insert, delete, read counters, read slot).
// Precedence, defined: management wins. While s_mgmt_valid is high or a command runs, no new
// lookup is accepted; a command starts only when the lookups already accepted have passed the
// last stage before the output register (and written their counters). So every lookup sees
// the table either wholly before or wholly after a command. A command owns the RAM ports
// while it runs, and the pipeline's hash stage and comparators: the table has one hash unit
// and one set of key comparators. Cycles of a command after acceptance: drain (until the
// pipeline is empty), hash, bucket read, compare, execute (a read of counters adds one), then
// 6 per cuckoo kick (read the victim, latch it, hash it, read its other bucket, find a free
// slot, place the carried entry), one more to move the last victim into its free slot, 3 per
// undone kick (read the path, read the slot, swap), then the response (m_mgmt_valid, one
// cycle).
`default_nettype none

`include "snich_abi.svh"

// Yosys reads package imports only at file scope, and only whole packages.
/* verilator lint_off IMPORTSTAR */
import snich_abi_pkg::*;
/* verilator lint_on IMPORTSTAR */

module flow_table #(
    // Buckets in the table; a power of two, at least 2.
    parameter int BUCKETS = 1024,
    // Slots per bucket (nic_abi::table::SLOTS_PER_BUCKET); a power of two, at least 2.
    parameter int SLOTS = SLOTS_PER_BUCKET,
    // Bits of an encoded action (nic_abi::action::ACTION_WORDS * 32).
    parameter int ACTION_BITS = ACTION_WORDS * 32,
    // Bound on cuckoo kicks per insert (nic_abi::table::DEFAULT_MAX_KICKS).
    parameter int MAX_KICKS = DEFAULT_MAX_KICKS,
    // Lookup latency in cycles (nic_abi::table::LOOKUP_LATENCY_CYCLES); at least 6.
    parameter int LATENCY = LOOKUP_LATENCY_CYCLES
) (
    input  wire                     clk,
    input  wire                     rst,

    // Lookups in.
    input  wire                     s_lookup_valid,
    output wire                     s_lookup_ready,
    input  wire [KEY_BITS-1:0]      s_lookup_key,
    input  wire [15:0]              s_lookup_len,
    input  wire [63:0]              s_lookup_time,
    input  wire [31:0]              s_lookup_tag,

    // Lookup results out.
    output wire                     m_result_valid,
    input  wire                     m_result_ready,
    output wire                     m_result_hit,
    output wire [31:0]              m_result_slot,
    output wire [ACTION_BITS-1:0]   m_result_action,
    output wire [31:0]              m_result_tag,

    // Management commands in.
    input  wire                     s_mgmt_valid,
    output wire                     s_mgmt_ready,
    input  wire [3:0]               s_mgmt_op,
    input  wire [KEY_BITS-1:0]      s_mgmt_key,
    input  wire [ACTION_BITS-1:0]   s_mgmt_action,
    input  wire [31:0]              s_mgmt_slot,

    // Management responses out (one-cycle pulse; the data holds until the next response).
    output wire                     m_mgmt_valid,
    output wire [3:0]               m_mgmt_status,
    output wire [31:0]              m_mgmt_slot,
    output wire [31:0]              m_mgmt_kicks,
    output wire                     m_mgmt_entry_valid,
    output wire [KEY_BITS-1:0]      m_mgmt_key,
    output wire [ACTION_BITS-1:0]   m_mgmt_action,
    output wire [63:0]              m_mgmt_hits,
    output wire [63:0]              m_mgmt_bytes,
    output wire [63:0]              m_mgmt_last_hit,

    // Valid entries in the table.
    output wire [31:0]              occupancy
);

    // Management command and status codes: nic_abi::regs::{MgmtCommand, MgmtStatus}.
    localparam logic [3:0] OP_INSERT = 4'(MGMT_CMD_INSERT);
    localparam logic [3:0] OP_DELETE = 4'(MGMT_CMD_DELETE);
    localparam logic [3:0] OP_LOOKUP = 4'(MGMT_CMD_LOOKUP);
    localparam logic [3:0] OP_READ_COUNTERS = 4'(MGMT_CMD_READ_COUNTERS);
    localparam logic [3:0] OP_READ_SLOT = 4'(MGMT_CMD_READ_SLOT);
    localparam logic [3:0] ST_OK = 4'(MGMT_STATUS_OK);
    localparam logic [3:0] ST_UPDATED = 4'(MGMT_STATUS_UPDATED);
    localparam logic [3:0] ST_NOT_FOUND = 4'(MGMT_STATUS_NOT_FOUND);
    localparam logic [3:0] ST_TABLE_FULL = 4'(MGMT_STATUS_TABLE_FULL);
    localparam logic [3:0] ST_BAD_COMMAND = 4'(MGMT_STATUS_BAD_COMMAND);
    localparam logic [3:0] ST_BAD_KEY = 4'(MGMT_STATUS_BAD_KEY);
    localparam logic [3:0] ST_BAD_ACTION = 4'(MGMT_STATUS_BAD_ACTION);

    localparam int NSLOTS = BUCKETS * SLOTS;
    localparam int BUCKET_IDX_BITS = $clog2(BUCKETS);
    localparam int SLOT_POS_BITS = $clog2(SLOTS);
    localparam int SLOT_IDX_BITS = $clog2(NSLOTS);
    localparam int CANDIDATES = 2 * SLOTS;
    localparam int CAND_BITS = $clog2(CANDIDATES);
    // The key's class field (nic_abi::key::layout::CLASS).
    localparam int CLASS_LSB = KEY_CLASS_WORD * 32 + KEY_CLASS_LSB;
    localparam int FRAG_LSB = KEY_FRAG_WORD * 32 + KEY_FRAG_LSB;
    // An entry RAM word: {action, key, valid} (nic_abi::table's slot, SLOT_BITS).
    localparam int ENTRY_BITS = SLOT_BITS;
    // A counter RAM word: {last hit, bytes, hits} (nic_abi::table's entry counters).
    localparam int COUNTER_BITS = ENTRY_COUNTER_WORDS * 32;
    // Result stages 5..LATENCY, each {tag, action, slot, hit}.
    localparam int RES_BITS = 32 + ACTION_BITS + 32 + 1;
    localparam int RES_STAGES = LATENCY - 4;
    // Depth of the cuckoo walk's path memory.
    localparam int WALK_DEPTH = MAX_KICKS > 1 ? MAX_KICKS : 2;
    localparam int WALK_BITS = $clog2(WALK_DEPTH);

    initial begin
        if (BUCKETS < 2 || (BUCKETS & (BUCKETS - 1)) != 0) begin
            $error("flow_table: BUCKETS (%0d) must be a power of two, at least 2", BUCKETS);
            $finish;
        end
        if (SLOTS < 2 || (SLOTS & (SLOTS - 1)) != 0) begin
            $error("flow_table: SLOTS (%0d) must be a power of two, at least 2", SLOTS);
            $finish;
        end
        if (LATENCY < 6) begin
            $error("flow_table: LATENCY (%0d) must be at least 6", LATENCY);
            $finish;
        end
        if (ACTION_BITS != 64) begin
            $error("flow_table: ACTION_BITS (%0d) must be 64, two action words", ACTION_BITS);
            $finish;
        end
        if (ENTRY_BITS != 1 + KEY_BITS + ACTION_BITS || COUNTER_BITS != 3 * 64) begin
            $error("flow_table: a slot is a valid bit, a key and an action, and three counters");
            $finish;
        end
        if (MAX_KICKS < 0 || MAX_KICKS > 65535) begin
            $error("flow_table: MAX_KICKS (%0d) must be in 0..65535", MAX_KICKS);
            $finish;
        end
    end

    // A bucket index is the hash's low bits; the high bits are unused by design.
    /* verilator lint_off UNUSEDSIGNAL */
    function automatic logic [BUCKET_IDX_BITS-1:0] bucket_of(input logic [31:0] hash);
        bucket_of = hash[BUCKET_IDX_BITS-1:0];
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */

    // Slot `s` of bucket `b`: b * SLOTS + s.
    function automatic logic [SLOT_IDX_BITS-1:0] slot_index(input logic [BUCKET_IDX_BITS-1:0] b,
                                                            input logic [SLOT_POS_BITS-1:0] s);
        slot_index = {b, s};
    endfunction

    // True when the words are a parsed key FlowKey::from_words accepts: class 0 (parsed) and
    // fragment flags 0 (none), 1 (first) or 3 (later).
    function automatic logic key_valid(input logic [7:0] class_code, input logic [7:0] frag);
        key_valid = class_code == 8'd0 && (frag == 8'd0 || frag == 8'd1 || frag == 8'd3);
    endfunction

    // True when the words are an action nic_abi::action::Action decodes (every bit the op does
    // not use is 0, known ops, an output port is not 0).
    function automatic logic action_valid(input logic [ACTION_BITS-1:0] a);
        logic [31:0] w0;
        logic [31:0] w1;
        logic [3:0] dest;
        logic [3:0] vop;
        logic dest_ok;
        logic vlan_ok;
        w0 = a[31:0];
        w1 = a[63:32];
        dest = w0[ACTION_DEST_OP_LSB +: 4];
        vop = w1[ACTION_VLAN_OP_LSB +: 4];
        if (32'(dest) == ACTION_DEST_OUTPUT) begin
            dest_ok = w0[15:0] != 16'd0;
        end else if (32'(dest) == ACTION_DEST_DROP || 32'(dest) == ACTION_DEST_FLOOD
                     || 32'(dest) == ACTION_DEST_TO_AGENT) begin
            dest_ok = w0[15:0] == 16'd0;
        end else begin
            dest_ok = 1'b0;
        end
        if (32'(vop) == ACTION_VLAN_SET) begin
            vlan_ok = w1[ACTION_VLAN_PCP_VALID_LSB] || w1[ACTION_VLAN_PCP_LSB +: 3] == 3'd0;
        end else if (32'(vop) == ACTION_VLAN_KEEP || 32'(vop) == ACTION_VLAN_STRIP) begin
            vlan_ok = w1[16:0] == 17'd0;
        end else begin
            vlan_ok = 1'b0;
        end
        action_valid = (w0 & ACTION_WORD0_RESERVED) == 32'd0
            && (w1 & ACTION_WORD1_RESERVED) == 32'd0 && dest_ok && vlan_ok;
    endfunction

    // ---------------------------------------------------------------- storage
    // Entry RAM ports, bank s at [s*W +: W] of each vector.
    logic [SLOTS-1:0]                 ea_en;
    logic [SLOTS-1:0]                 ea_we;
    logic [SLOTS*BUCKET_IDX_BITS-1:0] ea_addr;
    logic [SLOTS*ENTRY_BITS-1:0]      ea_wdata;
    wire  [SLOTS*ENTRY_BITS-1:0]      ea_rdata;
    logic [SLOTS-1:0]                 eb_en;
    logic [SLOTS-1:0]                 eb_we;
    logic [SLOTS*BUCKET_IDX_BITS-1:0] eb_addr;
    logic [SLOTS*ENTRY_BITS-1:0]      eb_wdata;
    wire  [SLOTS*ENTRY_BITS-1:0]      eb_rdata;

    for (genvar s = 0; s < SLOTS; s++) begin : g_bank
        flow_table_ram #(
            .WIDTH(ENTRY_BITS),
            .DEPTH(BUCKETS)
        ) entries (
            .clk(clk),
            .a_en(ea_en[s]),
            .a_we(ea_we[s]),
            .a_addr(ea_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS]),
            .a_wdata(ea_wdata[s * ENTRY_BITS +: ENTRY_BITS]),
            .a_rdata(ea_rdata[s * ENTRY_BITS +: ENTRY_BITS]),
            .b_en(eb_en[s]),
            .b_we(eb_we[s]),
            .b_addr(eb_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS]),
            .b_wdata(eb_wdata[s * ENTRY_BITS +: ENTRY_BITS]),
            .b_rdata(eb_rdata[s * ENTRY_BITS +: ENTRY_BITS])
        );
    end

    // Counter RAM: port A reads, port B writes.
    logic                     ca_en;
    logic [SLOT_IDX_BITS-1:0] ca_addr;
    wire  [COUNTER_BITS-1:0]  ca_rdata;
    logic                     cb_we;
    logic [SLOT_IDX_BITS-1:0] cb_addr;
    logic [COUNTER_BITS-1:0]  cb_wdata;
    /* verilator lint_off UNUSEDSIGNAL */
    wire  [COUNTER_BITS-1:0]  cb_rdata;
    /* verilator lint_on UNUSEDSIGNAL */

    flow_table_ram #(
        .WIDTH(COUNTER_BITS),
        .DEPTH(NSLOTS)
    ) counters (
        .clk(clk),
        .a_en(ca_en),
        .a_we(1'b0),
        .a_addr(ca_addr),
        .a_wdata({COUNTER_BITS{1'b0}}),
        .a_rdata(ca_rdata),
        .b_en(cb_we),
        .b_we(cb_we),
        .b_addr(cb_addr),
        .b_wdata(cb_wdata),
        .b_rdata(cb_rdata)
    );

    // Candidate c (0..CANDIDATES-1) of the last bucket read: bank c % SLOTS, port A for the
    // first bucket, port B for the second.
    function automatic logic [ENTRY_BITS-1:0] candidate(input logic [SLOTS*ENTRY_BITS-1:0] a,
                                                        input logic [SLOTS*ENTRY_BITS-1:0] b,
                                                        input int c);
        candidate = c < SLOTS ? a[(c % SLOTS) * ENTRY_BITS +: ENTRY_BITS]
                              : b[(c % SLOTS) * ENTRY_BITS +: ENTRY_BITS];
    endfunction

    // The word of bank `bank` in a port's read data: a SLOTS-way multiplexer (an indexed
    // part-select would synthesize to a shifter across all the banks' bits).
    function automatic logic [ENTRY_BITS-1:0] bank_word(input logic [SLOTS*ENTRY_BITS-1:0] v,
                                                        input logic [SLOT_POS_BITS-1:0] bank);
        bank_word = v[0 +: ENTRY_BITS];
        for (int s = 1; s < SLOTS; s++) begin
            if (int'(bank) == s) bank_word = v[s * ENTRY_BITS +: ENTRY_BITS];
        end
    endfunction

    // ---------------------------------------------------------------- lookup pipeline
    logic                     st1_valid = 1'b0;
    logic [KEY_BITS-1:0]      st1_key = '0;
    logic [15:0]              st1_len = 16'd0;
    logic [63:0]              st1_time = 64'd0;
    logic [31:0]              st1_tag = 32'd0;
    logic                     st2_valid = 1'b0;
    logic [KEY_BITS-1:0]      st2_key = '0;
    logic [15:0]              st2_len = 16'd0;
    logic [63:0]              st2_time = 64'd0;
    logic [31:0]              st2_tag = 32'd0;
    logic                     st3_valid = 1'b0;
    logic [KEY_BITS-1:0]      st3_key = '0;
    logic [15:0]              st3_len = 16'd0;
    logic [63:0]              st3_time = 64'd0;
    logic [31:0]              st3_tag = 32'd0;
    logic [BUCKET_IDX_BITS-1:0] st3_b0 = '0;
    logic [BUCKET_IDX_BITS-1:0] st3_b1 = '0;
    logic                     st4_valid = 1'b0;
    logic [CANDIDATES-1:0]    st4_match = '0;
    logic [CANDIDATES*ACTION_BITS-1:0] st4_actions = '0;
    logic [15:0]              st4_len = 16'd0;
    logic [63:0]              st4_time = 64'd0;
    logic [31:0]              st4_tag = 32'd0;
    logic [BUCKET_IDX_BITS-1:0] st4_b0 = '0;
    logic [BUCKET_IDX_BITS-1:0] st4_b1 = '0;
    // Stage 5's counter-update fields (the result fields travel in res_q).
    logic [15:0]              st5_len = 16'd0;
    logic [63:0]              st5_time = 64'd0;
    // Stage 6: the counter update of a hit.
    logic                     ctr6_hit = 1'b0;
    logic [SLOT_IDX_BITS-1:0] ctr6_idx = '0;
    logic [15:0]              ctr6_len = 16'd0;
    logic [63:0]              ctr6_time = 64'd0;
    // The write-back register: the counters stage 6 wrote at the last advancing edge.
    logic                     ctr7_hit = 1'b0;
    logic [SLOT_IDX_BITS-1:0] ctr7_idx = '0;
    logic [COUNTER_BITS-1:0]  ctr7_data = '0;
    // Result stages 5..LATENCY: stage k at [(k-5)*RES_BITS +: RES_BITS]; LATENCY is the output.
    logic [LATENCY:5]                res_valid = '0;
    logic [RES_STAGES*RES_BITS-1:0]  res_q = '0;

    wire advance = !res_valid[LATENCY] || m_result_ready;

    // Hash stage (stage 2).
    // The hash stage's valid mirrors st2_valid, which carries the other stage-2 fields.
    /* verilator lint_off UNUSEDSIGNAL */
    wire        hash_valid;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [31:0] hash0;
    wire [31:0] hash1;

    // Management hashes its key and each cuckoo victim's key on the same stage while it owns
    // the (empty) pipeline: one set of XOR trees for the whole table.
    wire                mgmt_owns;
    logic [KEY_BITS-1:0] hash_key;
    flow_key_hash hash_stage (
        .clk(clk),
        .rst(rst),
        .enable(advance || mgmt_owns),
        .s_axis_key_valid(st1_valid || mgmt_owns),
        .s_axis_key(hash_key),
        .m_axis_hash_valid(hash_valid),
        .m_axis_hash0(hash0),
        .m_axis_hash1(hash1)
    );

    // Stage 4: a match bit per candidate; a key that is not parsed matches nothing. While a
    // command owns the RAMs, the same comparators compare its key (M_FIND).
    wire  [KEY_BITS-1:0]               cmp_key = mgmt_owns ? cmd_key : st3_key;
    logic [CANDIDATES-1:0]             lk_match;
    logic [CANDIDATES*ACTION_BITS-1:0] lk_actions;
    always_comb begin
        for (int c = 0; c < CANDIDATES; c++) begin
            /* verilator lint_off UNUSEDSIGNAL */
            logic [ENTRY_BITS-1:0] e;
            /* verilator lint_on UNUSEDSIGNAL */
            e = candidate(ea_rdata, eb_rdata, c);
            lk_match[c] = e[0] && e[KEY_BITS:1] == cmp_key && cmp_key[CLASS_LSB +: 8] == 8'd0;
            lk_actions[c * ACTION_BITS +: ACTION_BITS] = e[ENTRY_BITS-1 -: ACTION_BITS];
        end
    end

    // Stage 5: the first match, in scan order.
    logic                     lk_found;
    logic [SLOT_IDX_BITS-1:0] lk_idx;
    logic [ACTION_BITS-1:0]   lk_action;
    always_comb begin
        lk_found = 1'b0;
        lk_idx = '0;
        lk_action = '0;
        for (int c = CANDIDATES - 1; c >= 0; c--) begin
            if (st4_match[c]) begin
                lk_found = 1'b1;
                lk_idx = slot_index(c < SLOTS ? st4_b0 : st4_b1, SLOT_POS_BITS'(c % SLOTS));
                lk_action = st4_actions[c * ACTION_BITS +: ACTION_BITS];
            end
        end
    end

    // Stage 6: the hit slot's counters, forwarded when the previous lookup just wrote them.
    /* verilator lint_off UNUSEDSIGNAL */
    logic [COUNTER_BITS-1:0] ctr_now;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [COUNTER_BITS-1:0] ctr_next;
    always_comb begin
        ctr_now = (ctr7_hit && ctr7_idx == ctr6_idx) ? ctr7_data : ca_rdata;
        // The old last-hit time is overwritten, not read.
        ctr_next[63:0] = ctr_now[63:0] + 64'd1;
        ctr_next[127:64] = ctr_now[127:64] + 64'(ctr6_len);
        ctr_next[191:128] = ctr6_time;
    end

    // ---------------------------------------------------------------- management state
    localparam logic [4:0] M_IDLE = 5'd0;
    localparam logic [4:0] M_DRAIN = 5'd1;
    localparam logic [4:0] M_HASH = 5'd2;
    localparam logic [4:0] M_READ = 5'd3;
    localparam logic [4:0] M_FIND = 5'd4;
    localparam logic [4:0] M_EXEC = 5'd5;
    localparam logic [4:0] M_COUNTERS = 5'd6;
    localparam logic [4:0] M_KICK_READ = 5'd7;
    localparam logic [4:0] M_KICK_LATCH = 5'd8;
    localparam logic [4:0] M_KICK_HASH = 5'd9;
    localparam logic [4:0] M_KICK_ALT_READ = 5'd10;
    localparam logic [4:0] M_KICK_FREE = 5'd11;
    localparam logic [4:0] M_KICK_PLACE = 5'd12;
    localparam logic [4:0] M_KICK_MOVE = 5'd13;
    localparam logic [4:0] M_UNDO_PATH = 5'd14;
    localparam logic [4:0] M_UNDO_READ = 5'd15;
    localparam logic [4:0] M_UNDO_SWAP = 5'd16;
    localparam logic [4:0] M_RESP = 5'd17;

    logic [4:0]             m_state = M_IDLE;
    logic [3:0]             cmd_op = 4'd0;
    logic [KEY_BITS-1:0]    cmd_key = '0;
    logic [ACTION_BITS-1:0] cmd_action = '0;
    logic [31:0]            cmd_slot = 32'd0;
    logic [BUCKET_IDX_BITS-1:0] cmd_b0 = '0;
    logic [BUCKET_IDX_BITS-1:0] cmd_b1 = '0;

    // The compare of a command's candidates (M_FIND), registered for M_EXEC.
    logic                   fnd = 1'b0;
    logic [CAND_BITS-1:0]   fnd_c = '0;
    logic [SLOT_IDX_BITS-1:0] fnd_idx = '0;
    logic                   fre = 1'b0;
    logic [SLOT_IDX_BITS-1:0] fre_idx = '0;

    // The entry carried by a cuckoo walk, and the walk's path for undo.
    logic                   car_valid = 1'b0;
    logic [KEY_BITS-1:0]    car_key = '0;
    logic [ACTION_BITS-1:0] car_action = '0;
    logic [COUNTER_BITS-1:0] car_counters = '0;
    // Whether the carried entry is the one being inserted, and where that entry sits when it
    // is not carried: a long walk can evict the new entry again.
    logic                   car_is_new = 1'b0;
    logic [SLOT_IDX_BITS-1:0] new_slot = '0;
    logic [BUCKET_IDX_BITS-1:0] cur_bucket = '0;
    logic [15:0]            kick = 16'd0;
    // The victim of the current kick, read out of the RAMs, and its other bucket.
    logic                   vic_valid = 1'b0;
    logic [KEY_BITS-1:0]    vic_key = '0;
    logic [ACTION_BITS-1:0] vic_action = '0;
    logic [COUNTER_BITS-1:0] vic_counters = '0;
    logic [BUCKET_IDX_BITS-1:0] alt_bucket = '0;
    logic                   alt_free = 1'b0;
    logic [SLOT_IDX_BITS-1:0] alt_free_idx = '0;
    // The walk's path: the slot of each kick, read back (registered) by the undo.
    logic [SLOT_IDX_BITS-1:0] walk_path [0:WALK_DEPTH-1];
    logic [SLOT_IDX_BITS-1:0] walk_q = '0;

    logic                   rsp_valid_reg = 1'b0;
    logic [3:0]             rsp_status_reg = 4'd0;
    logic [31:0]            rsp_slot_reg = 32'd0;
    logic [31:0]            rsp_kicks_reg = 32'd0;
    logic                   rsp_entry_valid_reg = 1'b0;
    logic [KEY_BITS-1:0]    rsp_key_reg = '0;
    logic [ACTION_BITS-1:0] rsp_action_reg = '0;
    logic [63:0]            rsp_hits_reg = 64'd0;
    logic [63:0]            rsp_bytes_reg = 64'd0;
    logic [63:0]            rsp_last_hit_reg = 64'd0;
    logic [31:0]            occupancy_reg = 32'd0;

    // The victim slot of the current kick, and what the kick makes of the new entry.
    wire [SLOT_POS_BITS-1:0]     vic_bank = kick[SLOT_POS_BITS-1:0];
    wire [SLOT_IDX_BITS-1:0] victim = slot_index(cur_bucket, vic_bank);
    wire                     victim_is_new = !car_is_new && victim == new_slot;
    wire [SLOT_IDX_BITS-1:0] placed_new = car_is_new ? victim : new_slot;

    // M_FIND: the command key's entry and the first free slot among its candidates.
    logic                     mf_found;
    logic [CAND_BITS-1:0]     mf_c;
    logic [SLOT_IDX_BITS-1:0] mf_idx;
    logic                     mf_free;
    logic [SLOT_IDX_BITS-1:0] mf_free_idx;
    always_comb begin
        mf_found = 1'b0;
        mf_c = '0;
        mf_idx = '0;
        mf_free = 1'b0;
        mf_free_idx = '0;
        for (int c = CANDIDATES - 1; c >= 0; c--) begin
            /* verilator lint_off UNUSEDSIGNAL */
            logic [ENTRY_BITS-1:0] e;
            /* verilator lint_on UNUSEDSIGNAL */
            logic [SLOT_IDX_BITS-1:0] idx;
            e = candidate(ea_rdata, eb_rdata, c);
            idx = slot_index(c < SLOTS ? cmd_b0 : cmd_b1, SLOT_POS_BITS'(c % SLOTS));
            if (lk_match[c]) begin
                mf_found = 1'b1;
                mf_c = CAND_BITS'(c);
                mf_idx = idx;
            end
            if (!e[0]) begin
                mf_free = 1'b1;
                mf_free_idx = idx;
            end
        end
    end

    // M_KICK_FREE: the first free slot of the victim's other bucket (bank s, port A). The
    // victim slot is refilled by this kick: it is never free.
    logic                     kf_free;
    logic [SLOT_IDX_BITS-1:0] kf_idx;
    always_comb begin
        kf_free = 1'b0;
        kf_idx = '0;
        for (int s = SLOTS - 1; s >= 0; s--) begin
            logic [SLOT_IDX_BITS-1:0] idx;
            idx = slot_index(alt_bucket, SLOT_POS_BITS'(s));
            if (!ea_rdata[s * ENTRY_BITS] && idx != victim) begin
                kf_free = 1'b1;
                kf_idx = idx;
            end
        end
    end

    // M_EXEC: what the command does, from the registered compare and the entries still on the
    // RAM outputs.
    logic [ENTRY_BITS-1:0]    ex_entry;
    logic [3:0]               ex_status;
    logic                     ex_write;
    logic [SLOT_IDX_BITS-1:0] ex_write_idx;
    logic [ENTRY_BITS-1:0]    ex_write_entry;
    logic                     ex_clear_counters;
    logic                     ex_read_counters;
    logic                     ex_walk;
    logic                     ex_slot_ok;
    always_comb begin
        ex_entry = fnd_c < CAND_BITS'(SLOTS) ? bank_word(ea_rdata, fnd_c[SLOT_POS_BITS-1:0])
                                             : bank_word(eb_rdata, fnd_c[SLOT_POS_BITS-1:0]);
        ex_status = ST_BAD_COMMAND;
        ex_write = 1'b0;
        ex_write_idx = fnd_idx;
        ex_write_entry = {cmd_action, cmd_key, 1'b1};
        ex_clear_counters = 1'b0;
        ex_read_counters = 1'b0;
        ex_walk = 1'b0;
        ex_slot_ok = cmd_slot < 32'(NSLOTS);
        // An unknown command is refused first; then commands that take a key refuse one no
        // parsed packet has (nic_abi::key: class 0, fragment flags 0, 1 or 3), as nic-model's
        // port does.
        if (cmd_op != OP_INSERT && cmd_op != OP_DELETE && cmd_op != OP_LOOKUP
            && cmd_op != OP_READ_COUNTERS && cmd_op != OP_READ_SLOT) begin
            ex_status = ST_BAD_COMMAND;
        end else if (cmd_op != OP_READ_SLOT
                     && !key_valid(cmd_key[CLASS_LSB +: 8], cmd_key[FRAG_LSB +: 8])) begin
            ex_status = ST_BAD_KEY;
        end else if (cmd_op == OP_INSERT) begin
            if (!action_valid(cmd_action)) begin
                ex_status = ST_BAD_ACTION;
            end else if (fnd) begin
                ex_status = ST_UPDATED;
                ex_write = 1'b1;
            end else if (fre) begin
                ex_status = ST_OK;
                ex_write = 1'b1;
                ex_write_idx = fre_idx;
                ex_clear_counters = 1'b1;
            end else if (MAX_KICKS == 0) begin
                ex_status = ST_TABLE_FULL;
            end else begin
                ex_status = ST_OK;
                ex_walk = 1'b1;
            end
        end else if (cmd_op == OP_DELETE) begin
            ex_status = fnd ? ST_OK : ST_NOT_FOUND;
            ex_write = fnd;
            ex_write_entry = {{ACTION_BITS{1'b0}}, cmd_key, 1'b0};
        end else if (cmd_op == OP_LOOKUP || cmd_op == OP_READ_COUNTERS) begin
            ex_status = fnd ? ST_OK : ST_NOT_FOUND;
            ex_read_counters = fnd;
        end else begin
            // OP_READ_SLOT: the slot's bucket came out of port A, its counters out of port A
            // of the counter RAM.
            ex_entry = bank_word(ea_rdata, cmd_slot[SLOT_POS_BITS-1:0]);
            if (ex_slot_ok) begin
                ex_status = ex_entry[0] ? ST_OK : ST_NOT_FOUND;
            end else begin
                ex_status = ST_BAD_COMMAND;
            end
        end
    end

    // RAM ports: the lookup pipeline's, except while a command owns them.
    assign mgmt_owns = m_state != M_IDLE && m_state != M_DRAIN;
    always_comb begin
        hash_key = st1_key;
        if (m_state == M_HASH) hash_key = cmd_key;
        if (m_state == M_KICK_HASH) hash_key = vic_key;
    end
    // The victim's other bucket (its only bucket when both hashes agree), from the hash stage.
    wire [BUCKET_IDX_BITS-1:0] alt_of_victim =
        bucket_of(hash0) == cur_bucket ? bucket_of(hash1) : bucket_of(hash0);
    wire [SLOT_IDX_BITS-1:0] undo_idx = walk_q;
    always_comb begin
        ea_en = '0;
        ea_we = '0;
        ea_addr = '0;
        ea_wdata = '0;
        eb_en = '0;
        eb_we = '0;
        eb_addr = '0;
        eb_wdata = '0;
        ca_en = 1'b0;
        ca_addr = '0;
        cb_we = 1'b0;
        cb_addr = '0;
        cb_wdata = '0;
        if (!mgmt_owns) begin
            // Stage 2 addresses both buckets; stage 5 the hit's counters; stage 6 writes back.
            ea_en = {SLOTS{advance}};
            eb_en = {SLOTS{advance}};
            for (int s = 0; s < SLOTS; s++) begin
                ea_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] = bucket_of(hash0);
                eb_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] = bucket_of(hash1);
            end
            ca_en = advance;
            ca_addr = res_q[1 +: SLOT_IDX_BITS];
            cb_we = advance && ctr6_hit;
            cb_addr = ctr6_idx;
            cb_wdata = ctr_next;
        end else begin
            case (m_state)
                M_READ: begin
                    // Both candidate buckets; for a slot read, its bucket and its counters.
                    ea_en = '1;
                    eb_en = '1;
                    for (int s = 0; s < SLOTS; s++) begin
                        ea_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] =
                            cmd_op == OP_READ_SLOT ? cmd_slot[SLOT_POS_BITS +: BUCKET_IDX_BITS]
                                                   : bucket_of(hash0);
                        eb_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] = bucket_of(hash1);
                    end
                    ca_en = 1'b1;
                    ca_addr = cmd_slot[SLOT_IDX_BITS-1:0];
                end
                M_EXEC: begin
                    if (ex_write) begin
                        ea_en[ex_write_idx[SLOT_POS_BITS-1:0]] = 1'b1;
                        ea_we[ex_write_idx[SLOT_POS_BITS-1:0]] = 1'b1;
                    end
                    for (int s = 0; s < SLOTS; s++) begin
                        ea_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] =
                            ex_write_idx[SLOT_POS_BITS +: BUCKET_IDX_BITS];
                        ea_wdata[s * ENTRY_BITS +: ENTRY_BITS] = ex_write_entry;
                    end
                    ca_en = ex_read_counters;
                    ca_addr = fnd_idx;
                    cb_we = ex_clear_counters;
                    cb_addr = ex_write_idx;
                    cb_wdata = '0;
                end
                M_KICK_READ: begin
                    ea_en[vic_bank] = 1'b1;
                    for (int s = 0; s < SLOTS; s++) begin
                        ea_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] = cur_bucket;
                    end
                    ca_en = 1'b1;
                    ca_addr = victim;
                end
                M_KICK_ALT_READ: begin
                    ea_en = '1;
                    for (int s = 0; s < SLOTS; s++) begin
                        ea_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] = alt_of_victim;
                    end
                end
                M_KICK_PLACE: begin
                    // The carried entry goes into the victim's slot.
                    eb_en[vic_bank] = 1'b1;
                    eb_we[vic_bank] = 1'b1;
                    for (int s = 0; s < SLOTS; s++) begin
                        eb_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] = cur_bucket;
                        eb_wdata[s * ENTRY_BITS +: ENTRY_BITS] = {car_action, car_key, car_valid};
                    end
                    cb_we = 1'b1;
                    cb_addr = victim;
                    cb_wdata = car_counters;
                end
                M_KICK_MOVE: begin
                    // The victim goes into the free slot of its other bucket.
                    ea_en[alt_free_idx[SLOT_POS_BITS-1:0]] = 1'b1;
                    ea_we[alt_free_idx[SLOT_POS_BITS-1:0]] = 1'b1;
                    for (int s = 0; s < SLOTS; s++) begin
                        ea_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] = alt_bucket;
                        ea_wdata[s * ENTRY_BITS +: ENTRY_BITS] = {vic_action, vic_key, 1'b1};
                    end
                    cb_we = 1'b1;
                    cb_addr = alt_free_idx;
                    cb_wdata = vic_counters;
                end
                M_UNDO_READ: begin
                    ea_en[undo_idx[SLOT_POS_BITS-1:0]] = 1'b1;
                    for (int s = 0; s < SLOTS; s++) begin
                        ea_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] =
                            undo_idx[SLOT_POS_BITS +: BUCKET_IDX_BITS];
                    end
                    ca_en = 1'b1;
                    ca_addr = undo_idx;
                end
                M_UNDO_SWAP: begin
                    eb_en[undo_idx[SLOT_POS_BITS-1:0]] = 1'b1;
                    eb_we[undo_idx[SLOT_POS_BITS-1:0]] = 1'b1;
                    for (int s = 0; s < SLOTS; s++) begin
                        eb_addr[s * BUCKET_IDX_BITS +: BUCKET_IDX_BITS] =
                            undo_idx[SLOT_POS_BITS +: BUCKET_IDX_BITS];
                        eb_wdata[s * ENTRY_BITS +: ENTRY_BITS] = {car_action, car_key, car_valid};
                    end
                    cb_we = 1'b1;
                    cb_addr = undo_idx;
                    cb_wdata = car_counters;
                end
                default: begin
                end
            endcase
        end
    end

    // Lookups already accepted whose counters are not yet written back.
    wire pipeline_busy = st1_valid || st2_valid || st3_valid || st4_valid
        || (|res_valid[LATENCY-1:5]) || ctr6_hit || ctr7_hit;

    assign s_lookup_ready = advance && m_state == M_IDLE && !s_mgmt_valid;
    assign s_mgmt_ready = m_state == M_IDLE;

    // The walk's path memory: written by each kick, read back by the undo.
    always_ff @(posedge clk) begin
        if (m_state == M_KICK_PLACE) begin
            walk_path[WALK_BITS'(kick)] <= victim;
        end
        if (m_state == M_UNDO_PATH) begin
            walk_q <= walk_path[WALK_BITS'(kick)];
        end
    end

    always_ff @(posedge clk) begin
        rsp_valid_reg <= 1'b0;

        // ------------------------------------------------ lookup pipeline
        if (advance) begin
            st1_valid <= s_lookup_valid && s_lookup_ready;
            st1_key <= s_lookup_key;
            st1_len <= s_lookup_len;
            st1_time <= s_lookup_time;
            st1_tag <= s_lookup_tag;
            st2_valid <= st1_valid;
            st2_key <= st1_key;
            st2_len <= st1_len;
            st2_time <= st1_time;
            st2_tag <= st1_tag;
            st3_valid <= st2_valid;
            st3_key <= st2_key;
            st3_len <= st2_len;
            st3_time <= st2_time;
            st3_tag <= st2_tag;
            st3_b0 <= bucket_of(hash0);
            st3_b1 <= bucket_of(hash1);
            st4_valid <= st3_valid;
            st4_match <= st3_valid ? lk_match : '0;
            st4_actions <= lk_actions;
            st4_len <= st3_len;
            st4_time <= st3_time;
            st4_tag <= st3_tag;
            st4_b0 <= st3_b0;
            st4_b1 <= st3_b1;
            // Stage 5: {tag, action, slot, hit}; later stages shift.
            res_valid <= {res_valid[LATENCY-1:5], st4_valid};
            res_q <= {res_q[(RES_STAGES-1)*RES_BITS-1:0],
                      st4_tag, lk_found ? lk_action : {ACTION_BITS{1'b0}}, 32'(lk_idx), lk_found};
            st5_len <= st4_len;
            st5_time <= st4_time;
            ctr6_hit <= res_valid[5] && res_q[0];
            ctr6_idx <= res_q[1 +: SLOT_IDX_BITS];
            ctr6_len <= st5_len;
            ctr6_time <= st5_time;
            ctr7_hit <= ctr6_hit;
            ctr7_idx <= ctr6_idx;
            ctr7_data <= ctr_next;
        end

        // ------------------------------------------------ management
        case (m_state)
            M_IDLE: begin
                if (s_mgmt_valid) begin
                    cmd_op <= s_mgmt_op;
                    cmd_key <= s_mgmt_key;
                    cmd_action <= s_mgmt_action;
                    cmd_slot <= s_mgmt_slot;
                    m_state <= M_DRAIN;
                end
            end
            M_DRAIN: begin
                if (!pipeline_busy) begin
                    m_state <= M_HASH;
                end
            end
            M_HASH: begin
                m_state <= M_READ;
            end
            M_READ: begin
                cmd_b0 <= bucket_of(hash0);
                cmd_b1 <= bucket_of(hash1);
                m_state <= M_FIND;
            end
            M_FIND: begin
                fnd <= mf_found;
                fnd_c <= mf_c;
                fnd_idx <= mf_idx;
                fre <= mf_free;
                fre_idx <= mf_free_idx;
                m_state <= M_EXEC;
            end
            M_EXEC: begin
                rsp_status_reg <= ex_status;
                rsp_kicks_reg <= 32'd0;
                rsp_entry_valid_reg <= 1'b0;
                rsp_key_reg <= '0;
                rsp_action_reg <= '0;
                rsp_hits_reg <= 64'd0;
                rsp_bytes_reg <= 64'd0;
                rsp_last_hit_reg <= 64'd0;
                rsp_slot_reg <= 32'(fnd_idx);
                m_state <= M_RESP;
                if (ex_write && ex_clear_counters) begin
                    // A new entry in a free slot.
                    occupancy_reg <= occupancy_reg + 32'd1;
                    rsp_slot_reg <= 32'(fre_idx);
                end
                if (ex_write && cmd_op == OP_DELETE) begin
                    occupancy_reg <= occupancy_reg - 32'd1;
                end
                if (ex_read_counters) begin
                    rsp_entry_valid_reg <= 1'b1;
                    rsp_key_reg <= ex_entry[KEY_BITS:1];
                    rsp_action_reg <= ex_entry[ENTRY_BITS-1 -: ACTION_BITS];
                    m_state <= M_COUNTERS;
                end
                if (cmd_op == OP_READ_SLOT) begin
                    // The slot read echoes the slot; an existing slot returns its entry, valid
                    // or not (the register block keeps only a valid one).
                    rsp_slot_reg <= cmd_slot;
                    if (ex_slot_ok) begin
                        rsp_entry_valid_reg <= ex_entry[0];
                        rsp_key_reg <= ex_entry[KEY_BITS:1];
                        rsp_action_reg <= ex_entry[ENTRY_BITS-1 -: ACTION_BITS];
                        rsp_hits_reg <= ca_rdata[63:0];
                        rsp_bytes_reg <= ca_rdata[127:64];
                        rsp_last_hit_reg <= ca_rdata[191:128];
                    end
                end
                if (ex_walk) begin
                    car_valid <= 1'b1;
                    car_key <= cmd_key;
                    car_action <= cmd_action;
                    car_counters <= '0;
                    car_is_new <= 1'b1;
                    cur_bucket <= cmd_b0;
                    kick <= 16'd0;
                    m_state <= M_KICK_READ;
                end
            end
            M_COUNTERS: begin
                rsp_hits_reg <= ca_rdata[63:0];
                rsp_bytes_reg <= ca_rdata[127:64];
                rsp_last_hit_reg <= ca_rdata[191:128];
                m_state <= M_RESP;
            end
            M_KICK_READ: begin
                m_state <= M_KICK_LATCH;
            end
            M_KICK_LATCH: begin
                {vic_action, vic_key, vic_valid} <= bank_word(ea_rdata, vic_bank);
                vic_counters <= ca_rdata;
                m_state <= M_KICK_HASH;
            end
            M_KICK_HASH: begin
                m_state <= M_KICK_ALT_READ;
            end
            M_KICK_ALT_READ: begin
                alt_bucket <= alt_of_victim;
                m_state <= M_KICK_FREE;
            end
            M_KICK_FREE: begin
                alt_free <= kf_free;
                alt_free_idx <= kf_idx;
                m_state <= M_KICK_PLACE;
            end
            M_KICK_PLACE: begin
                if (alt_free) begin
                    occupancy_reg <= occupancy_reg + 32'd1;
                    car_valid <= 1'b0;
                    rsp_status_reg <= ST_OK;
                    rsp_slot_reg <= victim_is_new ? 32'(alt_free_idx) : 32'(placed_new);
                    rsp_kicks_reg <= 32'(kick) + 32'd1;
                    m_state <= M_KICK_MOVE;
                end else begin
                    car_valid <= vic_valid;
                    car_key <= vic_key;
                    car_action <= vic_action;
                    car_counters <= vic_counters;
                    car_is_new <= victim_is_new;
                    new_slot <= placed_new;
                    cur_bucket <= alt_bucket;
                    if (int'(kick) + 1 >= MAX_KICKS) begin
                        m_state <= M_UNDO_PATH;
                    end else begin
                        kick <= kick + 16'd1;
                        m_state <= M_KICK_READ;
                    end
                end
            end
            M_KICK_MOVE: begin
                m_state <= M_RESP;
            end
            M_UNDO_PATH: begin
                m_state <= M_UNDO_READ;
            end
            M_UNDO_READ: begin
                m_state <= M_UNDO_SWAP;
            end
            M_UNDO_SWAP: begin
                // Reverse the kicks: swap the carried entry back into each path slot, last
                // kick first. After the first kick's slot, the carried entry is the new one,
                // which is dropped.
                {car_action, car_key, car_valid} <= bank_word(ea_rdata,
                                                              undo_idx[SLOT_POS_BITS-1:0]);
                car_counters <= ca_rdata;
                if (kick == 16'd0) begin
                    rsp_status_reg <= ST_TABLE_FULL;
                    rsp_kicks_reg <= 32'(MAX_KICKS);
                    m_state <= M_RESP;
                end else begin
                    kick <= kick - 16'd1;
                    m_state <= M_UNDO_PATH;
                end
            end
            M_RESP: begin
                rsp_valid_reg <= 1'b1;
                m_state <= M_IDLE;
            end
            default: begin
                m_state <= M_IDLE;
            end
        endcase

        // Only control state is reset. The table's contents (valid bits included) are data:
        // they start empty at configuration and change only by management commands.
        if (rst) begin
            st1_valid <= 1'b0;
            st2_valid <= 1'b0;
            st3_valid <= 1'b0;
            st4_valid <= 1'b0;
            res_valid <= '0;
            ctr6_hit <= 1'b0;
            ctr7_hit <= 1'b0;
            rsp_valid_reg <= 1'b0;
            m_state <= M_IDLE;
        end
    end

    localparam int OUT = (RES_STAGES - 1) * RES_BITS;
    assign m_result_valid = res_valid[LATENCY];
    assign m_result_hit = res_q[OUT];
    assign m_result_slot = res_q[OUT + 1 +: 32];
    assign m_result_action = res_q[OUT + 33 +: ACTION_BITS];
    assign m_result_tag = res_q[OUT + 33 + ACTION_BITS +: 32];

    assign m_mgmt_valid = rsp_valid_reg;
    assign m_mgmt_status = rsp_status_reg;
    assign m_mgmt_slot = rsp_slot_reg;
    assign m_mgmt_kicks = rsp_kicks_reg;
    assign m_mgmt_entry_valid = rsp_entry_valid_reg;
    assign m_mgmt_key = rsp_key_reg;
    assign m_mgmt_action = rsp_action_reg;
    assign m_mgmt_hits = rsp_hits_reg;
    assign m_mgmt_bytes = rsp_bytes_reg;
    assign m_mgmt_last_hit = rsp_last_hit_reg;
    assign occupancy = occupancy_reg;

endmodule

`resetall
