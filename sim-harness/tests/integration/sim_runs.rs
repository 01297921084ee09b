//! Runs, comparisons and sweeps through the runner with the test-only ideal switch: the
//! report's keys, the golden table, and determinism (invariant 6): the same run twice and a
//! sweep on one or two threads give byte-identical reports apart from `simulator`.

use indicatif::ProgressBar;
use sim_harness::report::{self, Report};
use sim_harness::runner::{self, Vary};
use sim_harness::scenario::{Scenario, ScenarioDocument};
use sim_harness::switch::SwitchKind;

use crate::support::{golden, here, ideal_factory, named_factory, scratch};

fn small() -> Scenario {
    Scenario::from_file(&here("data/small_scenario.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn compare_report(s: &Scenario) -> Report {
    let runs = runner::compare(&ideal_factory, &SwitchKind::ALL, s, &ProgressBar::hidden())
        .unwrap_or_else(|e| panic!("{e}"));
    Report::of_runs("compare", s, &runs, 0.5)
}

/// The report as JSON without the `simulator` key.
fn simulated(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    v.as_object_mut().expect("object").remove("simulator");
    v
}

#[test]
fn the_report_has_every_key_scripts_rely_on() {
    let r = compare_report(&small());
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("JSON");
    for key in ["version", "seed", "scenario", "simulator", "results"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    for key in ["wall_seconds", "simulated_packets_per_second"] {
        assert!(v["simulator"].get(key).is_some(), "simulator.{key}");
    }
    assert_eq!(v["seed"], 42);
    assert_eq!(v["scenario"]["vms"]["count"], 4);
    assert_eq!(v["scenario"]["card"]["inter_vm"], "copy-engine");
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), SwitchKind::ALL.len());
    for r in results {
        for key in [
            "switch",
            "offered_packets",
            "delivered_packets",
            "dropped",
            "in_flight_packets",
            "throughput_gbps",
            "throughput_mpps",
            "host_cpu_cycles_per_packet",
            "pcie_bytes_per_packet",
            "flow_setups",
            "flow_setups_per_second",
            "table_occupancy_peak",
            "host_cpu_cycles",
        ] {
            assert!(r.get(key).is_some(), "results[].{key}");
        }
        for p in ["p50", "p99", "p999"] {
            assert!(r["latency_ns"][p].is_u64(), "latency_ns.{p}");
        }
        let dropped: u64 = r["dropped"]
            .as_object()
            .unwrap()
            .values()
            .map(|x| x.as_u64().unwrap())
            .sum();
        assert_eq!(
            r["offered_packets"].as_u64().unwrap(),
            r["delivered_packets"].as_u64().unwrap() + dropped,
            "conservation in the report"
        );
        // The inline rule drops UDP to ports below 8192: an eighth of random ports.
        let rule_drop = r["dropped"]["rule_drop"].as_u64().unwrap();
        assert!((200..=600).contains(&rule_drop), "rule drops {rule_drop}");
    }
}

#[test]
fn the_small_scenarios_table_matches_its_snapshot() {
    let r = compare_report(&small());
    golden("report_small.txt", &report::report_text(&r));
}

#[test]
fn the_same_run_twice_is_byte_identical_apart_from_the_simulator() {
    let a = compare_report(&small()).to_json();
    let mut b_report = compare_report(&small());
    b_report.simulator.wall_seconds = 9.0;
    let b = b_report.to_json();
    assert_ne!(a, b, "the simulator key differs");
    assert_eq!(simulated(&a), simulated(&b));
    // Every other byte is the same: re-serialised without the simulator key.
    assert_eq!(
        serde_json::to_string_pretty(&simulated(&a)).unwrap(),
        serde_json::to_string_pretty(&simulated(&b)).unwrap()
    );
}

#[test]
fn sweeps_give_the_same_bytes_on_one_or_two_threads() {
    let doc = ScenarioDocument::from_file(&here("data/small_scenario.toml")).expect("doc");
    let vary: Vary = "vms.count=2,4,8".parse().expect("vary");
    let kinds = SwitchKind::ALL;
    let run = |threads| {
        let points = runner::sweep(
            &ideal_factory,
            &kinds,
            &doc,
            &vary,
            threads,
            &ProgressBar::hidden(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = Report::of_sweep("sweep", &vary.key, &points, 1.0, threads).expect("points");
        (
            serde_json::to_string_pretty(&simulated(&r.to_json())).unwrap(),
            report::csv(&r),
            r,
        )
    };
    let (j1, c1, r1) = run(1);
    let (j2, c2, _) = run(2);
    assert_eq!(j1, j2);
    assert_eq!(c1, c2);
    assert_eq!(r1.results.len(), 3 * SwitchKind::ALL.len());
    let header = c1.lines().next().unwrap();
    assert!(
        header.starts_with("vms.count,switch,offered_packets,"),
        "{header}"
    );
    assert_eq!(c1.lines().count(), 1 + 3 * SwitchKind::ALL.len());
    // The plots of a sweep: one SVG per metric, curves per switch.
    let dir = scratch("sweep-plots");
    let plots = report::plots(&r1, &dir).expect("plots");
    assert!(plots.iter().any(|p| p.ends_with("throughput_gbps.svg")));
    assert!(plots.iter().any(|p| p.ends_with("dropped_rule_drop.svg")));
    let svg = std::fs::read_to_string(dir.join("throughput_gbps.svg")).unwrap();
    assert!(
        svg.contains("ideal-snich") && svg.contains("ideal-ovs-kernel"),
        "a curve per switch"
    );
}

#[test]
fn a_sweep_point_that_is_invalid_is_refused_before_running() {
    let doc = ScenarioDocument::from_file(&here("data/small_scenario.toml")).expect("doc");
    let refusal = |vary: &str| {
        let vary: Vary = vary.parse().expect("vary");
        let bar = ProgressBar::hidden();
        runner::sweep(&ideal_factory, &SwitchKind::ALL, &doc, &vary, 2, &bar)
            .unwrap_err()
            .to_string()
    };
    let e = refusal("vms.count=2,0");
    assert!(
        e.ends_with("vms.count: must be at least 1 (with vms.count = 0)"),
        "{e}"
    );
    let e = refusal("vms.colour=2");
    assert!(e.contains("unknown field `colour`"), "{e}");
}

#[test]
fn a_switch_that_loses_packets_fails_the_run() {
    use sim_harness::switch::{
        OfferedPacket, SwitchContext, SwitchError, SwitchRun, SwitchUnderTest,
    };
    struct Leaky(SwitchRun);
    impl SwitchUnderTest for Leaky {
        fn name(&self) -> String {
            "leaky".into()
        }
        fn offer(&mut self, _: OfferedPacket) -> Result<(), SwitchError> {
            Ok(())
        }
        fn finish(self: Box<Self>) -> Result<SwitchRun, SwitchError> {
            Ok(self.0)
        }
    }
    let factory =
        |_: SwitchKind, _: &SwitchContext| -> Result<Box<dyn SwitchUnderTest>, SwitchError> {
            Ok(Box::new(Leaky(SwitchRun::new("leaky")?)))
        };
    let e = runner::run_switch_with(
        &factory,
        SwitchKind::OvsAfxdp,
        &small(),
        &ProgressBar::hidden(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("offered 3000 packets, the switch counted 0"),
        "{e}"
    );
}

#[test]
fn the_builtin_default_runs_and_compares_every_switch() {
    let s = Scenario::builtin_default().expect("default");
    assert_eq!(s.switches, SwitchKind::ALL.to_vec());
    let mut quick = s.clone();
    quick.limit = sim_harness::scenario::Limit::Packets(2000);
    let r = compare_report(&quick);
    assert_eq!(r.results.len(), SwitchKind::ALL.len());
    assert!(r
        .results
        .iter()
        .all(|x| x.offered_packets == 2000 && x.in_flight_packets == 0));
}

#[test]
fn a_comparison_gets_a_plot_per_metric() {
    let r = compare_report(&small());
    let dir = scratch("compare-plots");
    let plots = report::plots(&r, &dir).expect("plots");
    let names: Vec<String> = plots
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for n in [
        "throughput_gbps.svg",
        "throughput_mpps.svg",
        "host_cpu_cycles_per_packet.svg",
        "pcie_bytes_per_packet.svg",
        "latency_ns.svg",
        "drops_by_reason.svg",
        "flow_setups_per_second.svg",
        "table_occupancy_peak.svg",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    let svg = std::fs::read_to_string(dir.join("drops_by_reason.svg")).unwrap();
    assert!(svg.contains("rule_drop"), "the reason is named");
}

#[test]
fn the_paper_report_states_for_each_claim_where_it_holds_and_where_not() {
    let doc = ScenarioDocument::from_file(&here("data/small_scenario.toml")).expect("doc");
    let sweep = |arg: &str| {
        let vary: Vary = arg.parse().expect("vary");
        let points = runner::sweep(
            &named_factory,
            &SwitchKind::ALL,
            &doc,
            &vary,
            2,
            &ProgressBar::hidden(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Report::of_sweep("sweep", &vary.key, &points, 1.0, 2).expect("points")
    };
    let vms = sweep("vms.count=2,8");
    let copy = sweep("card.inter_vm=copy-engine,hairpin");
    let md = report::paper_markdown(&[("vms".into(), vms.clone()), ("copy".into(), copy)]);
    assert!(
        md.contains("## Claim 1: sNICh outperforms the Linux bridge and Open vSwitch"),
        "{md}"
    );
    // Cycles: sNICh 100 per offered packet against the bridge's 50 (never better) and OVS's
    // 200 (always). The report counts them per delivered packet, and the small scenario's
    // rules drop some: both are scaled by offered / delivered.
    assert!(md.contains("host CPU cycles per packet at the offered load (lower is better) against `linux-bridge`: does not hold at any point: sNICh is better at 0 of 4 points, tied at 0 (within 0.5%), worse at 4."), "{md}");
    // The ideal wires carry the same load: a tie everywhere, which supports no claim.
    assert!(md.contains("throughput at the offered load (Gb/s, higher is better) against `linux-bridge`: does not hold at any point: sNICh is better at 0 of 4 points, tied at 4 (within 0.5%), worse at 0."), "{md}");
    assert!(
        md.contains(
            "  - tied at vms at vms.count = 2 (snich): throughput 5.24 vs linux-bridge 5.24"
        ),
        "{md}"
    );
    let at_2 = vms
        .results
        .iter()
        .find(|r| r.switch == "snich" && r.value == Some(serde_json::json!(2)))
        .expect("snich at 2 VMs");
    assert!(
        at_2.delivered_packets < at_2.offered_packets,
        "some dropped"
    );
    let per_delivered = at_2.offered_packets as f64 / at_2.delivered_packets as f64;
    let line = md
        .lines()
        .find(|l| l.starts_with("  - not at vms at vms.count = 2 (snich): cycles/packet "))
        .unwrap_or_else(|| panic!("{md}"));
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok())
        .collect();
    let [_, ours, theirs] = numbers[..] else {
        panic!("{line}");
    };
    assert!((ours - 100.0 * per_delivered).abs() < 0.5, "{line}");
    assert!((theirs - 50.0 * per_delivered).abs() < 0.005, "{line}");
    assert!(line.contains(" vs linux-bridge "), "{line}");
    assert!(
        md.contains(
            "host CPU cycles per packet at the offered load (lower is better) against `ovs-afxdp`: holds at every point"
        ),
        "{md}"
    );
    assert!(md.contains("### vms: from 2 to 8 VMs"), "{md}");
    assert!(
        md.contains("## Claim 3: sNICh saves I/O bus (PCIe) bandwidth"),
        "{md}"
    );
    assert!(md.contains("| hairpin | snich/hairpin |"), "{md}");
    assert!(
        md.contains("![vms: throughput, Gb/s](vms/throughput_gbps.svg)"),
        "{md}"
    );
}

#[test]
fn as_many_vms_as_the_card_has_queue_pairs_run_and_compare_names_the_veb_limit() {
    let max = nic_abi::regs::MAX_VM_QUEUES;
    let text =
        format!("packets = 600\nswitches = [\"snich\", \"linux-bridge\"]\n[vms]\ncount = {max}\n");
    let s = Scenario::from_toml(&text, None).expect("256 VMs without the VEB are valid");
    let runs = runner::compare(
        &runner::build_switch,
        &s.switches,
        &s,
        &ProgressBar::hidden(),
    )
    .expect("every VM gets a queue pair");
    assert_eq!(runs.len(), 2);
    // `compare` runs all seven: the VEB's table cannot hold 256 VMs' entries, and that is
    // refused before anything runs, with the limit named.
    let e = runner::compare(
        &runner::build_switch,
        &SwitchKind::ALL,
        &s,
        &ProgressBar::hidden(),
    )
    .expect_err("the VEB table does not fit");
    let msg = e.to_string();
    assert!(
        msg.contains("vms.count") && msg.contains("sriov-veb"),
        "{msg}"
    );
    assert!(msg.contains("16384 buckets x 4 slots"), "{msg}");
}

#[test]
fn the_paper_report_says_where_each_switchs_flow_setup_saturates() {
    let doc = ScenarioDocument::from_file(&here("data/small_scenario.toml")).expect("doc");
    let vary: Vary = "workload.flows.new_per_second=1000,1000000"
        .parse()
        .expect("vary");
    let kinds = [
        SwitchKind::Snich,
        SwitchKind::LinuxBridge,
        SwitchKind::OvsKernel,
    ];
    let points = runner::sweep(
        &runner::build_switch,
        &kinds,
        &doc,
        &vary,
        2,
        &ProgressBar::hidden(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = Report::of_sweep("sweep", &vary.key, &points, 1.0, 2).expect("points");
    let md = report::paper_markdown(&[("new_flows".into(), r.clone())]);
    assert!(
        md.contains("## Where flow setup saturates (new_flows)"),
        "{md}"
    );
    // The bridge sets nothing up and loses nothing to setup.
    let bridge = md
        .lines()
        .find(|l| l.starts_with("| linux-bridge |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert_eq!(bridge, "| linux-bridge | 0 | - | 0% | none in the sweep |");
    // sNICh's row: its highest setup rate, and the knee is the first rate at which more than
    // 1% of the packets are lost to setup.
    let snich: Vec<(f64, f64, f64)> = r
        .results
        .iter()
        .filter(|x| x.switch == "snich")
        .map(|x| {
            let lost: u64 = ["miss_queue_full", "upcall_lost", "agent_drop"]
                .iter()
                .filter_map(|k| x.dropped.get(*k))
                .sum();
            (
                x.value
                    .as_ref()
                    .and_then(serde_json::Value::as_f64)
                    .expect("rate"),
                x.flow_setups_per_second,
                lost as f64 / x.offered_packets as f64,
            )
        })
        .collect();
    let peak = snich.iter().map(|p| p.1).fold(0.0, f64::max);
    assert!(peak > 0.0);
    let knee = snich.iter().find(|p| p.2 > 0.01).map(|p| p.0);
    let row = md
        .lines()
        .find(|l| l.starts_with("| snich |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        row.contains(&sim_harness::report::table::fmt_f(peak)),
        "{row} {peak}"
    );
    match knee {
        Some(k) => assert!(
            row.ends_with(&format!("| {} |", sim_harness::report::table::fmt_f(k))),
            "{row}"
        ),
        None => assert!(row.ends_with("| none in the sweep |"), "{row}"),
    }
}
