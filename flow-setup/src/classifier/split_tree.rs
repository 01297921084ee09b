//! A HyperSplit-style decision tree (Qi, Xu, Yang, Li, "Packet Classification Algorithms:
//! From Theory to Practice", INFOCOM 2009) with in-place updates.
//!
//! ```text
//!                 [nw_dst < 0x66480000 ?]
//!                 /                     \
//!     [tp_dst < 1521 ?]            [nw_src < ... ?]
//!       /        \                   /        \
//!   leaf(3)    leaf(7)           leaf(2)    leaf(8)      leaf: rule slots in rank order
//! ```
//!
//! Every rule is seen as a box: per field, the interval that holds all values it matches (a
//! range as is, a masked value as the interval of its prefix part). An inner node splits one
//! field at a threshold; a rule goes to every side its box reaches, so a leaf holds every rule
//! whose box meets the leaf's region. A lookup walks one path (one comparison per level) and
//! then tests the leaf's few rules exactly, in rank order: the first that matches wins,
//! because every rule that could match a packet in the region is in the leaf.
//!
//! **Build.** At each node, for each field, the threshold among the rules' (clipped) interval
//! ends that minimises the larger side, ties broken by total copies; split until a leaf holds
//! at most [`LEAF_SIZE`] rules or no split makes progress.
//!
//! **Update without rebuild.** Insert walks every path the new rule's box reaches and adds it
//! to those leaves in rank order; a leaf that grows past [`LEAF_SPLIT`] rules is rebuilt as a
//! subtree in place, over its own region only. Delete walks the same paths and removes it.
//! Replaced nodes stay in the node arena until the next full [`SplitTree::rebuild`]
//! ([`SplitTree::stats`] counts them).
//!
//! **Megaflow.** For each split on the path the prefix of the packet's value that keeps every
//! agreeing packet on the same side; for each leaf rule tried, its match or mismatch evidence
//! (see the parent module).

use std::collections::HashMap;

use super::{
    free_bits_above, free_bits_below, prefix_mask, Classifier, ClassifierError, Compiled, FlowMask,
    Lookup,
};
use nic_abi::key::FlowKey;

use super::{pack_key, pack_point, Packed, Word, LAYOUT, PACKED_MASK, WORDS};
use crate::rule::{Field, Match, Point, RuleId};

/// Leaves are split down to this many rules.
pub const LEAF_SIZE: usize = 8;
/// An update that grows a leaf past this many rules rebuilds it as a subtree.
pub const LEAF_SPLIT: usize = 24;
/// No path is deeper than this (a guard; real rule sets stay far below it).
const MAX_DEPTH: u32 = 96;

/// Tree dimensions are the packed words (see [`LAYOUT`]).
const DIM_COUNT: usize = WORDS;
const DIMS: [Word; WORDS] = LAYOUT;

type Region = [(u64, u64); DIM_COUNT];

#[derive(Debug, Clone)]
enum Node {
    Split {
        dim: u8,
        threshold: u64,
        left: u32,
        right: u32,
        /// Lowest rank of any rule below (lookups stop when it cannot beat the best so far).
        min_rank: u64,
    },
    Leaf {
        slots: Vec<u32>,
    },
}

/// Shape of a tree, for tests and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeStats {
    /// Nodes reachable from the root.
    pub nodes: usize,
    /// Leaves reachable from the root.
    pub leaves: usize,
    /// Total rule copies over all leaves.
    pub leaf_entries: usize,
    /// Largest leaf.
    pub max_leaf: usize,
    /// Deepest leaf.
    pub max_depth: usize,
    /// Nodes in the arena no longer reachable (left by in-place rebuilds).
    pub orphaned: usize,
}

/// One decision tree over one partition of the rules.
#[derive(Debug, Clone)]
pub struct Tree {
    nodes: Vec<Node>,
    root: u32,
    rules: Vec<Option<Compiled>>,
    boxes: Vec<Region>,
    free: Vec<u32>,
    by_id: HashMap<RuleId, u32>,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            nodes: vec![Node::Leaf { slots: Vec::new() }],
            root: 0,
            rules: Vec::new(),
            boxes: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
        }
    }
}

fn full_region() -> Region {
    let mut r = [(0u64, 0u64); DIM_COUNT];
    for (i, d) in DIMS.iter().enumerate() {
        r[i] = (0, u64::MAX >> (64 - d.width));
    }
    r
}

fn idx(n: u32) -> usize {
    // u32 always fits usize on the targets we build for (32 and 64 bit).
    n as usize
}

impl Tree {
    /// Builds the whole tree anew over its rules (drops orphaned nodes).
    fn rebuild(&mut self) {
        let mut slots: Vec<u32> = (0..self.rules.len())
            .filter(|&s| self.rules[s].is_some())
            .map(to_u32)
            .collect();
        slots.sort_by_key(|&s| self.rank_of(s));
        self.nodes.clear();
        self.root = self.build(slots, full_region(), 0);
    }

    fn rank_of(&self, slot: u32) -> u64 {
        self.rules[idx(slot)].as_ref().map_or(u64::MAX, |c| c.rank)
    }

    fn add_slot(
        &mut self,
        id: RuleId,
        priority: u16,
        pattern: &Match,
    ) -> Result<u32, ClassifierError> {
        if self.by_id.contains_key(&id) {
            return Err(ClassifierError::DuplicateId(id));
        }
        let mut region = [(0u64, 0u64); DIM_COUNT];
        for (i, d) in DIMS.iter().enumerate() {
            region[i] = d.hull(pattern.get(d.field));
        }
        let c = Compiled::new(id, priority, pattern);
        let slot = match self.free.pop() {
            Some(s) => {
                self.rules[idx(s)] = Some(c);
                self.boxes[idx(s)] = region;
                s
            }
            None => {
                self.rules.push(Some(c));
                self.boxes.push(region);
                to_u32(self.rules.len() - 1)
            }
        };
        self.by_id.insert(id, slot);
        Ok(slot)
    }

    /// Builds a subtree over `slots` (sorted by rank) within `region`; returns its root.
    fn build(&mut self, slots: Vec<u32>, region: Region, depth: u32) -> u32 {
        let n = slots.len();
        if n <= LEAF_SIZE || depth >= MAX_DEPTH {
            return self.push(Node::Leaf { slots });
        }
        let Some((dim, t)) = self.choose_split(&slots, &region) else {
            return self.push(Node::Leaf { slots });
        };
        let (left, right): (Vec<u32>, Vec<u32>) = {
            let mut l = Vec::new();
            let mut r = Vec::new();
            for &s in &slots {
                let (lo, hi) = self.boxes[idx(s)][dim];
                if lo < t {
                    l.push(s);
                }
                if hi >= t {
                    r.push(s);
                }
            }
            (l, r)
        };
        let mut lr = region;
        lr[dim].1 = t - 1;
        let mut rr = region;
        rr[dim].0 = t;
        let me = self.push(Node::Leaf { slots: Vec::new() });
        let l = self.build(left, lr, depth + 1);
        let r = self.build(right, rr, depth + 1);
        let min_rank = self.node_min(l).min(self.node_min(r));
        self.nodes[idx(me)] = Node::Split {
            dim: u8::try_from(dim).unwrap_or(0),
            threshold: t,
            left: l,
            right: r,
            min_rank,
        };
        me
    }

    /// Lowest rank of any rule in the subtree `n`.
    fn node_min(&self, n: u32) -> u64 {
        match &self.nodes[idx(n)] {
            Node::Split { min_rank, .. } => *min_rank,
            Node::Leaf { slots } => slots.first().map_or(u64::MAX, |&s| self.rank_of(s)),
        }
    }

    /// Recomputes `min_rank` on every node the box of `slot` reaches, bottom-up.
    fn refresh_min(&mut self, n: u32, slot: u32) -> u64 {
        let Node::Split {
            dim,
            threshold,
            left,
            right,
            ..
        } = self.nodes[idx(n)]
        else {
            return self.node_min(n);
        };
        let (lo, hi) = self.boxes[idx(slot)][usize::from(dim)];
        let l = if lo < threshold {
            self.refresh_min(left, slot)
        } else {
            self.node_min(left)
        };
        let r = if hi >= threshold {
            self.refresh_min(right, slot)
        } else {
            self.node_min(right)
        };
        if let Node::Split { min_rank, .. } = &mut self.nodes[idx(n)] {
            *min_rank = l.min(r);
        }
        l.min(r)
    }

    fn push(&mut self, n: Node) -> u32 {
        self.nodes.push(n);
        to_u32(self.nodes.len() - 1)
    }

    /// The field and threshold that best split `slots`, if any split makes progress.
    fn choose_split(&self, slots: &[u32], region: &Region) -> Option<(usize, u64)> {
        let n = slots.len();
        let mut best: Option<((usize, usize), usize, u64)> = None;
        let mut los = Vec::with_capacity(n);
        let mut his = Vec::with_capacity(n);
        for (dim, &(rlo, rhi)) in region.iter().enumerate() {
            if rlo == rhi {
                continue;
            }
            los.clear();
            his.clear();
            for &s in slots {
                let (lo, hi) = self.boxes[idx(s)][dim];
                los.push(lo.max(rlo));
                his.push(hi.min(rhi));
            }
            los.sort_unstable();
            his.sort_unstable();
            if los[n - 1] == rlo && his[0] == rhi {
                continue; // every rule spans the whole region on this field
            }
            let mut cands: Vec<u64> = los
                .iter()
                .copied()
                .filter(|&v| v > rlo)
                .chain(his.iter().filter(|&&v| v < rhi).map(|&v| v + 1))
                .collect();
            cands.sort_unstable();
            cands.dedup();
            for &t in &cands {
                let left = los.partition_point(|&v| v < t);
                let right = n - his.partition_point(|&v| v < t);
                let cost = (left.max(right), left + right);
                if cost.0 < n && best.is_none_or(|(b, _, _)| cost < b) {
                    best = Some((cost, dim, t));
                }
            }
        }
        best.map(|(_, d, t)| (d, t))
    }

    /// Calls `visit` on every leaf the box of `slot` reaches, with the leaf's region and depth.
    fn leaves_of(&self, slot: u32) -> Vec<(u32, Region, u32)> {
        let b = &self.boxes[idx(slot)];
        let mut out = Vec::new();
        let mut stack = vec![(self.root, full_region(), 0u32)];
        while let Some((n, region, depth)) = stack.pop() {
            match &self.nodes[idx(n)] {
                Node::Split {
                    dim,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    let d = usize::from(*dim);
                    let (lo, hi) = b[d];
                    if lo < *threshold {
                        let mut r = region;
                        r[d].1 = threshold - 1;
                        stack.push((*left, r, depth + 1));
                    }
                    if hi >= *threshold {
                        let mut r = region;
                        r[d].0 = *threshold;
                        stack.push((*right, r, depth + 1));
                    }
                }
                Node::Leaf { .. } => out.push((n, region, depth)),
            }
        }
        out
    }

    /// Heap bytes the tree's structures hold: each vector's capacity times its element's
    /// size, the rules' compiled checks, and the id map's table (capacity times entry size;
    /// the allocator's own overhead is not counted).
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let leaves: usize = self
            .nodes
            .iter()
            .map(|n| match n {
                Node::Leaf { slots } => slots.capacity() * size_of::<u32>(),
                Node::Split { .. } => 0,
            })
            .sum();
        let compiled: usize = self.rules.iter().flatten().map(Compiled::heap_bytes).sum();
        self.nodes.capacity() * size_of::<Node>()
            + leaves
            + self.rules.capacity() * size_of::<Option<Compiled>>()
            + compiled
            + self.boxes.capacity() * size_of::<Region>()
            + self.free.capacity() * size_of::<u32>()
            + self.by_id.capacity() * (size_of::<RuleId>() + size_of::<u32>() + 1)
    }

    /// The tree's shape.
    pub fn stats(&self) -> TreeStats {
        let mut s = TreeStats::default();
        let mut stack = vec![(self.root, 0usize)];
        while let Some((n, depth)) = stack.pop() {
            s.nodes += 1;
            match &self.nodes[idx(n)] {
                Node::Split { left, right, .. } => {
                    stack.push((*left, depth + 1));
                    stack.push((*right, depth + 1));
                }
                Node::Leaf { slots } => {
                    s.leaves += 1;
                    s.leaf_entries += slots.len();
                    s.max_leaf = s.max_leaf.max(slots.len());
                    s.max_depth = s.max_depth.max(depth);
                }
            }
        }
        s.orphaned = self.nodes.len() - s.nodes;
        s
    }

    /// Checks the tree's invariants: every leaf holds exactly the rules whose box meets its
    /// region, in rank order. Returns a description of the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut stack = vec![(self.root, full_region())];
        while let Some((n, region)) = stack.pop() {
            match &self.nodes[idx(n)] {
                Node::Split {
                    dim,
                    threshold,
                    left,
                    right,
                    min_rank,
                } => {
                    if *min_rank != self.node_min(*left).min(self.node_min(*right)) {
                        return Err(format!("node {n}: stale min_rank"));
                    }
                    let d = usize::from(*dim);
                    if *threshold <= region[d].0 || *threshold > region[d].1 {
                        return Err(format!("node {n}: threshold outside its region"));
                    }
                    let mut l = region;
                    l[d].1 = threshold - 1;
                    let mut r = region;
                    r[d].0 = *threshold;
                    stack.push((*left, l));
                    stack.push((*right, r));
                }
                Node::Leaf { slots } => {
                    let want: Vec<u32> = {
                        let mut v: Vec<u32> = (0..self.rules.len())
                            .filter(|&s| self.rules[s].is_some())
                            .map(to_u32)
                            .filter(|&s| {
                                let b = &self.boxes[idx(s)];
                                (0..DIM_COUNT)
                                    .all(|d| b[d].0 <= region[d].1 && region[d].0 <= b[d].1)
                            })
                            .collect();
                        v.sort_by_key(|&s| self.rank_of(s));
                        v
                    };
                    if *slots != want {
                        return Err(format!("leaf {n}: holds {slots:?}, should hold {want:?}"));
                    }
                }
            }
        }
        Ok(())
    }
}

fn to_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl Tree {
    fn insert(
        &mut self,
        id: RuleId,
        priority: u16,
        pattern: &Match,
    ) -> Result<(), ClassifierError> {
        let slot = self.add_slot(id, priority, pattern)?;
        let rank = self.rank_of(slot);
        for (leaf, region, depth) in self.leaves_of(slot) {
            let grown = match &mut self.nodes[idx(leaf)] {
                Node::Leaf { slots } => {
                    let rules = &self.rules;
                    let pos = slots.partition_point(|&s| {
                        rules[idx(s)].as_ref().map_or(u64::MAX, |c| c.rank) < rank
                    });
                    slots.insert(pos, slot);
                    slots.len() > LEAF_SPLIT
                }
                Node::Split { .. } => false,
            };
            if grown && depth < MAX_DEPTH {
                let slots = match &mut self.nodes[idx(leaf)] {
                    Node::Leaf { slots } => std::mem::take(slots),
                    Node::Split { .. } => continue,
                };
                let sub = self.build(slots, region, depth);
                let node =
                    std::mem::replace(&mut self.nodes[idx(sub)], Node::Leaf { slots: Vec::new() });
                self.nodes[idx(leaf)] = node;
            }
        }
        self.refresh_min(self.root, slot);
        Ok(())
    }

    fn remove(&mut self, id: RuleId) -> Result<(), ClassifierError> {
        let slot = *self.by_id.get(&id).ok_or(ClassifierError::UnknownId(id))?;
        for (leaf, _, _) in self.leaves_of(slot) {
            if let Node::Leaf { slots } = &mut self.nodes[idx(leaf)] {
                slots.retain(|&s| s != slot);
            }
        }
        self.refresh_min(self.root, slot);
        self.rules[idx(slot)] = None;
        self.by_id.remove(&id);
        self.free.push(slot);
        Ok(())
    }

    /// The best rule of rank below `bound` matching `p`, with its rank.
    #[inline]
    fn lookup(&self, p: &Packed, bound: u64) -> Option<(u64, RuleId)> {
        let mut n = idx(self.root);
        loop {
            match &self.nodes[n] {
                Node::Split {
                    dim,
                    threshold,
                    left,
                    right,
                    min_rank,
                } => {
                    if *min_rank >= bound {
                        return None;
                    }
                    n = idx(if p[usize::from(*dim) & PACKED_MASK] < *threshold {
                        *left
                    } else {
                        *right
                    });
                }
                Node::Leaf { slots } => {
                    for &s in slots {
                        let Some(c) = self.rules[idx(s)].as_ref() else {
                            continue;
                        };
                        if c.rank >= bound {
                            return None;
                        }
                        if c.matches_packed(p) {
                            return Some((c.rank, c.id));
                        }
                    }
                    return None;
                }
            }
        }
    }

    /// As [`Tree::lookup`], adding the decision's evidence to `megaflow`.
    fn lookup_megaflow(
        &self,
        p: &Point,
        bound: u64,
        megaflow: &mut FlowMask,
    ) -> Option<(u64, RuleId)> {
        // Only the whole tree may be skipped by rank: pruning an inner node would leave its
        // split bits out of the megaflow, and a packet agreeing on the rest could take the
        // other branch, to better rules.
        if self.node_min(self.root) >= bound {
            return None;
        }
        let mut n = idx(self.root);
        loop {
            match &self.nodes[n] {
                Node::Split {
                    dim,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    let d = DIMS[usize::from(*dim)];
                    let w = d.width;
                    let v = u128::from(d.of(p.get(d.field)));
                    let t = u128::from(*threshold);
                    let (next, free) = if v < t {
                        (*left, free_bits_below(v, t - 1, w))
                    } else {
                        (*right, free_bits_above(v, t, w))
                    };
                    megaflow.0[d.field.index()] |= prefix_mask(w, free) << d.shift;
                    n = idx(next);
                }
                Node::Leaf { slots } => {
                    for &s in slots {
                        let Some(c) = self.rules[idx(s)].as_ref() else {
                            continue;
                        };
                        if c.rank >= bound {
                            return None;
                        }
                        if c.matches(p) {
                            c.add_match_evidence(p, megaflow);
                            return Some((c.rank, c.id));
                        }
                        c.add_mismatch_evidence(p, megaflow);
                    }
                    return None;
                }
            }
        }
    }
}

/// The work one lookup did: what flow setup is priced by (see [`LookupCost::visits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LookupCost {
    /// Trees whose root was visited.
    pub trees: usize,
    /// Inner nodes compared.
    pub splits: usize,
    /// Rules tested in leaves.
    pub rules_tested: usize,
}

impl LookupCost {
    /// Node visits of the lookup: every tree entered, every split compared and every rule
    /// tested in a leaf counts one. The unit the profile's `classifier.per_visit` prices
    /// (the bench `classifier/visits_acl1_10K` measures time per visit).
    pub fn visits(&self) -> u64 {
        let sum = self
            .trees
            .saturating_add(self.splits)
            .saturating_add(self.rules_tested);
        u64::try_from(sum).unwrap_or(u64::MAX)
    }

    /// Adds `other`'s work to this one.
    pub fn add(&mut self, other: LookupCost) {
        self.trees = self.trees.saturating_add(other.trees);
        self.splits = self.splits.saturating_add(other.splits);
        self.rules_tested = self.rules_tested.saturating_add(other.rules_tested);
    }
}

impl Tree {
    fn cost(&self, p: &Packed, bound: u64, cost: &mut LookupCost) -> Option<(u64, RuleId)> {
        cost.trees += 1;
        let mut n = idx(self.root);
        loop {
            match &self.nodes[n] {
                Node::Split {
                    dim,
                    threshold,
                    left,
                    right,
                    min_rank,
                } => {
                    if *min_rank >= bound {
                        return None;
                    }
                    cost.splits += 1;
                    n = idx(if p[usize::from(*dim) & PACKED_MASK] < *threshold {
                        *left
                    } else {
                        *right
                    });
                }
                Node::Leaf { slots } => {
                    for &s in slots {
                        let Some(c) = self.rules[idx(s)].as_ref() else {
                            continue;
                        };
                        if c.rank >= bound {
                            return None;
                        }
                        cost.rules_tested += 1;
                        if c.matches_packed(p) {
                            return Some((c.rank, c.id));
                        }
                    }
                    return None;
                }
            }
        }
    }
}

/// How many partitions: rules are grouped by whether their source and destination
/// addresses are wide (EffiCuts' observation: mixing wide and narrow rules in one tree
/// replicates the wide ones into most leaves).
const PARTS: usize = 4;

/// Prefixes shorter than this are "wide".
const WIDE_PREFIX: u32 = 16;

fn partition_of(pattern: &Match) -> usize {
    let wide = |f: Field| {
        let (lo, hi) = DIMS[if f == Field::NwSrc { 9 } else { 12 }].hull(pattern.get(f));
        (hi - lo) >> (32 - WIDE_PREFIX) != 0
    };
    usize::from(wide(Field::NwSrc)) | (usize::from(wide(Field::NwDst)) << 1)
}

/// The fast classifier: one decision tree per partition of the rules (see the module doc); a
/// lookup asks each tree for a rule better than the best found so far.
#[derive(Debug, Clone)]
pub struct SplitTree {
    parts: [Tree; PARTS],
    part_of: HashMap<RuleId, u8>,
    /// Partitions by ascending lowest rank, so the likely winner's tree is asked first and
    /// prunes the others.
    order: [usize; PARTS],
}

impl Default for SplitTree {
    fn default() -> Self {
        SplitTree {
            parts: Default::default(),
            part_of: HashMap::new(),
            order: core::array::from_fn(|i| i),
        }
    }
}

impl SplitTree {
    /// An empty classifier.
    pub fn new() -> SplitTree {
        SplitTree::default()
    }

    fn reorder(&mut self) {
        let parts = &self.parts;
        self.order
            .sort_by_key(|&i| parts[i].node_min(parts[i].root));
    }

    /// Inserts many rules, then builds each tree once (faster than one insert at a time).
    pub fn bulk_insert<'a>(
        &mut self,
        rules: impl IntoIterator<Item = (RuleId, u16, &'a Match)>,
    ) -> Result<(), ClassifierError> {
        for (id, priority, pattern) in rules {
            if self.part_of.contains_key(&id) {
                return Err(ClassifierError::DuplicateId(id));
            }
            let part = partition_of(pattern);
            self.parts[part].add_slot(id, priority, pattern)?;
            self.part_of.insert(id, u8::try_from(part).unwrap_or(0));
        }
        for t in &mut self.parts {
            t.rebuild();
        }
        self.reorder();
        Ok(())
    }

    /// Rebuilds every tree from its rules.
    pub fn rebuild(&mut self) {
        for t in &mut self.parts {
            t.rebuild();
        }
        self.reorder();
    }

    /// The work a lookup of `k` does (same walk as [`Classifier::lookup_key`]).
    pub fn lookup_cost(&self, k: &FlowKey) -> LookupCost {
        self.lookup_counted(&pack_key(k)).1
    }

    /// The lookup of `k` ([`Classifier::lookup_key`]'s answer) with the work it did, in one
    /// walk.
    pub fn lookup_key_counted(&self, k: &FlowKey) -> (Option<RuleId>, LookupCost) {
        self.lookup_counted(&pack_key(k))
    }

    /// The lookup of point `p` ([`Classifier::lookup`]'s answer) with the work it did.
    pub fn lookup_point_counted(&self, p: &Point) -> (Option<RuleId>, LookupCost) {
        self.lookup_counted(&pack_point(p))
    }

    fn lookup_counted(&self, p: &Packed) -> (Option<RuleId>, LookupCost) {
        let mut cost = LookupCost::default();
        let mut best: Option<(u64, RuleId)> = None;
        for &i in &self.order {
            let bound = best.map_or(u64::MAX, |b| b.0);
            if let Some(found) = self.parts[i].cost(p, bound, &mut cost) {
                best = Some(found);
            }
        }
        (best.map(|b| b.1), cost)
    }

    /// Heap bytes the classifier holds (see [`Tree::memory_bytes`]), its partitions' trees
    /// and its id-to-partition map.
    pub fn memory_bytes(&self) -> usize {
        self.parts.iter().map(Tree::memory_bytes).sum::<usize>()
            + self.part_of.capacity() * (std::mem::size_of::<RuleId>() + 2)
    }

    /// The shape of each partition's tree.
    pub fn stats(&self) -> Vec<TreeStats> {
        self.parts.iter().map(Tree::stats).collect()
    }

    /// Checks every tree's invariants: every leaf holds exactly the rules whose box meets its
    /// region, in rank order, and every stored lowest rank is fresh. Returns the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.parts.iter().try_for_each(Tree::check_invariants)
    }
}

impl SplitTree {
    #[inline]
    fn lookup_packed(&self, p: &Packed) -> Option<RuleId> {
        let mut best: Option<(u64, RuleId)> = None;
        for &i in &self.order {
            let bound = best.map_or(u64::MAX, |b| b.0);
            if let Some(found) = self.parts[i].lookup(p, bound) {
                best = Some(found);
            }
        }
        best.map(|b| b.1)
    }
}

impl Classifier for SplitTree {
    fn insert(
        &mut self,
        id: RuleId,
        priority: u16,
        pattern: &Match,
    ) -> Result<(), ClassifierError> {
        if self.part_of.contains_key(&id) {
            return Err(ClassifierError::DuplicateId(id));
        }
        let part = partition_of(pattern);
        self.parts[part].insert(id, priority, pattern)?;
        self.part_of.insert(id, u8::try_from(part).unwrap_or(0));
        self.reorder();
        Ok(())
    }

    fn remove(&mut self, id: RuleId) -> Result<(), ClassifierError> {
        let part = self
            .part_of
            .remove(&id)
            .ok_or(ClassifierError::UnknownId(id))?;
        self.parts[usize::from(part)].remove(id)?;
        self.reorder();
        Ok(())
    }

    fn lookup(&self, p: &Point) -> Option<RuleId> {
        self.lookup_packed(&pack_point(p))
    }

    #[inline]
    fn lookup_key(&self, k: &FlowKey) -> Option<RuleId> {
        self.lookup_packed(&pack_key(k))
    }

    fn lookup_megaflow(&self, p: &Point) -> Lookup {
        let mut megaflow = FlowMask::default();
        let mut best: Option<(u64, RuleId)> = None;
        for &i in &self.order {
            let bound = best.map_or(u64::MAX, |b| b.0);
            if let Some(found) = self.parts[i].lookup_megaflow(p, bound, &mut megaflow) {
                best = Some(found);
            }
        }
        Lookup {
            rule: best.map(|b| b.1),
            megaflow,
        }
    }

    fn len(&self) -> usize {
        self.part_of.len()
    }
}
