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
        let l = tree.lookup_megaflow(&p);
        assert_eq!(l.rule, want);
        if let Some(id) = want {
            matched += 1;
            assert!(id.0 as usize <= h.filter_index, "first match after its filter");
        }
    }
    println!("{trace_file}: {} headers, {matched} matched, 100% agreement", trace.len());
}

#[test]
fn acl1_10k_trace_agrees_with_linear() {
    trace_agreement("acl1_10K", "acl1_10K_trace.gz");
}

#[test]
fn fw1_10k_trace_agrees_with_linear() {
    trace_agreement("fw1_10K", "fw1_10K_trace.gz");
}
