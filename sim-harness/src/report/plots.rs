//! SVG plots: bar charts of a comparison (one bar per switch; latency percentiles and drop
//! reasons grouped) and curves of a sweep (one per switch kind over numeric values, grouped
//! bars over other values). Each switch kind keeps its colour in every plot.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::json::{Report, SwitchResult};
use super::table::{drop_reasons, fmt_f};
use super::{kind_of, write_file, ReportError};

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

/// A series' colour: each switch kind keeps its colour in every plot (in `PALETTE` order:
/// sNICh, the Linux bridge, Open vSwitch AF_XDP, SR-IOV, the bridge with sets, OVS kernel,
/// OVS-DPDK); other series take the rest in order.
fn series_color(name: &str, index: usize) -> RGBColor {
    match kind_of(name) {
        "snich" => PALETTE[0],
        "linux-bridge" => PALETTE[1],
        "ovs-afxdp" => PALETTE[2],
        "sriov-veb" => PALETTE[3],
        "linux-bridge-nftset" => PALETTE[4],
        "ovs-kernel" => PALETTE[5],
        "ovs-dpdk" => PALETTE[6],
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

/// Draws the legend of `chart`'s series (the plot at `path`).
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    path: &Path,
) -> Result<(), ReportError> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_err(path, e))
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
            draw_legend(&mut chart, path)?;
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
                draw_legend(&mut chart, path)?;
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
            let drop_series: Vec<Series> = drop_reasons(&report.results)
                .into_iter()
                .map(|reason| {
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
            for reason in drop_reasons(&report.results) {
                let get = |r: &SwitchResult| r.dropped.get(reason).copied().unwrap_or(0) as f64;
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

#[cfg(test)]
mod tests {
    use super::*;

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
