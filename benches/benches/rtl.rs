//! `rtl/lookup_cosim`: the RTL parser and lookup pipeline co-simulated beside nic-abi's parser
//! and nic-model's table, every key and result compared: simulated clock cycles per wall-clock
//! second (target: at least 5 M/s in a release build).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hw_rtl::cosim::{run, CosimConfig};
use nic_abi::key::PortNo;
use sim_harness::capture::Capture;

/// The first frames of the mix capture, entering on ports 1..=8 in turn.
fn frames(count: usize) -> Vec<(Vec<u8>, PortNo)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/mix_zeek_sv_tcpdump_k8.pcap.gz"
    );
    let capture = Capture::open(std::path::Path::new(path)).expect("mix capture");
    capture
        .frames
        .into_iter()
        .take(count)
        .zip((1u16..=8).cycle())
        .map(|(f, p)| (f.data, PortNo(p)))
        .collect()
}

fn lookup_cosim(c: &mut Criterion) {
    let frames = frames(20_000);
    let config = CosimConfig::default();
    let first = run(&frames, &config).expect("cosim runs");
    assert!(first.first_mismatch.is_none(), "{:?}", first.first_mismatch);
    let mut group = c.benchmark_group("rtl");
    group.sample_size(10);
    group.throughput(Throughput::Elements(first.summary.cycles));
    group.bench_function("lookup_cosim", |b| {
        b.iter(|| {
            let report = run(&frames, &config).expect("cosim runs");
            assert!(report.first_mismatch.is_none());
            report.summary.cycles
        })
    });
    group.finish();
    eprintln!("rtl/lookup_cosim: {}", hw_rtl::VERILATOR_VERSION);
}

criterion_group!(benches, lookup_cosim);
criterion_main!(benches);
