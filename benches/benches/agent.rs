//! Flow setup: miss to installed entry (classify, derive the card action, install), one
//! handler thread, acl1_10K rules and the distinct flows of its trace.
//!
//! The table is an in-memory map implementing `FlowTableDevice`, standing in for nic-model's
//! table until that exists: the number measures the agent, not a table model.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flow_setup::agent::{Agent, AgentConfig};
use flow_setup::classbench::{parse_filters, parse_trace_gz};
use flow_setup::rule::Action;
use nic_abi::action::Action as CardAction;
use nic_abi::device::{EntryStats, FlowTableDevice, FlowTableError, InsertOutcome};
use nic_abi::key::{FlowKey, KeyWords, PortNo};
use nic_abi::time::SimTime;

#[derive(Debug, Default)]
struct MapTable(HashMap<KeyWords, CardAction>);

impl FlowTableDevice for MapTable {
    fn insert(
        &mut self,
        key: &FlowKey,
        action: CardAction,
    ) -> Result<InsertOutcome, FlowTableError> {
        Ok(match self.0.insert(key.to_words(), action) {
            Some(_) => InsertOutcome::Updated,
            None => InsertOutcome::Inserted,
        })
    }
    fn delete(&mut self, key: &FlowKey) -> Result<bool, FlowTableError> {
        Ok(self.0.remove(&key.to_words()).is_some())
    }
    fn lookup(&mut self, key: &FlowKey) -> Result<Option<CardAction>, FlowTableError> {
        Ok(self.0.get(&key.to_words()).copied())
    }
    fn entry_stats(&mut self, key: &FlowKey) -> Result<Option<EntryStats>, FlowTableError> {
        Ok(self.0.get(&key.to_words()).map(|_| EntryStats::default()))
    }
    fn capacity(&self) -> u64 {
        u64::MAX
    }
    fn occupancy(&self) -> u64 {
        self.0.len() as u64
    }
}

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
    let mut agent: Agent<MapTable, u32> =
        Agent::with_rules(MapTable::default(), AgentConfig::default(), rules).expect("rules");
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
                black_box(released);
                // Empty the table outside the measurement: every entry is idle by then.
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
