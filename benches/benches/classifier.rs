//! Classifier benchmarks over the ClassBench fixtures: lookups per second over the traces,
//! node visits per second (`visits_acl1_10K`: the trace's lookups timed, throughput counted
//! in the classifier's node visits, so criterion's time per element is the time of one visit,
//! the profile's `classifier.per_visit`), updates per second, and build time.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flow_setup::classbench::{parse_filters, parse_trace_gz, TraceHeader};
use flow_setup::classifier::{rule_id, Classifier, SplitTree};
use flow_setup::rule::Rule;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture in tests/data")
}

fn rules(name: &str) -> Vec<Rule> {
    let text = String::from_utf8(fixture(name)).expect("utf-8 rules");
    parse_filters(&text, &[]).expect("valid ClassBench rules")
}

fn trace(name: &str) -> Vec<TraceHeader> {
    parse_trace_gz(&fixture(name)).expect("valid trace")
}

fn build(rules: &[Rule]) -> SplitTree {
    let mut t = SplitTree::new();
    t.bulk_insert(
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| (rule_id(i), r.priority, &r.pattern)),
    )
    .expect("distinct ids");
    t
}

/// Looks every header of the trace up; returns how many matched a rule.
fn trace_hits(tree: &SplitTree, headers: &[TraceHeader]) -> u32 {
    let mut hits = 0u32;
    for h in headers {
        if tree.lookup_key(black_box(&h.key)).is_some() {
            hits += 1;
        }
    }
    hits
}

fn lookups(c: &mut Criterion) {
    let mut g = c.benchmark_group("classifier");
    for (set, tr) in [
        ("acl1_10K", "acl1_10K_trace.gz"),
        ("fw1_10K", "fw1_10K_trace.gz"),
    ] {
        let tree = build(&rules(set));
        let headers = trace(tr);
        g.throughput(Throughput::Elements(headers.len() as u64));
        g.bench_function(set, |b| b.iter(|| trace_hits(&tree, &headers)));
    }

    let acl = rules("acl1_10K");
    let tree = build(&acl);
    let headers = trace("acl1_10K_trace.gz");
    let visits: u64 = headers
        .iter()
        .map(|h| tree.lookup_cost(&h.key).visits())
        .sum();
    g.throughput(Throughput::Elements(visits));
    g.bench_function("visits_acl1_10K", |b| {
        b.iter(|| trace_hits(&tree, &headers))
    });

    let mut tree = tree;
    let mut i = 0usize;
    g.throughput(Throughput::Elements(1));
    g.bench_function("update_acl1_10K", |b| {
        b.iter(|| {
            // Delete one rule of the set and insert it back: one update each way.
            let r = &acl[i % acl.len()];
            let id = rule_id(i % acl.len());
            tree.remove(id).expect("present");
            tree.insert(id, r.priority, &r.pattern).expect("absent");
            i += 7919;
        })
    });

    g.throughput(Throughput::Elements(acl.len() as u64));
    g.sample_size(10);
    g.bench_function("build_acl1_10K", |b| b.iter(|| build(black_box(&acl))));
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
