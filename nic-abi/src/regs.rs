//! The card's register map (BAR 0): self-describing blocks, Corundum style.
//!
//! Registers are 32 bits wide, little-endian, at 4-byte-aligned byte offsets ([`RegOffset`]).
//! The map is a chain of blocks; each starts with a four-register header, so a driver finds
//! what the card has by walking the chain ([`walk_blocks`]) and checking each block's type and
//! version, instead of trusting offsets compiled into it:
//!
//! ```text
//! block + 0x00  TYPE     block type id (BlockType)           read only
//! block + 0x04  VERSION  layout version of that block type   read only
//! block + 0x08  NEXT     offset of the next block, 0 = last  read only
//! block + 0x0C  SIZE     bytes this block spans              read only
//! ```
//!
//! | offset | block | what |
//! |---|---|---|
//! | `0x0000` | [`device_info`] | ids, port and queue counts, table geometry, pipeline constants |
//! | `0x0100` | [`flow_table`] | the management port: key/action registers, command, status, counters |
//! | `0x0200` | [`miss_queue`] | the miss (exception) ring the card fills, the release ring the agent fills |
//! | `0x0300` | [`interrupts`] | one vector per event source: cause, enable, moderation by count and by time |
//! | `0x2000` | [`vm_queues`] | per queue pair: owner VM, port, TX/RX rings and completion rings, doorbells |
//!
//! Every offset is a constant here, once; the Verilog include ([`crate::verilog`]) and the
//! driver take them from this module, and [`BLOCKS`] describes every register for both.
//!
//! ```
//! use nic_abi::regs::{self, BlockType, RegOffset};
//!
//! // A driver walks the chain through its register-read function; here, the reset image.
//! let found = regs::walk_blocks(|off: RegOffset| regs::header_register(off).unwrap_or(0))?;
//! let table = found.iter().find(|b| b.block_type == Some(BlockType::FlowTable)).unwrap();
//! assert_eq!(table.offset, regs::flow_table::BASE);
//! assert_eq!(regs::flow_table::BASE.at(regs::flow_table::CMD), RegOffset(0x110));
//! # Ok::<(), regs::RegsError>(())
//! ```

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::action::ACTION_WORDS;
use crate::key::KEY_WORDS;
use crate::table::TableGeometry;

/// A byte offset into the card's register space (BAR 0).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct RegOffset(pub u32);

impl RegOffset {
    /// The register `rel` bytes into the block that starts here.
    pub const fn at(self, rel: u32) -> RegOffset {
        RegOffset(self.0 + rel)
    }
}

impl fmt::Display for RegOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

/// Bytes of register space the card decodes.
pub const BAR_BYTES: u32 = 0x1_0000;
/// Bytes per register.
pub const REG_BYTES: u32 = 4;
/// Most queue pairs (VMs) a card can have: the register map reserves space for this many.
pub const MAX_VM_QUEUES: u16 = 256;
/// `device_info::SIGNATURE`'s value: ASCII "SNIC".
pub const SIGNATURE: u32 = 0x534e_4943;
/// `device_info::ABI_VERSION`'s value: major in bits 31-16, minor in 15-0. A driver refuses a
/// different major version. Minor 1 added `device_info::MGMT_COMMAND_CYCLES` and
/// `MGMT_KICK_CYCLES`.
pub const ABI_VERSION: u32 = 0x0001_0001;

/// How software may access a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Read only; writes are ignored.
    ReadOnly,
    /// Read and write.
    ReadWrite,
    /// A write triggers an action (a command, a doorbell); reads return the last value written.
    WriteTrigger,
    /// Read; writing 1 to a bit clears it.
    ReadWriteOneToClear,
}

/// One register of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Register {
    /// Name, as in generated Verilog (`<BLOCK>_<NAME>`).
    pub name: &'static str,
    /// Byte offset from the block's (or, for per-vector and per-queue registers, the vector's
    /// or queue's) start.
    pub offset: u32,
    /// Access.
    pub access: Access,
    /// What it holds.
    pub doc: &'static str,
}

const fn reg(name: &'static str, offset: u32, access: Access, doc: &'static str) -> Register {
    Register {
        name,
        offset,
        access,
        doc,
    }
}

/// The four-register header every block starts with.
pub mod block {
    use super::{reg, Access, Register};

    /// Block type id ([`super::BlockType`]).
    pub const TYPE: u32 = 0x00;
    /// Layout version of the block type.
    pub const VERSION: u32 = 0x04;
    /// Offset of the next block; 0 for the last.
    pub const NEXT: u32 = 0x08;
    /// Bytes the block spans.
    pub const SIZE: u32 = 0x0c;
    /// Bytes of the header; a block's own registers start here.
    pub const HEADER_BYTES: u32 = 0x10;

    /// The header registers.
    pub const REGISTERS: &[Register] = &[
        reg("TYPE", TYPE, Access::ReadOnly, "block type id"),
        reg("VERSION", VERSION, Access::ReadOnly, "block layout version"),
        reg(
            "NEXT",
            NEXT,
            Access::ReadOnly,
            "offset of the next block, 0 for the last",
        ),
        reg("SIZE", SIZE, Access::ReadOnly, "bytes this block spans"),
    ];
}

/// The device information block: what the card is and the constants it was built with.
pub mod device_info {
    use super::{reg, Access, RegOffset, Register};

    /// Where the block starts (the chain's head).
    pub const BASE: RegOffset = RegOffset(0x0000);
    /// Layout version.
    pub const VERSION: u32 = 1;
    /// Bytes the block spans.
    pub const SIZE: u32 = 0x100;

    /// [`super::SIGNATURE`].
    pub const SIGNATURE: u32 = 0x10;
    /// [`super::ABI_VERSION`].
    pub const ABI_VERSION: u32 = 0x14;
    /// Number of uplink (Ethernet MAC) ports.
    pub const NUM_UPLINKS: u32 = 0x18;
    /// Number of VM queue pairs this card has (at most [`super::MAX_VM_QUEUES`]).
    pub const NUM_VM_QUEUES: u32 = 0x1c;
    /// Number of flow-table buckets (a power of two).
    pub const TABLE_BUCKETS: u32 = 0x20;
    /// [`crate::table::SLOTS_PER_BUCKET`].
    pub const SLOTS_PER_BUCKET: u32 = 0x24;
    /// [`crate::key::KEY_WORDS`].
    pub const KEY_WORDS: u32 = 0x28;
    /// [`crate::action::ACTION_WORDS`].
    pub const ACTION_WORDS: u32 = 0x2c;
    /// Lookup pipeline latency in core cycles ([`crate::table::LOOKUP_LATENCY_CYCLES`]).
    pub const LOOKUP_LATENCY: u32 = 0x30;
    /// Displacement bound of an insert.
    pub const MAX_KICKS: u32 = 0x34;
    /// [`crate::desc::MISS_HEADER_BYTES`].
    pub const MISS_HEADER_BYTES: u32 = 0x38;
    /// Core clock frequency in kHz (to turn cycle counts into time).
    pub const CORE_CLOCK_KHZ: u32 = 0x3c;
    /// Core cycles the management port is busy with a command without displacements
    /// ([`crate::table::MgmtTiming::command_cycles`]).
    pub const MGMT_COMMAND_CYCLES: u32 = 0x40;
    /// Core cycles the management port adds per displacement, made or undone
    /// ([`crate::table::MgmtTiming::cycles_per_kick`]).
    pub const MGMT_KICK_CYCLES: u32 = 0x44;

    /// The block's own registers.
    pub const REGISTERS: &[Register] = &[
        reg(
            "SIGNATURE",
            SIGNATURE,
            Access::ReadOnly,
            "ASCII SNIC, 0x534e4943",
        ),
        reg(
            "ABI_VERSION",
            ABI_VERSION,
            Access::ReadOnly,
            "major << 16 | minor",
        ),
        reg("NUM_UPLINKS", NUM_UPLINKS, Access::ReadOnly, "uplink ports"),
        reg(
            "NUM_VM_QUEUES",
            NUM_VM_QUEUES,
            Access::ReadOnly,
            "VM queue pairs",
        ),
        reg(
            "TABLE_BUCKETS",
            TABLE_BUCKETS,
            Access::ReadOnly,
            "flow-table buckets",
        ),
        reg(
            "SLOTS_PER_BUCKET",
            SLOTS_PER_BUCKET,
            Access::ReadOnly,
            "slots per bucket",
        ),
        reg(
            "KEY_WORDS",
            KEY_WORDS,
            Access::ReadOnly,
            "32-bit words per key",
        ),
        reg(
            "ACTION_WORDS",
            ACTION_WORDS,
            Access::ReadOnly,
            "32-bit words per action",
        ),
        reg(
            "LOOKUP_LATENCY",
            LOOKUP_LATENCY,
            Access::ReadOnly,
            "lookup latency, core cycles",
        ),
        reg(
            "MAX_KICKS",
            MAX_KICKS,
            Access::ReadOnly,
            "insert displacement bound",
        ),
        reg(
            "MISS_HEADER_BYTES",
            MISS_HEADER_BYTES,
            Access::ReadOnly,
            "header bytes per miss record",
        ),
        reg(
            "CORE_CLOCK_KHZ",
            CORE_CLOCK_KHZ,
            Access::ReadOnly,
            "core clock, kHz",
        ),
        reg(
            "MGMT_COMMAND_CYCLES",
            MGMT_COMMAND_CYCLES,
            Access::ReadOnly,
            "management command busy cycles, no kicks",
        ),
        reg(
            "MGMT_KICK_CYCLES",
            MGMT_KICK_CYCLES,
            Access::ReadOnly,
            "management busy cycles per kick made or undone",
        ),
    ];
}

/// The flow table's management port.
///
/// Protocol: wait until `STATUS` is not [`MgmtStatus::Busy`]; write `KEY_0` ..
/// `KEY_14` (the packed key, [`crate::key::FlowKey::to_words`]) and, for an insert, `ACTION_0`
/// and `ACTION_1`; write the [`MgmtCommand`] code to `CMD`; poll `STATUS` until it is
/// not busy. A lookup returns the action in `ACTION_n`; a counter read returns the counters in
/// `HITS_*`, `BYTES_*`, `LAST_HIT_*` (64-bit values, low word first). Writes to `KEY_n`,
/// `ACTION_n`, `SLOT` or `CMD` while busy are ignored.
///
/// While `STATUS` reads `Busy`, only `STATUS` and the block header have defined values
/// ([`flow_table::defined_while_busy`]): every other register (the result registers, the key,
/// action and slot words a command may rewrite, `OCCUPANCY`) reads either its value before the
/// command or its value after it, whichever the implementation has at that cycle. `nic-model`
/// changes them at the `CMD` write, the RTL when the command completes; so a driver reads
/// results only after a poll saw the command done, and co-simulation compares only the
/// defined values (the `rtl` fuzz target found both orders through reads of `SLOT` and
/// `OCCUPANCY` in the window).
pub mod flow_table {
    use super::{block, reg, Access, RegOffset, Register};

    /// Where the block starts.
    pub const BASE: RegOffset = RegOffset(0x0100);
    /// Layout version.
    pub const VERSION: u32 = 1;
    /// Bytes the block spans.
    pub const SIZE: u32 = 0x100;

    /// Command ([`super::MgmtCommand`] code); the write starts it.
    pub const CMD: u32 = 0x10;
    /// Status ([`super::MgmtStatus`] code) of the last command.
    pub const STATUS: u32 = 0x14;
    /// Entries installed.
    pub const OCCUPANCY: u32 = 0x18;
    /// Displacements the last insert made.
    pub const LAST_KICKS: u32 = 0x1c;
    /// First key word; key word `n` is at `KEY_0 + 4 n`.
    pub const KEY_0: u32 = 0x20;
    /// First action word; action word `n` is at `ACTION_0 + 4 n`.
    pub const ACTION_0: u32 = 0x60;
    /// Hit counter, bits 31-0.
    pub const HITS_LO: u32 = 0x70;
    /// Hit counter, bits 63-32.
    pub const HITS_HI: u32 = 0x74;
    /// Byte counter, bits 31-0.
    pub const BYTES_LO: u32 = 0x78;
    /// Byte counter, bits 63-32.
    pub const BYTES_HI: u32 = 0x7c;
    /// Last-hit time in picoseconds, bits 31-0.
    pub const LAST_HIT_LO: u32 = 0x80;
    /// Last-hit time in picoseconds, bits 63-32.
    pub const LAST_HIT_HI: u32 = 0x84;
    /// Slot index (`bucket * SLOTS_PER_BUCKET + slot`): written before a `READ_SLOT`; after
    /// an insert, lookup or counter read that found or placed the key, where it sits.
    pub const SLOT: u32 = 0x88;

    /// Whether the register at block offset `rel` has a defined value while a command runs
    /// (`STATUS` reads `Busy`): `STATUS` and the block header do; every other register reads
    /// its value before or after the command (the protocol above).
    pub const fn defined_while_busy(rel: u32) -> bool {
        rel == STATUS || rel < block::HEADER_BYTES
    }

    /// Offset of key word `n` (for `n` below [`crate::key::KEY_WORDS`]).
    pub const fn key(n: u32) -> u32 {
        KEY_0 + 4 * n
    }

    /// Offset of action word `n` (for `n` below [`crate::action::ACTION_WORDS`]).
    pub const fn action(n: u32) -> u32 {
        ACTION_0 + 4 * n
    }

    /// The block's own registers (the key and action words as `KEY_n`/`ACTION_n`, listed by
    /// [`super::flow_table_registers`]).
    pub const REGISTERS: &[Register] = &[
        reg(
            "CMD",
            CMD,
            Access::WriteTrigger,
            "command code; the write starts it",
        ),
        reg(
            "STATUS",
            STATUS,
            Access::ReadOnly,
            "status code of the last command",
        ),
        reg(
            "OCCUPANCY",
            OCCUPANCY,
            Access::ReadOnly,
            "entries installed",
        ),
        reg(
            "LAST_KICKS",
            LAST_KICKS,
            Access::ReadOnly,
            "displacements of the last insert",
        ),
        reg(
            "HITS_LO",
            HITS_LO,
            Access::ReadOnly,
            "hit counter bits 31-0",
        ),
        reg(
            "HITS_HI",
            HITS_HI,
            Access::ReadOnly,
            "hit counter bits 63-32",
        ),
        reg(
            "BYTES_LO",
            BYTES_LO,
            Access::ReadOnly,
            "byte counter bits 31-0",
        ),
        reg(
            "BYTES_HI",
            BYTES_HI,
            Access::ReadOnly,
            "byte counter bits 63-32",
        ),
        reg(
            "LAST_HIT_LO",
            LAST_HIT_LO,
            Access::ReadOnly,
            "last hit, ps, bits 31-0",
        ),
        reg(
            "LAST_HIT_HI",
            LAST_HIT_HI,
            Access::ReadOnly,
            "last hit, ps, bits 63-32",
        ),
        reg(
            "SLOT",
            SLOT,
            Access::ReadWrite,
            "slot to read with READ_SLOT; slot of the key after a command",
        ),
    ];
}

/// The miss (exception) ring the card fills with [`crate::desc::MissRecord`]s, and the release
/// ring the agent fills with [`crate::desc::ReleaseCommand`]s.
///
/// The card holds at most `HELD_LIMIT` packets for the agent; a miss beyond that is dropped
/// and counted in `HELD_OVERFLOW_DROPS` (never silently).
pub mod miss_queue {
    use super::{reg, Access, RegOffset, Register};

    /// Where the block starts.
    pub const BASE: RegOffset = RegOffset(0x0200);
    /// Layout version.
    pub const VERSION: u32 = 1;
    /// Bytes the block spans.
    pub const SIZE: u32 = 0x100;

    /// Miss ring address (IOVA), bits 31-0.
    pub const RING_BASE_LO: u32 = 0x10;
    /// Miss ring address (IOVA), bits 63-32.
    pub const RING_BASE_HI: u32 = 0x14;
    /// Miss ring entries (a power of two).
    pub const RING_SIZE: u32 = 0x18;
    /// Miss ring producer index (the card's).
    pub const PRODUCER: u32 = 0x1c;
    /// Miss ring consumer index (the host's; the write hands slots back).
    pub const CONSUMER: u32 = 0x20;
    /// Bit 0: the card writes miss records (set after the rings are configured).
    pub const CONTROL: u32 = 0x24;
    /// Release ring address (IOVA), bits 31-0.
    pub const RELEASE_BASE_LO: u32 = 0x30;
    /// Release ring address (IOVA), bits 63-32.
    pub const RELEASE_BASE_HI: u32 = 0x34;
    /// Release ring entries (a power of two).
    pub const RELEASE_SIZE: u32 = 0x38;
    /// Release ring producer index (the host's doorbell).
    pub const RELEASE_PRODUCER: u32 = 0x3c;
    /// Release ring consumer index (the card's).
    pub const RELEASE_CONSUMER: u32 = 0x40;
    /// Packets the card now holds for the agent.
    pub const HELD_PACKETS: u32 = 0x44;
    /// Most packets the card holds for the agent.
    pub const HELD_LIMIT: u32 = 0x48;
    /// Packets dropped because `HELD_LIMIT` were held or the miss ring was full.
    pub const HELD_OVERFLOW_DROPS: u32 = 0x4c;

    /// `CONTROL` bit: enabled.
    pub const CONTROL_ENABLE: u32 = 1;
    /// `CONTROL` bit, write-trigger (reads as 0): replay the held packets. Written with
    /// `CONTROL_ENABLE` by a restarted agent's driver once it has set `CONSUMER` to
    /// `PRODUCER` (discarding the records it never read) and the release ring is drained:
    /// the card writes a fresh miss record, under the same handle, for every held packet
    /// whose record has landed, in handle (arrival) order. A packet whose record does not
    /// fit in the ring is dropped (`agent_restart`), with the packets waiting behind it.
    /// Records still being written when the bit is written land as usual and are not
    /// replayed. So the new agent hears of every held packet exactly once.
    pub const CONTROL_REPLAY: u32 = 1 << 1;

    /// The block's own registers.
    pub const REGISTERS: &[Register] = &[
        reg(
            "RING_BASE_LO",
            RING_BASE_LO,
            Access::ReadWrite,
            "miss ring IOVA bits 31-0",
        ),
        reg(
            "RING_BASE_HI",
            RING_BASE_HI,
            Access::ReadWrite,
            "miss ring IOVA bits 63-32",
        ),
        reg(
            "RING_SIZE",
            RING_SIZE,
            Access::ReadWrite,
            "miss ring entries",
        ),
        reg(
            "PRODUCER",
            PRODUCER,
            Access::ReadOnly,
            "miss ring producer index (card)",
        ),
        reg(
            "CONSUMER",
            CONSUMER,
            Access::WriteTrigger,
            "miss ring consumer index (host)",
        ),
        reg(
            "CONTROL",
            CONTROL,
            Access::ReadWrite,
            "bit 0: enable; bit 1: replay held packets (write-trigger)",
        ),
        reg(
            "RELEASE_BASE_LO",
            RELEASE_BASE_LO,
            Access::ReadWrite,
            "release ring IOVA bits 31-0",
        ),
        reg(
            "RELEASE_BASE_HI",
            RELEASE_BASE_HI,
            Access::ReadWrite,
            "release ring IOVA bits 63-32",
        ),
        reg(
            "RELEASE_SIZE",
            RELEASE_SIZE,
            Access::ReadWrite,
            "release ring entries",
        ),
        reg(
            "RELEASE_PRODUCER",
            RELEASE_PRODUCER,
            Access::WriteTrigger,
            "release ring producer index (host doorbell)",
        ),
        reg(
            "RELEASE_CONSUMER",
            RELEASE_CONSUMER,
            Access::ReadOnly,
            "release ring consumer index (card)",
        ),
        reg(
            "HELD_PACKETS",
            HELD_PACKETS,
            Access::ReadOnly,
            "packets held for the agent",
        ),
        reg(
            "HELD_LIMIT",
            HELD_LIMIT,
            Access::ReadOnly,
            "most packets held",
        ),
        reg(
            "HELD_OVERFLOW_DROPS",
            HELD_OVERFLOW_DROPS,
            Access::ReadOnly,
            "misses dropped: hold limit or ring full",
        ),
    ];
}

/// Interrupt vectors: one per event source, each with its cause, enable mask and moderation.
///
/// Vector 0 is the miss queue, vector 1 the management port, vector `2 + q` queue pair `q`.
/// A vector's cause bits are set by events; the vector fires when `CAUSE & ENABLE` is non-zero
/// and either `MOD_COUNT` events have set cause bits since it last fired, or `MOD_TIME_NS`
/// nanoseconds have passed since the first of them (so a lone event is not held forever).
/// `MOD_COUNT` 0 or 1 and `MOD_TIME_NS` 0 mean "fire on every event". The host clears causes
/// by writing 1s to `CAUSE`.
pub mod interrupts {
    use super::{reg, Access, RegOffset, Register, MAX_VM_QUEUES};

    /// Where the block starts.
    pub const BASE: RegOffset = RegOffset(0x0300);
    /// Layout version.
    pub const VERSION: u32 = 1;
    /// Number of vectors this card has (2 + the number of VM queue pairs).
    pub const VECTOR_COUNT: u32 = 0x10;
    /// Offset of vector 0's registers in the block.
    pub const VECTOR_BASE: u32 = 0x40;
    /// Bytes per vector.
    pub const VECTOR_STRIDE: u32 = 0x10;
    /// Most vectors the map has room for.
    pub const MAX_VECTORS: u32 = 2 + MAX_VM_QUEUES as u32;
    /// Bytes the block spans.
    pub const SIZE: u32 = VECTOR_BASE + MAX_VECTORS * VECTOR_STRIDE;

    /// Per vector: pending causes (write 1 to clear).
    pub const CAUSE: u32 = 0x0;
    /// Per vector: causes that may fire the vector.
    pub const ENABLE: u32 = 0x4;
    /// Per vector: fire after this many events.
    pub const MOD_COUNT: u32 = 0x8;
    /// Per vector: fire at most this many nanoseconds after the first pending event.
    pub const MOD_TIME_NS: u32 = 0xc;

    /// The miss queue's vector.
    pub const VECTOR_MISS: u32 = 0;
    /// The management port's vector.
    pub const VECTOR_MGMT: u32 = 1;
    /// The first queue pair's vector.
    pub const VECTOR_QUEUE_0: u32 = 2;

    /// Cause: TX completions were written.
    pub const CAUSE_TX_COMPLETION: u32 = 1 << 0;
    /// Cause: RX completions were written.
    pub const CAUSE_RX_COMPLETION: u32 = 1 << 1;
    /// Cause: miss records were written.
    pub const CAUSE_MISS_RECORD: u32 = 1 << 2;
    /// Cause: a management command finished.
    pub const CAUSE_MGMT_DONE: u32 = 1 << 3;
    /// Cause: an error was counted (refused descriptor, DMA fault, overflow drop).
    pub const CAUSE_ERROR: u32 = 1 << 31;

    /// Offset in the block of register `reg` (one of the per-vector offsets) of `vector`.
    pub const fn vector_reg(vector: u32, reg: u32) -> u32 {
        VECTOR_BASE + vector * VECTOR_STRIDE + reg
    }

    /// The block's own registers.
    pub const REGISTERS: &[Register] = &[reg(
        "VECTOR_COUNT",
        VECTOR_COUNT,
        Access::ReadOnly,
        "interrupt vectors",
    )];

    /// Each vector's registers, offsets from the vector's start.
    pub const VECTOR_REGISTERS: &[Register] = &[
        reg(
            "CAUSE",
            CAUSE,
            Access::ReadWriteOneToClear,
            "pending causes",
        ),
        reg("ENABLE", ENABLE, Access::ReadWrite, "causes that may fire"),
        reg(
            "MOD_COUNT",
            MOD_COUNT,
            Access::ReadWrite,
            "fire after this many events",
        ),
        reg(
            "MOD_TIME_NS",
            MOD_TIME_NS,
            Access::ReadWrite,
            "fire at most this long after the first event",
        ),
    ];
}

/// Per-VM queue pairs: a TX ring, an RX ring, and a completion ring for each (a completion ring
/// has as many entries as its descriptor ring). Producer indices of descriptor rings are the
/// doorbells. Ring entries are the [`crate::desc`] records; sizes in entries, powers of two.
pub mod vm_queues {
    use super::{reg, Access, RegOffset, Register, MAX_VM_QUEUES};

    /// Where the block starts.
    pub const BASE: RegOffset = RegOffset(0x2000);
    /// Layout version.
    pub const VERSION: u32 = 1;
    /// Number of queue pairs this card has.
    pub const QUEUE_COUNT: u32 = 0x10;
    /// Bytes per queue pair (read-only copy of [`QUEUE_STRIDE_BYTES`]).
    pub const QUEUE_STRIDE: u32 = 0x14;
    /// Offset of queue pair 0's registers in the block.
    pub const QUEUE_BASE: u32 = 0x100;
    /// Bytes per queue pair.
    pub const QUEUE_STRIDE_BYTES: u32 = 0x80;
    /// Bytes the block spans.
    pub const SIZE: u32 = QUEUE_BASE + MAX_VM_QUEUES as u32 * QUEUE_STRIDE_BYTES;

    /// Per queue: bit 0 enables the queue pair.
    pub const CONTROL: u32 = 0x00;
    /// Per queue: the VM that owns it; the card checks descriptors and DMA against it.
    pub const VM_ID: u32 = 0x04;
    /// Per queue: the switch port number of this VM's virtual port.
    pub const PORT: u32 = 0x08;
    /// Per queue: bit 0 set once a descriptor was refused (sticky; write 1 to clear).
    pub const STATUS: u32 = 0x0c;
    /// Per queue: TX ring IOVA bits 31-0.
    pub const TX_RING_BASE_LO: u32 = 0x10;
    /// Per queue: TX ring IOVA bits 63-32.
    pub const TX_RING_BASE_HI: u32 = 0x14;
    /// Per queue: TX ring entries.
    pub const TX_RING_SIZE: u32 = 0x18;
    /// Per queue: TX producer index (the guest's doorbell).
    pub const TX_PRODUCER: u32 = 0x1c;
    /// Per queue: TX consumer index (the card's).
    pub const TX_CONSUMER: u32 = 0x20;
    /// Per queue: TX completion ring IOVA bits 31-0.
    pub const TX_CPL_BASE_LO: u32 = 0x24;
    /// Per queue: TX completion ring IOVA bits 63-32.
    pub const TX_CPL_BASE_HI: u32 = 0x28;
    /// Per queue: TX completion producer index (the card's).
    pub const TX_CPL_PRODUCER: u32 = 0x2c;
    /// Per queue: TX completion consumer index (the guest's).
    pub const TX_CPL_CONSUMER: u32 = 0x30;
    /// Per queue: RX ring IOVA bits 31-0.
    pub const RX_RING_BASE_LO: u32 = 0x40;
    /// Per queue: RX ring IOVA bits 63-32.
    pub const RX_RING_BASE_HI: u32 = 0x44;
    /// Per queue: RX ring entries.
    pub const RX_RING_SIZE: u32 = 0x48;
    /// Per queue: RX producer index (the guest's doorbell).
    pub const RX_PRODUCER: u32 = 0x4c;
    /// Per queue: RX consumer index (the card's).
    pub const RX_CONSUMER: u32 = 0x50;
    /// Per queue: RX completion ring IOVA bits 31-0.
    pub const RX_CPL_BASE_LO: u32 = 0x54;
    /// Per queue: RX completion ring IOVA bits 63-32.
    pub const RX_CPL_BASE_HI: u32 = 0x58;
    /// Per queue: RX completion producer index (the card's).
    pub const RX_CPL_PRODUCER: u32 = 0x5c;
    /// Per queue: RX completion consumer index (the guest's).
    pub const RX_CPL_CONSUMER: u32 = 0x60;

    /// `CONTROL` bit: enabled.
    pub const CONTROL_ENABLE: u32 = 1;
    /// `STATUS` bit: a descriptor was refused.
    pub const STATUS_DESCRIPTOR_REFUSED: u32 = 1;

    /// Offset in the block of register `reg` (one of the per-queue offsets) of queue `q`.
    pub const fn queue_reg(q: u32, reg: u32) -> u32 {
        QUEUE_BASE + q * QUEUE_STRIDE_BYTES + reg
    }

    /// The block's own registers.
    pub const REGISTERS: &[Register] = &[
        reg("QUEUE_COUNT", QUEUE_COUNT, Access::ReadOnly, "queue pairs"),
        reg(
            "QUEUE_STRIDE",
            QUEUE_STRIDE,
            Access::ReadOnly,
            "bytes per queue pair",
        ),
    ];

    /// Each queue pair's registers, offsets from the queue's start.
    pub const QUEUE_REGISTERS: &[Register] = &[
        reg("CONTROL", CONTROL, Access::ReadWrite, "bit 0: enable"),
        reg("VM_ID", VM_ID, Access::ReadWrite, "owning VM"),
        reg("PORT", PORT, Access::ReadWrite, "switch port of the VM"),
        reg(
            "STATUS",
            STATUS,
            Access::ReadWriteOneToClear,
            "bit 0: descriptor refused",
        ),
        reg(
            "TX_RING_BASE_LO",
            TX_RING_BASE_LO,
            Access::ReadWrite,
            "TX ring IOVA bits 31-0",
        ),
        reg(
            "TX_RING_BASE_HI",
            TX_RING_BASE_HI,
            Access::ReadWrite,
            "TX ring IOVA bits 63-32",
        ),
        reg(
            "TX_RING_SIZE",
            TX_RING_SIZE,
            Access::ReadWrite,
            "TX ring entries",
        ),
        reg(
            "TX_PRODUCER",
            TX_PRODUCER,
            Access::WriteTrigger,
            "TX producer index (doorbell)",
        ),
        reg(
            "TX_CONSUMER",
            TX_CONSUMER,
            Access::ReadOnly,
            "TX consumer index (card)",
        ),
        reg(
            "TX_CPL_BASE_LO",
            TX_CPL_BASE_LO,
            Access::ReadWrite,
            "TX completion ring IOVA bits 31-0",
        ),
        reg(
            "TX_CPL_BASE_HI",
            TX_CPL_BASE_HI,
            Access::ReadWrite,
            "TX completion ring IOVA bits 63-32",
        ),
        reg(
            "TX_CPL_PRODUCER",
            TX_CPL_PRODUCER,
            Access::ReadOnly,
            "TX completion producer (card)",
        ),
        reg(
            "TX_CPL_CONSUMER",
            TX_CPL_CONSUMER,
            Access::ReadWrite,
            "TX completion consumer (guest)",
        ),
        reg(
            "RX_RING_BASE_LO",
            RX_RING_BASE_LO,
            Access::ReadWrite,
            "RX ring IOVA bits 31-0",
        ),
        reg(
            "RX_RING_BASE_HI",
            RX_RING_BASE_HI,
            Access::ReadWrite,
            "RX ring IOVA bits 63-32",
        ),
        reg(
            "RX_RING_SIZE",
            RX_RING_SIZE,
            Access::ReadWrite,
            "RX ring entries",
        ),
        reg(
            "RX_PRODUCER",
            RX_PRODUCER,
            Access::WriteTrigger,
            "RX producer index (doorbell)",
        ),
        reg(
            "RX_CONSUMER",
            RX_CONSUMER,
            Access::ReadOnly,
            "RX consumer index (card)",
        ),
        reg(
            "RX_CPL_BASE_LO",
            RX_CPL_BASE_LO,
            Access::ReadWrite,
            "RX completion ring IOVA bits 31-0",
        ),
        reg(
            "RX_CPL_BASE_HI",
            RX_CPL_BASE_HI,
            Access::ReadWrite,
            "RX completion ring IOVA bits 63-32",
        ),
        reg(
            "RX_CPL_PRODUCER",
            RX_CPL_PRODUCER,
            Access::ReadOnly,
            "RX completion producer (card)",
        ),
        reg(
            "RX_CPL_CONSUMER",
            RX_CPL_CONSUMER,
            Access::ReadWrite,
            "RX completion consumer (guest)",
        ),
    ];
}

/// Every register of the flow-table block, with the key and action words spelled out
/// (`KEY_0`..`KEY_14`, `ACTION_0`, `ACTION_1`), in offset order.
pub fn flow_table_registers() -> Vec<Register> {
    const KEY_NAMES: [&str; KEY_WORDS] = [
        "KEY_0", "KEY_1", "KEY_2", "KEY_3", "KEY_4", "KEY_5", "KEY_6", "KEY_7", "KEY_8", "KEY_9",
        "KEY_10", "KEY_11", "KEY_12", "KEY_13", "KEY_14",
    ];
    const ACTION_NAMES: [&str; ACTION_WORDS] = ["ACTION_0", "ACTION_1"];
    let mut regs: Vec<Register> = flow_table::REGISTERS.to_vec();
    for (n, name) in (0u32..).zip(KEY_NAMES) {
        regs.push(reg(name, flow_table::key(n), Access::ReadWrite, "key word"));
    }
    for (n, name) in (0u32..).zip(ACTION_NAMES) {
        regs.push(reg(
            name,
            flow_table::action(n),
            Access::ReadWrite,
            "action word",
        ));
    }
    regs.sort_by_key(|r| r.offset);
    regs
}

/// Block type ids (`TYPE` of a block header): "SN" in the upper half, a number below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum BlockType {
    /// [`device_info`].
    DeviceInfo = 0x534e_0001,
    /// [`flow_table`].
    FlowTable = 0x534e_0002,
    /// [`miss_queue`].
    MissQueue = 0x534e_0003,
    /// [`interrupts`].
    Interrupts = 0x534e_0004,
    /// [`vm_queues`].
    VmQueues = 0x534e_0005,
}

impl BlockType {
    /// Every block type, in map order.
    pub const ALL: [BlockType; 5] = [
        BlockType::DeviceInfo,
        BlockType::FlowTable,
        BlockType::MissQueue,
        BlockType::Interrupts,
        BlockType::VmQueues,
    ];

    /// The type id.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// A short name (as in generated Verilog).
    pub fn name(self) -> &'static str {
        match self {
            BlockType::DeviceInfo => "DEVICE_INFO",
            BlockType::FlowTable => "FLOW_TABLE",
            BlockType::MissQueue => "MISS_QUEUE",
            BlockType::Interrupts => "INTERRUPTS",
            BlockType::VmQueues => "VM_QUEUES",
        }
    }
}

impl TryFrom<u32> for BlockType {
    type Error = RegsError;

    fn try_from(id: u32) -> Result<Self, Self::Error> {
        BlockType::ALL
            .into_iter()
            .find(|t| t.id() == id)
            .ok_or(RegsError::UnknownBlockType(id))
    }
}

/// A block of the map as this crate defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Type.
    pub block_type: BlockType,
    /// Layout version.
    pub version: u32,
    /// Where it starts.
    pub base: RegOffset,
    /// Bytes it spans.
    pub size: u32,
    /// Its own registers (after the header), offsets from `base`.
    pub registers: &'static [Register],
}

/// Every block, in chain order.
pub const BLOCKS: [BlockInfo; 5] = [
    BlockInfo {
        block_type: BlockType::DeviceInfo,
        version: device_info::VERSION,
        base: device_info::BASE,
        size: device_info::SIZE,
        registers: device_info::REGISTERS,
    },
    BlockInfo {
        block_type: BlockType::FlowTable,
        version: flow_table::VERSION,
        base: flow_table::BASE,
        size: flow_table::SIZE,
        registers: flow_table::REGISTERS,
    },
    BlockInfo {
        block_type: BlockType::MissQueue,
        version: miss_queue::VERSION,
        base: miss_queue::BASE,
        size: miss_queue::SIZE,
        registers: miss_queue::REGISTERS,
    },
    BlockInfo {
        block_type: BlockType::Interrupts,
        version: interrupts::VERSION,
        base: interrupts::BASE,
        size: interrupts::SIZE,
        registers: interrupts::REGISTERS,
    },
    BlockInfo {
        block_type: BlockType::VmQueues,
        version: vm_queues::VERSION,
        base: vm_queues::BASE,
        size: vm_queues::SIZE,
        registers: vm_queues::REGISTERS,
    },
];

/// The `NEXT` value of block `i` in [`BLOCKS`]: the following block's base, 0 for the last.
fn next_of(i: usize) -> u32 {
    BLOCKS.get(i + 1).map_or(0, |b| b.base.0)
}

/// The value the card returns for a read of a block-header register at `offset`, or `None`
/// when `offset` is not a header register. Devices (model, RTL) answer header reads with
/// this, so the chain they present is the one defined here.
pub fn header_register(offset: RegOffset) -> Option<u32> {
    BLOCKS.iter().enumerate().find_map(|(i, b)| {
        let rel = offset.0.checked_sub(b.base.0)?;
        match rel {
            block::TYPE => Some(b.block_type.id()),
            block::VERSION => Some(b.version),
            block::NEXT => Some(next_of(i)),
            block::SIZE => Some(b.size),
            _ => None,
        }
    })
}

/// A block a driver found by walking the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundBlock {
    /// Where it starts.
    pub offset: RegOffset,
    /// Its type, or `None` for a type this crate does not know (a driver skips it).
    pub block_type: Option<BlockType>,
    /// The raw type id.
    pub type_id: u32,
    /// Its layout version.
    pub version: u32,
    /// Bytes it spans.
    pub size: u32,
}

/// Most blocks a chain may have; a longer chain is refused as corrupt.
pub const MAX_BLOCKS: usize = 64;

/// Walks the block chain from offset 0 through `read32` (a register read), returning every
/// block found, known or not. Refuses a chain that is corrupt: a block outside the register
/// space, overlapping the next, a `NEXT` that does not move forward (a loop), more than
/// [`MAX_BLOCKS`] blocks, or an all-ones type (the device does not answer).
pub fn walk_blocks(mut read32: impl FnMut(RegOffset) -> u32) -> Result<Vec<FoundBlock>, RegsError> {
    let mut found = Vec::new();
    let mut offset = 0u32;
    loop {
        if found.len() == MAX_BLOCKS {
            return Err(RegsError::ChainTooLong(MAX_BLOCKS));
        }
        let at = RegOffset(offset);
        let type_id = read32(at.at(block::TYPE));
        if type_id == u32::MAX {
            return Err(RegsError::NoDevice(at));
        }
        let version = read32(at.at(block::VERSION));
        let next = read32(at.at(block::NEXT));
        let size = read32(at.at(block::SIZE));
        let end = offset.checked_add(size).filter(|&e| e <= BAR_BYTES);
        let end = match end {
            Some(end) if size >= block::HEADER_BYTES => end,
            _ => return Err(RegsError::BadBlockSize { at, size }),
        };
        if next != 0 && (next % REG_BYTES != 0 || next < end || next >= BAR_BYTES) {
            return Err(RegsError::BadNext { at, next, end });
        }
        found.push(FoundBlock {
            offset: at,
            block_type: BlockType::try_from(type_id).ok(),
            type_id,
            version,
            size,
        });
        if next == 0 {
            return Ok(found);
        }
        offset = next;
    }
}

/// Finds the block of type `t` in a walked chain and checks its version is `version`.
pub fn find_block(
    found: &[FoundBlock],
    t: BlockType,
    version: u32,
) -> Result<FoundBlock, RegsError> {
    let b = found
        .iter()
        .find(|b| b.block_type == Some(t))
        .ok_or(RegsError::MissingBlock(t))?;
    if b.version != version {
        return Err(RegsError::UnsupportedVersion {
            block: t,
            found: b.version,
            supported: version,
        });
    }
    Ok(*b)
}

/// The device-information block's contents, validated: what a driver learns at bring-up, and
/// what a device (model, RTL) answers register reads of the block with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Uplink (Ethernet MAC) ports.
    pub uplinks: u16,
    /// VM queue pairs, at most [`MAX_VM_QUEUES`].
    pub vm_queues: u16,
    /// Flow-table size.
    pub table: TableGeometry,
    /// Lookup pipeline latency in core cycles.
    pub lookup_latency_cycles: u32,
    /// Displacement bound of an insert.
    pub max_kicks: u32,
    /// Core clock in kHz.
    pub core_clock_khz: u32,
    /// How long the management port is busy per command, in core cycles (0 from a card of
    /// ABI minor version 0, which does not report it).
    pub mgmt: crate::table::MgmtTiming,
}

impl DeviceInfo {
    /// The value a read of the block's register at `rel` (offset from the block's base)
    /// returns, header included; `None` for an offset that is no register of the block.
    pub fn register(&self, rel: u32) -> Option<u32> {
        if let Some(v) = header_register(device_info::BASE.at(rel)) {
            return Some(v);
        }
        let v = match rel {
            device_info::SIGNATURE => SIGNATURE,
            device_info::ABI_VERSION => ABI_VERSION,
            device_info::NUM_UPLINKS => self.uplinks.into(),
            device_info::NUM_VM_QUEUES => self.vm_queues.into(),
            device_info::TABLE_BUCKETS => self.table.buckets(),
            device_info::SLOTS_PER_BUCKET => LAYOUT_SLOTS_PER_BUCKET,
            device_info::KEY_WORDS => LAYOUT_KEY_WORDS,
            device_info::ACTION_WORDS => LAYOUT_ACTION_WORDS,
            device_info::LOOKUP_LATENCY => self.lookup_latency_cycles,
            device_info::MAX_KICKS => self.max_kicks,
            device_info::MISS_HEADER_BYTES => LAYOUT_MISS_HEADER_BYTES,
            device_info::CORE_CLOCK_KHZ => self.core_clock_khz,
            device_info::MGMT_COMMAND_CYCLES => self.mgmt.command_cycles,
            device_info::MGMT_KICK_CYCLES => self.mgmt.cycles_per_kick,
            _ => return None,
        };
        Some(v)
    }

    /// Reads the block at `base` through `read32` and validates it: the signature, the ABI's
    /// major version, the layout constants this crate was built with (key, action, bucket and
    /// miss-record sizes: a card built with other ones is refused), and every count's range.
    pub fn read(
        base: RegOffset,
        mut read32: impl FnMut(RegOffset) -> u32,
    ) -> Result<DeviceInfo, RegsError> {
        let mut get = |rel: u32| read32(base.at(rel));
        let bad =
            |register: &'static str, value: u32, expected: &'static str| RegsError::DeviceInfo {
                register,
                value,
                expected,
            };
        let sig = get(device_info::SIGNATURE);
        if sig != SIGNATURE {
            return Err(bad("SIGNATURE", sig, "0x534e4943 (ASCII SNIC)"));
        }
        let abi = get(device_info::ABI_VERSION);
        if abi >> 16 != ABI_VERSION >> 16 {
            return Err(bad("ABI_VERSION", abi, "major version 1"));
        }
        for (register, rel, want, expected) in [
            (
                "SLOTS_PER_BUCKET",
                device_info::SLOTS_PER_BUCKET,
                LAYOUT_SLOTS_PER_BUCKET,
                "4",
            ),
            ("KEY_WORDS", device_info::KEY_WORDS, LAYOUT_KEY_WORDS, "15"),
            (
                "ACTION_WORDS",
                device_info::ACTION_WORDS,
                LAYOUT_ACTION_WORDS,
                "2",
            ),
            (
                "MISS_HEADER_BYTES",
                device_info::MISS_HEADER_BYTES,
                LAYOUT_MISS_HEADER_BYTES,
                "nic_abi::desc::MISS_HEADER_BYTES",
            ),
        ] {
            let v = get(rel);
            if v != want {
                return Err(bad(register, v, expected));
            }
        }
        let uplinks = get(device_info::NUM_UPLINKS);
        let uplinks = u16::try_from(uplinks)
            .map_err(|_| bad("NUM_UPLINKS", uplinks, "at most 65535 uplinks"))?;
        let queues = get(device_info::NUM_VM_QUEUES);
        let vm_queues = u16::try_from(queues)
            .ok()
            .filter(|&q| q <= MAX_VM_QUEUES)
            .ok_or(bad("NUM_VM_QUEUES", queues, "at most 256 queue pairs"))?;
        let buckets = get(device_info::TABLE_BUCKETS);
        let table = TableGeometry::new(buckets)
            .map_err(|_| bad("TABLE_BUCKETS", buckets, "a power of two in 1..=2^24"))?;
        let latency = get(device_info::LOOKUP_LATENCY);
        if latency == 0 {
            return Err(bad("LOOKUP_LATENCY", latency, "at least 1 cycle"));
        }
        let clock = get(device_info::CORE_CLOCK_KHZ);
        if clock == 0 {
            return Err(bad("CORE_CLOCK_KHZ", clock, "a non-zero clock"));
        }
        Ok(DeviceInfo {
            uplinks,
            vm_queues,
            table,
            lookup_latency_cycles: latency,
            max_kicks: get(device_info::MAX_KICKS),
            core_clock_khz: clock,
            mgmt: crate::table::MgmtTiming {
                command_cycles: get(device_info::MGMT_COMMAND_CYCLES),
                cycles_per_kick: get(device_info::MGMT_KICK_CYCLES),
            },
        })
    }
}

// The layout constants as register values (all are small).
#[allow(clippy::cast_possible_truncation)]
const LAYOUT_SLOTS_PER_BUCKET: u32 = crate::table::SLOTS_PER_BUCKET as u32;
#[allow(clippy::cast_possible_truncation)]
const LAYOUT_KEY_WORDS: u32 = KEY_WORDS as u32;
#[allow(clippy::cast_possible_truncation)]
const LAYOUT_ACTION_WORDS: u32 = ACTION_WORDS as u32;
#[allow(clippy::cast_possible_truncation)]
const LAYOUT_MISS_HEADER_BYTES: u32 = crate::desc::MISS_HEADER_BYTES as u32;

/// A flow-table management command (`flow_table::CMD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum MgmtCommand {
    /// Insert or update the entry for `KEY_n` with `ACTION_n`.
    Insert = 1,
    /// Delete the entry for `KEY_n`.
    Delete = 2,
    /// Read the action of the entry for `KEY_n` into `ACTION_n`.
    Lookup = 3,
    /// Read the counters of the entry for `KEY_n` into `HITS_*`, `BYTES_*`, `LAST_HIT_*`.
    ReadCounters = 4,
    /// Debug: read slot `SLOT` into `KEY_n`, `ACTION_n` and the counters: `Ok` when the slot
    /// holds an entry, `NotFound` when it is empty, `BadCommand` when `SLOT` is beyond the
    /// table. Co-verification compares whole tables with it.
    ReadSlot = 5,
    /// Scan: the first slot at or after `SLOT` that holds an entry, within
    /// [`crate::table::MGMT_SCAN_MAX_BUCKETS`] buckets, into `KEY_n`, `ACTION_n` and the
    /// counters, its index into `SLOT`: `Ok`. `NotFound` when those buckets hold none, with
    /// `SLOT` set to the first slot not scanned (the table's slot count when the scan reached
    /// its end); `BadCommand` when `SLOT` is beyond the table. Busy one cycle per
    /// [`crate::table::MGMT_SCAN_BUCKETS_PER_CYCLE`] buckets passed, on top of a command's
    /// cycles. What a restarted agent rebuilds its state with: one command per entry, not per
    /// slot. In `nic-model` only (the RTL answers `BadCommand`).
    ReadNext = 6,
}

impl MgmtCommand {
    /// Every command, in code order.
    pub const ALL: [MgmtCommand; 6] = [
        MgmtCommand::Insert,
        MgmtCommand::Delete,
        MgmtCommand::Lookup,
        MgmtCommand::ReadCounters,
        MgmtCommand::ReadSlot,
        MgmtCommand::ReadNext,
    ];

    /// The command's code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// A short name (as in generated Verilog).
    pub fn name(self) -> &'static str {
        match self {
            MgmtCommand::Insert => "INSERT",
            MgmtCommand::Delete => "DELETE",
            MgmtCommand::Lookup => "LOOKUP",
            MgmtCommand::ReadCounters => "READ_COUNTERS",
            MgmtCommand::ReadSlot => "READ_SLOT",
            MgmtCommand::ReadNext => "READ_NEXT",
        }
    }
}

impl TryFrom<u32> for MgmtCommand {
    type Error = RegsError;

    fn try_from(code: u32) -> Result<Self, Self::Error> {
        MgmtCommand::ALL
            .into_iter()
            .find(|c| c.code() == code)
            .ok_or(RegsError::UnknownCommand(code))
    }
}

/// The management port's status (`flow_table::STATUS`). Every code but `Busy` means the last
/// command is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum MgmtStatus {
    /// No command since reset.
    Idle = 0,
    /// A command is running; writes to the port are ignored.
    Busy = 1,
    /// Done: inserted, deleted, or (lookup, counter read) found with results in the registers.
    Ok = 2,
    /// Done: the insert found the key and overwrote its action, keeping its counters.
    Updated = 3,
    /// Done: no entry for the key (delete, lookup, counter read).
    NotFound = 4,
    /// Done: the insert found no free slot within the displacement bound; nothing changed.
    TableFull = 5,
    /// Done: the command code is unknown; nothing changed.
    BadCommand = 6,
    /// Done: the key words are not a parsed key; nothing changed.
    BadKey = 7,
    /// Done: the action words do not decode; nothing changed.
    BadAction = 8,
}

impl MgmtStatus {
    /// Every status, in code order.
    pub const ALL: [MgmtStatus; 9] = [
        MgmtStatus::Idle,
        MgmtStatus::Busy,
        MgmtStatus::Ok,
        MgmtStatus::Updated,
        MgmtStatus::NotFound,
        MgmtStatus::TableFull,
        MgmtStatus::BadCommand,
        MgmtStatus::BadKey,
        MgmtStatus::BadAction,
    ];

    /// The status code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// True once the last command has finished.
    pub fn is_done(self) -> bool {
        self != MgmtStatus::Busy
    }

    /// A short name (as in generated Verilog).
    pub fn name(self) -> &'static str {
        match self {
            MgmtStatus::Idle => "IDLE",
            MgmtStatus::Busy => "BUSY",
            MgmtStatus::Ok => "OK",
            MgmtStatus::Updated => "UPDATED",
            MgmtStatus::NotFound => "NOT_FOUND",
            MgmtStatus::TableFull => "TABLE_FULL",
            MgmtStatus::BadCommand => "BAD_COMMAND",
            MgmtStatus::BadKey => "BAD_KEY",
            MgmtStatus::BadAction => "BAD_ACTION",
        }
    }
}

impl TryFrom<u32> for MgmtStatus {
    type Error = RegsError;

    fn try_from(code: u32) -> Result<Self, Self::Error> {
        MgmtStatus::ALL
            .into_iter()
            .find(|s| s.code() == code)
            .ok_or(RegsError::UnknownStatus(code))
    }
}

/// Error from reading the register map: a code or a chain no correct card presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegsError {
    /// A block type id this crate does not know.
    #[error("register block type id {0:#010x} is unknown")]
    UnknownBlockType(u32),
    /// A management command code that is not a command.
    #[error(
        "flow_table CMD: code {0} is not a command (1 insert, 2 delete, 3 lookup, 4 read counters)"
    )]
    UnknownCommand(u32),
    /// A management status code that is not a status.
    #[error("flow_table STATUS: code {0} is not a status (0..=8)")]
    UnknownStatus(u32),
    /// The block header reads all ones: nothing answers there.
    #[error("register block at {0}: TYPE reads 0xffffffff, the device does not answer")]
    NoDevice(RegOffset),
    /// A block's size is smaller than its header or runs past the register space.
    #[error("register block at {at}: SIZE {size:#x} is below the 16-byte header or runs past the 64 KiB register space")]
    BadBlockSize {
        /// The block.
        at: RegOffset,
        /// Its size.
        size: u32,
    },
    /// A block's `NEXT` is unaligned, inside the block itself or a previous one, or outside
    /// the register space.
    #[error("register block at {at}: NEXT {next:#x} must be 4-aligned, at or after the block's end {end:#x} and inside the register space")]
    BadNext {
        /// The block.
        at: RegOffset,
        /// Its `NEXT`.
        next: u32,
        /// Where the block ends.
        end: u32,
    },
    /// The chain has more blocks than any card has.
    #[error("register block chain longer than {0} blocks")]
    ChainTooLong(usize),
    /// A block the driver needs is absent.
    #[error("register map has no {0:?} block")]
    MissingBlock(BlockType),
    /// A device-information register holds a value this driver cannot work with.
    #[error("device_info {register} = {value:#x}: expected {expected}")]
    DeviceInfo {
        /// Register name.
        register: &'static str,
        /// The value read.
        value: u32,
        /// What was expected.
        expected: &'static str,
    },
    /// A block has a layout version the driver does not know.
    #[error("register block {block:?} has version {found}, this driver supports {supported}")]
    UnsupportedVersion {
        /// The block.
        block: BlockType,
        /// Its version.
        found: u32,
        /// The version this crate defines.
        supported: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn reset_image(off: RegOffset) -> u32 {
        header_register(off).unwrap_or(0)
    }

    #[test]
    fn the_chain_walks_to_every_block_in_order() {
        let found = walk_blocks(reset_image).unwrap();
        let types: Vec<_> = found.iter().map(|b| b.block_type).collect();
        assert_eq!(types, BlockType::ALL.map(Some).to_vec());
        for (f, b) in found.iter().zip(BLOCKS) {
            assert_eq!((f.offset, f.version, f.size), (b.base, b.version, b.size));
            assert_eq!(find_block(&found, b.block_type, b.version), Ok(*f));
        }
        assert_eq!(
            find_block(&found, BlockType::FlowTable, 2),
            Err(RegsError::UnsupportedVersion {
                block: BlockType::FlowTable,
                found: 1,
                supported: 2
            })
        );
    }

    #[test]
    fn blocks_fit_the_bar_without_overlap_and_registers_fit_their_blocks() {
        let mut prev_end = 0;
        for b in BLOCKS {
            assert!(b.base.0 >= prev_end, "{:?} overlaps", b.block_type);
            assert_eq!(b.base.0 % 0x100, 0);
            prev_end = b.base.0 + b.size;
            assert!(prev_end <= BAR_BYTES);
            let mut offsets: Vec<u32> = block::REGISTERS.iter().map(|r| r.offset).collect();
            let regs: Vec<Register> = if b.block_type == BlockType::FlowTable {
                flow_table_registers()
            } else {
                b.registers.to_vec()
            };
            for r in &regs {
                assert_eq!(r.offset % REG_BYTES, 0, "{}", r.name);
                assert!(
                    r.offset >= block::HEADER_BYTES && r.offset < b.size,
                    "{}",
                    r.name
                );
                offsets.push(r.offset);
            }
            let n = offsets.len();
            offsets.sort_unstable();
            offsets.dedup();
            assert_eq!(
                offsets.len(),
                n,
                "{:?} has two registers at one offset",
                b.block_type
            );
        }
        // Per-vector and per-queue registers fit their strides, and the last ones fit the block.
        for r in interrupts::VECTOR_REGISTERS {
            assert!(r.offset < interrupts::VECTOR_STRIDE);
        }
        for r in vm_queues::QUEUE_REGISTERS {
            assert!(r.offset < vm_queues::QUEUE_STRIDE_BYTES, "{}", r.name);
        }
        let last_q = u32::from(MAX_VM_QUEUES) - 1;
        assert!(vm_queues::queue_reg(last_q, vm_queues::RX_CPL_CONSUMER) < vm_queues::SIZE);
        assert!(vm_queues::queue_reg(0, 0) >= vm_queues::QUEUE_COUNT + REG_BYTES);
        let last_v = interrupts::MAX_VECTORS - 1;
        assert!(interrupts::vector_reg(last_v, interrupts::MOD_TIME_NS) < interrupts::SIZE);
        // The key and action registers hold exactly the key and action words.
        assert!(flow_table::key(u32::try_from(KEY_WORDS).unwrap()) <= flow_table::ACTION_0);
        assert!(flow_table::action(u32::try_from(ACTION_WORDS).unwrap()) <= flow_table::HITS_LO);
    }

    #[test]
    fn corrupt_chains_are_refused() {
        let with = |patch: &[(u32, u32)]| {
            let patch: HashMap<u32, u32> = patch.iter().copied().collect();
            walk_blocks(|off| {
                patch
                    .get(&off.0)
                    .copied()
                    .unwrap_or_else(|| reset_image(off))
            })
        };
        // A NEXT pointing back: a loop.
        assert_eq!(
            with(&[(0x108, 0x0000)]).map(|f| f.len()),
            Ok(2),
            "NEXT 0 ends the chain"
        );
        assert_eq!(
            with(&[(0x108, 0x0100)]),
            Err(RegsError::BadNext {
                at: RegOffset(0x100),
                next: 0x100,
                end: 0x200
            })
        );
        assert!(matches!(
            with(&[(0x008, 0x0102)]),
            Err(RegsError::BadNext { .. })
        ));
        assert!(matches!(
            with(&[(0x00c, 0x8)]),
            Err(RegsError::BadBlockSize { .. })
        ));
        assert!(matches!(
            with(&[(0x20_0c, 0xffff_0000)]),
            Err(RegsError::BadBlockSize { .. })
        ));
        assert_eq!(
            walk_blocks(|_| u32::MAX),
            Err(RegsError::NoDevice(RegOffset(0)))
        );
        // An unknown block type is listed, not refused: a driver skips it.
        let found = with(&[(0x200, 0x1234_5678)]).unwrap();
        assert_eq!(found[2].block_type, None);
        assert_eq!(found[2].type_id, 0x1234_5678);
        assert_eq!(
            find_block(&found, BlockType::MissQueue, 1),
            Err(RegsError::MissingBlock(BlockType::MissQueue))
        );
    }

    #[test]
    fn a_chain_of_tiny_blocks_is_bounded() {
        // Every 16 bytes a block pointing to the next: the walk stops at MAX_BLOCKS.
        let r = walk_blocks(|off| match off.0 % 16 {
            0 => 0x1111_0000,
            4 => 1,
            8 => off.0 + 8,
            _ => 16,
        });
        assert_eq!(r, Err(RegsError::ChainTooLong(MAX_BLOCKS)));
    }

    #[test]
    fn command_and_status_codes_round_trip() {
        for c in MgmtCommand::ALL {
            assert_eq!(MgmtCommand::try_from(c.code()), Ok(c));
        }
        for s in MgmtStatus::ALL {
            assert_eq!(MgmtStatus::try_from(s.code()), Ok(s));
        }
        assert_eq!(MgmtCommand::try_from(0), Err(RegsError::UnknownCommand(0)));
        assert_eq!(MgmtStatus::try_from(9), Err(RegsError::UnknownStatus(9)));
        assert!(!MgmtStatus::Busy.is_done());
        assert!(MgmtStatus::TableFull.is_done());
        assert_eq!(BlockType::try_from(0x534e_0003), Ok(BlockType::MissQueue));
    }

    #[test]
    fn only_status_and_the_header_are_defined_while_busy() {
        use flow_table as ft;
        for rel in [block::TYPE, block::SIZE, ft::STATUS] {
            assert!(ft::defined_while_busy(rel), "{rel:#x}");
        }
        for rel in [
            ft::SLOT,
            ft::OCCUPANCY,
            ft::LAST_KICKS,
            ft::key(0),
            ft::action(1),
        ] {
            assert!(!ft::defined_while_busy(rel), "{rel:#x}");
        }
        assert!(!ft::defined_while_busy(ft::HITS_LO));
    }

    fn sample_info() -> DeviceInfo {
        DeviceInfo {
            uplinks: 2,
            vm_queues: 8,
            table: TableGeometry::new(16_384).unwrap(),
            lookup_latency_cycles: crate::table::LOOKUP_LATENCY_CYCLES,
            max_kicks: crate::table::DEFAULT_MAX_KICKS,
            core_clock_khz: 250_000,
            mgmt: crate::table::MgmtTiming::default(),
        }
    }

    #[test]
    fn device_info_reads_back_what_the_device_answers() {
        let info = sample_info();
        let read = |off: RegOffset| info.register(off.0).unwrap_or(0);
        assert_eq!(DeviceInfo::read(device_info::BASE, read), Ok(info));
        assert_eq!(info.register(block::TYPE), Some(BlockType::DeviceInfo.id()));
        assert_eq!(info.register(0x48), None);
        let json = serde_json::to_string(&info).unwrap();
        assert_eq!(serde_json::from_str::<DeviceInfo>(&json).unwrap(), info);
    }

    #[test]
    fn device_info_refuses_a_card_built_with_other_constants() {
        let info = sample_info();
        let patched = |rel: u32, v: u32| {
            DeviceInfo::read(device_info::BASE, |off| {
                if off.0 == rel {
                    v
                } else {
                    info.register(off.0).unwrap_or(0)
                }
            })
        };
        let reg_of = |r: Result<DeviceInfo, RegsError>| match r {
            Err(RegsError::DeviceInfo { register, .. }) => register,
            other => panic!("{other:?}"),
        };
        assert_eq!(reg_of(patched(device_info::SIGNATURE, 0)), "SIGNATURE");
        assert_eq!(
            reg_of(patched(device_info::ABI_VERSION, 0x0002_0000)),
            "ABI_VERSION"
        );
        assert!(patched(device_info::ABI_VERSION, 0x0001_0007).is_ok());
        assert_eq!(reg_of(patched(device_info::KEY_WORDS, 16)), "KEY_WORDS");
        assert_eq!(
            reg_of(patched(device_info::NUM_VM_QUEUES, 257)),
            "NUM_VM_QUEUES"
        );
        assert_eq!(
            reg_of(patched(device_info::TABLE_BUCKETS, 1000)),
            "TABLE_BUCKETS"
        );
        assert_eq!(
            reg_of(patched(device_info::CORE_CLOCK_KHZ, 0)),
            "CORE_CLOCK_KHZ"
        );
        let e = patched(device_info::MISS_HEADER_BYTES, 168).unwrap_err();
        assert_eq!(
            e.to_string(),
            "device_info MISS_HEADER_BYTES = 0xa8: expected nic_abi::desc::MISS_HEADER_BYTES"
        );
    }

    proptest::proptest! {
        /// A hostile or broken device answering arbitrary values (around a valid chain, so the
        /// walk gets past the first block): the walk ends, without panicking, in a chain whose
        /// blocks move strictly forward inside the BAR, or in an error.
        #[test]
        fn walking_arbitrary_registers_terminates_and_never_panics(
            header_patches in proptest::collection::vec((0usize..5, 0u32..4, proptest::prelude::any::<u32>()), 0..6),
            small_values in proptest::collection::vec((0usize..5, 0u32..4, 0u32..0x3000), 0..6),
            seed in proptest::prelude::any::<u32>(),
        ) {
            // Patch header registers (TYPE, VERSION, NEXT, SIZE) of the real blocks, with any
            // value or with small plausible offsets and sizes.
            let patch: HashMap<u32, u32> = header_patches
                .into_iter()
                .chain(small_values)
                .map(|(b, r, v)| (BLOCKS[b].base.0 + 4 * r, v))
                .collect();
            let mut reads = 0usize;
            let result = walk_blocks(|off| {
                reads += 1;
                patch.get(&off.0).copied().unwrap_or_else(|| {
                    header_register(off).unwrap_or(seed.rotate_left(off.0 % 32))
                })
            });
            proptest::prop_assert!(reads <= 4 * MAX_BLOCKS);
            if let Ok(found) = result {
                for pair in found.windows(2) {
                    proptest::prop_assert!(pair[1].offset.0 >= pair[0].offset.0 + pair[0].size);
                }
                for b in &found {
                    proptest::prop_assert!(b.offset.0 + b.size <= BAR_BYTES);
                }
            }
        }

        #[test]
        fn codes_decode_exactly_the_defined_values(code in proptest::prelude::any::<u32>()) {
            let cmd = MgmtCommand::try_from(code);
            proptest::prop_assert_eq!(cmd.is_ok(), (1..=4).contains(&code));
            if let Ok(c) = cmd { proptest::prop_assert_eq!(c.code(), code); }
            let status = MgmtStatus::try_from(code);
            proptest::prop_assert_eq!(status.is_ok(), code <= 8);
            if let Ok(s) = status { proptest::prop_assert_eq!(s.code(), code); }
        }
    }

    #[test]
    fn header_register_answers_only_header_offsets() {
        assert_eq!(
            header_register(RegOffset(0x100)),
            Some(BlockType::FlowTable.id())
        );
        assert_eq!(header_register(RegOffset(0x108)), Some(0x200));
        assert_eq!(header_register(vm_queues::BASE.at(block::NEXT)), Some(0));
        assert_eq!(header_register(RegOffset(0x110)), None);
        assert_eq!(header_register(RegOffset(0x0f00)), None);
    }
}
