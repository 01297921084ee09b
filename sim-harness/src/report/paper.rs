//! `snich paper`: each of the paper's claims checked against every experiment that bears
//! on it (listing every point where the numbers do not support it), each experiment's table
//! and plots, as Markdown; and all the experiments' reports as one JSON document.

use std::fmt::Write as _;

use super::json::{per, Report, SwitchResult, REPORT_VERSION};
use super::kind_of;
use super::table::{fmt_f, fmt_opt};

fn value_text(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "-".into(),
    }
}

/// The name suffix of the sections `snich paper` adds with each switch's capacity at each
/// point of a VM-count experiment (`vms_inter_vm_capacity`).
pub const PAPER_CAPACITY_SUFFIX: &str = "_capacity";

/// The name suffix of the sections `snich paper` adds with each switch at each point of a
/// VM-count experiment offered the same load per VM (`vms_inter_vm_per_vm_load`).
pub const PAPER_PER_VM_LOAD_SUFFIX: &str = "_per_vm_load";

/// Whether a section offered the same load per VM at every point.
fn is_per_vm_load(report: &Report) -> bool {
    report.per_vm_load_pps.is_some()
}

/// The `n` categories of host CPU cycles `r` spent most on, per delivered packet
/// ("netfilter 1,234, vnic 800"), or "none" when it spent none.
fn top_costs(r: &SwitchResult, n: usize) -> String {
    let mut c: Vec<(&String, &u64)> = r.host_cpu_cycles.iter().filter(|(_, v)| **v > 0).collect();
    c.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if c.is_empty() {
        return "none".into();
    }
    let delivered = r.delivered_packets.max(1) as f64;
    c.iter()
        .take(n)
        .map(|(k, v)| format!("{k} {}", fmt_f(**v as f64 / delivered)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a section holds capacity searches (its results are the runs at each NDR).
fn is_capacity(report: &Report) -> bool {
    report.results.iter().any(|r| r.capacity.is_some())
}

/// Two values within this relative difference are a tie: neither switch is better there
/// (both carried the whole offered load, for example), and a tie does not support a claim.
const TIE: f64 = 0.005;

/// Whether `a` and `b` are equal within [`TIE`].
fn tied(a: f64, b: f64) -> bool {
    let scale = a.abs().max(b.abs());
    scale == 0.0 || (a - b).abs() <= TIE * scale
}

/// A comparison of sNICh with one baseline over every point of the experiments given.
struct Tally {
    points: usize,
    better: usize,
    ties: Vec<String>,
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
        ties: Vec::new(),
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
            let (ours, theirs) = (get(r), get(b));
            if ours.is_nan() || theirs.is_nan() {
                continue;
            }
            t.points += 1;
            let ok = if higher_is_better {
                ours > theirs
            } else {
                ours < theirs
            };
            let point = format!(
                "{name} at {} = {} ({}): {metric} {} vs {baseline} {}",
                report.sweep.as_ref().map_or("-", |s| s.key.as_str()),
                value_text(r.value.as_ref()),
                r.switch,
                fmt_f(ours),
                fmt_f(theirs)
            );
            if tied(ours, theirs) {
                t.ties.push(point);
            } else if ok {
                t.better += 1;
            } else {
                t.worse.push(point);
            }
        }
    }
    t
}

/// What a claim compares: description, metric name, the metric, whether higher is better.
type Check = (&'static str, &'static str, fn(&SwitchResult) -> f64, bool);

fn claim_outperforms(sections: &[(String, Report)], out: &mut String) {
    out.push_str("## Claim 1: sNICh outperforms the Linux bridge and Open vSwitch\n\n");
    // Offered-load runs give throughput and CPU per packet; capacity searches the no-drop
    // rate (each metric is NaN, and skipped, where a section does not have it).
    let checks: [Check; 3] = [
        (
            "capacity (no-drop rate, Mpps, higher is better)",
            "NDR Mpps",
            |r| r.capacity.as_ref().map_or(f64::NAN, |c| c.ndr_mpps),
            true,
        ),
        (
            "throughput at the offered load (Gb/s, higher is better)",
            "throughput",
            |r| {
                if r.capacity.is_some() {
                    f64::NAN
                } else {
                    r.throughput_gbps
                }
            },
            true,
        ),
        (
            "host CPU cycles per packet at the offered load (lower is better)",
            "cycles/packet",
            |r| {
                if r.capacity.is_some() {
                    f64::NAN
                } else {
                    r.host_cpu_cycles_per_packet
                }
            },
            false,
        ),
    ];
    for baseline in SOFTWARE_BASELINES {
        for (what, metric, get, higher) in checks {
            let t = tally(sections, baseline, metric, get, higher);
            if t.points == 0 {
                let _ = writeln!(
                    out,
                    "- {what} against `{baseline}`: no data (no experiment ran both)."
                );
                continue;
            }
            let verdict = if t.better == t.points {
                "holds at every point"
            } else if t.better == 0 {
                "does not hold at any point"
            } else {
                "holds only in part"
            };
            let _ = writeln!(
                out,
                "- {what} against `{baseline}`: {verdict}: sNICh is better at {} of {} points, tied at {} (within {}%), worse at {}.",
                t.better,
                t.points,
                t.ties.len(),
                TIE * 100.0,
                t.worse.len()
            );
            for w in t.worse.iter().take(8) {
                let _ = writeln!(out, "  - not at {w}");
            }
            if t.worse.len() > 8 {
                let _ = writeln!(out, "  - and {} more points", t.worse.len() - 8);
            }
            for w in t.ties.iter().take(4) {
                let _ = writeln!(out, "  - tied at {w}");
            }
            if t.ties.len() > 4 {
                let _ = writeln!(out, "  - and {} more ties", t.ties.len() - 4);
            }
        }
    }
    out.push('\n');
    claim_outperforms_mechanism(sections, out);
}

/// What the difference of claim 1 comes from: at the last point of each capacity section,
/// each switch's host cycles per packet at its NDR and what they were spent on.
fn claim_outperforms_mechanism(sections: &[(String, Report)], out: &mut String) {
    out.push_str(
        "**Mechanism.** sNICh's card switches every packet of a set-up flow by an exact-match \
         lookup, so the host pays per packet only for the guests' descriptors, interrupts and \
         (between VMs) the copy; its flow setup runs once per flow, on the agent. The software \
         switches run their whole datapath on host cores for every packet: vNIC crossings, the \
         bridge's netfilter walk or Open vSwitch's caches and megaflow masks, the NIC driver. \
         At the NDR of the last point of each capacity experiment, host cycles per packet and \
         the three largest items:\n\n",
    );
    let mut any = false;
    for (name, report) in sections.iter().filter(|(_, r)| is_capacity(r)) {
        let Some(last) = report.sweep.as_ref().and_then(|s| s.values.last()) else {
            continue;
        };
        any = true;
        let _ = writeln!(
            out,
            "- {name} at {} = {}:",
            report.sweep.as_ref().map_or("-", |s| s.key.as_str()),
            value_text(Some(last))
        );
        for r in report
            .results
            .iter()
            .filter(|r| r.value.as_ref() == Some(last))
        {
            let _ = writeln!(
                out,
                "  - `{}`: NDR {} Mpps, {} cycles/packet: {}",
                r.switch,
                fmt_f(r.capacity.as_ref().map_or(f64::NAN, |c| c.ndr_mpps)),
                fmt_f(r.host_cpu_cycles_per_packet),
                top_costs(r, 3)
            );
        }
    }
    if !any {
        out.push_str("- no capacity experiment: no data.\n");
    }
    out.push('\n');
}

/// The software switches the claims compare sNICh with.
const SOFTWARE_BASELINES: [&str; 5] = [
    "linux-bridge",
    "linux-bridge-nftset",
    "ovs-kernel",
    "ovs-dpdk",
    "ovs-afxdp",
];

fn claim_scales(sections: &[(String, Report)], out: &mut String) {
    out.push_str("## Claim 2: sNICh scales better with the number of VMs\n\n");
    out.push_str(
        "Per-VM costs modelled for the software baselines: with kernel ports \
         (linux-bridge, linux-bridge-nftset, ovs-kernel, ovs-afxdp) each VM has a vhost-net \
         worker thread, woken when work finds it asleep (`vnic.worker_wakeup`, an estimate), \
         and its guest is interrupted once per batch delivered (`vnic.guest_notify`, sNICh's \
         interrupt cost); ovs-dpdk's PMD polls one receive queue per VM on every iteration \
         (`ovs_dpdk.vhost_rxq_poll`, an estimate). Both are paid per batch, so they raise CPU \
         per packet below capacity (the `..._per_vm_load` sections) and vanish at saturation, \
         where workers never sleep and polls return full bursts. Not modelled: cache and TLB \
         footprint growing with VMs, the scheduler's cost of many runnable threads, the \
         guests' own exits. More VMs mean more rings and queues that can hide an overload within a \
         trial; a capacity trial therefore fails a switch whose backlog grows (it falls behind \
         the offered rate) as it fails one that drops. Sections named \
         `..._capacity` compare each switch's no-drop rate (Gb/s at the NDR) at each VM count; \
         `..._per_vm_load` the growth of cycles per packet at one load per VM; the others the \
         throughput at the offered load.\n\n",
    );
    let mut any = false;
    for (name, report) in sections {
        let Some(sweep) = report.sweep.as_ref().filter(|s| s.key == "vms.count") else {
            continue;
        };
        let (Some(lo), Some(hi)) = (sweep.values.first(), sweep.values.last()) else {
            continue;
        };
        any = true;
        if is_per_vm_load(report) {
            per_vm_load_scaling(name, report, (lo, hi), out);
            continue;
        }
        let what = if is_capacity(report) {
            "NDR Gb/s"
        } else {
            "Gb/s"
        };
        let _ = writeln!(
            out,
            "### {name}: from {} to {} VMs\n\n| switch | {what} at {} | {what} at {} | ratio | cycles/packet at {} | at {} |\n|---|---|---|---|---|---|",
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
            let gbps = |x: &SwitchResult| {
                x.capacity
                    .as_ref()
                    .map_or(x.throughput_gbps, |c| c.ndr_gbps)
            };
            let ratio = per(gbps(h), gbps(r));
            ratios.push((r.switch.clone(), ratio));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.switch,
                fmt_f(gbps(r)),
                fmt_f(gbps(h)),
                fmt_f(ratio),
                fmt_f(r.host_cpu_cycles_per_packet),
                fmt_f(h.host_cpu_cycles_per_packet)
            );
        }
        out.push('\n');
        // A capacity search that never failed found only the workload's highest rate (the
        // uplink's line rate), not the switch's limit.
        let at_ceiling = report
            .results
            .iter()
            .filter(|x| kind_of(&x.switch) == "snich")
            .any(|x| {
                x.capacity
                    .as_ref()
                    .is_some_and(|c| c.ndr_failed_mpps.is_none())
            });
        scaling_verdict(&ratios, at_ceiling, ("throughput changes", true), out);
    }
    if !any {
        out.push_str("No experiment varies `vms.count`: no data.\n\n");
    }
}

/// The switches of `others` whose ratio sNICh's `ours` does not beat (a tie included), as
/// "`switch`'s 1.20x": higher ratios are better when `higher_is_better`.
fn not_beaten(others: &[&(String, f64)], ours: f64, higher_is_better: bool) -> Vec<String> {
    others
        .iter()
        .filter(|(_, r)| {
            let better = if higher_is_better {
                *r > ours
            } else {
                *r < ours
            };
            better || tied(*r, ours)
        })
        .map(|(s, r)| format!("`{s}`'s {}x", fmt_f(*r)))
        .collect()
}

/// The cost per packet in host cycles of category `k` in `r`.
fn cycles_of(r: &SwitchResult, k: &str) -> f64 {
    per(
        r.host_cpu_cycles.get(k).copied().unwrap_or(0) as f64,
        r.delivered_packets as f64,
    )
}

/// Claim 2 at a fixed load per VM: how each switch's host cycles per packet change from the
/// smallest VM count `lo` to the largest `hi` (a per-VM cost makes them grow), and what grew.
fn per_vm_load_scaling(
    name: &str,
    report: &Report,
    (lo, hi): (&serde_json::Value, &serde_json::Value),
    out: &mut String,
) {
    let per_vm = report.per_vm_load_pps.unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "### {name}: from {} to {} VMs, {} packets/s offered per VM\n\n\
         Every switch offered the same load per VM at every count (90% of the lowest no-drop \
         rate per VM found, so that none drops); a cost that grows with the VMs shows as more \
         host cycles per packet.\n\n\
         | switch | cycles/packet at {} | at {} | ratio | delivered at {} | grew most |\n|---|---|---|---|---|---|",
        value_text(Some(lo)),
        value_text(Some(hi)),
        fmt_f(per_vm),
        value_text(Some(lo)),
        value_text(Some(hi)),
        value_text(Some(hi)),
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
        let ratio = per(h.host_cpu_cycles_per_packet, r.host_cpu_cycles_per_packet);
        ratios.push((r.switch.clone(), ratio));
        let grew = h
            .host_cpu_cycles
            .keys()
            .chain(r.host_cpu_cycles.keys())
            .map(|k| (k, cycles_of(h, k) - cycles_of(r, k)))
            .filter(|(_, d)| *d > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or_else(
                || "nothing".to_string(),
                |(k, d)| format!("{k} +{}", fmt_f(d)),
            );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}% | {grew} |",
            r.switch,
            fmt_f(r.host_cpu_cycles_per_packet),
            fmt_f(h.host_cpu_cycles_per_packet),
            fmt_f(ratio),
            fmt_f(100.0 * per(h.delivered_packets as f64, h.offered_packets as f64)),
        );
    }
    out.push('\n');
    scaling_verdict(
        &ratios,
        false,
        ("host cycles per packet change", false),
        out,
    );
}

/// Claim 2's verdict on the change of each switch's metric from the smallest to the largest
/// VM count (`ratios`, by switch; `metric` names it with its verb, "throughput
/// changes"): it holds when sNICh's ratio beats every software
/// switch's (higher is better when `higher_is_better`; a tie does not count). `at_ceiling`:
/// sNICh's capacity was bounded by the uplink, so nothing can be judged.
fn scaling_verdict(
    ratios: &[(String, f64)],
    at_ceiling: bool,
    (metric, higher_is_better): (&str, bool),
    out: &mut String,
) {
    let ours = ratios
        .iter()
        .find(|(s, _)| kind_of(s) == "snich")
        .map(|(_, r)| *r);
    let others: Vec<&(String, f64)> = ratios
        .iter()
        .filter(|(s, _)| SOFTWARE_BASELINES.contains(&s.as_str()))
        .collect();
    let (more, every) = if higher_is_better {
        ("more", "more than")
    } else {
        ("less", "less than")
    };
    match ours {
        None => out.push_str("No sNICh results: the claim cannot be checked here.\n\n"),
        Some(_) if others.is_empty() => {
            out.push_str("No Linux bridge or Open vSwitch results to compare with.\n\n");
        }
        Some(_) if at_ceiling => {
            out.push_str(
                "Cannot be judged here: sNICh carried the highest rate searched (the \
                 workload's line rate) without loss at some VM count, so its capacity \
                 there is bounded by the uplink, not measured.\n\n",
            );
        }
        Some(o) => {
            let behind = not_beaten(&others, o, higher_is_better);
            if behind.is_empty() {
                let _ = writeln!(
                    out,
                    "Holds here: from the smallest to the largest VM count, sNICh's {metric} {}x, {every} every software switch's (a tie would not count).\n",
                    fmt_f(o)
                );
            } else {
                let _ = writeln!(
                    out,
                    "Does not hold here: from the smallest to the largest VM count, sNICh's {metric} {}x, not {more} than {}.\n",
                    fmt_f(o),
                    behind.join(", ")
                );
            }
        }
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
        } else if t.better == t.points {
            let _ = writeln!(
                out,
                "Holds here: sNICh moves fewer PCIe bytes per packet than the SR-IOV VEB at all {} points.\n",
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
            for w in &t.ties {
                let _ = writeln!(out, "- {w} (a tie)");
            }
            out.push('\n');
        }
    }
    if !any {
        out.push_str("No inter-VM or copy-mode experiment: no data.\n\n");
        return;
    }
    claim_pcie_mechanism(sections, out);
}

/// What the difference of claim 3 comes from, with the PCIe bytes per packet of the VEB and
/// sNICh beside the frame bytes, over every inter-VM and copy-mode section.
fn claim_pcie_mechanism(sections: &[(String, Report)], out: &mut String) {
    out.push_str(
        "**Mechanism.** The SR-IOV VEB hairpins an inter-VM frame: it crosses PCIe twice (the \
         card reads it from the sender's buffer and writes it into the receiver's), with the \
         descriptors of both queues. sNICh's copy engine and CPU copy keep the frame in host \
         memory: what crosses PCIe is the descriptors, the flow key, and for the copy engine \
         its command and completion; its hairpin mode crosses like the VEB. So sNICh saves \
         PCIe bytes only where the frame is larger than what its copy moves over PCIe instead. \
         PCIe bytes per delivered packet, divided by the delivered frame bytes:\n\n",
    );
    for (name, report) in sections {
        let inter_vm = report
            .scenario
            .pointer("/workload/kind")
            .and_then(serde_json::Value::as_str)
            == Some("inter-vm")
            || report
                .sweep
                .as_ref()
                .is_some_and(|s| s.key == "card.inter_vm");
        if !inter_vm {
            continue;
        }
        let mut parts = Vec::new();
        for r in report
            .results
            .iter()
            .filter(|r| kind_of(&r.switch) == "snich" || r.switch == "sriov-veb")
        {
            let frame = per(r.delivered_bytes as f64, r.delivered_packets as f64);
            if frame.is_nan() || frame == 0.0 {
                continue;
            }
            parts.push(format!(
                "`{}` at {}: {} B per {} B frame ({}x)",
                r.switch,
                value_text(r.value.as_ref()),
                fmt_f(r.pcie_bytes_per_packet),
                fmt_f(frame),
                fmt_f(r.pcie_bytes_per_packet / frame)
            ));
        }
        if parts.len() > 8 {
            let n = parts.len();
            parts.truncate(8);
            parts.push(format!("and {} more", n - 8));
        }
        let _ = writeln!(out, "- {name}: {}", parts.join("; "));
    }
    out.push('\n');
}

/// Drop reasons that mean a packet was lost because its flow could not be set up in time.
const SETUP_DROPS: [&str; 3] = ["miss_queue_full", "upcall_lost", "agent_drop"];

/// Above this share of the offered packets lost to flow setup, a switch's setup has
/// saturated.
const KNEE_LOSS: f64 = 0.01;

/// Where each switch's flow setup saturates, from every experiment that sweeps the new-flow
/// rate: its highest setup rate, and the first offered new-flow rate at which more than
/// [`KNEE_LOSS`] of the packets are lost to flow setup (the knee). Setups per second alone
/// would mislead: a switch with megaflows (Open vSwitch) sets up one entry for many new
/// flows, so its setup rate stays low without anything being lost.
fn setup_saturation(sections: &[(String, Report)], out: &mut String) {
    const KEY: &str = "workload.flows.new_per_second";
    for (name, report) in sections {
        if report.sweep.as_ref().is_none_or(|s| s.key != KEY) {
            continue;
        }
        let _ = writeln!(
            out,
            "## Where flow setup saturates ({name})\n\n\
             The knee is the first offered new-flow rate at which more than {}% of the packets \
             are lost to flow setup ({}).\n\n\
             | switch | highest flow setups/s | at offered new flows/s | lost to setup at the highest rate | knee |\n|---|---|---|---|---|",
            KNEE_LOSS * 100.0,
            SETUP_DROPS.join(", ")
        );
        let mut switches: Vec<&str> = Vec::new();
        for r in &report.results {
            if !switches.contains(&r.switch.as_str()) {
                switches.push(&r.switch);
            }
        }
        let lost = |r: &SwitchResult| -> f64 {
            let n: u64 = SETUP_DROPS.iter().filter_map(|k| r.dropped.get(*k)).sum();
            per(n as f64, r.offered_packets as f64)
        };
        for sw in switches {
            let mut points: Vec<(f64, &SwitchResult)> = report
                .results
                .iter()
                .filter(|r| r.switch == sw)
                .filter_map(|r| Some((r.value.as_ref()?.as_f64()?, r)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let Some(&(at, best)) = points.iter().max_by(|a, b| {
                a.1.flow_setups_per_second
                    .total_cmp(&b.1.flow_setups_per_second)
            }) else {
                continue;
            };
            let Some(&(_, last)) = points.last() else {
                continue;
            };
            let knee = points
                .iter()
                .find(|(_, r)| lost(r) > KNEE_LOSS)
                .map_or_else(|| "none in the sweep".to_string(), |(rate, _)| fmt_f(*rate));
            let peak = best.flow_setups_per_second;
            let at = if peak == 0.0 {
                "-".to_string()
            } else {
                fmt_f(at)
            };
            let _ = writeln!(
                out,
                "| {sw} | {} | {at} | {}% | {knee} |",
                fmt_f(peak),
                fmt_f(lost(last) * 100.0)
            );
        }
        out.push('\n');
    }
}

/// How the model treats every switch alike, and what that changed in the claims' outcome
/// (the numbers before and after are in DESIGN.md, "What the fair model did to the paper's
/// claims"; the tables below are today's).
const MODEL_NOTE: &str = "## One host, one NIC model, one cost profile\n\n\
Every switch's host work (sNICh's driver, agent, interrupt handling and copy submissions and \
completions; the baselines' kernel and datapath work) runs on the scenario's host cores, \
queued when a core is busy; memory bandwidth is shared by every CPU copy and copy-engine \
transfer. The SR-IOV VEB is the same card model as sNICh (same DMA engine, batching, \
doorbells, interrupt moderation, PCIe accounting), with a MAC/VLAN table instead of the flow \
table and inter-VM frames hairpinned over PCIe; guests of both pay the same interrupt costs, \
and a queue's vector is masked while its interrupt is handled, as NAPI does. Every cost comes \
from one sourced profile, flow setup is priced from the classifier's own work, and the copy \
engine is a device with a command ring and completions taken on host cores.\n\n\
What this changed: an inter-VM packet of sNICh now pays for its copy's submission and \
completion on the host's cores, which the VEB, hairpinning, does not; so the VEB carries \
more inter-VM traffic than sNICh, and for small frames the copy command, its completion and \
the descriptors cross PCIe with more bytes than the VEB's two crossings of the frame. Runs \
whose length is shorter than the setup of their initial flows (wire-to-VM at 64 VMs) measure \
mostly the learning phase. The claims below are judged on today's numbers.\n\n";

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
    let missing = partial_missing_jobs(sections);
    if !missing.is_empty() {
        let _ = writeln!(
            out,
            "**Partial report** (`snich merge --partial`): {} jobs had no result, and what \
             follows is judged without them: {}.\n",
            missing.len(),
            missing.join(", ")
        );
    }
    out.push_str(MODEL_NOTE);
    claim_outperforms(sections, &mut out);
    claim_scales(sections, &mut out);
    claim_pcie(sections, &mut out);
    setup_saturation(sections, &mut out);
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

/// The jobs missing from any section (`snich merge --partial`), in section order.
fn partial_missing_jobs(sections: &[(String, Report)]) -> Vec<String> {
    sections
        .iter()
        .flat_map(|(_, r)| r.partial_missing_jobs.iter().flatten().cloned())
        .collect()
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
    let mut doc = serde_json::json!({
        "version": REPORT_VERSION,
        "command": "paper",
        "simulator": {
            "wall_seconds": wall,
            "simulated_packets_per_second": per(packets as f64, wall),
        },
        "experiments": experiments,
    });
    let missing = partial_missing_jobs(sections);
    if let (false, Some(o)) = (missing.is_empty(), doc.as_object_mut()) {
        o.insert("partial_missing_jobs".into(), serde_json::json!(missing));
    }
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
