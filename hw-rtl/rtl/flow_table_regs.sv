// flow_table_regs: the flow table behind its register block, the management port of
// nic_abi::regs::flow_table (offsets, command and status codes from the generated include).
//
// The host writes KEY_n, ACTION_n (and SLOT for READ_SLOT), then the command code to CMD; STATUS
// reads BUSY until the command is done, then its status. Results land in ACTION_n (lookup),
// HITS/BYTES/LAST_HIT (counter read), KEY_n too (slot read), SLOT (where the key sits) and
// LAST_KICKS (insert). Writes other than to CMD while busy are ignored, as the register map
// says; a CMD write while busy is ignored too. The block header (TYPE, VERSION, NEXT, SIZE)
// describes the block to a driver walking the register chain.
//
// Register bus: one write or one read per cycle, byte offsets from the BAR. Read data is
// registered: m_reg_rd_data is valid the cycle after s_reg_rd_en. Offsets outside the block
// read as 0 and ignore writes.
//
// Lookups (from the parser's data path) go straight to the table's pipeline.
`default_nettype none

`include "snich_abi.svh"

// Yosys reads package imports only at file scope, and only whole packages.
/* verilator lint_off IMPORTSTAR */
import snich_abi_pkg::*;
/* verilator lint_on IMPORTSTAR */

module flow_table_regs #(
    // Buckets in the table; a power of two.
    parameter int BUCKETS = 1024,
    // Bound on cuckoo kicks per insert.
    parameter int MAX_KICKS = DEFAULT_MAX_KICKS
) (
    input  wire                         clk,
    input  wire                         rst,

    // Register bus.
    input  wire                         s_reg_wr_en,
    input  wire [15:0]                  s_reg_wr_addr,
    input  wire [31:0]                  s_reg_wr_data,
    input  wire                         s_reg_rd_en,
    input  wire [15:0]                  s_reg_rd_addr,
    output wire [31:0]                  m_reg_rd_data,

    // Lookups in.
    input  wire                         s_lookup_valid,
    output wire                         s_lookup_ready,
    input  wire [KEY_BITS-1:0]          s_lookup_key,
    input  wire [15:0]                  s_lookup_len,
    input  wire [63:0]                  s_lookup_time,
    input  wire [31:0]                  s_lookup_tag,

    // Lookup results out.
    output wire                         m_result_valid,
    input  wire                         m_result_ready,
    output wire                         m_result_hit,
    output wire [31:0]                  m_result_slot,
    output wire [ACTION_WORDS*32-1:0]   m_result_action,
    output wire [31:0]                  m_result_tag,

    // Pulses for one cycle when a command completes (the MGMT_DONE interrupt cause).
    output wire                         mgmt_done
);

    localparam int ACTION_BITS = ACTION_WORDS * 32;
    localparam logic [15:0] BASE = 16'(FLOW_TABLE_BASE);

    // Block-relative offset of an address inside the block, or all ones outside it.
    function automatic logic [15:0] block_offset(input logic [15:0] addr);
        if (addr < BASE || 32'(addr) >= FLOW_TABLE_BASE + FLOW_TABLE_SIZE) begin
            block_offset = 16'hffff;
        end else begin
            block_offset = addr - BASE;
        end
    endfunction

    logic [KEY_BITS-1:0]    key_regs = '0;
    logic [ACTION_BITS-1:0] action_regs = '0;
    logic [31:0]            slot_reg = 32'd0;
    logic [31:0]            status_reg = 32'(MGMT_STATUS_IDLE);
    logic [31:0]            last_kicks_reg = 32'd0;
    logic [63:0]            hits_reg = 64'd0;
    logic [63:0]            bytes_reg = 64'd0;
    logic [63:0]            last_hit_reg = 64'd0;
    logic [31:0]            rd_data_reg = 32'd0;
    logic                   busy = 1'b0;
    logic                   mgmt_valid = 1'b0;
    logic [3:0]             mgmt_op = 4'd0;
    logic                   done_reg = 1'b0;

    wire                    mgmt_ready;
    wire                    rsp_valid;
    wire [3:0]              rsp_status;
    wire [31:0]             rsp_slot;
    wire [31:0]             rsp_kicks;
    wire                    rsp_entry_valid;
    wire [KEY_BITS-1:0]     rsp_key;
    wire [ACTION_BITS-1:0]  rsp_action;
    wire [63:0]             rsp_hits;
    wire [63:0]             rsp_bytes;
    wire [63:0]             rsp_last_hit;
    wire [31:0]             occupancy;

    flow_table #(
        .BUCKETS(BUCKETS),
        .MAX_KICKS(MAX_KICKS)
    ) table_core (
        .clk(clk),
        .rst(rst),
        .s_lookup_valid(s_lookup_valid),
        .s_lookup_ready(s_lookup_ready),
        .s_lookup_key(s_lookup_key),
        .s_lookup_len(s_lookup_len),
        .s_lookup_time(s_lookup_time),
        .s_lookup_tag(s_lookup_tag),
        .m_result_valid(m_result_valid),
        .m_result_ready(m_result_ready),
        .m_result_hit(m_result_hit),
        .m_result_slot(m_result_slot),
        .m_result_action(m_result_action),
        .m_result_tag(m_result_tag),
        .s_mgmt_valid(mgmt_valid),
        .s_mgmt_ready(mgmt_ready),
        .s_mgmt_op(mgmt_op),
        .s_mgmt_key(key_regs),
        .s_mgmt_action(action_regs),
        .s_mgmt_slot(slot_reg),
        .m_mgmt_valid(rsp_valid),
        .m_mgmt_status(rsp_status),
        .m_mgmt_slot(rsp_slot),
        .m_mgmt_kicks(rsp_kicks),
        .m_mgmt_entry_valid(rsp_entry_valid),
        .m_mgmt_key(rsp_key),
        .m_mgmt_action(rsp_action),
        .m_mgmt_hits(rsp_hits),
        .m_mgmt_bytes(rsp_bytes),
        .m_mgmt_last_hit(rsp_last_hit),
        .occupancy(occupancy)
    );

    // The value a read of block offset `o` returns.
    function automatic logic [31:0] read_value(input logic [15:0] o);
        read_value = 32'd0;
        for (int n = 0; n < int'(KEY_WORDS); n++) begin
            if (o == 16'(FLOW_TABLE_KEY_0 + 4 * n)) read_value = key_regs[n * 32 +: 32];
        end
        for (int n = 0; n < int'(ACTION_WORDS); n++) begin
            if (o == 16'(FLOW_TABLE_ACTION_0 + 4 * n)) read_value = action_regs[n * 32 +: 32];
        end
        if (o == 16'(BLOCK_TYPE)) read_value = FLOW_TABLE_TYPE;
        if (o == 16'(BLOCK_VERSION)) read_value = 32'(FLOW_TABLE_VERSION);
        if (o == 16'(BLOCK_NEXT)) read_value = 32'(FLOW_TABLE_NEXT);
        if (o == 16'(BLOCK_SIZE)) read_value = 32'(FLOW_TABLE_SIZE);
        if (o == 16'(FLOW_TABLE_STATUS)) read_value = busy ? 32'(MGMT_STATUS_BUSY) : status_reg;
        if (o == 16'(FLOW_TABLE_OCCUPANCY)) read_value = occupancy;
        if (o == 16'(FLOW_TABLE_LAST_KICKS)) read_value = last_kicks_reg;
        if (o == 16'(FLOW_TABLE_HITS_LO)) read_value = hits_reg[31:0];
        if (o == 16'(FLOW_TABLE_HITS_HI)) read_value = hits_reg[63:32];
        if (o == 16'(FLOW_TABLE_BYTES_LO)) read_value = bytes_reg[31:0];
        if (o == 16'(FLOW_TABLE_BYTES_HI)) read_value = bytes_reg[63:32];
        if (o == 16'(FLOW_TABLE_LAST_HIT_LO)) read_value = last_hit_reg[31:0];
        if (o == 16'(FLOW_TABLE_LAST_HIT_HI)) read_value = last_hit_reg[63:32];
        if (o == 16'(FLOW_TABLE_SLOT)) read_value = slot_reg;
    endfunction

    always_ff @(posedge clk) begin
        done_reg <= 1'b0;
        if (mgmt_valid && mgmt_ready) begin
            mgmt_valid <= 1'b0;
        end

        if (s_reg_rd_en) begin
            rd_data_reg <= read_value(block_offset(s_reg_rd_addr));
        end

        if (s_reg_wr_en && !busy) begin
            logic [15:0] o;
            o = block_offset(s_reg_wr_addr);
            if (o == 16'(FLOW_TABLE_CMD)) begin
                busy <= 1'b1;
                mgmt_valid <= 1'b1;
                mgmt_op <= s_reg_wr_data[3:0];
                // Codes beyond the op field are unknown commands too.
                if (s_reg_wr_data[31:4] != 28'd0) begin
                    mgmt_op <= 4'd0;
                end
            end
            if (o == 16'(FLOW_TABLE_SLOT)) begin
                slot_reg <= s_reg_wr_data;
            end
            for (int n = 0; n < int'(KEY_WORDS); n++) begin
                if (o == 16'(FLOW_TABLE_KEY_0 + 4 * n)) key_regs[n * 32 +: 32] <= s_reg_wr_data;
            end
            for (int n = 0; n < int'(ACTION_WORDS); n++) begin
                if (o == 16'(FLOW_TABLE_ACTION_0 + 4 * n)) begin
                    action_regs[n * 32 +: 32] <= s_reg_wr_data;
                end
            end
        end

        if (rsp_valid) begin
            busy <= 1'b0;
            done_reg <= 1'b1;
            status_reg <= 32'(rsp_status);
            if (32'(rsp_status) == MGMT_STATUS_OK || 32'(rsp_status) == MGMT_STATUS_UPDATED) begin
                slot_reg <= rsp_slot;
            end
            if (32'(mgmt_op) == MGMT_CMD_INSERT) begin
                last_kicks_reg <= rsp_kicks;
            end
            if (rsp_entry_valid) begin
                // A counter read leaves ACTION_n alone (nic_abi::regs::flow_table).
                if (32'(mgmt_op) != MGMT_CMD_READ_COUNTERS) begin
                    action_regs <= rsp_action;
                end
                hits_reg <= rsp_hits;
                bytes_reg <= rsp_bytes;
                last_hit_reg <= rsp_last_hit;
                if (32'(mgmt_op) == MGMT_CMD_READ_SLOT) begin
                    key_regs <= rsp_key;
                end
            end
        end

        // Only control state is reset.
        if (rst) begin
            busy <= 1'b0;
            mgmt_valid <= 1'b0;
            status_reg <= 32'(MGMT_STATUS_IDLE);
            done_reg <= 1'b0;
        end
    end

    assign m_reg_rd_data = rd_data_reg;
    assign mgmt_done = done_reg;

endmodule

`resetall
