//! Flow table benchmarks (issue 2): lookups of present keys in tables at 90% occupancy, and
//! the insert rate while filling to 90%.
//!
//! `lookup_hit_64k` and `lookup_hit_1m` measure the table's own work per packet as the card
//! model does it: the parser stage packs the key and computes its two hashes once
//! (`key_hashes`), and the lookup stage probes the two buckets and counts the hit
//! (`FlowTable::lookup_with_hashes`). `lookup_hit_64k_with_hashing` adds the packing and
//! hashing (CRC-32C + CRC-32 over 60 bytes) to every lookup, for comparison.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nic_abi::hash::key_hashes;
use nic_abi::key::{EtherType, FlowKey, KeyWords, MacAddr, PortNo};
use nic_abi::time::SimTime;
use nic_model::flow_table::FlowTable;

/// A distinct, well-spread flow key for each `n` (a 5-tuple of a UDP flow).
// Fields take masked or shifted slices of `n`, which stays below 2^26.
#[allow(clippy::cast_possible_truncation)]
fn flow_key(n: u64) -> FlowKey {
    let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    FlowKey {
        in_port: PortNo(1 + (n % 8) as u16),
        dl_dst: MacAddr::from_u64(0x0200_0000_0000 | (n & 0xffff)),
        dl_src: MacAddr::from_u64(0x0200_0001_0000),
        dl_type: EtherType::IPV4,
        nw_proto: 17,
        nw_src: u128::from(0x0a00_0000 | (n as u32 & 0x00ff_ffff)),
        nw_dst: u128::from((x >> 32) as u32),
        tp_src: (n >> 24) as u16,
        tp_dst: 4789,
        ..FlowKey::default()
    }
}

/// A table of `buckets` buckets filled to 90% with keys `0..n`; returns the table and the
/// keys in a shuffled order (so lookups do not walk memory in insert order).
// Table sizes and key counts here are below 2^24.
#[allow(clippy::cast_possible_truncation)]
fn filled(buckets: u32) -> (FlowTable<u32>, Vec<FlowKey>) {
    let mut table = FlowTable::<u32>::with_buckets(buckets).expect("valid geometry");
    let target = table.capacity() as u64 * 9 / 10;
    let mut keys = Vec::with_capacity(target as usize);
    let mut n = 0u64;
    while (keys.len() as u64) < target {
        let k = flow_key(n);
        n += 1;
        if table.insert(&k, n as u32).is_ok() {
            keys.push(k);
        }
    }
    // Deterministic Fisher-Yates shuffle.
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for i in (1..keys.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        keys.swap(i, (s % (i as u64 + 1)) as usize);
    }
    (table, keys)
}

fn lookup_bench(c: &mut Criterion, name: &str, buckets: u32) {
    let (mut table, keys) = filled(buckets);
    let packed: Vec<(KeyWords, [u32; 2])> = keys
        .iter()
        .map(|k| {
            let w = k.to_words();
            (w, key_hashes(&w))
        })
        .collect();
    let mut group = c.benchmark_group("flow_table");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut found = 0u64;
            for (w, h) in &packed {
                if table
                    .lookup_with_hashes(black_box(w), *h, 64, SimTime(1))
                    .is_some()
                {
                    found += 1;
                }
            }
            assert_eq!(found, keys.len() as u64);
            found
        })
    });
    group.finish();
}

fn lookup_hit_64k_with_hashing(c: &mut Criterion) {
    let (mut table, keys) = filled(16 * 1024);
    let mut group = c.benchmark_group("flow_table");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("lookup_hit_64k_with_hashing", |b| {
        b.iter(|| {
            let mut found = 0u64;
            for k in &keys {
                if table.lookup(black_box(k), 64, SimTime(1)).is_some() {
                    found += 1;
                }
            }
            assert_eq!(found, keys.len() as u64);
            found
        })
    });
    group.finish();
}

fn lookup_hit_64k(c: &mut Criterion) {
    lookup_bench(c, "lookup_hit_64k", 16 * 1024);
}

fn lookup_hit_1m(c: &mut Criterion) {
    lookup_bench(c, "lookup_hit_1m", 256 * 1024);
}

fn insert_to_90pct(c: &mut Criterion) {
    let buckets = 16 * 1024u32;
    let (_, keys) = filled(buckets);
    let mut group = c.benchmark_group("flow_table");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("insert_to_90pct", |b| {
        b.iter_batched(
            || FlowTable::<u32>::with_buckets(buckets).expect("valid geometry"),
            |mut table| {
                for (i, k) in (0u32..).zip(&keys) {
                    let _ = black_box(table.insert(k, i));
                }
                table
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    lookup_hit_64k,
    lookup_hit_1m,
    insert_to_90pct,
    lookup_hit_64k_with_hashing
);
criterion_main!(benches);
