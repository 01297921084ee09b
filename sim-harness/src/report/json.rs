//! The JSON report: what each switch's run measured ([`SwitchResult`]), the simulator's own
//! speed and the scenario, as the document `--json` writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::runner::SweepPoint;
use crate::scenario::Scenario;
use crate::switch::SwitchRun;
use crate::workload::ReplayStats;

/// The report's format version (bump when a key changes meaning or goes away).
pub const REPORT_VERSION: &str = "1";

/// Latency percentiles in ns (`None` when nothing was delivered).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: Option<u64>,
    /// 99th percentile.
    pub p99: Option<u64>,
    /// 99.9th percentile.
    pub p999: Option<u64>,
    /// Largest.
    pub max: Option<u64>,
    /// Mean.
    pub mean: Option<f64>,
}

/// One switch's run, as the report gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchResult {
    /// The swept key's value (sweeps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// The switch (`snich`, `linux-bridge`, `ovs-kernel`, `ovs-afxdp`, `sriov-veb`, `snich/hairpin`, ...).
    pub switch: String,
    /// Packets offered.
    pub offered_packets: u64,
    /// Packets delivered to at least one port.
    pub delivered_packets: u64,
    /// Packets dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Packets in flight at the end (0: every run drains).
    pub in_flight_packets: u64,
    /// Packets offered and not yet delivered or dropped when the last packet was offered
    /// (queued in the switch). It stays near the rate times the latency when the switch
    /// keeps up, and grows with the run's length when it does not, before any drop
    /// ([`crate::capacity`] counts its growth against a trial).
    #[serde(default)]
    pub backlog_at_last_offer_packets: u64,
    /// How much the backlog grew from half-way through the measured packets to the last
    /// offer (0 when it did not grow).
    #[serde(default)]
    pub backlog_growth_packets: u64,
    /// Bytes delivered (frames without FCS).
    pub delivered_bytes: u64,
    /// Simulated time from the first offer to the last delivery or drop, ns.
    pub span_ns: f64,
    /// Delivered bits per second of span, in Gb/s.
    pub throughput_gbps: f64,
    /// Delivered packets per second of span, in millions.
    pub throughput_mpps: f64,
    /// Host CPU cycles per delivered packet (the work spent on dropped packets included, as
    /// the real switches' `switch_core_ns_per_fwd_pkt` is measured).
    pub host_cpu_cycles_per_packet: f64,
    /// Host CPU cycles by what they were spent on.
    pub host_cpu_cycles: BTreeMap<String, u64>,
    /// PCIe bytes (both directions, TLP overheads included) per delivered packet (the bytes
    /// of dropped packets included).
    pub pcie_bytes_per_packet: f64,
    /// PCIe bytes in all.
    pub pcie_bytes: u64,
    /// Latency of delivered packets.
    pub latency_ns: Latency,
    /// Flows set up (table entries or megaflows installed).
    pub flow_setups: u64,
    /// Flow setups per second of span.
    pub flow_setups_per_second: f64,
    /// Peak entries of the switch's flow table.
    pub table_occupancy_peak: u64,
    /// Switch-specific counters.
    pub extra: BTreeMap<String, u64>,
    /// Frame bytes (without FCS) of the measured packets offered (capacity trials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_bytes: Option<u64>,
    /// The switch's NDR and PDR and the search's trials (`snich capacity`); the rest of the
    /// result is the full-length trial at the NDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<crate::capacity::Capacity>,
    /// The switch at the comparison's common load, a rate every switch carried without loss
    /// (`snich compare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_common_load: Option<CommonLoad>,
}

/// A switch at the common load of a comparison: the highest offered rate at which every
/// switch lost nothing (one NDR search over all of them, [`crate::capacity::common_load`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommonLoad {
    /// The offered rate, Mpps (the same for every switch).
    pub offered_mpps: f64,
    /// The offered rate, packets per second, exactly as a scenario's `rate = { pps = ... }`
    /// reproduces the trial (with `warmup_packets` and `packets` below).
    pub offered_pps: f64,
    /// Host CPU cycles per delivered packet there.
    pub host_cpu_cycles_per_packet: f64,
    /// PCIe bytes per delivered packet there.
    pub pcie_bytes_per_packet: f64,
    /// Measured packets of the trial.
    pub packets: u64,
    /// Its warm-up packets.
    pub warmup_packets: u64,
}

/// `n / d`, 0 when `d` is 0.
pub(super) fn per(n: f64, d: f64) -> f64 {
    if d > 0.0 {
        n / d
    } else {
        0.0
    }
}

impl SwitchResult {
    /// The result of `run`, at sweep value `value`.
    pub fn from_run(run: &SwitchRun, value: Option<serde_json::Value>) -> SwitchResult {
        let span_s = run.span().as_secs_f64();
        let delivered = run.ledger.delivered as f64;
        let h = &run.latency_ns;
        let some = !h.is_empty();
        let q = |x: f64| some.then(|| h.value_at_quantile(x));
        let cycles = run.host_cpu_cycles_total();
        SwitchResult {
            value,
            switch: run.switch.clone(),
            offered_packets: run.ledger.offered,
            delivered_packets: run.ledger.delivered,
            dropped: run.ledger.dropped_by_name(),
            in_flight_packets: run.ledger.in_flight,
            backlog_at_last_offer_packets: run.backlog().at_last_offer,
            backlog_growth_packets: run.backlog().growth().0,
            delivered_bytes: run.delivered_bytes,
            span_ns: run.span().as_ns_f64(),
            throughput_gbps: per(run.delivered_bytes as f64 * 8.0, span_s) / 1e9,
            throughput_mpps: per(run.ledger.delivered as f64, span_s) / 1e6,
            host_cpu_cycles_per_packet: per(cycles as f64, delivered),
            host_cpu_cycles: run.host_cpu_cycles.clone(),
            pcie_bytes_per_packet: per(run.pcie_bytes as f64, delivered),
            pcie_bytes: run.pcie_bytes,
            latency_ns: Latency {
                p50: q(0.5),
                p99: q(0.99),
                p999: q(0.999),
                max: some.then(|| h.max()),
                mean: some.then(|| h.mean()),
            },
            flow_setups: run.flow_setups,
            flow_setups_per_second: per(run.flow_setups as f64, span_s),
            table_occupancy_peak: run.table_occupancy_peak,
            extra: run.extra.clone(),
            offered_bytes: None,
            capacity: None,
            at_common_load: None,
        }
    }

    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// The simulator's own speed: the only wall-clock numbers of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulator {
    /// Wall-clock seconds the runs took.
    pub wall_seconds: f64,
    /// Packets offered over all runs per wall-clock second.
    pub simulated_packets_per_second: f64,
    /// Worker threads (sweeps).
    pub threads: usize,
}

/// The swept key and its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepInfo {
    /// The key path.
    pub key: String,
    /// The values, in order.
    pub values: Vec<serde_json::Value>,
}

/// A report: the JSON document `--json` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The report format version.
    pub version: String,
    /// The `snich` version that made it.
    pub snich_version: String,
    /// The command (`run`, `compare`, `sweep`, `replay`, `paper`).
    pub command: String,
    /// The scenario's seed.
    pub seed: u64,
    /// The scenario, every default filled in (for a sweep, its value at the first point).
    pub scenario: serde_json::Value,
    /// The simulator's own speed (wall clock).
    pub simulator: Simulator,
    /// The sweep, for sweeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepInfo>,
    /// What a replay's address mapping did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayStats>,
    /// One object per switch run (for a sweep, per value and switch, value by value).
    pub results: Vec<SwitchResult>,
    /// The load offered per VM, packets per second, when every point offered the same load
    /// per VM (`snich paper`'s fixed per-VM load sections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_vm_load_pps: Option<f64>,
    /// The jobs whose results were missing when `snich merge --partial` assembled this
    /// report from a plan's jobs (absent from a complete report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_missing_jobs: Option<Vec<String>>,
}

/// A TOML value as JSON.
pub fn value_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// A TOML value as a label (strings without quotes).
pub fn value_label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Report {
    /// The report of `runs` of `scenario` by `command`, which took `wall_seconds`.
    pub fn of_runs(
        command: &str,
        scenario: &Scenario,
        runs: &[SwitchRun],
        wall_seconds: f64,
    ) -> Report {
        let results: Vec<SwitchResult> = runs
            .iter()
            .map(|r| SwitchResult::from_run(r, None))
            .collect();
        Report::new(command, scenario, results, wall_seconds, 1, None)
    }

    /// The report of a sweep.
    pub fn of_sweep(
        command: &str,
        key: &str,
        points: &[SweepPoint],
        wall_seconds: f64,
        threads: usize,
    ) -> Option<Report> {
        let first = points.first()?;
        let results = points
            .iter()
            .flat_map(|p| {
                p.runs
                    .iter()
                    .map(|r| SwitchResult::from_run(r, Some(value_json(&p.value))))
            })
            .collect();
        let values: Vec<toml::Value> = points.iter().map(|p| p.value.clone()).collect();
        Some(Report::of_sweep_results(
            command,
            &first.scenario,
            (key, &values),
            results,
            wall_seconds,
            threads,
        ))
    }

    /// The report of a sweep of `key` over `values` whose first point's scenario is `first`,
    /// from its `results` (each labelled with its value, value by value).
    pub fn of_sweep_results(
        command: &str,
        first: &Scenario,
        (key, values): (&str, &[toml::Value]),
        results: Vec<SwitchResult>,
        wall_seconds: f64,
        threads: usize,
    ) -> Report {
        let sweep = SweepInfo {
            key: key.to_string(),
            values: values.iter().map(value_json).collect(),
        };
        Report::new(command, first, results, wall_seconds, threads, Some(sweep))
    }

    /// The report of `results` (each already a [`SwitchResult`]) of `scenario` by `command`.
    pub fn of_results(
        command: &str,
        scenario: &Scenario,
        results: Vec<SwitchResult>,
        wall_seconds: f64,
        threads: usize,
    ) -> Report {
        Report::new(command, scenario, results, wall_seconds, threads, None)
    }

    fn new(
        command: &str,
        scenario: &Scenario,
        results: Vec<SwitchResult>,
        wall_seconds: f64,
        threads: usize,
        sweep: Option<SweepInfo>,
    ) -> Report {
        let packets: u64 = results.iter().map(|r| r.offered_packets).sum();
        Report {
            version: REPORT_VERSION.to_string(),
            snich_version: env!("CARGO_PKG_VERSION").to_string(),
            command: command.to_string(),
            seed: scenario.seed,
            scenario: scenario.to_json(),
            simulator: Simulator {
                wall_seconds,
                simulated_packets_per_second: per(packets as f64, wall_seconds),
                threads,
            },
            sweep,
            replay: scenario.workload.replay_stats().cloned(),
            results,
            per_vm_load_pps: None,
            partial_missing_jobs: None,
        }
    }

    /// The report as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}
