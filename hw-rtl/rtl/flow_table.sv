// flow_table: the exact-match flow table with its lookup pipeline and management port.
//
// Organisation and algorithms are nic-abi's (nic_abi::table) and nic-model's flow table, bit
// for bit: BUCKETS buckets (a power of two) of SLOTS slots; a key's candidate buckets are the
// low bits of its two hashes (flow_hash_pkg); lookups scan bucket b0 slots 0..SLOTS-1 then b1;
// inserts update in place, else take the first free slot of b0 then b1, else run a bounded
// cuckoo walk (the k-th kick evicts slot k % SLOTS of the current bucket) that is undone
// entirely when it fails after MAX_KICKS kicks.
//
// Lookup pipeline: one key per cycle (initiation interval 1), results exactly LATENCY enabled
// cycles after the key is accepted. Stage 1 registers the key, stage 2 hashes it, stage 3
// compares the candidate slots, selects the hit and updates its counters, and the result
// travels through stages 4..LATENCY (see the pipeline section for why that is equivalent to
// silicon that reads the buckets in those stages). The whole pipeline stalls while a result
// waits on m_result_ready (backpressure).
// A key whose class field is not 0 (not parsed) never hits.
//
// Management port: one command at a time (insert, delete, read counters, read slot).
// Precedence, defined: management wins. While s_mgmt_valid is high or a command runs, no new
// lookup is accepted; a command starts only when the lookups already accepted have passed the
// last stage. So every lookup sees the table either wholly before or wholly after a command.
// Cycles of a command after acceptance: drain (until the pipeline is empty), 1 execute cycle,
// 1 cycle per kick, 1 cycle per undone kick, then the response (m_mgmt_valid, one cycle).
`default_nettype none

`include "snich_abi.svh"

module flow_table
    import snich_abi_pkg::*;
    import flow_hash_pkg::key_hash0;
    import flow_hash_pkg::key_hash1;
#(
    // Buckets in the table; a power of two.
    parameter int BUCKETS = 1024,
    // Slots per bucket (nic_abi::table::SLOTS_PER_BUCKET).
    parameter int SLOTS = SLOTS_PER_BUCKET,
    // Bits of an encoded action (nic_abi::action::ACTION_WORDS * 32).
    parameter int ACTION_BITS = ACTION_WORDS * 32,
    // Bound on cuckoo kicks per insert (nic_abi::table::DEFAULT_MAX_KICKS).
    parameter int MAX_KICKS = DEFAULT_MAX_KICKS,
    // Lookup latency in cycles (nic_abi::table::LOOKUP_LATENCY_CYCLES); at least 4.
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
    localparam int SLOT_IDX_BITS = $clog2(NSLOTS);
    // The key's class field (nic_abi::key::layout::CLASS).
    localparam int CLASS_LSB = KEY_CLASS_WORD * 32 + KEY_CLASS_LSB;

    initial begin
        if (BUCKETS < 1 || (BUCKETS & (BUCKETS - 1)) != 0) begin
            $error("flow_table: BUCKETS (%0d) must be a power of two", BUCKETS);
            $finish;
        end
        if (SLOTS < 1 || (SLOTS & (SLOTS - 1)) != 0) begin
            $error("flow_table: SLOTS (%0d) must be a power of two", SLOTS);
            $finish;
        end
        if (LATENCY < 4) begin
            $error("flow_table: LATENCY (%0d) must be at least 4", LATENCY);
            $finish;
        end
        if (ACTION_BITS != 64) begin
            $error("flow_table: ACTION_BITS (%0d) must be 64, two action words", ACTION_BITS);
            $finish;
        end
        if (MAX_KICKS < 0 || MAX_KICKS > 65535) begin
            $error("flow_table: MAX_KICKS (%0d) must be in 0..65535", MAX_KICKS);
            $finish;
        end
    end

    // ---------------------------------------------------------------- table memory
    logic                   mem_valid    [NSLOTS];
    initial begin
        for (int i = 0; i < NSLOTS; i++) mem_valid[i] = 1'b0;
    end
    logic [KEY_BITS-1:0]    mem_key      [NSLOTS];
    logic [ACTION_BITS-1:0] mem_action   [NSLOTS];
    logic [63:0]            mem_hits     [NSLOTS];
    logic [63:0]            mem_bytes    [NSLOTS];
    logic [63:0]            mem_last_hit [NSLOTS];
    logic [31:0]            occupancy_reg = 32'd0;

    // A bucket index is the hash's low bits; the high bits are unused by design.
    /* verilator lint_off UNUSEDSIGNAL */
    function automatic logic [BUCKET_IDX_BITS-1:0] bucket_of(input logic [31:0] hash);
        return hash[BUCKET_IDX_BITS-1:0];
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */

    function automatic logic [SLOT_IDX_BITS-1:0] slot_index(input logic [BUCKET_IDX_BITS-1:0] b,
                                                            input int s);
        return SLOT_IDX_BITS'(b * SLOTS + s);
    endfunction

    // True when the words are a parsed key FlowKey::from_words accepts: class 0 (parsed) and
    // fragment flags 0 (none), 1 (first) or 3 (later).
    function automatic logic key_valid(input logic [7:0] class_code, input logic [7:0] frag);
        return class_code == 8'd0 && (frag == 8'd0 || frag == 8'd1 || frag == 8'd3);
    endfunction

    // True when the words are an action nic_abi::action::Action decodes (every bit the op does
    // not use is 0, known ops, an output port is not 0).
    function automatic logic action_valid(input logic [ACTION_BITS-1:0] a);
        logic [31:0] w0 = a[31:0];
        logic [31:0] w1 = a[63:32];
        logic [3:0] dest = w0[ACTION_DEST_OP_LSB +: 4];
        logic [3:0] vop = w1[ACTION_VLAN_OP_LSB +: 4];
        if ((w0 & ACTION_WORD0_RESERVED) != 0 || (w1 & ACTION_WORD1_RESERVED) != 0) return 1'b0;
        if (32'(dest) == ACTION_DEST_OUTPUT) begin
            if (w0[15:0] == 16'd0) return 1'b0;
        end else if (32'(dest) == ACTION_DEST_DROP || 32'(dest) == ACTION_DEST_FLOOD
                     || 32'(dest) == ACTION_DEST_TO_AGENT) begin
            if (w0[15:0] != 16'd0) return 1'b0;
        end else begin
            return 1'b0;
        end
        if (32'(vop) == ACTION_VLAN_SET) begin
            if (!w1[ACTION_VLAN_PCP_VALID_LSB] && w1[ACTION_VLAN_PCP_LSB +: 3] != 3'd0) begin
                return 1'b0;
            end
        end else if (32'(vop) == ACTION_VLAN_KEEP || 32'(vop) == ACTION_VLAN_STRIP) begin
            if (w1[16:0] != 17'd0) return 1'b0;
        end else begin
            return 1'b0;
        end
        return 1'b1;
    endfunction

    // ---------------------------------------------------------------- lookup pipeline
    // Stage 1 registers the key, stage 2 (flow_key_hash, beside st2_*) its hashes, stage 3
    // compares the candidate slots and selects; stages 4..LATENCY carry the small result, and
    // stage LATENCY is the output register. In silicon stages 3..LATENCY-1 are the bucket
    // address, the two bucket reads and the compare tree; here the compare happens at stage 3
    // and its result waits out the rest. No observer can tell: a management command runs only
    // once the pipeline is empty, so every lookup sees the same table at stage 3 as it would
    // at stage LATENCY-1.
    logic                   st1_valid = 1'b0;
    logic [KEY_BITS-1:0]    st1_key = '0;
    logic [15:0]            st1_len = 16'd0;
    logic [63:0]            st1_time = 64'd0;
    logic [31:0]            st1_tag = 32'd0;
    logic                   st2_valid = 1'b0;
    logic [KEY_BITS-1:0]    st2_key = '0;
    logic [15:0]            st2_len = 16'd0;
    logic [63:0]            st2_time = 64'd0;
    logic [31:0]            st2_tag = 32'd0;
    // Result stages 3..LATENCY; index LATENCY is the output register.
    logic                   res_valid  [3:LATENCY];
    logic                   res_hit    [3:LATENCY];
    logic [31:0]            res_slot   [3:LATENCY];
    logic [ACTION_BITS-1:0] res_action [3:LATENCY];
    logic [31:0]            res_tag    [3:LATENCY];

    wire advance = !res_valid[LATENCY] || m_result_ready;

    // Hash stage (stage 2).
    // The hash stage's valid mirrors st2_valid, which carries the other stage-2 fields.
    /* verilator lint_off UNUSEDSIGNAL */
    wire        hash_valid;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [31:0] hash0;
    wire [31:0] hash1;

    flow_key_hash hash_stage (
        .clk(clk),
        .rst(rst),
        .enable(advance),
        .s_axis_key_valid(st1_valid),
        .s_axis_key(st1_key),
        .m_axis_hash_valid(hash_valid),
        .m_axis_hash0(hash0),
        .m_axis_hash1(hash1)
    );

    // ---------------------------------------------------------------- management state
    typedef enum logic [2:0] {
        M_IDLE,
        M_DRAIN,
        M_EXEC,
        M_KICK,
        M_UNDO,
        M_RESP
    } mgmt_state_t;

    mgmt_state_t            m_state = M_IDLE;
    logic [3:0]             cmd_op = 4'd0;
    logic [KEY_BITS-1:0]    cmd_key = '0;
    logic [ACTION_BITS-1:0] cmd_action = '0;
    logic [31:0]            cmd_slot = 32'd0;

    // The entry carried by a cuckoo walk, and the walk's path for undo.
    logic                   car_valid = 1'b0;
    logic [KEY_BITS-1:0]    car_key = '0;
    logic [ACTION_BITS-1:0] car_action = '0;
    logic [63:0]            car_hits = 64'd0;
    logic [63:0]            car_bytes = 64'd0;
    logic [63:0]            car_last_hit = 64'd0;
    // Whether the carried entry is the one being inserted, and where that entry sits when it
    // is not carried: a long walk can evict the new entry again.
    logic                   car_is_new = 1'b0;
    logic [SLOT_IDX_BITS-1:0] new_slot = '0;
    logic [BUCKET_IDX_BITS-1:0] cur_bucket = '0;
    logic [15:0]            kick = 16'd0;
    logic [SLOT_IDX_BITS-1:0] walk_path [MAX_KICKS > 0 ? MAX_KICKS : 1];

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

    // Lookups already accepted and not yet past the last stage.
    logic pipeline_busy;
    always_comb begin
        pipeline_busy = st1_valid | st2_valid;
        for (int i = 3; i < LATENCY; i++) begin
            pipeline_busy = pipeline_busy | res_valid[i];
        end
    end

    assign s_lookup_ready = advance && m_state == M_IDLE && !s_mgmt_valid;
    assign s_mgmt_ready = m_state == M_IDLE;

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
            for (int i = 4; i <= LATENCY; i++) begin
                res_valid[i] <= res_valid[i - 1];
                res_hit[i] <= res_hit[i - 1];
                res_slot[i] <= res_slot[i - 1];
                res_action[i] <= res_action[i - 1];
                res_tag[i] <= res_tag[i - 1];
            end

            // Stage 3: compare both candidate buckets, select, count.
            res_valid[3] <= st2_valid;
            if (st2_valid) begin
                logic found;
                logic [SLOT_IDX_BITS-1:0] hit_idx;
                found = 1'b0;
                hit_idx = '0;
                if (st2_key[CLASS_LSB +: 8] == 8'd0) begin
                    for (int c = 0; c < 2 * SLOTS; c++) begin
                        logic [SLOT_IDX_BITS-1:0] idx;
                        idx = slot_index(bucket_of(c < SLOTS ? hash0 : hash1), c % SLOTS);
                        if (!found && mem_valid[idx] && mem_key[idx] == st2_key) begin
                            found = 1'b1;
                            hit_idx = idx;
                        end
                    end
                end
                res_hit[3] <= found;
                res_slot[3] <= 32'(hit_idx);
                res_action[3] <= found ? mem_action[hit_idx] : '0;
                res_tag[3] <= st2_tag;
                if (found) begin
                    mem_hits[hit_idx] <= mem_hits[hit_idx] + 64'd1;
                    mem_bytes[hit_idx] <= mem_bytes[hit_idx] + 64'(st2_len);
                    mem_last_hit[hit_idx] <= st2_time;
                end
            end
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
                    m_state <= M_EXEC;
                end
            end
            M_EXEC: begin
                logic [31:0] h0;
                logic [31:0] h1;
                logic found;
                logic [SLOT_IDX_BITS-1:0] found_idx;
                logic free;
                logic [SLOT_IDX_BITS-1:0] free_idx;
                h0 = key_hash0(cmd_key);
                h1 = key_hash1(cmd_key);
                found = 1'b0;
                found_idx = '0;
                free = 1'b0;
                free_idx = '0;
                for (int c = 0; c < 2 * SLOTS; c++) begin
                    logic [SLOT_IDX_BITS-1:0] idx;
                    idx = slot_index(bucket_of(c < SLOTS ? h0 : h1), c % SLOTS);
                    if (!found && mem_valid[idx] && mem_key[idx] == cmd_key) begin
                        found = 1'b1;
                        found_idx = idx;
                    end
                    if (!free && !mem_valid[idx]) begin
                        free = 1'b1;
                        free_idx = idx;
                    end
                end
                rsp_kicks_reg <= 32'd0;
                rsp_entry_valid_reg <= 1'b0;
                rsp_key_reg <= '0;
                rsp_action_reg <= '0;
                rsp_hits_reg <= 64'd0;
                rsp_bytes_reg <= 64'd0;
                rsp_last_hit_reg <= 64'd0;
                rsp_slot_reg <= 32'(found_idx);
                m_state <= M_RESP;
                // An unknown command is refused first; then commands that take a key refuse
                // one no parsed packet has (nic_abi::key: class 0, fragment flags 0, 1 or 3),
                // as nic-model's port does.
                if (cmd_op != OP_INSERT && cmd_op != OP_DELETE && cmd_op != OP_LOOKUP
                    && cmd_op != OP_READ_COUNTERS && cmd_op != OP_READ_SLOT) begin
                    rsp_status_reg <= ST_BAD_COMMAND;
                end else if (cmd_op != OP_READ_SLOT && !key_valid(cmd_key[CLASS_LSB +: 8],
                                                  cmd_key[KEY_FRAG_WORD * 32 + KEY_FRAG_LSB +: 8])) begin
                    rsp_status_reg <= ST_BAD_KEY;
                end else case (cmd_op)
                    OP_INSERT: begin
                        if (!action_valid(cmd_action)) begin
                            rsp_status_reg <= ST_BAD_ACTION;
                        end else if (found) begin
                            mem_action[found_idx] <= cmd_action;
                            rsp_status_reg <= ST_UPDATED;
                        end else if (free) begin
                            mem_valid[free_idx] <= 1'b1;
                            mem_key[free_idx] <= cmd_key;
                            mem_action[free_idx] <= cmd_action;
                            mem_hits[free_idx] <= 64'd0;
                            mem_bytes[free_idx] <= 64'd0;
                            mem_last_hit[free_idx] <= 64'd0;
                            occupancy_reg <= occupancy_reg + 32'd1;
                            rsp_slot_reg <= 32'(free_idx);
                            rsp_status_reg <= ST_OK;
                        end else if (MAX_KICKS == 0) begin
                            rsp_status_reg <= ST_TABLE_FULL;
                        end else begin
                            car_valid <= 1'b1;
                            car_key <= cmd_key;
                            car_action <= cmd_action;
                            car_hits <= 64'd0;
                            car_bytes <= 64'd0;
                            car_last_hit <= 64'd0;
                            car_is_new <= 1'b1;
                            cur_bucket <= bucket_of(h0);
                            kick <= 16'd0;
                            m_state <= M_KICK;
                        end
                    end
                    OP_DELETE: begin
                        if (found) begin
                            mem_valid[found_idx] <= 1'b0;
                            occupancy_reg <= occupancy_reg - 32'd1;
                            rsp_status_reg <= ST_OK;
                        end else begin
                            rsp_status_reg <= ST_NOT_FOUND;
                        end
                    end
                    OP_LOOKUP, OP_READ_COUNTERS: begin
                        rsp_status_reg <= found ? ST_OK : ST_NOT_FOUND;
                        rsp_entry_valid_reg <= found;
                        if (found) begin
                            rsp_key_reg <= mem_key[found_idx];
                            rsp_action_reg <= mem_action[found_idx];
                            rsp_hits_reg <= mem_hits[found_idx];
                            rsp_bytes_reg <= mem_bytes[found_idx];
                            rsp_last_hit_reg <= mem_last_hit[found_idx];
                        end
                    end
                    OP_READ_SLOT: begin
                        rsp_slot_reg <= cmd_slot;
                        if (cmd_slot < 32'(NSLOTS)) begin
                            logic [SLOT_IDX_BITS-1:0] idx;
                            idx = cmd_slot[SLOT_IDX_BITS-1:0];
                            rsp_status_reg <= mem_valid[idx] ? ST_OK : ST_NOT_FOUND;
                            rsp_entry_valid_reg <= mem_valid[idx];
                            rsp_key_reg <= mem_key[idx];
                            rsp_action_reg <= mem_action[idx];
                            rsp_hits_reg <= mem_hits[idx];
                            rsp_bytes_reg <= mem_bytes[idx];
                            rsp_last_hit_reg <= mem_last_hit[idx];
                        end else begin
                            rsp_status_reg <= ST_BAD_COMMAND;
                        end
                    end
                    default: begin
                        rsp_status_reg <= ST_BAD_COMMAND;
                    end
                endcase
            end
            M_KICK: begin
                // Swap the carried entry with the victim, then try the victim's other bucket.
                logic [SLOT_IDX_BITS-1:0] victim;
                logic [BUCKET_IDX_BITS-1:0] vb0;
                logic [BUCKET_IDX_BITS-1:0] vb1;
                logic [BUCKET_IDX_BITS-1:0] alt;
                logic free;
                logic [SLOT_IDX_BITS-1:0] free_idx;
                logic victim_is_new;
                logic [SLOT_IDX_BITS-1:0] placed_new;
                victim = slot_index(cur_bucket, int'(kick) % SLOTS);
                victim_is_new = !car_is_new && victim == new_slot;
                placed_new = car_is_new ? victim : new_slot;
                vb0 = bucket_of(key_hash0(mem_key[victim]));
                vb1 = bucket_of(key_hash1(mem_key[victim]));
                alt = (vb0 == cur_bucket) ? vb1 : vb0;
                free = 1'b0;
                free_idx = '0;
                for (int s = 0; s < SLOTS; s++) begin
                    logic [SLOT_IDX_BITS-1:0] idx;
                    idx = slot_index(alt, s);
                    // The victim slot is refilled by this kick: it is never free.
                    if (!free && !mem_valid[idx] && idx != victim) begin
                        free = 1'b1;
                        free_idx = idx;
                    end
                end
                walk_path[int'(kick)] <= victim;
                mem_valid[victim] <= car_valid;
                mem_key[victim] <= car_key;
                mem_action[victim] <= car_action;
                mem_hits[victim] <= car_hits;
                mem_bytes[victim] <= car_bytes;
                mem_last_hit[victim] <= car_last_hit;
                if (free) begin
                    mem_valid[free_idx] <= 1'b1;
                    mem_key[free_idx] <= mem_key[victim];
                    mem_action[free_idx] <= mem_action[victim];
                    mem_hits[free_idx] <= mem_hits[victim];
                    mem_bytes[free_idx] <= mem_bytes[victim];
                    mem_last_hit[free_idx] <= mem_last_hit[victim];
                    occupancy_reg <= occupancy_reg + 32'd1;
                    car_valid <= 1'b0;
                    rsp_status_reg <= ST_OK;
                    rsp_slot_reg <= victim_is_new ? 32'(free_idx) : 32'(placed_new);
                    rsp_kicks_reg <= 32'(kick) + 32'd1;
                    m_state <= M_RESP;
                end else begin
                    car_valid <= mem_valid[victim];
                    car_key <= mem_key[victim];
                    car_action <= mem_action[victim];
                    car_hits <= mem_hits[victim];
                    car_bytes <= mem_bytes[victim];
                    car_last_hit <= mem_last_hit[victim];
                    car_is_new <= victim_is_new;
                    new_slot <= placed_new;
                    cur_bucket <= alt;
                    if (int'(kick) + 1 >= MAX_KICKS) begin
                        m_state <= M_UNDO;
                    end else begin
                        kick <= kick + 16'd1;
                    end
                end
            end
            M_UNDO: begin
                // Reverse the kicks: swap the carried entry back into each path slot, last
                // kick first. After the first kick's slot, the carried entry is the new one,
                // which is dropped.
                logic [SLOT_IDX_BITS-1:0] idx;
                idx = walk_path[int'(kick)];
                mem_valid[idx] <= car_valid;
                mem_key[idx] <= car_key;
                mem_action[idx] <= car_action;
                mem_hits[idx] <= car_hits;
                mem_bytes[idx] <= car_bytes;
                mem_last_hit[idx] <= car_last_hit;
                car_valid <= mem_valid[idx];
                car_key <= mem_key[idx];
                car_action <= mem_action[idx];
                car_hits <= mem_hits[idx];
                car_bytes <= mem_bytes[idx];
                car_last_hit <= mem_last_hit[idx];
                if (kick == 16'd0) begin
                    rsp_status_reg <= ST_TABLE_FULL;
                    rsp_kicks_reg <= 32'(MAX_KICKS);
                    m_state <= M_RESP;
                end else begin
                    kick <= kick - 16'd1;
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
            for (int i = 3; i <= LATENCY; i++) begin
                res_valid[i] <= 1'b0;
            end
            rsp_valid_reg <= 1'b0;
            m_state <= M_IDLE;
        end
    end


    assign m_result_valid = res_valid[LATENCY];
    assign m_result_hit = res_hit[LATENCY];
    assign m_result_slot = res_slot[LATENCY];
    assign m_result_action = res_action[LATENCY];
    assign m_result_tag = res_tag[LATENCY];

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
