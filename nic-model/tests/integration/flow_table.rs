//! The flow table against two models: a `HashMap` (what is stored, what a lookup returns) and
//! a slot-by-slot reference written straight from the module doc's algorithm (where each entry
//! sits), so the RTL, which copies that algorithm, can be checked against the same placement.

use std::collections::HashMap;

use nic_abi::hash::key_hashes;
use nic_abi::key::{FlowKey, KeyClass, KeyWords, PortNo, UnparsedReason};
use nic_abi::table::SLOTS_PER_BUCKET;
use nic_abi::time::SimTime;
use nic_model::flow_table::{FlowTable, InsertError, InsertOutcome};
use proptest::prelude::*;

/// The module doc's algorithm, written the plainest way: a vector of optional slots.
struct ReferenceTable {
    buckets: u32,
    max_kicks: u32,
    slots: Vec<Option<(KeyWords, u32)>>,
}

impl ReferenceTable {
    fn new(buckets: u32, max_kicks: u32) -> Self {
        ReferenceTable {
            buckets,
            max_kicks,
            slots: vec![None; buckets as usize * SLOTS_PER_BUCKET],
        }
    }

    fn buckets_of(&self, key: &KeyWords) -> [usize; 2] {
        key_hashes(key).map(|h| (h & (self.buckets - 1)) as usize)
    }

    fn find(&self, key: &KeyWords) -> Option<usize> {
        let [b0, b1] = self.buckets_of(key);
        [b0, b1]
            .into_iter()
            .flat_map(|b| (0..SLOTS_PER_BUCKET).map(move |s| b * SLOTS_PER_BUCKET + s))
            .find(|&i| matches!(self.slots[i], Some((k, _)) if k == *key))
    }

    fn first_free(&self, b: usize) -> Option<usize> {
        (0..SLOTS_PER_BUCKET)
            .map(|s| b * SLOTS_PER_BUCKET + s)
            .find(|&i| self.slots[i].is_none())
    }

    /// Ok(true) inserted, Ok(false) updated, Err(()) full.
    fn insert(&mut self, key: KeyWords, v: u32) -> Result<bool, ()> {
        if let Some(i) = self.find(&key) {
            self.slots[i] = Some((key, v));
            return Ok(false);
        }
        let [b0, b1] = self.buckets_of(&key);
        if let Some(i) = self.first_free(b0).or_else(|| self.first_free(b1)) {
            self.slots[i] = Some((key, v));
            return Ok(true);
        }
        let saved = self.slots.clone();
        let mut carried = (key, v);
        let mut bucket = b0;
        for k in 0..self.max_kicks {
            let i = bucket * SLOTS_PER_BUCKET + (k as usize % SLOTS_PER_BUCKET);
            let victim = self.slots[i]
                .replace(carried)
                .expect("kicked slots are full");
            let [vb0, vb1] = self.buckets_of(&victim.0);
            let alt = if vb0 == bucket { vb1 } else { vb0 };
            carried = victim;
            if let Some(f) = self.first_free(alt) {
                self.slots[f] = Some(carried);
                return Ok(true);
            }
            bucket = alt;
        }
        self.slots = saved;
        Err(())
    }

    fn delete(&mut self, key: &KeyWords) -> bool {
        match self.find(key) {
            Some(i) => {
                self.slots[i] = None;
                true
            }
            None => false,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u16, u32),
    Delete(u16),
    Lookup(u16, u16),
}

/// Key number `n` of a small universe, so operations collide on the same keys often.
fn key(n: u16) -> FlowKey {
    FlowKey {
        in_port: PortNo(1 + n % 3),
        nw_proto: 6,
        nw_src: u128::from(0x0a00_0000u32 + u32::from(n)),
        tp_dst: 80,
        ..FlowKey::default()
    }
}

fn op(universe: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..universe, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        1 => (0..universe).prop_map(Op::Delete),
        2 => (0..universe, 1..1500u16).prop_map(|(k, b)| Op::Lookup(k, b)),
    ]
}

fn contents(t: &FlowTable<u32>) -> Vec<(u32, KeyWords, u32, u64, u64, SimTime)> {
    t.entries()
        .map(|(s, k, v, st)| (s.0, *k, v, st.hits, st.bytes, st.last_hit))
        .collect()
}

fn run_ops(buckets: u32, max_kicks: u32, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut table = FlowTable::<u32>::with_buckets_and_kicks(buckets, max_kicks).expect("geometry");
    let mut reference = ReferenceTable::new(buckets, max_kicks);
    let mut model: HashMap<FlowKey, (u32, u64, u64, SimTime)> = HashMap::new();
    let mut failed_inserts = 0;
    for (step, op) in ops.iter().enumerate() {
        let now = SimTime(step as u64 * 1000);
        match *op {
            Op::Insert(n, v) => {
                let k = key(n);
                let before = contents(&table);
                let result = table.insert(&k, v);
                let expected = reference.insert(k.to_words(), v);
                match (result, expected) {
                    (Ok(InsertOutcome::Inserted { .. }), Ok(true)) => {
                        prop_assert!(model.insert(k, (v, 0, 0, SimTime::ZERO)).is_none());
                    }
                    (Ok(InsertOutcome::Updated { .. }), Ok(false)) => {
                        let e = model.get_mut(&k).expect("updated key is in the model");
                        e.0 = v;
                    }
                    (Err(InsertError::TableFull { .. }), Err(())) => {
                        failed_inserts += 1;
                        prop_assert!(!model.contains_key(&k));
                        prop_assert_eq!(
                            &before,
                            &contents(&table),
                            "failed insert changed the table"
                        );
                    }
                    (r, e) => {
                        prop_assert!(false, "step {}: table {:?}, reference {:?}", step, r, e)
                    }
                }
            }
            Op::Delete(n) => {
                let k = key(n);
                let got = table
                    .delete(&k)
                    .map(|(v, st)| (v, st.hits, st.bytes, st.last_hit));
                prop_assert_eq!(reference.delete(&k.to_words()), got.is_some());
                prop_assert_eq!(got, model.remove(&k));
            }
            Op::Lookup(n, bytes) => {
                let k = key(n);
                let got = table.lookup(&k, u64::from(bytes), now);
                let want = model.get_mut(&k).map(|e| {
                    e.1 += 1;
                    e.2 += u64::from(bytes);
                    e.3 = now;
                    e.0
                });
                prop_assert_eq!(got, want, "step {}: lookup of key {}", step, n);
            }
        }
        prop_assert_eq!(table.len(), model.len());
    }
    table
        .check_invariants()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    // Placement equals the reference slot by slot.
    let placed: Vec<(usize, KeyWords, u32)> = table
        .entries()
        .map(|(s, k, v, _)| (s.0 as usize, *k, v))
        .collect();
    let expected: Vec<(usize, KeyWords, u32)> = reference
        .slots
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.map(|(k, v)| (i, k, v)))
        .collect();
    prop_assert_eq!(placed, expected);
    // Statistics equal the model's.
    for (k, (v, hits, bytes, last)) in &model {
        let (tv, st) = table.entry(k).expect("model key in table");
        prop_assert_eq!(
            (tv, st.hits, st.bytes, st.last_hit),
            (*v, *hits, *bytes, *last)
        );
    }
    let _ = failed_inserts;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A table with room for the whole key universe: inserts never fail.
    #[test]
    fn roomy_table_matches_models(ops in prop::collection::vec(op(200), 1..600)) {
        run_ops(128, 128, &ops)?;
    }

    /// Four buckets (16 slots) for 40 keys, short walks: the table fills, inserts fail, and
    /// every failure must leave the table unchanged.
    #[test]
    fn tiny_full_table_matches_models(ops in prop::collection::vec(op(40), 1..400), kicks in 0u32..12) {
        run_ops(4, kicks, &ops)?;
    }

    /// Sixteen buckets and long walks near full occupancy.
    #[test]
    fn crowded_table_matches_models(ops in prop::collection::vec(op(80), 1..800)) {
        run_ops(16, 64, &ops)?;
    }
}

#[test]
fn tiny_table_fills_and_fails_without_losing_entries() {
    let mut table = FlowTable::<u32>::with_buckets_and_kicks(2, 16).expect("geometry");
    let mut stored = Vec::new();
    let mut failures = 0;
    for n in 0..40u16 {
        match table.insert(&key(n), u32::from(n)) {
            Ok(_) => stored.push(n),
            Err(InsertError::TableFull { .. }) => failures += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(stored.len(), 8, "two buckets of four slots fill completely");
    assert_eq!(failures, 32);
    for n in stored {
        assert_eq!(table.lookup(&key(n), 1, SimTime(1)), Some(u32::from(n)));
    }
}

#[test]
fn unparsed_key_is_a_miss_even_when_its_parsed_twin_is_installed() {
    let mut table = FlowTable::<u32>::with_buckets(8).expect("geometry");
    let parsed = key(1);
    table.insert(&parsed, 5).expect("room");
    let unparsed = FlowKey {
        class: KeyClass::Unparsed(UnparsedReason::Malformed),
        ..parsed
    };
    assert_eq!(table.lookup(&unparsed, 64, SimTime(1)), None);
    assert_eq!(table.entry(&parsed).expect("present").1.hits, 0);
}
