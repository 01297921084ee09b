//! Reports: what runs measured, as JSON (for scripts), a side-by-side text table (for
//! people), CSV (for sweeps) and SVG plots.
//!
//! The JSON report's schema is in README.md; its keys are stable names scripts may rely on.
//! Everything in it is simulated, and so byte-identical between two runs of the same scenario
//! and seed, except the one top-level key `simulator`, which holds the wall-clock
//! measurements of the simulator's own speed (invariant 6).
//!
//! Rates are over a run's span, from its first offer to its last delivery or drop.
//! Throughput counts delivered frame bytes without FCS; per-packet costs (host CPU cycles,
//! PCIe bytes) are divided by the packets offered, so drops cost what they cost.
//!
//! ```
//! use sim_harness::report::SwitchResult;
//! use sim_harness::switch::SwitchRun;
//!
//! let mut run = SwitchRun::new("ideal").unwrap();
//! run.ledger.offer();
//! run.record_delivery(nic_abi::time::SimTime(0), nic_abi::time::SimTime(1_000_000), 1_250);
//! let r = SwitchResult::from_run(&run, None);
//! assert_eq!(r.throughput_gbps, 10.0); // 1,250 bytes in 1 us
//! assert_eq!(r.latency_ns.p50, Some(1_000));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::runner::SweepPoint;
use crate::scenario::Scenario;
use crate::switch::SwitchRun;
use crate::workload::ReplayStats;

/// The report's format version (bump when a key changes meaning or goes away).
pub const REPORT_VERSION: &str = "1";

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written.
    #[error("{path}: cannot write: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A plot could not be drawn.
    #[error("{path}: cannot draw the plot: {what}")]
    Plot {
        /// The file.
        path: PathBuf,
        /// What failed.
        what: String,
    },
}

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
    /// The switch (`snich`, `linux-bridge`, `ovs`, `sriov-veb`, `snich/hairpin`, ...).
    pub switch: String,
    /// Packets offered.
    pub offered_packets: u64,
    /// Packets delivered to at least one port.
    pub delivered_packets: u64,
    /// Packets dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Packets in flight at the end (0: every run drains).
    pub in_flight_packets: u64,
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
}

fn per(n: f64, d: f64) -> f64 {
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
        let sweep = SweepInfo {
            key: key.to_string(),
            values: points.iter().map(|p| value_json(&p.value)).collect(),
        };
        Some(Report::new(
            command,
            &first.scenario,
            results,
            wall_seconds,
            threads,
            Some(sweep),
        ))
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
        }
    }

    /// The report as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

fn fmt_f(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The rows of the side-by-side table: name and one cell per result.
fn rows(results: &[SwitchResult]) -> Vec<(String, Vec<String>)> {
    let col = |f: &dyn Fn(&SwitchResult) -> String| results.iter().map(f).collect::<Vec<_>>();
    let mut rows = vec![
        (
            "offered packets".to_string(),
            col(&|r| r.offered_packets.to_string()),
        ),
        (
            "delivered packets".into(),
            col(&|r| r.delivered_packets.to_string()),
        ),
        (
            "dropped packets".into(),
            col(&|r| r.dropped_total().to_string()),
        ),
    ];
    let reasons: std::collections::BTreeSet<&String> =
        results.iter().flat_map(|r| r.dropped.keys()).collect();
    for reason in reasons {
        rows.push((
            format!("  {reason}"),
            col(&|r| r.dropped.get(reason).copied().unwrap_or(0).to_string()),
        ));
    }
    rows.extend([
        (
            "in flight at end".to_string(),
            col(&|r| r.in_flight_packets.to_string()),
        ),
        ("throughput Gb/s".into(), col(&|r| fmt_f(r.throughput_gbps))),
        ("throughput Mpps".into(), col(&|r| fmt_f(r.throughput_mpps))),
        (
            "host CPU cycles/packet".into(),
            col(&|r| fmt_f(r.host_cpu_cycles_per_packet)),
        ),
        (
            "PCIe bytes/packet".into(),
            col(&|r| fmt_f(r.pcie_bytes_per_packet)),
        ),
        ("latency p50 ns".into(), col(&|r| fmt_opt(r.latency_ns.p50))),
        ("latency p99 ns".into(), col(&|r| fmt_opt(r.latency_ns.p99))),
        (
            "latency p99.9 ns".into(),
            col(&|r| fmt_opt(r.latency_ns.p999)),
        ),
        ("flow setups".into(), col(&|r| r.flow_setups.to_string())),
        (
            "flow setups/s".into(),
            col(&|r| fmt_f(r.flow_setups_per_second)),
        ),
        (
            "table occupancy peak".into(),
            col(&|r| r.table_occupancy_peak.to_string()),
        ),
    ]);
    rows
}

/// The side-by-side table of `results` (one column per switch), as text.
pub fn table(results: &[SwitchResult]) -> String {
    let rows = rows(results);
    let name_w = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let widths: Vec<usize> = results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            rows.iter()
                .map(|(_, c)| c[i].len())
                .chain([r.switch.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let _ = write!(out, "{:name_w$}", "");
    for (r, w) in results.iter().zip(&widths) {
        let _ = write!(out, "  {:>w$}", r.switch);
    }
    out.push('\n');
    for (name, cells) in &rows {
        let _ = write!(out, "{name:name_w$}");
        for (c, w) in cells.iter().zip(&widths) {
            let _ = write!(out, "  {c:>w$}");
        }
        out.push('\n');
    }
    out
}

/// The text of a report: one table, or one per sweep value.
pub fn report_text(report: &Report) -> String {
    match &report.sweep {
        None => table(&report.results),
        Some(s) => {
            let mut out = String::new();
            for v in &s.values {
                let at: Vec<SwitchResult> = report
                    .results
                    .iter()
                    .filter(|r| r.value.as_ref() == Some(v))
                    .cloned()
                    .collect();
                let _ = writeln!(out, "{} = {v}", s.key);
                out.push_str(&table(&at));
                out.push('\n');
            }
            out
        }
    }
}

/// The CSV columns of a sweep, after `value` and `switch`.
pub const CSV_COLUMNS: [&str; 14] = [
    "offered_packets",
    "delivered_packets",
    "dropped_packets",
    "in_flight_packets",
    "throughput_gbps",
    "throughput_mpps",
    "host_cpu_cycles_per_packet",
    "pcie_bytes_per_packet",
    "latency_p50_ns",
    "latency_p99_ns",
    "latency_p999_ns",
    "flow_setups",
    "flow_setups_per_second",
    "table_occupancy_peak",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One line per result: the swept key's value, the switch, then [`CSV_COLUMNS`] (empty cells
/// for latencies without deliveries). The header names the key.
pub fn csv(report: &Report) -> String {
    let key = report.sweep.as_ref().map_or("value", |s| s.key.as_str());
    let mut out = format!("{},switch,{}\n", csv_field(key), CSV_COLUMNS.join(","));
    for r in &report.results {
        let value = match &r.value {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        };
        let opt = |v: Option<u64>| v.map_or_else(String::new, |v| v.to_string());
        let cells = [
            r.offered_packets.to_string(),
            r.delivered_packets.to_string(),
            r.dropped_total().to_string(),
            r.in_flight_packets.to_string(),
            r.throughput_gbps.to_string(),
            r.throughput_mpps.to_string(),
            r.host_cpu_cycles_per_packet.to_string(),
            r.pcie_bytes_per_packet.to_string(),
            opt(r.latency_ns.p50),
            opt(r.latency_ns.p99),
            opt(r.latency_ns.p999),
            r.flow_setups.to_string(),
            r.flow_setups_per_second.to_string(),
            r.table_occupancy_peak.to_string(),
        ];
        let _ = writeln!(
            out,
            "{},{},{}",
            csv_field(&value),
            csv_field(&r.switch),
            cells.join(",")
        );
    }
    out
}

/// Writes `text` to `path`.
pub fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// One plot: a metric of every result.
struct Metric {
    file: &'static str,
    title: &'static str,
    unit: &'static str,
    get: fn(&SwitchResult) -> f64,
}

fn lat(v: Option<u64>) -> f64 {
    v.map_or(0.0, |v| v as f64)
}

const METRICS: [Metric; 10] = [
    Metric {
        file: "throughput_gbps",
        title: "Throughput",
        unit: "Gb/s",
        get: |r| r.throughput_gbps,
    },
    Metric {
        file: "throughput_mpps",
        title: "Throughput",
        unit: "Mpps",
        get: |r| r.throughput_mpps,
    },
    Metric {
        file: "host_cpu_cycles_per_packet",
        title: "Host CPU per packet",
        unit: "cycles/packet",
        get: |r| r.host_cpu_cycles_per_packet,
    },
    Metric {
        file: "pcie_bytes_per_packet",
        title: "PCIe bytes per packet",
        unit: "bytes/packet",
        get: |r| r.pcie_bytes_per_packet,
    },
    Metric {
        file: "latency_p50_ns",
        title: "Latency, median",
        unit: "ns",
        get: |r| lat(r.latency_ns.p50),
    },
    Metric {
        file: "latency_p99_ns",
        title: "Latency, 99th percentile",
        unit: "ns",
        get: |r| lat(r.latency_ns.p99),
    },
    Metric {
        file: "latency_p999_ns",
        title: "Latency, 99.9th percentile",
        unit: "ns",
        get: |r| lat(r.latency_ns.p999),
    },
    Metric {
        file: "dropped_packets",
        title: "Drops (all reasons)",
        unit: "packets",
        get: |r| r.dropped_total() as f64,
    },
    Metric {
        file: "flow_setups_per_second",
        title: "Flow setups per second",
        unit: "setups/s",
        get: |r| r.flow_setups_per_second,
    },
    Metric {
        file: "table_occupancy_peak",
        title: "Flow table occupancy, peak",
        unit: "entries",
        get: |r| r.table_occupancy_peak as f64,
    },
];

/// Colours of the series, in order (switches in report order).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// A series' colour: each switch kind keeps its colour in every plot (sNICh blue, the Linux
/// bridge red, Open vSwitch green, SR-IOV orange); other series take the rest in order.
fn series_color(name: &str, index: usize) -> RGBColor {
    match kind_of(name) {
        "snich" => PALETTE[0],
        "linux-bridge" => PALETTE[1],
        "ovs" => PALETTE[2],
        "sriov-veb" => PALETTE[3],
        _ => PALETTE[index % PALETTE.len()],
    }
}

/// A named series of values, one per category or x.
type Series = (String, Vec<f64>);

fn plot_err(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot {
        path: path.to_path_buf(),
        what: e.to_string(),
    }
}

fn y_top(series: &[Series]) -> f64 {
    let m = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    if m > 0.0 {
        m * 1.1
    } else {
        1.0
    }
}

/// An axis tick: whole numbers without decimals, others with as many as they need.
fn axis_label(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        fmt_f(v)
    }
}

/// Grouped bars: one group per category, one bar per series.
fn bar_chart(
    path: &Path,
    title: &str,
    unit: &str,
    categories: &[String],
    series: &[Series],
    legend: bool,
) -> Result<(), ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let n = categories.len().max(1);
        let labels = categories.to_vec();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..n as f64, 0f64..y_top(series))
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor();
                if (x - i - 0.5).abs() < 1e-6 && i >= 0.0 {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(unit)
            .y_label_formatter(&|v| axis_label(*v))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        let k = series.len().max(1) as f64;
        for (si, (name, values)) in series.iter().enumerate() {
            let color = series_color(name, si);
            let bars = values.iter().enumerate().map(move |(ci, &v)| {
                let x0 = ci as f64 + 0.1 + 0.8 * si as f64 / k;
                Rectangle::new([(x0, 0.0), (x0 + 0.8 / k, v)], color.filled())
            });
            chart
                .draw_series(bars)
                .map_err(|e| plot_err(path, e))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        if legend {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| plot_err(path, e))?;
        }
        root.present().map_err(|e| plot_err(path, e))?;
    }
    write_file(path, &svg)
}

/// Curves over numeric `xs`, one per series (log x when the values span two decades).
fn line_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    unit: &str,
    xs: &[f64],
    series: &[Series],
) -> Result<(), ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo < hi {
            (lo, hi)
        } else {
            (lo - 1.0, lo + 1.0)
        };
        let top = y_top(series);
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart.map_err(|e| plot_err(path, e))?;
                chart
                    .configure_mesh()
                    .x_desc(x_desc)
                    .y_desc(unit)
                    .x_label_formatter(&|v| axis_label(*v))
                    .y_label_formatter(&|v| axis_label(*v))
                    .draw()
                    .map_err(|e| plot_err(path, e))?;
                for (si, (name, values)) in series.iter().enumerate() {
                    let color = series_color(name, si);
                    let pts: Vec<(f64, f64)> =
                        xs.iter().copied().zip(values.iter().copied()).collect();
                    chart
                        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                        .map_err(|e| plot_err(path, e))?
                        .label(name.as_str())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                    chart
                        .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                        .map_err(|e| plot_err(path, e))?;
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| plot_err(path, e))?;
            }};
        }
        if lo > 0.0 && hi / lo >= 100.0 {
            draw!(builder.build_cartesian_2d((lo..hi).log_scale(), 0f64..top));
        } else {
            draw!(builder.build_cartesian_2d(lo..hi, 0f64..top));
        }
        root.present().map_err(|e| plot_err(path, e))?;
    }
    write_file(path, &svg)
}

/// Writes the plots of `report` into `dir`; returns their paths. A comparison gets bar
/// charts (one bar per switch; latency percentiles and drop reasons grouped); a sweep gets
/// one curve per switch over numeric values, grouped bars over other values.
pub fn plots(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    match &report.sweep {
        None => {
            let switches: Vec<String> = report.results.iter().map(|r| r.switch.clone()).collect();
            for m in METRICS
                .iter()
                .filter(|m| !m.file.starts_with("latency") && m.file != "dropped_packets")
            {
                let path = dir.join(format!("{}.svg", m.file));
                let values = report.results.iter().map(m.get).collect();
                bar_chart(
                    &path,
                    m.title,
                    m.unit,
                    &switches,
                    &[(m.unit.to_string(), values)],
                    false,
                )?;
                written.push(path);
            }
            let path = dir.join("latency_ns.svg");
            let lat_series: Vec<Series> = [("p50", 4usize), ("p99", 5), ("p99.9", 6)]
                .iter()
                .map(|&(name, i)| {
                    (
                        name.to_string(),
                        report.results.iter().map(METRICS[i].get).collect(),
                    )
                })
                .collect();
            bar_chart(
                &path,
                "Latency percentiles",
                "ns",
                &switches,
                &lat_series,
                true,
            )?;
            written.push(path);
            let reasons: std::collections::BTreeSet<&String> = report
                .results
                .iter()
                .flat_map(|r| r.dropped.keys())
                .collect();
            let drop_series: Vec<Series> = reasons
                .iter()
                .map(|&reason| {
                    (
                        reason.clone(),
                        report
                            .results
                            .iter()
                            .map(|r| r.dropped.get(reason).copied().unwrap_or(0) as f64)
                            .collect(),
                    )
                })
                .collect();
            let path = dir.join("drops_by_reason.svg");
            let drop_series = if drop_series.is_empty() {
                vec![("no drops".to_string(), vec![0.0; switches.len()])]
            } else {
                drop_series
            };
            bar_chart(
                &path,
                "Drops by reason",
                "packets",
                &switches,
                &drop_series,
                true,
            )?;
            written.push(path);
        }
        Some(s) => {
            let mut switches: Vec<String> = Vec::new();
            // One curve per switch kind (`snich/hairpin` is on the `snich` curve).
            for r in &report.results {
                let k = kind_of(&r.switch).to_string();
                if !switches.contains(&k) {
                    switches.push(k);
                }
            }
            let at = |v: &serde_json::Value, sw: &str| {
                report
                    .results
                    .iter()
                    .find(|r| r.value.as_ref() == Some(v) && kind_of(&r.switch) == sw)
            };
            let xs: Option<Vec<f64>> = s.values.iter().map(serde_json::Value::as_f64).collect();
            let mut one =
                |file: String, title: &str, unit: &str, get: &dyn Fn(&SwitchResult) -> f64| {
                    let series: Vec<Series> = switches
                        .iter()
                        .map(|sw| {
                            (
                                sw.clone(),
                                s.values
                                    .iter()
                                    .map(|v| at(v, sw).map_or(0.0, get))
                                    .collect(),
                            )
                        })
                        .collect();
                    let path = dir.join(format!("{file}.svg"));
                    let title = format!("{title} vs {}", s.key);
                    match &xs {
                        Some(xs) => line_chart(&path, &title, &s.key, unit, xs, &series)?,
                        None => {
                            let cats: Vec<String> = s
                                .values
                                .iter()
                                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                                .collect();
                            bar_chart(&path, &title, unit, &cats, &series, true)?;
                        }
                    }
                    written.push(path);
                    Ok::<(), ReportError>(())
                };
            for m in &METRICS {
                one(m.file.to_string(), m.title, m.unit, &m.get)?;
            }
            let reasons: std::collections::BTreeSet<String> = report
                .results
                .iter()
                .flat_map(|r| r.dropped.keys().cloned())
                .collect();
            for reason in reasons {
                let get = |r: &SwitchResult| r.dropped.get(&reason).copied().unwrap_or(0) as f64;
                one(
                    format!("dropped_{reason}"),
                    &format!("Drops: {reason}"),
                    "packets",
                    &get,
                )?;
            }
        }
    }
    Ok(written)
}

/// The switch kind of a result's switch name (`snich/hairpin` is a `snich`).
fn kind_of(switch: &str) -> &str {
    switch.split('/').next().unwrap_or(switch)
}

fn value_text(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "-".into(),
    }
}

/// A comparison of sNICh with one baseline over every point of the experiments given.
struct Tally {
    points: usize,
    better: usize,
    worse: Vec<String>,
}

fn tally(
    sections: &[(String, Report)],
    baseline: &str,
    metric: &str,
    get: fn(&SwitchResult) -> f64,
    higher_is_better: bool,
) -> Tally {
    let mut t = Tally {
        points: 0,
        better: 0,
        worse: Vec::new(),
    };
    for (name, report) in sections {
        for r in report
            .results
            .iter()
            .filter(|r| kind_of(&r.switch) == "snich")
        {
            let Some(b) = report
                .results
                .iter()
                .find(|b| b.switch == baseline && b.value == r.value)
            else {
                continue;
            };
            t.points += 1;
            let (ours, theirs) = (get(r), get(b));
            let ok = if higher_is_better {
                ours >= theirs
            } else {
                ours <= theirs
            };
            if ok {
                t.better += 1;
            } else {
                t.worse.push(format!(
                    "{name} at {} = {} ({}): {metric} {} vs {baseline} {}",
                    report.sweep.as_ref().map_or("-", |s| s.key.as_str()),
                    value_text(r.value.as_ref()),
                    r.switch,
                    fmt_f(ours),
                    fmt_f(theirs)
                ));
            }
        }
    }
    t
}

/// What a claim compares: description, metric name, the metric, whether higher is better.
type Check = (&'static str, &'static str, fn(&SwitchResult) -> f64, bool);

fn claim_outperforms(sections: &[(String, Report)], out: &mut String) {
    out.push_str("## Claim 1: sNICh outperforms the Linux bridge and Open vSwitch\n\n");
    let checks: [Check; 2] = [
        (
            "throughput (Gb/s, higher is better)",
            "throughput",
            |r| r.throughput_gbps,
            true,
        ),
        (
            "host CPU cycles per packet (lower is better)",
            "cycles/packet",
            |r| r.host_cpu_cycles_per_packet,
            false,
        ),
    ];
    for baseline in ["linux-bridge", "ovs"] {
        for (what, metric, get, higher) in checks {
            let t = tally(sections, baseline, metric, get, higher);
            if t.points == 0 {
                let _ = writeln!(
                    out,
                    "- {what} against `{baseline}`: no data (no experiment ran both)."
                );
                continue;
            }
            let verdict = if t.worse.is_empty() {
                "holds at every point"
            } else if t.better == 0 {
                "does not hold at any point"
            } else {
                "holds only in part"
            };
            let _ = writeln!(
                out,
                "- {what} against `{baseline}`: {verdict}: sNICh is at least as good at {} of {} points.",
                t.better, t.points
            );
            for w in t.worse.iter().take(8) {
                let _ = writeln!(out, "  - not at {w}");
            }
            if t.worse.len() > 8 {
                let _ = writeln!(out, "  - and {} more points", t.worse.len() - 8);
            }
        }
    }
    out.push('\n');
}

fn claim_scales(sections: &[(String, Report)], out: &mut String) {
    out.push_str("## Claim 2: sNICh scales better with the number of VMs\n\n");
    let mut any = false;
    for (name, report) in sections {
        let Some(sweep) = report.sweep.as_ref().filter(|s| s.key == "vms.count") else {
            continue;
        };
        let (Some(lo), Some(hi)) = (sweep.values.first(), sweep.values.last()) else {
            continue;
        };
        any = true;
        let _ = writeln!(
            out,
            "### {name}: from {} to {} VMs\n\n| switch | Gb/s at {} | Gb/s at {} | ratio | cycles/packet at {} | at {} |\n|---|---|---|---|---|---|",
            value_text(Some(lo)), value_text(Some(hi)),
            value_text(Some(lo)), value_text(Some(hi)),
            value_text(Some(lo)), value_text(Some(hi))
        );
        let mut ratios: Vec<(String, f64)> = Vec::new();
        for r in report
            .results
            .iter()
            .filter(|r| r.value.as_ref() == Some(lo))
        {
            let Some(h) = report
                .results
                .iter()
                .find(|x| x.switch == r.switch && x.value.as_ref() == Some(hi))
            else {
                continue;
            };
            let ratio = per(h.throughput_gbps, r.throughput_gbps);
            ratios.push((r.switch.clone(), ratio));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.switch,
                fmt_f(r.throughput_gbps),
                fmt_f(h.throughput_gbps),
                fmt_f(ratio),
                fmt_f(r.host_cpu_cycles_per_packet),
                fmt_f(h.host_cpu_cycles_per_packet)
            );
        }
        let ours = ratios
            .iter()
            .find(|(s, _)| kind_of(s) == "snich")
            .map(|(_, r)| *r);
        let others: Vec<&(String, f64)> = ratios
            .iter()
            .filter(|(s, _)| s == "linux-bridge" || s == "ovs")
            .collect();
        out.push('\n');
        match ours {
            None => out.push_str("No sNICh results: the claim cannot be checked here.\n\n"),
            Some(_) if others.is_empty() => {
                out.push_str("No Linux bridge or Open vSwitch results to compare with.\n\n");
            }
            Some(o) => {
                let behind: Vec<String> = others
                    .iter()
                    .filter(|(_, r)| *r > o)
                    .map(|(s, r)| format!("`{s}`'s {}x", fmt_f(*r)))
                    .collect();
                if behind.is_empty() {
                    let _ = writeln!(
                        out,
                        "Holds here: from the smallest to the largest VM count, sNICh's throughput changes {}x, no less than the software switches'.\n",
                        fmt_f(o)
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "Does not hold here: from the smallest to the largest VM count, sNICh's throughput changes {}x, less than {}.\n",
                        fmt_f(o),
                        behind.join(", ")
                    );
                }
            }
        }
    }
    if !any {
        out.push_str("No experiment varies `vms.count`: no data.\n\n");
    }
}

fn claim_pcie(sections: &[(String, Report)], out: &mut String) {
    out.push_str("## Claim 3: sNICh saves I/O bus (PCIe) bandwidth\n\n");
    let mut any = false;
    for (name, report) in sections {
        let inter_vm = report
            .scenario
            .pointer("/workload/kind")
            .and_then(serde_json::Value::as_str)
            == Some("inter-vm");
        let copy_modes = report
            .sweep
            .as_ref()
            .is_some_and(|s| s.key == "card.inter_vm");
        if !inter_vm && !copy_modes {
            continue;
        }
        any = true;
        let key = report.sweep.as_ref().map_or("-", |s| s.key.as_str());
        let _ = writeln!(out, "### {name}\n\n| {key} | switch | PCIe bytes/packet | throughput Gb/s |\n|---|---|---|---|");
        for r in &report.results {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                value_text(r.value.as_ref()),
                r.switch,
                fmt_f(r.pcie_bytes_per_packet),
                fmt_f(r.throughput_gbps)
            );
        }
        let t = tally(
            std::slice::from_ref(&(name.clone(), report.clone())),
            "sriov-veb",
            "PCIe bytes/packet",
            |r| r.pcie_bytes_per_packet,
            false,
        );
        out.push('\n');
        if t.points == 0 {
            out.push_str(
                "No sNICh and SR-IOV VEB results at the same points: nothing to compare.\n\n",
            );
        } else if t.worse.is_empty() {
            let _ = writeln!(
                out,
                "Holds here: sNICh moves no more PCIe bytes per packet than the SR-IOV VEB at all {} points.\n",
                t.points
            );
        } else {
            let _ = writeln!(
                out,
                "Holds at {} of {} points; not at:\n",
                t.better, t.points
            );
            for w in &t.worse {
                let _ = writeln!(out, "- {w}");
            }
            out.push('\n');
        }
    }
    if !any {
        out.push_str("No inter-VM or copy-mode experiment: no data.\n\n");
    }
}

/// The Markdown report of `snich paper`: each claim and what the experiments' numbers show
/// (including where they do not support it), then each experiment's table and plots
/// (SVG files in a directory named as the experiment, beside the Markdown file).
pub fn paper_markdown(sections: &[(String, Report)]) -> String {
    let mut out = format!(
        "# sNICh: the paper's questions, answered by simulation\n\n\
         Generated by `snich paper` (snich {}). Every number below is simulated: the same \
         scenarios and seeds give the same numbers on any machine. The claims are those of Ram \
         et al., \"sNICh: Efficient Last Hop Networking in the Data Center\" (ANCS 2010); each \
         is checked against every experiment that bears on it, and every point where our \
         numbers do not support it is listed.\n\n",
        env!("CARGO_PKG_VERSION")
    );
    claim_outperforms(sections, &mut out);
    claim_scales(sections, &mut out);
    claim_pcie(sections, &mut out);
    out.push_str("## Experiments\n\n");
    for (name, report) in sections {
        let desc = report
            .scenario
            .get("description")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        let key = report.sweep.as_ref().map_or("-", |s| s.key.as_str());
        let _ = writeln!(
            out,
            "### {name}\n\n{desc}\n\nVaries `{key}`; seed {}. Data: `{name}/sweep.csv`, `{name}/report.json`.\n",
            report.seed
        );
        let _ = writeln!(
            out,
            "| {key} | switch | Gb/s | Mpps | cycles/packet | PCIe bytes/packet | p99 ns | dropped | flow setups/s |\n|---|---|---|---|---|---|---|---|---|"
        );
        for r in &report.results {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                value_text(r.value.as_ref()),
                r.switch,
                fmt_f(r.throughput_gbps),
                fmt_f(r.throughput_mpps),
                fmt_f(r.host_cpu_cycles_per_packet),
                fmt_f(r.pcie_bytes_per_packet),
                fmt_opt(r.latency_ns.p99),
                r.dropped_total(),
                fmt_f(r.flow_setups_per_second)
            );
        }
        out.push('\n');
        for (file, title) in [
            ("throughput_gbps", "throughput, Gb/s"),
            ("throughput_mpps", "throughput, Mpps"),
            ("host_cpu_cycles_per_packet", "host CPU cycles per packet"),
            ("pcie_bytes_per_packet", "PCIe bytes per packet"),
            ("latency_p99_ns", "latency p99"),
            ("flow_setups_per_second", "flow setups per second"),
            ("table_occupancy_peak", "table occupancy"),
        ] {
            let _ = writeln!(out, "![{name}: {title}]({name}/{file}.svg)");
        }
        out.push('\n');
    }
    out
}

/// The JSON of `snich paper`: the report format version, the simulator's speed over all
/// experiments, and each experiment's report by name.
pub fn paper_json(sections: &[(String, Report)]) -> String {
    let wall: f64 = sections.iter().map(|(_, r)| r.simulator.wall_seconds).sum();
    let packets: u64 = sections
        .iter()
        .flat_map(|(_, r)| r.results.iter().map(|x| x.offered_packets))
        .sum();
    let experiments: serde_json::Map<String, serde_json::Value> = sections
        .iter()
        .map(|(n, r)| (n.clone(), serde_json::to_value(r).unwrap_or_default()))
        .collect();
    let doc = serde_json::json!({
        "version": REPORT_VERSION,
        "command": "paper",
        "simulator": {
            "wall_seconds": wall,
            "simulated_packets_per_second": per(packets as f64, wall),
        },
        "experiments": experiments,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_abi::time::SimTime;

    fn result(name: &str, delivered: u64) -> SwitchResult {
        let mut run = SwitchRun::new(name).unwrap();
        for i in 0..delivered + 1 {
            run.ledger.offer();
            if i < delivered {
                run.record_delivery(SimTime(0), SimTime(1_000 * (i + 1)), 60);
            }
        }
        run.record_drop(SimTime(0), crate::switch::DropReason::RuleDrop);
        SwitchResult::from_run(&run, None)
    }

    #[test]
    fn table_lines_up_columns_and_lists_every_drop_reason() {
        let t = table(&[result("a", 3), result("linux-bridge", 0)]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].ends_with("a  linux-bridge"), "{t}");
        assert!(t.contains("  rule_drop"), "{t}");
        assert!(t.contains("latency p50 ns"), "{t}");
        let widths: std::collections::BTreeSet<usize> = lines.iter().map(|l| l.len()).collect();
        assert_eq!(widths.len(), 1, "every line is as wide: {t}");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn plots_are_svg() {
        let dir = std::env::temp_dir().join(format!("snich-plots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bar = dir.join("bar.svg");
        bar_chart(
            &bar,
            "t",
            "u",
            &["a".into(), "b".into()],
            &[("x".into(), vec![1.0, 2.0])],
            true,
        )
        .unwrap();
        let line = dir.join("line.svg");
        line_chart(
            &line,
            "t",
            "x",
            "u",
            &[1.0, 10.0, 100.0],
            &[("s".into(), vec![1.0, 2.0, 3.0])],
        )
        .unwrap();
        for p in [bar, line] {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.starts_with("<svg"), "{}", &text[..40.min(text.len())]);
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
