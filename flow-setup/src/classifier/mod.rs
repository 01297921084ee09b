//! Classifiers: given a packet, the highest-priority rule that matches it, and the megaflow
//! mask, the header bits that decision depended on.
//!
//! Two implementations of [`Classifier`] that must always agree:
//! - [`LinearClassifier`]: rules sorted by rank, the first match wins. The reference.
//! - [`SplitTree`]: a HyperSplit-style decision tree over the fields' value ranges with small
//!   priority-sorted leaves, updated in place (see its module doc). The fast one.
//!
//! **Order.** A rule's *rank* is (priority descending, [`RuleId`] ascending): the matching rule
//! of lowest rank wins. Ids break ties between equal priorities deterministically (OpenFlow
//! leaves that case undefined; the lint reports overlapping equal-priority rules).
//!
//! **Megaflow.** [`Classifier::lookup_megaflow`] also returns a [`FlowMask`]: any packet that
//! agrees with the looked-up one on every bit of the mask gets the same decision. The mask is
//! built from evidence: for the winning rule, the bits that prove each of its constraints holds
//! (a masked field's mask; for a range, the shortest prefix of the packet's value whose whole
//! block lies inside the range); for every rule of lower rank that was examined and failed,
//! the bits of one failing constraint (a single differing bit for a masked field; the prefix
//! whose block lies outside a range); and, in the tree, the prefix bits that keep a packet on
//! the same side of every split on its path, which rules out every rule not in its leaf.
//! Every 1-bit is needed by that argument; no bit the decision depends on is 0 (no "false
//! 0-bits").

mod linear;
mod split_tree;

pub use linear::LinearClassifier;
pub use split_tree::{LookupCost, SplitTree, TreeStats};

use core::fmt;

use nic_abi::key::FlowKey;

use crate::rule::{low_bits, Field, FieldMatch, Match, Point, Rule, RuleId, FIELD_COUNT};

/// A bit range of a field that fits a `u64`: the unit the fast paths compare. The 128-bit
/// addresses are cut into bits 127-64, 63-32 and 31-0, so that an IPv4 address (bits 31-0) is
/// one word of its own and an IPv4 prefix an interval of that word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Word {
    pub(crate) field: Field,
    pub(crate) shift: u32,
    pub(crate) width: u32,
}

const fn word(field: Field, shift: u32, width: u32) -> Word {
    Word {
        field,
        shift,
        width,
    }
}

/// Number of words in a [`Packed`] point.
pub(crate) const WORDS: usize = 17;

/// The word layout of [`Packed`].
pub(crate) const LAYOUT: [Word; WORDS] = [
    word(Field::InPort, 0, 16),
    word(Field::DlSrc, 0, 48),
    word(Field::DlDst, 0, 48),
    word(Field::DlType, 0, 16),
    word(Field::VlanTci, 0, 16),
    word(Field::NwProto, 0, 8),
    word(Field::NwTos, 0, 8),
    word(Field::NwSrc, 64, 64),
    word(Field::NwSrc, 32, 32),
    word(Field::NwSrc, 0, 32),
    word(Field::NwDst, 64, 64),
    word(Field::NwDst, 32, 32),
    word(Field::NwDst, 0, 32),
    word(Field::TpSrc, 0, 16),
    word(Field::TpDst, 0, 16),
    word(Field::ArpSha, 0, 48),
    word(Field::ArpTha, 0, 48),
];

/// A packet's matchable fields as [`LAYOUT`] words, padded with unused words to 32 so that an
/// index masked with [`PACKED_MASK`] is always in bounds (no bounds check in the lookup loop).
pub(crate) type Packed = [u64; 32];

/// Masks a word index into [`Packed`]'s bounds.
pub(crate) const PACKED_MASK: usize = 31;

/// The unused word of [`Packed`] (always 0), tested by rules without tests.
const UNUSED_WORD: u8 = 31;

// Each cast keeps bits already shifted and masked into the word's width (at most 64).
#[allow(clippy::cast_possible_truncation)]
impl Word {
    /// This word of a 128-bit field value.
    #[inline]
    pub(crate) fn of(&self, v: u128) -> u64 {
        ((v >> self.shift) & low_bits(self.width)) as u64
    }

    /// The interval of this word holding every value the constraint matches.
    pub(crate) fn hull(&self, m: FieldMatch) -> (u64, u64) {
        let full = low_bits(self.width);
        match m {
            FieldMatch::Any => (0, full as u64),
            FieldMatch::Masked { value, mask } => {
                let v = (value >> self.shift) & full;
                let prefix = crate::rule::prefix_part((mask >> self.shift) & full, self.width);
                (
                    (v & prefix) as u64,
                    ((v & prefix) | (full & !prefix)) as u64,
                )
            }
            // Ranges exist only on the 16-bit port fields, which are one word each.
            FieldMatch::Range { lo, hi } => ((lo & full) as u64, (hi & full) as u64),
        }
    }
}

/// Packs a key straight into words (the lookup fast path).
// The casts keep the low 64 or 32 bits of an address on purpose.
#[allow(clippy::cast_possible_truncation)]
#[inline]
pub(crate) fn pack_key(k: &FlowKey) -> Packed {
    let words: [u64; WORDS] = [
        u64::from(k.in_port.0),
        k.dl_src.to_u64(),
        k.dl_dst.to_u64(),
        u64::from(k.dl_type.0),
        u64::from(k.vlan.0),
        u64::from(k.nw_proto),
        u64::from(k.nw_tos),
        (k.nw_src >> 64) as u64,
        u64::from((k.nw_src >> 32) as u32),
        u64::from(k.nw_src as u32),
        (k.nw_dst >> 64) as u64,
        u64::from((k.nw_dst >> 32) as u32),
        u64::from(k.nw_dst as u32),
        u64::from(k.tp_src),
        u64::from(k.tp_dst),
        k.arp_sha.to_u64(),
        k.arp_tha.to_u64(),
    ];
    let mut out = [0u64; 32];
    out[..WORDS].copy_from_slice(&words);
    out
}

/// Packs a point into words.
pub(crate) fn pack_point(p: &Point) -> Packed {
    let mut out = [0u64; 32];
    for (o, w) in out.iter_mut().zip(LAYOUT.iter()) {
        *o = w.of(p.get(w.field));
    }
    out
}

/// One word test of a compiled rule: `v & b == a` (masked) or `a <= v <= b` (range).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WordCheck {
    word: u8,
    range: bool,
    a: u64,
    b: u64,
}

impl WordCheck {
    #[inline]
    fn test(&self, p: &Packed) -> bool {
        let v = p[usize::from(self.word) & PACKED_MASK];
        if self.range {
            self.a <= v && v <= self.b
        } else {
            v & self.b == self.a
        }
    }
}

/// The bits of a packet's header a decision depended on, per field (a megaflow mask).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowMask(pub [u128; FIELD_COUNT]);

impl FlowMask {
    /// The mask of `field`.
    pub fn get(&self, field: Field) -> u128 {
        self.0[field.index()]
    }

    /// True when `a` and `b` agree on every masked bit.
    pub fn agree(&self, a: &Point, b: &Point) -> bool {
        (0..FIELD_COUNT).all(|i| (a.0[i] ^ b.0[i]) & self.0[i] == 0)
    }

    /// Number of 1-bits.
    pub fn count_ones(&self) -> u32 {
        self.0.iter().map(|m| m.count_ones()).sum()
    }

    fn or(&mut self, field: usize, bits: u128) {
        self.0[field] |= bits;
    }
}

impl fmt::Display for FlowMask {
    /// `field=0xmask` for every field with bits, comma-separated (`-` when empty).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Field::ALL
            .iter()
            .filter(|fl| self.get(**fl) != 0)
            .map(|fl| format!("{}={:#x}", fl.name(), self.get(*fl)))
            .collect();
        if parts.is_empty() {
            f.write_str("-")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// Result of a lookup with its megaflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    /// The winning rule, or `None` when no rule matches.
    pub rule: Option<RuleId>,
    /// Bits the decision depended on.
    pub megaflow: FlowMask,
}

/// Error from changing a classifier's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClassifierError {
    /// The id is already in use.
    #[error("rule {0} is already in the classifier")]
    DuplicateId(RuleId),
    /// The id is not in the classifier.
    #[error("rule {0} is not in the classifier")]
    UnknownId(RuleId),
}

/// A priority classifier over wildcard rules with ranges.
pub trait Classifier {
    /// Adds a rule under `id`.
    fn insert(&mut self, id: RuleId, priority: u16, pattern: &Match)
        -> Result<(), ClassifierError>;
    /// Removes the rule `id`.
    fn remove(&mut self, id: RuleId) -> Result<(), ClassifierError>;
    /// The winning rule for the packet, if any.
    fn lookup(&self, p: &Point) -> Option<RuleId>;
    /// The winning rule for the packet with this key, if any.
    fn lookup_key(&self, k: &FlowKey) -> Option<RuleId> {
        self.lookup(&Point::from(k))
    }
    /// The winning rule and the megaflow mask.
    fn lookup_megaflow(&self, p: &Point) -> Lookup;
    /// Number of rules.
    fn len(&self) -> usize;
    /// True when empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Inserts `rules` with ids 0, 1, ... (their index) into a new classifier.
pub fn from_rules<C: Classifier + Default>(rules: &[Rule]) -> C {
    let mut c = C::default();
    for (i, r) in rules.iter().enumerate() {
        // Ids are distinct by construction, so insert cannot fail.
        let _ = c.insert(rule_id(i), r.priority, &r.pattern);
    }
    c
}

/// The id of the `i`th rule of a list (saturating beyond u32).
pub fn rule_id(i: usize) -> RuleId {
    RuleId(u32::try_from(i).unwrap_or(u32::MAX))
}

/// Orders rules: lower rank wins.
#[inline]
pub(crate) fn rank(priority: u16, id: RuleId) -> u64 {
    (u64::from(u16::MAX - priority) << 32) | u64::from(id.0)
}

/// A rule compiled for matching: only its non-wildcard constraints.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) id: RuleId,
    pub(crate) rank: u64,
    checks: Box<[(u8, FieldMatch)]>,
    /// The first (most selective) word test, inline: a rule that does not match usually
    /// fails here without touching `words`.
    first: WordCheck,
    /// The remaining word tests.
    words: Box<[WordCheck]>,
}

impl Compiled {
    /// Heap bytes of its checks (the struct itself is counted by its owner).
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.checks) + std::mem::size_of_val(&*self.words)
    }

    pub(crate) fn new(id: RuleId, priority: u16, pattern: &Match) -> Compiled {
        let checks: Vec<(u8, FieldMatch)> = Field::ALL
            .iter()
            .filter(|f| !pattern.get(**f).is_any())
            // FIELD_COUNT < 256.
            .map(|f| (u8::try_from(f.index()).unwrap_or(0), pattern.get(*f)))
            .collect();
        let mut words = Vec::new();
        // Most selective words first, so that a rule that does not match usually fails on
        // its first test: addresses and ports, then the rest.
        const ORDER: [usize; WORDS] = [12, 9, 14, 13, 5, 11, 8, 10, 7, 0, 15, 16, 2, 1, 4, 6, 3];
        for i in ORDER {
            let w = &LAYOUT[i];
            let word = u8::try_from(i).unwrap_or(0);
            match pattern.get(w.field) {
                FieldMatch::Any => {}
                FieldMatch::Masked { value, mask } => {
                    let (a, b) = (w.of(value), w.of(mask));
                    if b != 0 {
                        words.push(WordCheck {
                            word,
                            range: false,
                            a,
                            b,
                        });
                    }
                }
                FieldMatch::Range { lo, hi } => words.push(WordCheck {
                    word,
                    range: true,
                    a: w.of(lo),
                    b: w.of(hi),
                }),
            }
        }
        // A test every word passes stands in for a rule without tests.
        let first = if words.is_empty() {
            WordCheck {
                word: UNUSED_WORD,
                range: false,
                a: 0,
                b: 0,
            }
        } else {
            words.remove(0)
        };
        Compiled {
            id,
            rank: rank(priority, id),
            checks: checks.into_boxed_slice(),
            first,
            words: words.into_boxed_slice(),
        }
    }

    /// The fast test over packed words; same result as [`Compiled::matches`].
    #[inline]
    pub(crate) fn matches_packed(&self, p: &Packed) -> bool {
        self.first.test(p) && self.words.iter().all(|c| c.test(p))
    }

    #[inline]
    pub(crate) fn matches(&self, p: &Point) -> bool {
        self.checks
            .iter()
            .all(|&(d, m)| m.matches(p.0[usize::from(d)]))
    }

    /// Adds the evidence that this rule matches `p` (it must).
    pub(crate) fn add_match_evidence(&self, p: &Point, mask: &mut FlowMask) {
        for &(d, m) in self.checks.iter() {
            let d = usize::from(d);
            mask.or(d, match_bits(Field::ALL[d], m, p.0[d]));
        }
    }

    /// Adds the evidence that this rule does not match `p` (it must not): one failing
    /// constraint, preferring one whose bits the mask already has.
    pub(crate) fn add_mismatch_evidence(&self, p: &Point, mask: &mut FlowMask) {
        let mut best: Option<(usize, u128)> = None;
        for &(d, m) in self.checks.iter() {
            let d = usize::from(d);
            if m.matches(p.0[d]) {
                continue;
            }
            let bits = mismatch_bits(Field::ALL[d], m, p.0[d]);
            let new_bits = (bits & !mask.0[d]).count_ones();
            if new_bits == 0 {
                return;
            }
            if best.is_none_or(|(bd, bb)| new_bits < (bb & !mask.0[bd]).count_ones()) {
                best = Some((d, bits));
            }
        }
        if let Some((d, bits)) = best {
            mask.or(d, bits);
        }
    }
}

/// How many low bits of `v` can vary while staying `<= u` (requires `v <= u`).
pub(crate) fn free_bits_below(v: u128, u: u128, width: u32) -> u32 {
    let t1 = u.trailing_ones().min(width);
    if v == u {
        return t1;
    }
    let h = 127 - (v ^ u).leading_zeros();
    h.max(t1).min(width)
}

/// How many low bits of `v` can vary while staying `>= t` (requires `v >= t`).
pub(crate) fn free_bits_above(v: u128, t: u128, width: u32) -> u32 {
    let t0 = t.trailing_zeros().min(width);
    if v == t {
        return t0;
    }
    let h = 127 - (v ^ t).leading_zeros();
    h.max(t0).min(width)
}

/// The prefix mask of `width` bits with the low `free` bits clear.
pub(crate) fn prefix_mask(width: u32, free: u32) -> u128 {
    low_bits(width) & !low_bits(free)
}

/// Bits that prove `m` holds for every packet agreeing with `v` on them (requires a match).
pub(crate) fn match_bits(f: Field, m: FieldMatch, v: u128) -> u128 {
    match m {
        FieldMatch::Any => 0,
        FieldMatch::Masked { mask, .. } => mask,
        FieldMatch::Range { lo, hi } => {
            let w = f.width();
            let k = free_bits_above(v, lo, w).min(free_bits_below(v, hi, w));
            prefix_mask(w, k)
        }
    }
}

/// Bits that prove `m` fails for every packet agreeing with `v` on them (requires a mismatch).
pub(crate) fn mismatch_bits(f: Field, m: FieldMatch, v: u128) -> u128 {
    let w = f.width();
    match m {
        FieldMatch::Any => 0,
        FieldMatch::Masked { value, mask } => {
            let diff = (v ^ value) & mask;
            if diff == 0 {
                0
            } else {
                1u128 << (127 - diff.leading_zeros())
            }
        }
        FieldMatch::Range { lo, hi } => {
            if v < lo {
                prefix_mask(w, free_bits_below(v, lo - 1, w))
            } else if v > hi {
                prefix_mask(w, free_bits_above(v, hi + 1, w))
            } else {
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_bits_are_maximal_and_safe() {
        for u in 0u128..64 {
            for v in 0..=u {
                let k = free_bits_below(v, u, 6);
                let block_hi = v | low_bits(k);
                assert!(block_hi <= u, "v={v} u={u} k={k}");
                if k < 6 {
                    assert!(v | low_bits(k + 1) > u, "v={v} u={u} k={k} not maximal");
                }
            }
            for v in u..64 {
                let k = free_bits_above(v, u, 6);
                assert!(v & !low_bits(k) >= u, "v={v} t={u} k={k}");
                if k < 6 {
                    assert!(v & !low_bits(k + 1) < u, "v={v} t={u} k={k} not maximal");
                }
            }
        }
    }
}
