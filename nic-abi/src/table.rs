//! The exact-match flow table's geometry, shared by `nic-model`, the RTL and the driver.
//!
//! The table is a two-choice cuckoo hash table with multi-slot buckets, the usual hardware
//! organisation (one memory read returns a whole bucket; two buckets are read in parallel):
//!
//! ```text
//!   key words --CRC-32C--> h0 --& (buckets-1)--> bucket b0: | slot 0 | slot 1 | slot 2 | slot 3 |
//!             --CRC-32---> h1 --& (buckets-1)--> bucket b1: | slot 0 | slot 1 | slot 2 | slot 3 |
//!   slot: | valid | key (KEY_WORDS words) | action (ACTION_WORDS words) |   counters kept apart
//! ```
//!
//! - The number of buckets is a power of two, so a bucket index is the hash's low bits:
//!   `bucket_i = key_hashes(key)[i] & (buckets - 1)` ([`TableGeometry::candidate_buckets`]).
//! - A key lives in at most one slot of its two candidate buckets; a lookup reads both buckets
//!   and compares all [`CANDIDATE_SLOTS`] slots at once.
//!
//! # Insertion order (both implementations follow it, so their contents stay equal)
//!
//! 1. If the key is in a candidate slot, overwrite its action (outcome: updated; counters kept).
//! 2. Else take the first free slot scanning `b0` slots 0..4, then `b1` slots 0..4.
//! 3. Else displace ("kick"): the new entry goes to `b0` slot [`kick_victim_slot`]`(0)`; the
//!    entry it displaces moves to its other candidate bucket, into that bucket's first free
//!    slot if there is one (done), otherwise into slot `kick_victim_slot(1)` displacing the
//!    next entry, and so on, the `k`-th displacement using `kick_victim_slot(k)`.
//!    An entry's "other" bucket is whichever of its two candidates it is not in (the same
//!    bucket when both hashes select it).
//! 4. After `max_kicks` displacements without finding a free slot the insert fails
//!    (table full) and every displacement is undone, so a failed insert changes nothing.
//!
//! [`LOOKUP_LATENCY_CYCLES`] is the lookup pipeline's fixed latency; `nic-model` uses it for its
//! timing and the RTL takes it as its pipeline parameter, so both count the same cycles.
//!
//! ```
//! use nic_abi::key::FlowKey;
//! use nic_abi::table::{TableGeometry, SLOTS_PER_BUCKET};
//!
//! let geometry = TableGeometry::with_capacity_at_least(60_000)?;
//! assert_eq!(geometry.buckets(), 16_384);
//! assert_eq!(geometry.capacity(), 16_384 * SLOTS_PER_BUCKET as u64);
//! let [b0, b1] = geometry.candidate_buckets(&FlowKey::default().to_words());
//! assert!(b0.0 < 16_384 && b1.0 < 16_384);
//! # Ok::<(), nic_abi::table::TableGeometryError>(())
//! ```

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::action::ACTION_WORDS;
use crate::hash::key_hashes;
use crate::key::{KeyWords, KEY_BITS, KEY_WORDS};

/// Slots in one bucket. With two hash functions and 4-slot buckets a cuckoo table fills to
/// about 95% before inserts start failing (Fan, Andersen, Kaminsky, "MemC3", NSDI 2013; Erlingsson,
/// Manasse, McSherry, "A cool and practical alternative to traditional hash tables", 2006).
pub const SLOTS_PER_BUCKET: usize = 4;

/// Hash functions, hence candidate buckets per key ([`crate::hash::key_hashes`]).
pub const HASH_FUNCTIONS: usize = 2;

/// Slots a lookup compares in parallel: every slot of both candidate buckets.
pub const CANDIDATE_SLOTS: usize = SLOTS_PER_BUCKET * HASH_FUNCTIONS;

/// Smallest bucket count a table may have.
pub const MIN_BUCKETS: u32 = 1;

/// Largest bucket count a table may have: 2^24 buckets, 64 Mi entries. Bucket indices are taken
/// from the low bits of 32-bit hashes, and the register map reports the count in 32 bits.
pub const MAX_BUCKETS: u32 = 1 << 24;

/// Default bound on displacements per insert. A displacement costs the management port a
/// bucket read and a slot write (a few cycles), so the bound caps an insert's time on the port:
/// 128 displacements at a few cycles each stay under 1,000 NIC cycles. MemC3 bounds its
/// software cuckoo inserts at 500. How often inserts reach the bound at a given occupancy is
/// for `nic-model`'s table tests to measure, not assumed here; its config may change the
/// bound, and the RTL takes it as a parameter.
pub const DEFAULT_MAX_KICKS: u32 = 128;

/// The slot, in a bucket, that the `kick`-th displacement of an insert evicts (counting from
/// 0). Rotating through the slots keeps a displacement chain from bouncing one entry between
/// the same two slots, and needs no random-number generator, so `nic-model` and the RTL evict
/// the same entries.
pub fn kick_victim_slot(kick: u32) -> usize {
    // SLOTS_PER_BUCKET is 4: the remainder fits any integer type.
    (kick % 4) as usize
}

/// Fixed latency of the lookup pipeline in NIC core cycles, from the cycle a key is accepted
/// to the cycle its result (hit, slot, action) is valid; one key per cycle enters (initiation
/// interval 1). The stages, for a 250 MHz FPGA or ASIC clock:
///
/// | cycle | stage |
/// |---|---|
/// | 1 | register the 480-bit key |
/// | 2-3 | both CRCs: each output bit is an XOR of up to 480 key bits, a tree of 9 levels of 2-input XOR (4 levels of 6-input LUTs) plus routing, budgeted two stages |
/// | 4 | bucket index (hash low bits) registered as the memory address |
/// | 5-6 | read both candidate buckets from two memory banks in parallel: synchronous read plus the output register block RAMs need at this clock |
/// | 7 | compare the 8 slot keys with the lookup key (eight 480-bit equality trees) |
/// | 8 | select the hitting slot (at most one), mux its action, register the result |
pub const LOOKUP_LATENCY_CYCLES: u32 = 8;

/// Cycles the management port is busy with a command that makes no displacement and reads
/// no counters: from the cycle of the `CMD` write to the first cycle in which a `STATUS` read
/// returns a done status (reads in the cycles between return `Busy`). The RTL's port
/// (`hw-rtl/rtl/flow_table.sv`, `flow_table_regs.sv`) spends them as: the `CMD` write latches
/// the command, the table accepts it and drains the lookup pipeline (empty here), hashes the
/// key, reads both buckets from block RAM, compares, executes, registers the response, and
/// the register block clears busy. Measured on the verilated RTL by `hw-rtl`'s test
/// `regs_cosim::command_cycles_are_the_abi_constants`, which fails when they differ.
/// `nic-model`'s card takes it as its default (its config may change it).
pub const MGMT_COMMAND_CYCLES: u32 = 9;

/// Cycles the management port adds per displacement ("kick") of an insert: read the victim,
/// latch it, hash it, read its other bucket, find a free slot, place the carried entry.
/// Measured with [`MGMT_COMMAND_CYCLES`].
pub const MGMT_CYCLES_PER_KICK: u32 = 6;

/// Cycles a successful cuckoo walk adds at its end (the last victim moved into its free
/// slot). Measured with [`MGMT_COMMAND_CYCLES`].
pub const MGMT_WALK_END_CYCLES: u32 = 1;

/// Cycles per displacement undone when an insert fails (`TableFull`): read the path, read
/// the slot, swap. Measured with [`MGMT_COMMAND_CYCLES`].
pub const MGMT_CYCLES_PER_UNDONE_KICK: u32 = 3;

/// Cycles a lookup or counter read adds when it finds its key (the counter RAM's read).
/// Measured with [`MGMT_COMMAND_CYCLES`].
pub const MGMT_COUNTER_READ_CYCLES: u32 = 1;

/// Buckets a `READ_NEXT` scan passes per core cycle: one bucket's valid bits per cycle, as
/// the RTL's bucket RAM (`hw-rtl/rtl/flow_table_ram.sv`) reads one bucket per port per cycle.
/// A design figure for a command the RTL does not have yet (only `nic-model` implements
/// `READ_NEXT`); the scan's cycles are added to [`MGMT_COMMAND_CYCLES`].
pub const MGMT_SCAN_BUCKETS_PER_CYCLE: u32 = 1;

/// The most buckets one `READ_NEXT` scans before it answers (`NotFound`, with `SLOT` where it
/// stopped): it bounds the command's busy time, during which it owns the lookup pipeline, to
/// 64 cycles more than a lookup's (256 ns at 250 MHz). A design figure, as
/// [`MGMT_SCAN_BUCKETS_PER_CYCLE`].
pub const MGMT_SCAN_MAX_BUCKETS: u32 = 64;

/// How long the management port is busy with one command, in core cycles. The two numbers a
/// cost profile may change are the command's fixed cycles and the cycles per displacement;
/// the walk's end, the undo and the counter read are the RTL's structure
/// ([`MGMT_WALK_END_CYCLES`], [`MGMT_CYCLES_PER_UNDONE_KICK`], [`MGMT_COUNTER_READ_CYCLES`]).
///
/// ```
/// use nic_abi::table::MgmtTiming;
///
/// let t = MgmtTiming::default();
/// assert_eq!(t.busy_cycles(0, false, false), 9);
/// assert_eq!(t.busy_cycles(0, false, true), 10);
/// assert_eq!(t.busy_cycles(3, false, false), 9 + 3 * 6 + 1);
/// // A failed insert walks max_kicks displacements and undoes them all.
/// assert_eq!(t.busy_cycles(16, true, false), 9 + 16 * 6 + 16 * 3);
/// assert_eq!(t.worst_case_cycles(128), 9 + 128 * 9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MgmtTiming {
    /// Cycles of a command without displacements ([`MGMT_COMMAND_CYCLES`]).
    pub command_cycles: u32,
    /// Cycles per displacement made ([`MGMT_CYCLES_PER_KICK`]).
    pub cycles_per_kick: u32,
}

impl Default for MgmtTiming {
    fn default() -> Self {
        MgmtTiming {
            command_cycles: MGMT_COMMAND_CYCLES,
            cycles_per_kick: MGMT_CYCLES_PER_KICK,
        }
    }
}

impl MgmtTiming {
    /// Cycles of a command that made `kicks` displacements; `undone` when the insert failed
    /// and undid them all; `read_counters` when a lookup or counter read found its key.
    pub fn busy_cycles(self, kicks: u32, undone: bool, read_counters: bool) -> u64 {
        let kicks = u64::from(kicks);
        let walk = kicks * u64::from(self.cycles_per_kick);
        let finish = if undone {
            kicks * u64::from(MGMT_CYCLES_PER_UNDONE_KICK)
        } else if kicks > 0 {
            u64::from(MGMT_WALK_END_CYCLES)
        } else {
            0
        };
        let counters = if read_counters {
            u64::from(MGMT_COUNTER_READ_CYCLES)
        } else {
            0
        };
        u64::from(self.command_cycles) + walk + finish + counters
    }

    /// The longest any command takes with a displacement bound of `max_kicks`: a failed
    /// insert.
    pub fn worst_case_cycles(self, max_kicks: u32) -> u64 {
        self.busy_cycles(max_kicks, true, false)
            .max(self.busy_cycles(max_kicks, false, false))
    }
}

/// Keys the lookup pipeline accepts per cycle (the inverse of its initiation interval).
pub const LOOKUP_INITIATION_INTERVAL_CYCLES: u32 = 1;

/// Words of one entry's key in table memory and in the management port's `KEY_n` registers.
pub const ENTRY_KEY_WORDS: usize = KEY_WORDS;
/// Words of one entry's action.
pub const ENTRY_ACTION_WORDS: usize = ACTION_WORDS;
/// Bits of one slot in the bucket memory: valid bit, key, action.
pub const SLOT_BITS: usize = 1 + KEY_BITS + ACTION_WORDS * 32;
/// Bits of one bucket memory word (all slots of a bucket are read together).
pub const BUCKET_BITS: usize = SLOT_BITS * SLOTS_PER_BUCKET;
/// Words of one entry's counters, kept in a separate memory that the hit path updates:
/// hits (64 bits), bytes (64 bits), last-hit time in picoseconds (64 bits).
pub const ENTRY_COUNTER_WORDS: usize = 6;

/// A bucket's index, in `0..buckets`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct BucketIndex(pub u32);

impl fmt::Display for BucketIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bucket {}", self.0)
    }
}

/// A table's size: a validated power-of-two bucket count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct TableGeometry {
    buckets: u32,
}

impl TableGeometry {
    /// A table of `buckets` buckets, refused unless a power of two in
    /// [`MIN_BUCKETS`]..=[`MAX_BUCKETS`].
    pub fn new(buckets: u32) -> Result<TableGeometry, TableGeometryError> {
        if !buckets.is_power_of_two() {
            return Err(TableGeometryError::NotPowerOfTwo(buckets));
        }
        if !(MIN_BUCKETS..=MAX_BUCKETS).contains(&buckets) {
            return Err(TableGeometryError::OutOfRange(buckets));
        }
        Ok(TableGeometry { buckets })
    }

    /// The smallest table with at least `entries` slots.
    pub fn with_capacity_at_least(entries: u64) -> Result<TableGeometry, TableGeometryError> {
        let buckets = entries.div_ceil(SLOTS_PER_BUCKET as u64).max(1);
        let buckets = buckets
            .checked_next_power_of_two()
            .and_then(|b| u32::try_from(b).ok())
            .filter(|&b| b <= MAX_BUCKETS)
            .ok_or(TableGeometryError::CapacityTooLarge(entries))?;
        TableGeometry::new(buckets)
    }

    /// Number of buckets (a power of two).
    pub fn buckets(self) -> u32 {
        self.buckets
    }

    /// Number of slots, the most entries the table can hold.
    pub fn capacity(self) -> u64 {
        u64::from(self.buckets) * SLOTS_PER_BUCKET as u64
    }

    /// log2 of the bucket count: the number of hash bits a bucket index uses.
    pub fn index_bits(self) -> u32 {
        self.buckets.trailing_zeros()
    }

    /// The bucket a hash value selects: its low [`TableGeometry::index_bits`] bits.
    pub fn bucket_of_hash(self, hash: u32) -> BucketIndex {
        BucketIndex(hash & (self.buckets - 1))
    }

    /// The key's candidate bucket for hash function `i` (0: CRC-32C, 1: CRC-32), or `None`
    /// when `i` is not below [`HASH_FUNCTIONS`].
    pub fn bucket_for(self, i: usize, key: &KeyWords) -> Option<BucketIndex> {
        key_hashes(key).get(i).map(|&h| self.bucket_of_hash(h))
    }

    /// The key's two candidate buckets, `[b0, b1]` (they may be equal).
    pub fn candidate_buckets(self, key: &KeyWords) -> [BucketIndex; HASH_FUNCTIONS] {
        key_hashes(key).map(|h| self.bucket_of_hash(h))
    }
}

impl TryFrom<u32> for TableGeometry {
    type Error = TableGeometryError;

    fn try_from(buckets: u32) -> Result<Self, Self::Error> {
        TableGeometry::new(buckets)
    }
}

impl From<TableGeometry> for u32 {
    fn from(g: TableGeometry) -> u32 {
        g.buckets
    }
}

/// Error from choosing a table size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TableGeometryError {
    /// Bucket indices are a hash's low bits, so the count must be a power of two.
    #[error("table bucket count {0} is not a power of two")]
    NotPowerOfTwo(u32),
    /// The count is outside the supported range.
    #[error("table bucket count {0} is outside 1..=16777216 (2^24)")]
    OutOfRange(u32),
    /// No supported table has that many slots.
    #[error("no table holds {0} entries: at most 2^24 buckets of 4 slots")]
    CapacityTooLarge(u64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{FlowKey, PortNo};

    #[test]
    fn geometry_is_validated() {
        assert_eq!(
            TableGeometry::new(0),
            Err(TableGeometryError::NotPowerOfTwo(0))
        );
        assert_eq!(
            TableGeometry::new(96),
            Err(TableGeometryError::NotPowerOfTwo(96))
        );
        assert_eq!(
            TableGeometry::new(1 << 25),
            Err(TableGeometryError::OutOfRange(1 << 25))
        );
        let g = TableGeometry::new(1024).unwrap();
        assert_eq!(
            (g.buckets(), g.capacity(), g.index_bits()),
            (1024, 4096, 10)
        );
        assert_eq!(TableGeometry::new(1).unwrap().index_bits(), 0);
    }

    #[test]
    fn capacity_rounds_up_to_a_power_of_two_of_buckets() {
        let b = |n| TableGeometry::with_capacity_at_least(n).map(TableGeometry::buckets);
        assert_eq!(b(0), Ok(1));
        assert_eq!(b(4), Ok(1));
        assert_eq!(b(5), Ok(2));
        assert_eq!(b(65_536), Ok(16_384));
        assert_eq!(b(1_000_000), Ok(262_144));
        assert_eq!(b(1 << 26), Ok(1 << 24));
        assert_eq!(
            b((1 << 26) + 1),
            Err(TableGeometryError::CapacityTooLarge((1 << 26) + 1))
        );
        assert_eq!(
            b(u64::MAX),
            Err(TableGeometryError::CapacityTooLarge(u64::MAX))
        );
    }

    #[test]
    fn buckets_are_the_low_hash_bits_of_each_function() {
        let g = TableGeometry::new(256).unwrap();
        let key = FlowKey {
            in_port: PortNo(9),
            tp_dst: 443,
            ..FlowKey::default()
        }
        .to_words();
        let [h0, h1] = key_hashes(&key);
        let [b0, b1] = g.candidate_buckets(&key);
        assert_eq!(b0, BucketIndex(h0 & 0xff));
        assert_eq!(b1, BucketIndex(h1 & 0xff));
        assert_eq!(g.bucket_for(0, &key), Some(b0));
        assert_eq!(g.bucket_for(1, &key), Some(b1));
        assert_eq!(g.bucket_for(2, &key), None);
    }

    #[test]
    fn two_hashes_spread_keys_evenly_and_independently() {
        // 64K distinct keys into 1024 buckets: every bucket gets about 64 keys per function,
        // and the pair (b0, b1) is not a fixed function of b0 (the reason for two polynomials).
        let g = TableGeometry::new(1024).unwrap();
        let mut load = [[0u32; 1024]; 2];
        let mut partners_of_bucket_0 = std::collections::HashSet::new();
        for i in 0..65_536u32 {
            let key = FlowKey {
                in_port: PortNo(1),
                nw_src: u128::from(0x0a00_0000 | (i >> 8)),
                tp_src: u16::try_from(i & 0xff).unwrap(),
                ..FlowKey::default()
            }
            .to_words();
            let [b0, b1] = g.candidate_buckets(&key);
            load[0][b0.0 as usize] += 1;
            load[1][b1.0 as usize] += 1;
            if b0.0 == 0 {
                partners_of_bucket_0.insert(b1.0);
            }
        }
        for l in &load {
            let (min, max) = (l.iter().min().unwrap(), l.iter().max().unwrap());
            // Binomial(65536, 1/1024): mean 64, sd 8; 1024 samples stay within ~4 sd.
            assert!(*min >= 28 && *max <= 100, "bucket load {min}..{max}");
        }
        assert!(partners_of_bucket_0.len() > 40, "{partners_of_bucket_0:?}");
    }

    #[test]
    fn victim_slots_rotate_through_the_bucket() {
        let slots: Vec<usize> = (0..6).map(kick_victim_slot).collect();
        assert_eq!(slots, [0, 1, 2, 3, 0, 1]);
        assert!((0..1000).all(|k| kick_victim_slot(k) < SLOTS_PER_BUCKET));
    }

    #[test]
    fn entry_layout_sizes() {
        assert_eq!(SLOT_BITS, 545);
        assert_eq!(BUCKET_BITS, 2180);
        assert_eq!(CANDIDATE_SLOTS, 8);
        assert_eq!(ENTRY_KEY_WORDS + ENTRY_ACTION_WORDS, 17);
    }

    #[test]
    fn geometry_serde_refuses_bad_counts() {
        let g: TableGeometry = serde_json::from_str("4096").unwrap();
        assert_eq!(g.buckets(), 4096);
        assert!(serde_json::from_str::<TableGeometry>("4095").is_err());
    }
}
