//! The exact-match flow table: bucketed cuckoo hashing, specified exactly so the RTL
//! (`hw-rtl`'s `flow_table`) reproduces it bit for bit.
//!
//! # Geometry
//!
//! `B` buckets (`B` a power of two, `mask = B - 1`) of [`SLOTS_PER_BUCKET`] (`S`) slots each;
//! slot `s` of bucket `b` has the flat index `b * S + s`. A slot is empty or holds one entry:
//! the packed key ([`KeyWords`]), its action, its two hashes, and its statistics (hits, bytes,
//! last-hit time).
//!
//! # Candidate buckets
//!
//! `[h0, h1] = nic_abi::hash::key_hashes(&key.to_words())` (CRC-32C and CRC-32 over the packed
//! key). The key's candidate buckets are `b0 = h0 & mask` and `b1 = h1 & mask` (they may be
//! equal). An entry always sits in one of its two candidate buckets.
//!
//! # Lookup
//!
//! A key whose class is not [`KeyClass::Parsed`](nic_abi::key::KeyClass) is never looked up:
//! it is a miss (the packet goes to the agent). Otherwise: bucket `b0` slots `0..S` in order,
//! then bucket `b1` slots `0..S` in order; the result is the first valid slot whose key equals
//! the looked-up key (since a key is stored at most once, there is at most one). On a hit the
//! entry's hit counter increases by one, its byte counter by the packet's length, and its
//! last-hit time becomes the lookup's time.
//!
//! # Insert
//!
//! 1. If the key is present (found as by lookup), its action is replaced in place; its slot and
//!    statistics are kept. Result: [`InsertOutcome::Updated`].
//! 2. Else the first empty slot of bucket `b0` (slots `0..S`), else the first empty slot of
//!    bucket `b1`, takes the entry, with zeroed statistics. Result:
//!    [`InsertOutcome::Inserted`] with `kicks = 0`.
//! 3. Else a bounded cuckoo walk. The entry being carried starts as the new entry and the
//!    current bucket as `b0`. For kick `k = 0, 1, ..., max_kicks - 1`:
//!    - the victim is slot `k % S` of the current bucket; the carried entry takes that slot and
//!      the victim becomes the carried entry;
//!    - the victim's alternate bucket is the one of its two candidate buckets that is not the
//!      current bucket (`b1` if the current bucket is its `b0`, else `b0`; when its `b0 == b1`,
//!      that same bucket);
//!    - if the alternate bucket has an empty slot, the first one (slots `0..S`) takes the
//!      carried entry and the insert ends: [`InsertOutcome::Inserted`] with `kicks = k + 1`;
//!    - else the alternate bucket becomes the current bucket and the walk goes on.
//!
//!    If `max_kicks` kicks did not end the walk, every move is undone in reverse order, so the
//!    table is exactly as before the insert (same entries in the same slots with the same
//!    statistics), and the result is [`InsertError::TableFull`]. No entry is ever lost.
//!    With `max_kicks = 0` an insert fails as soon as both candidate buckets are full.
//!
//! Keys whose class is not parsed are refused ([`InsertError::UnparsedKey`]): they would
//! never be looked up.
//!
//! # Delete
//!
//! The slot holding the key (found as by lookup) becomes empty; other entries do not move.
//! Deleting an absent key changes nothing and reports it.
//!
//! # Speed
//!
//! Each bucket keeps a 16-bit tag per slot and a valid mask in one small record, so a lookup
//! touches one metadata record per bucket and compares a full key only when the tag matches.
//! The tag is the high 16 bits of `h0 ^ h1`: inside bucket `b0` all keys share the low bits of
//! `h0` (and in `b1` those of `h1`), so the tag uses the bits that still differ. Tags are a
//! software filter only: they never change which slot an operation picks.

use nic_abi::hash::key_hashes;
use nic_abi::key::{FlowKey, KeyWords};
use nic_abi::time::SimTime;

use nic_abi::table::{kick_victim_slot, TableGeometry, TableGeometryError};
pub use nic_abi::table::{DEFAULT_MAX_KICKS, SLOTS_PER_BUCKET};

/// A slot's place in the table: `bucket * SLOTS_PER_BUCKET + slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotIndex(pub u32);

/// `SLOTS_PER_BUCKET` (4) as the `u32` slot arithmetic uses.
const SLOTS_U32: u32 = 4;
const _: () = assert!(SLOTS_PER_BUCKET == SLOTS_U32 as usize);

impl SlotIndex {
    /// The bucket holding this slot.
    pub fn bucket(self) -> u32 {
        self.0 / SLOTS_U32
    }

    /// The slot's position inside its bucket.
    pub fn slot_in_bucket(self) -> u32 {
        self.0 % SLOTS_U32
    }
}

/// Statistics of one entry, updated on every hit (the contract's type: hits, bytes, last-hit
/// time).
pub use nic_abi::device::EntryStats;

/// What a successful insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The key was new; it now sits at `slot`, after `kicks` cuckoo moves.
    Inserted {
        /// Where the new entry sits.
        slot: SlotIndex,
        /// Entries moved to make room (0 when a candidate bucket had an empty slot).
        kicks: u32,
    },
    /// The key was present; its action was replaced in place.
    Updated {
        /// Where the entry sits (unchanged).
        slot: SlotIndex,
    },
}

/// Errors of the flow table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlowTableError {
    /// The requested size is not a valid table geometry.
    #[error("flow table: {0}")]
    Geometry(#[from] TableGeometryError),
}

/// A structural invariant [`FlowTable::check_invariants`] found broken, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    /// The slot's stored hashes are not its key's.
    #[error("slot {}: stored hashes are stale", .slot.0)]
    StaleHashes {
        /// The slot.
        slot: SlotIndex,
    },
    /// The entry is in neither of its key's candidate buckets.
    #[error("slot {}: entry in bucket {} but its buckets are {} and {}",
        .slot.0, .slot.bucket(), .candidates[0], .candidates[1])]
    WrongBucket {
        /// The slot.
        slot: SlotIndex,
        /// The key's candidate buckets.
        candidates: [u32; 2],
    },
    /// The slot's tag is not its key's.
    #[error("slot {}: tag does not match the key", .slot.0)]
    WrongTag {
        /// The slot.
        slot: SlotIndex,
    },
    /// The key is stored in another slot too.
    #[error("slot {}: key stored twice", .slot.0)]
    KeyTwice {
        /// The second slot found holding the key.
        slot: SlotIndex,
    },
    /// The entry count disagrees with the valid slots.
    #[error("len {len} but {valid} valid slots")]
    Len {
        /// The table's count.
        len: usize,
        /// Valid slots found.
        valid: usize,
    },
}

/// Why an insert failed. The table is unchanged in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// Both candidate buckets were full and the cuckoo walk found no room within its bound.
    #[error(
        "flow table full: no room for the key in buckets {bucket0} and {bucket1} after \
         {kicks} kicks (table unchanged)"
    )]
    TableFull {
        /// The key's first candidate bucket.
        bucket0: u32,
        /// The key's second candidate bucket.
        bucket1: u32,
        /// Kicks tried before giving up.
        kicks: u32,
    },
    /// The key's class is not parsed: such keys are never looked up, so are not stored.
    #[error("flow table: key of class {0:?} is not parsed and cannot be installed")]
    UnparsedKey(nic_abi::key::KeyClass),
}

/// Per-bucket metadata: one tag per slot and the valid mask (bit `s` = slot `s` holds an
/// entry). Kept together in 16 bytes so a probe touches one cache line per bucket.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(16))]
struct BucketMeta {
    tags: [u16; SLOTS_PER_BUCKET],
    valid: u8,
}

/// One slot's entry, all in one cache-aligned record so a hit touches one place: the key
/// first (compared on a tag match), then the action and statistics a hit reads and updates.
/// The cuckoo walk moves whole records and saves them in its undo log.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Entry<V> {
    key: KeyWords,
    value: V,
    stats: EntryStats,
    hashes: [u32; 2],
}

/// The exact-match flow table, generic over the action it stores. See the module doc for the
/// exact algorithm.
#[derive(Debug, Clone)]
pub struct FlowTable<V> {
    geometry: TableGeometry,
    mask: u32,
    max_kicks: u32,
    len: usize,
    meta: Vec<BucketMeta>,
    slots: Vec<Entry<V>>,
}

/// Word-wise key equality without a branch per word (the compiler's `==` on a 60-byte array
/// calls `memcmp`).
#[inline]
fn keys_equal(a: &KeyWords, b: &KeyWords) -> bool {
    a.iter().zip(b).fold(0u32, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The 16-bit tag of a key with hashes `h`.
#[inline]
fn tag_of(h: [u32; 2]) -> u16 {
    // The shift leaves 16 bits.
    #[allow(clippy::cast_possible_truncation)]
    let tag = ((h[0] ^ h[1]) >> 16) as u16;
    tag
}

impl<V: Copy + Default> FlowTable<V> {
    /// An empty table of the given geometry whose cuckoo walk gives up after `max_kicks`
    /// kicks.
    pub fn new(geometry: TableGeometry, max_kicks: u32) -> Self {
        let n = geometry.buckets() as usize;
        FlowTable {
            geometry,
            mask: geometry.buckets() - 1,
            max_kicks,
            len: 0,
            meta: vec![BucketMeta::default(); n],
            slots: vec![Entry::default(); n * SLOTS_PER_BUCKET],
        }
    }

    /// A table of `buckets` buckets (a power of two, see [`TableGeometry`]) with the default
    /// kick bound.
    pub fn with_buckets(buckets: u32) -> Result<Self, FlowTableError> {
        Self::with_buckets_and_kicks(buckets, DEFAULT_MAX_KICKS)
    }

    /// A table of `buckets` buckets whose cuckoo walk gives up after `max_kicks` kicks.
    pub fn with_buckets_and_kicks(buckets: u32, max_kicks: u32) -> Result<Self, FlowTableError> {
        Ok(Self::new(TableGeometry::new(buckets)?, max_kicks))
    }

    /// The smallest table (power-of-two bucket count) with room for at least `entries`.
    pub fn with_capacity(entries: u64) -> Result<Self, FlowTableError> {
        Ok(Self::new(
            TableGeometry::with_capacity_at_least(entries)?,
            DEFAULT_MAX_KICKS,
        ))
    }

    /// The table's geometry.
    pub fn geometry(&self) -> TableGeometry {
        self.geometry
    }

    /// Number of buckets.
    pub fn buckets(&self) -> u32 {
        self.mask + 1
    }

    /// Number of slots (`buckets * SLOTS_PER_BUCKET`).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The kick bound of the cuckoo walk.
    pub fn max_kicks(&self) -> u32 {
        self.max_kicks
    }

    /// The two candidate buckets of a key with hashes `h`.
    #[inline]
    pub fn candidate_buckets(&self, h: [u32; 2]) -> [u32; 2] {
        [h[0] & self.mask, h[1] & self.mask]
    }

    #[inline]
    fn find_in_bucket(&self, bucket: u32, tag: u16, key: &KeyWords) -> Option<usize> {
        let b = bucket as usize;
        let meta = &self.meta[b];
        for s in 0..SLOTS_PER_BUCKET {
            if meta.valid & (1 << s) != 0 && meta.tags[s] == tag {
                let i = b * SLOTS_PER_BUCKET + s;
                if keys_equal(&self.slots[i].key, key) {
                    return Some(i);
                }
            }
        }
        None
    }

    /// The slot holding `key` (packed, with hashes `h`), without touching statistics.
    #[inline]
    pub fn find_with_hashes(&self, key: &KeyWords, h: [u32; 2]) -> Option<SlotIndex> {
        let tag = tag_of(h);
        let [b0, b1] = self.candidate_buckets(h);
        self.find_in_bucket(b0, tag, key)
            .or_else(|| self.find_in_bucket(b1, tag, key))
            .and_then(|i| u32::try_from(i).ok().map(SlotIndex))
    }

    /// The slot holding `key`, without touching statistics; `None` for unparsed keys.
    pub fn find(&self, key: &FlowKey) -> Option<SlotIndex> {
        if !key.is_parsed() {
            return None;
        }
        let words = key.to_words();
        self.find_with_hashes(&words, key_hashes(&words))
    }

    /// Looks up a packed key whose hashes the caller computed once (`h = key_hashes(key)`),
    /// counting a hit of `bytes` at `now`. Returns the entry's action. The caller checks the
    /// key's class (unparsed keys must not be looked up; [`FlowTable::lookup`] does it).
    #[inline]
    pub fn lookup_with_hashes(
        &mut self,
        key: &KeyWords,
        h: [u32; 2],
        bytes: u64,
        now: SimTime,
    ) -> Option<V> {
        let tag = tag_of(h);
        let [b0, b1] = self.candidate_buckets(h);
        let i = self
            .find_in_bucket(b0, tag, key)
            .or_else(|| self.find_in_bucket(b1, tag, key))?;
        let e = &mut self.slots[i];
        e.stats.hits += 1;
        e.stats.bytes += bytes;
        e.stats.last_hit = now;
        Some(e.value)
    }

    /// Looks up `key`, counting a hit of `bytes` at `now`; `None` on a miss and always for
    /// unparsed keys.
    pub fn lookup(&mut self, key: &FlowKey, bytes: u64, now: SimTime) -> Option<V> {
        if !key.is_parsed() {
            return None;
        }
        let words = key.to_words();
        self.lookup_with_hashes(&words, key_hashes(&words), bytes, now)
    }

    fn first_free(&self, bucket: u32) -> Option<usize> {
        let valid = self.meta[bucket as usize].valid;
        (0..SLOTS_PER_BUCKET)
            .find(|s| valid & (1 << s) == 0)
            .map(|s| bucket as usize * SLOTS_PER_BUCKET + s)
    }

    fn read_entry(&self, i: usize) -> Entry<V> {
        self.slots[i]
    }

    /// Writes `e` into slot `i`, marking it valid.
    fn write_entry(&mut self, i: usize, e: &Entry<V>) {
        let (b, s) = (i / SLOTS_PER_BUCKET, i % SLOTS_PER_BUCKET);
        self.slots[i] = *e;
        let meta = &mut self.meta[b];
        meta.tags[s] = tag_of(e.hashes);
        meta.valid |= 1 << s;
    }

    fn slot_index(i: usize) -> SlotIndex {
        // Slot counts are bounded by 2^24 buckets * 4 slots < 2^32.
        #[allow(clippy::cast_possible_truncation)]
        let idx = SlotIndex(i as u32);
        idx
    }

    /// Inserts or updates the entry for `key` (see the module doc for the exact algorithm).
    /// A new entry's last-hit time is zero; [`FlowTable::insert_at`] sets it.
    pub fn insert(&mut self, key: &FlowKey, value: V) -> Result<InsertOutcome, InsertError> {
        self.insert_at(key, value, SimTime::ZERO)
    }

    /// [`FlowTable::insert`] at time `now`: a new entry's last-hit time is `now`, so idle
    /// eviction measures idleness from installation (the `FlowTableDevice` contract).
    pub fn insert_at(
        &mut self,
        key: &FlowKey,
        value: V,
        now: SimTime,
    ) -> Result<InsertOutcome, InsertError> {
        if !key.is_parsed() {
            return Err(InsertError::UnparsedKey(key.class));
        }
        let words = key.to_words();
        self.insert_with_hashes_at(&words, key_hashes(&words), value, now)
    }

    /// [`FlowTable::insert`] for a packed key whose hashes the caller computed. The caller
    /// guarantees the key is parsed.
    pub fn insert_with_hashes(
        &mut self,
        key: &KeyWords,
        h: [u32; 2],
        value: V,
    ) -> Result<InsertOutcome, InsertError> {
        self.insert_with_hashes_at(key, h, value, SimTime::ZERO)
    }

    /// [`FlowTable::insert_with_hashes`] at time `now` (see [`FlowTable::insert_at`]).
    pub fn insert_with_hashes_at(
        &mut self,
        key: &KeyWords,
        h: [u32; 2],
        value: V,
        now: SimTime,
    ) -> Result<InsertOutcome, InsertError> {
        if let Some(slot) = self.find_with_hashes(key, h) {
            self.slots[slot.0 as usize].value = value;
            return Ok(InsertOutcome::Updated { slot });
        }
        let [b0, b1] = self.candidate_buckets(h);
        let new = Entry {
            key: *key,
            hashes: h,
            value,
            stats: EntryStats {
                hits: 0,
                bytes: 0,
                last_hit: now,
            },
        };
        if let Some(i) = self.first_free(b0).or_else(|| self.first_free(b1)) {
            self.write_entry(i, &new);
            self.len += 1;
            return Ok(InsertOutcome::Inserted {
                slot: Self::slot_index(i),
                kicks: 0,
            });
        }
        // Cuckoo walk with an undo log of (slot, previous entry).
        let mut undo: Vec<(usize, Entry<V>)> = Vec::new();
        let mut carried = new;
        let mut bucket = b0;
        let mut new_slot = None;
        for k in 0..self.max_kicks {
            let i = bucket as usize * SLOTS_PER_BUCKET + kick_victim_slot(k);
            let victim = self.read_entry(i);
            undo.push((i, victim));
            self.write_entry(i, &carried);
            if new_slot.is_none() {
                new_slot = Some(i);
            }
            let [vb0, vb1] = self.candidate_buckets(victim.hashes);
            let alt = if vb0 == bucket { vb1 } else { vb0 };
            carried = victim;
            if let Some(free) = self.first_free(alt) {
                self.write_entry(free, &carried);
                self.len += 1;
                // The new entry may itself have been kicked on later in the walk.
                let slot = self
                    .find_with_hashes(key, h)
                    .unwrap_or(Self::slot_index(new_slot.unwrap_or(i)));
                return Ok(InsertOutcome::Inserted { slot, kicks: k + 1 });
            }
            bucket = alt;
        }
        for (i, e) in undo.into_iter().rev() {
            self.write_entry(i, &e);
        }
        Err(InsertError::TableFull {
            bucket0: b0,
            bucket1: b1,
            kicks: self.max_kicks,
        })
    }

    /// Deletes the entry for `key`; returns its action and statistics, or `None` when the key
    /// was absent (nothing changes).
    pub fn delete(&mut self, key: &FlowKey) -> Option<(V, EntryStats)> {
        if !key.is_parsed() {
            return None;
        }
        let words = key.to_words();
        self.delete_with_hashes(&words, key_hashes(&words))
    }

    /// [`FlowTable::delete`] for a packed key whose hashes the caller computed.
    pub fn delete_with_hashes(&mut self, key: &KeyWords, h: [u32; 2]) -> Option<(V, EntryStats)> {
        let slot = self.find_with_hashes(key, h)?;
        let i = slot.0 as usize;
        self.meta[i / SLOTS_PER_BUCKET].valid &= !(1 << (i % SLOTS_PER_BUCKET));
        self.len -= 1;
        let e = &self.slots[i];
        Some((e.value, e.stats))
    }

    /// The action and statistics of the entry for `key`, if present.
    pub fn entry(&self, key: &FlowKey) -> Option<(V, EntryStats)> {
        let e = &self.slots[self.find(key)?.0 as usize];
        Some((e.value, e.stats))
    }

    /// The entry in slot `slot`, if the slot is valid: packed key, action, statistics.
    pub fn slot(&self, slot: SlotIndex) -> Option<(&KeyWords, V, EntryStats)> {
        let i = slot.0 as usize;
        let meta = self.meta.get(i / SLOTS_PER_BUCKET)?;
        if meta.valid & (1 << (i % SLOTS_PER_BUCKET)) == 0 {
            return None;
        }
        let e = &self.slots[i];
        Some((&e.key, e.value, e.stats))
    }

    /// Every stored entry in slot order: slot, packed key, action, statistics. Two tables with
    /// equal `entries()` are bit-identical in content and placement.
    pub fn entries(&self) -> impl Iterator<Item = (SlotIndex, &KeyWords, V, EntryStats)> + '_ {
        (0..self.capacity()).filter_map(move |i| {
            let idx = Self::slot_index(i);
            self.slot(idx).map(|(k, v, st)| (idx, k, v, st))
        })
    }

    /// Checks the structural invariants (each entry in one of its candidate buckets, tags
    /// match, no key stored twice, `len` equals the valid slots); returns a description of the
    /// first violation. For tests and debugging.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let mut seen = std::collections::HashSet::new();
        let mut count = 0usize;
        for (slot, key, _, _) in self.entries() {
            count += 1;
            let i = slot.0 as usize;
            let h = key_hashes(key);
            if h != self.slots[i].hashes {
                return Err(InvariantViolation::StaleHashes { slot });
            }
            let [b0, b1] = self.candidate_buckets(h);
            if slot.bucket() != b0 && slot.bucket() != b1 {
                return Err(InvariantViolation::WrongBucket {
                    slot,
                    candidates: [b0, b1],
                });
            }
            if self.meta[i / SLOTS_PER_BUCKET].tags[i % SLOTS_PER_BUCKET] != tag_of(h) {
                return Err(InvariantViolation::WrongTag { slot });
            }
            if !seen.insert(*key) {
                return Err(InvariantViolation::KeyTwice { slot });
            }
        }
        if count != self.len {
            return Err(InvariantViolation::Len {
                len: self.len,
                valid: count,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_abi::key::{KeyClass, PortNo, UnparsedReason};

    fn key(n: u32) -> FlowKey {
        FlowKey {
            in_port: PortNo(1),
            nw_src: u128::from(n),
            nw_dst: 0x0a00_0001,
            nw_proto: 17,
            tp_src: 1000,
            tp_dst: 53,
            ..FlowKey::default()
        }
    }

    #[test]
    fn bucket_count_must_be_a_power_of_two() {
        assert_eq!(
            FlowTable::<u32>::with_buckets(3).err(),
            Some(FlowTableError::Geometry(TableGeometryError::NotPowerOfTwo(
                3
            )))
        );
        assert!(FlowTable::<u32>::with_buckets(0).is_err());
        let t = FlowTable::<u32>::with_capacity(100).expect("valid");
        assert_eq!(t.buckets(), 32);
        assert_eq!(t.capacity(), 128);
    }

    #[test]
    fn insert_lookup_update_delete() {
        let mut t = FlowTable::<u32>::with_buckets(16).expect("valid");
        assert!(matches!(
            t.insert(&key(1), 7),
            Ok(InsertOutcome::Inserted { kicks: 0, .. })
        ));
        assert_eq!(t.lookup(&key(1), 64, SimTime(5)), Some(7));
        assert_eq!(t.lookup(&key(2), 64, SimTime(5)), None);
        let slot = t.find(&key(1)).expect("present");
        assert_eq!(t.insert(&key(1), 9), Ok(InsertOutcome::Updated { slot }));
        assert_eq!(t.lookup(&key(1), 100, SimTime(9)), Some(9));
        let (v, st) = t.entry(&key(1)).expect("present");
        assert_eq!(v, 9);
        assert_eq!(
            st,
            EntryStats {
                hits: 2,
                bytes: 164,
                last_hit: SimTime(9)
            }
        );
        assert_eq!(t.delete(&key(1)), Some((9, st)));
        assert_eq!(t.delete(&key(1)), None);
        assert!(t.is_empty());
    }

    #[test]
    fn unparsed_keys_never_hit_and_are_refused() {
        let mut t = FlowTable::<u32>::with_buckets(4).expect("valid");
        let k = FlowKey {
            class: KeyClass::Unparsed(UnparsedReason::Truncated),
            ..key(1)
        };
        assert_eq!(t.insert(&k, 1), Err(InsertError::UnparsedKey(k.class)));
        assert_eq!(t.lookup(&k, 1, SimTime::ZERO), None);
    }

    #[test]
    fn first_free_slot_of_b0_then_b1() {
        let mut t = FlowTable::<u32>::with_buckets(64).expect("valid");
        // Fill until some key finds its b0 full; every key must sit in b0 while b0 has room.
        for n in 0..200 {
            let k = key(n);
            let w = k.to_words();
            let [b0, b1] = t.candidate_buckets(key_hashes(&w));
            let b0_free = t.first_free(b0);
            let b1_free = t.first_free(b1);
            match t.insert(&k, n) {
                Ok(InsertOutcome::Inserted { slot, kicks: 0 }) => {
                    let expected = b0_free.or(b1_free).expect("had room");
                    assert_eq!(slot.0 as usize, expected);
                }
                Ok(InsertOutcome::Inserted { .. }) => {
                    assert!(b0_free.is_none() && b1_free.is_none());
                }
                other => panic!("unexpected {other:?}"),
            }
            t.check_invariants().expect("invariants");
        }
    }

    #[test]
    fn failed_insert_leaves_table_unchanged() {
        // A tiny table filled until inserts fail.
        let mut t = FlowTable::<u32>::with_buckets_and_kicks(4, 8).expect("valid");
        let mut failed = 0;
        for n in 0..64 {
            let before: Vec<_> = t.entries().map(|(s, k, v, st)| (s, *k, v, st)).collect();
            match t.insert(&key(n), n) {
                Ok(_) => {}
                Err(InsertError::TableFull { .. }) => {
                    failed += 1;
                    let after: Vec<_> = t.entries().map(|(s, k, v, st)| (s, *k, v, st)).collect();
                    assert_eq!(before, after);
                }
                Err(e) => panic!("unexpected {e}"),
            }
            t.check_invariants().expect("invariants");
        }
        assert!(failed > 0);
        assert!(t.len() <= t.capacity());
    }
}
