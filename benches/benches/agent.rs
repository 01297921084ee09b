//! Flow setup: miss to installed entry (classify, derive the card action, install), one
//! handler thread, acl1_10K rules and the distinct flows of its trace; and the held-miss path
//! (a miss record of a flow whose setup is under way), whose cost is the agent's
//! `AgentCosts::held` default.
//!
//! The device is nic-model's card (its cuckoo flow table through `FlowTableDevice`), with
//! 65,536 buckets (262,144 entries) so that every distinct flow of the trace fits.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flow_setup::agent::{Agent, AgentConfig};
use flow_setup::classbench::{parse_filters, parse_trace_gz};
use flow_setup::rule::Action;
use nic_abi::desc::MISS_HEADER_BYTES;
use nic_abi::desc::{MissFlags, MissReason, MissRecord, PacketHandle, QueueIndex, VmId};
use nic_abi::key::{FlowKey, PortNo};
use nic_abi::time::SimTime;
use nic_model::card::{Card, CardConfig, TableConfig};
use nic_model::testing::FlatMemoryHost;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture in tests/data")
}

fn flow_setup(c: &mut Criterion) {
    let text = String::from_utf8(fixture("acl1_10K")).expect("utf-8");
    let rules = parse_filters(&text, &[Action::Output(PortNo(2))]).expect("valid rules");
    let mut keys: Vec<FlowKey> = parse_trace_gz(&fixture("acl1_10K_trace.gz"))
        .expect("valid trace")
        .into_iter()
        .map(|h| FlowKey {
            in_port: PortNo(1),
            ..h.key
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let config = CardConfig {
        table: TableConfig {
            buckets: 65_536,
            ..TableConfig::default()
        },
        ..CardConfig::default()
    };
    let card = Card::new(config.clone(), FlatMemoryHost::new()).expect("valid card config");
    let mut agent: Agent<Card<FlatMemoryHost>, u32> =
        Agent::with_rules(card, AgentConfig::default(), rules.clone()).expect("rules");
    let mut g = c.benchmark_group("agent");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.sample_size(10);
    g.bench_function("flow_setup_acl1_10K", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for k in &keys {
                    agent.on_miss(*k, 0);
                }
                let released = agent.process(SimTime(0)).expect("no device fault");
                total += start.elapsed();
                assert!(
                    released.iter().all(|r| r.software.is_none()),
                    "all installed"
                );
                black_box(released);
                // Empty the table outside the measurement: every entry is idle by then.
                agent
                    .evict_idle(SimTime(u64::MAX))
                    .expect("no device fault");
            }
            total
        })
    });
    // Held misses: 1,024 flows pending, then 32 more records of each (within the hold limit
    // of 64), decoded from miss records as the control plane hands them over.
    let flows = &keys[..keys.len().min(1_024)];
    let record = |k: &FlowKey, handle: u32| MissRecord {
        in_port: PortNo(1),
        flags: MissFlags::default(),
        vm: VmId(0),
        queue: QueueIndex(0),
        handle: PacketHandle(handle),
        packet_len: 64,
        header_len: 0,
        timestamp: SimTime(0),
        reason: MissReason::TableMiss,
        key: k.to_words(),
        header: [0; MISS_HEADER_BYTES],
    };
    let rounds = 32u32;
    let held: Vec<MissRecord> = (0..rounds)
        .flat_map(|r| flows.iter().map(move |k| (r, k)))
        .map(|(r, k)| record(k, r))
        .collect();
    g.throughput(Throughput::Elements(held.len() as u64));
    let card = Card::new(config, FlatMemoryHost::new()).expect("valid card config");
    let mut agent: Agent<Card<FlatMemoryHost>, PacketHandle> =
        Agent::with_rules(card, AgentConfig::default(), rules).expect("rules");
    g.bench_function("held_miss", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for k in flows {
                    agent.on_miss(*k, PacketHandle(0));
                }
                let start = Instant::now();
                for r in &held {
                    black_box(agent.on_miss_record(r).expect("a parsed key"));
                }
                total += start.elapsed();
                black_box(agent.process(SimTime(0)).expect("no device fault"));
                agent
                    .evict_idle(SimTime(u64::MAX))
                    .expect("no device fault");
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, flow_setup);
criterion_main!(benches);
