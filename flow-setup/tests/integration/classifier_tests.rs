//! The fast classifier against the linear reference: random rule sets from small value
//! pools, and the ClassBench traces.

use flow_setup::classbench::{parse_filters, parse_trace_gz};
use flow_setup::classifier::{from_rules, Classifier, LinearClassifier, SplitTree};
use flow_setup::rule::Point;

use crate::classbench_tests::data_bytes;
use crate::data;

fn trace_agreement(rules_file: &str, trace_file: &str) {
    let rules = parse_filters(&data(rules_file), &[]).unwrap();
    let linear: LinearClassifier = from_rules(&rules);
    let mut tree = SplitTree::new();
    tree.bulk_insert(
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| (flow_setup::classifier::rule_id(i), r.priority, &r.pattern)),
    )
    .unwrap();
    println!("{rules_file}: {:?}", tree.stats());
    tree.check_invariants().unwrap();
    let trace = parse_trace_gz(&data_bytes(trace_file)).unwrap();
    let mut matched = 0;
    for h in &trace {
        let p = Point::from(&h.key);
        let want = linear.lookup(&p);
        assert_eq!(tree.lookup(&p), want, "{:?}", h);
        assert_eq!(tree.lookup_key(&h.key), want, "{:?}", h);
        let l = tree.lookup_megaflow(&p);
        assert_eq!(l.rule, want);
        if let Some(id) = want {
            matched += 1;
            assert!(
                id.0 as usize <= h.filter_index,
                "first match after its filter"
            );
        }
    }
    let (mut splits, mut tested) = (0usize, 0usize);
    for h in &trace {
        let c = tree.lookup_cost(&h.key);
        // The counted walk answers as the fast one and counts the same work.
        let (rule, counted) = tree.lookup_key_counted(&h.key);
        assert_eq!(rule, tree.lookup_key(&h.key));
        assert_eq!(counted, c);
        assert_eq!(tree.lookup_point_counted(&Point::from(&h.key)), (rule, c));
        assert_eq!(c.visits(), (c.trees + c.splits + c.rules_tested) as u64);
        assert!(
            c.rules_tested >= 1,
            "a matched lookup tests at least the winner"
        );
        splits += c.splits;
        tested += c.rules_tested;
    }
    println!(
        "{trace_file}: {} headers, {matched} matched, 100% agreement; per lookup {:.1} splits, {:.1} rules tested",
        trace.len(),
        splits as f64 / trace.len() as f64,
        tested as f64 / trace.len() as f64
    );
}

#[test]
fn acl1_10k_trace_agrees_with_linear() {
    trace_agreement("acl1_10K", "acl1_10K_trace.gz");
}

#[test]
fn fw1_10k_trace_agrees_with_linear() {
    trace_agreement("fw1_10K", "fw1_10K_trace.gz");
}

mod differential {
    use flow_setup::classifier::{Classifier, LinearClassifier, SplitTree};
    use flow_setup::rule::{FieldMatch, MatchBuilder, Point, RuleId, FIELD_COUNT};
    use nic_abi::key::{EtherType, FlowKey};
    use proptest::prelude::*;

    use crate::strategies::{key_strategy, match_strategy};

    /// A packet that agrees with `p` on the mask and takes the rest from `r`.
    fn blend(p: &Point, r: &Point, mask: &[u128; FIELD_COUNT]) -> Point {
        let mut q = *p;
        for (i, m) in mask.iter().enumerate() {
            q.0[i] = (p.0[i] & m) | (r.0[i] & !m);
        }
        q
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn tree_agrees_with_linear_through_updates(
            rules in prop::collection::vec((match_strategy(), 1u16..4), 1..80),
            removals in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
            keys in prop::collection::vec(key_strategy(), 1..40),
            others in prop::collection::vec(key_strategy(), 4),
        ) {
            let mut linear = LinearClassifier::new();
            let mut tree = SplitTree::new();
            for (i, (m, prio)) in rules.iter().enumerate() {
                let id = flow_setup::classifier::rule_id(i);
                linear.insert(id, *prio, m).unwrap();
                tree.insert(id, *prio, m).unwrap();
            }
            tree.check_invariants().map_err(TestCaseError::fail)?;
            let check = |linear: &LinearClassifier, tree: &SplitTree| -> Result<(), TestCaseError> {
                for k in &keys {
                    let p = Point::from(k);
                    let want = linear.lookup(&p);
                    prop_assert_eq!(tree.lookup(&p), want);
                    prop_assert_eq!(tree.lookup_key(k), want);
                    for lk in [tree.lookup_megaflow(&p), linear.lookup_megaflow(&p)] {
                        prop_assert_eq!(lk.rule, want);
                        // Any packet agreeing on the megaflow bits gets the same decision.
                        for o in &others {
                            let q = blend(&p, &Point::from(o), &lk.megaflow.0);
                            prop_assert_eq!(linear.lookup(&q), want, "megaflow {}", lk.megaflow);
                        }
                        // Flipping every unmasked bit too.
                        let mut inv = p;
                        for i in 0..FIELD_COUNT { inv.0[i] ^= !lk.megaflow.0[i] & flow_setup::rule::Field::ALL[i].full_mask(); }
                        prop_assert_eq!(linear.lookup(&inv), want, "megaflow {}", lk.megaflow);
                    }
                }
                Ok(())
            };
            check(&linear, &tree)?;
            for ix in &removals {
                let id = flow_setup::classifier::rule_id(ix.index(rules.len()));
                let a = linear.remove(id);
                let b = tree.remove(id);
                prop_assert_eq!(a.is_ok(), b.is_ok());
            }
            tree.check_invariants().map_err(TestCaseError::fail)?;
            check(&linear, &tree)?;
            let mut rebuilt = tree.clone();
            rebuilt.rebuild();
            rebuilt.check_invariants().map_err(TestCaseError::fail)?;
            check(&linear, &rebuilt)?;
        }
    }

    #[test]
    fn range_megaflow_is_a_prefix_inside_the_range() {
        let m = MatchBuilder::new()
            .tcp()
            .tp_dst_range(1000, 2000)
            .build()
            .unwrap();
        let mut c = LinearClassifier::new();
        c.insert(RuleId(0), 1, &m).unwrap();
        let k = FlowKey {
            dl_type: EtherType::IPV4,
            nw_proto: 6,
            tp_dst: 1500,
            ..FlowKey::default()
        };
        let l = c.lookup_megaflow(&Point::from(&k));
        assert_eq!(l.rule, Some(RuleId(0)));
        // 1500 = 0x5dc; the block 1024..=1535 (mask 0xfe00) lies inside 1000..=2000.
        assert_eq!(l.megaflow.get(flow_setup::rule::Field::TpDst), 0xfe00);
        let _ = FieldMatch::Any;
    }
}
