//! CSV: one line per result, the swept key's value and the switch first.

use std::fmt::Write as _;

use super::json::Report;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
