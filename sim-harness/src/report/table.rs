//! The side-by-side text table: one column per switch, one row per measure (every drop
//! reason its own row), and the number formats people read.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::json::{Report, SwitchResult};

/// A number for people: whole above 100, two decimals above 1, three below.
pub fn fmt_f(v: f64) -> String {
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

/// An optional number, `-` when there is none.
pub(super) fn fmt_opt(v: Option<u64>) -> String {
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
    for reason in drop_reasons(results) {
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
    capacity_rows(results, &mut rows);
    rows
}

/// The rows of `snich capacity` and of `compare`'s common load, when the results have them.
fn capacity_rows(results: &[SwitchResult], rows: &mut Vec<(String, Vec<String>)>) {
    let col = |f: &dyn Fn(&SwitchResult) -> String| results.iter().map(f).collect::<Vec<_>>();
    if let Some(first) = results.iter().find_map(|r| r.capacity.as_ref()) {
        let cap = |f: &dyn Fn(&crate::capacity::Capacity) -> String| {
            col(&|r| r.capacity.as_ref().map_or_else(|| "-".into(), f))
        };
        let pdr = format!("{}%", first.pdr_loss * 100.0);
        rows.extend([
            ("NDR Mpps".to_string(), cap(&|c| fmt_f(c.ndr_mpps))),
            ("NDR Gb/s".into(), cap(&|c| fmt_f(c.ndr_gbps))),
            (
                format!("PDR ({pdr} loss) Mpps"),
                cap(&|c| fmt_f(c.pdr_mpps)),
            ),
            (
                format!("PDR ({pdr} loss) Gb/s"),
                cap(&|c| fmt_f(c.pdr_gbps)),
            ),
            (
                "NDR failed at Mpps".into(),
                cap(&|c| c.ndr_failed_mpps.map_or_else(|| "-".into(), fmt_f)),
            ),
            (
                "capacity trials".into(),
                cap(&|c| c.trials.len().to_string()),
            ),
        ]);
    }
    if results.iter().any(|r| r.at_common_load.is_some()) {
        let common = |f: &dyn Fn(&crate::report::CommonLoad) -> String| {
            col(&|r| r.at_common_load.as_ref().map_or_else(|| "-".into(), f))
        };
        rows.extend([
            (
                "common load Mpps".to_string(),
                common(&|c| fmt_f(c.offered_mpps)),
            ),
            (
                "  cycles/packet".into(),
                common(&|c| fmt_f(c.host_cpu_cycles_per_packet)),
            ),
        ]);
    }
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

/// Every drop reason of `results`, in name order.
pub(super) fn drop_reasons(results: &[SwitchResult]) -> BTreeSet<&String> {
    results.iter().flat_map(|r| r.dropped.keys()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::SwitchRun;
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
}
