//! Rule parsing benchmarks.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flow_setup::classbench::parse_filters;

fn parse(c: &mut Criterion) {
    let text = std::fs::read_to_string(format!(
        "{}/../tests/data/acl1_10K",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture in tests/data");
    let n = text.lines().count();
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("parse_acl1_10K", |b| {
        b.iter(|| parse_filters(black_box(&text), &[]).expect("valid rules"))
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
