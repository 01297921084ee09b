//! The cost profile as a scenario sees it: a `[profile]` table and a sweep over
//! `profile.KEY` override its numbers; doubling one cost moves exactly the switches whose
//! work it prices; and the rule set's size moves the flow-setup price of every switch that
//! classifies (sNICh's agent and Open vSwitch's upcall handler).

use indicatif::ProgressBar;
use sim_harness::runner;
use sim_harness::scenario::{Scenario, ScenarioDocument};
use sim_harness::switch::{SwitchKind, SwitchRun};

use crate::support::here;

/// The small test scenario with `extra` TOML appended.
fn small_with(extra: &str) -> Scenario {
    let text = std::fs::read_to_string(here("data/small_scenario.toml")).expect("small scenario");
    Scenario::from_toml(&format!("{text}\n{extra}"), None).unwrap_or_else(|e| panic!("{e}"))
}

/// Everything a run measured, per switch, as text (equal text: the same run).
fn fingerprints(s: &Scenario) -> Vec<(String, String)> {
    let runs = runner::compare(
        &runner::build_switch,
        &SwitchKind::ALL,
        s,
        &ProgressBar::hidden(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    runs.iter()
        .map(|r| (r.switch.clone(), fingerprint(r)))
        .collect()
}

fn fingerprint(r: &SwitchRun) -> String {
    let h = &r.latency_ns;
    format!(
        "{:?} {} {:?} {:?} {} {:?} {} {} {:?} {:?}",
        r.ledger,
        r.delivered_bytes,
        r.first_offer,
        r.last_event,
        r.pcie_bytes,
        r.host_cpu_cycles,
        r.flow_setups,
        r.table_occupancy_peak,
        [0.5, 0.99, 0.999, 1.0].map(|q| h.value_at_quantile(q)),
        r.extra,
    )
}

/// The switches whose runs differ between the default profile and `override_toml`.
fn moved_by(override_toml: &str) -> Vec<String> {
    let base = fingerprints(&small_with(""));
    let changed = fingerprints(&small_with(override_toml));
    assert_eq!(base.len(), 7);
    base.iter()
        .zip(&changed)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0.clone())
        .collect()
}

#[test]
fn doubling_the_mmio_read_cost_moves_only_the_cards_under_the_snich_driver() {
    // 2,600 cycles in the profile. The VEB is the card under the sNICh system's driver
    // (`baselines/sriov_veb.rs`): it pays the driver's bring-up register reads (host CPU
    // `driver`), and nothing else moves there.
    assert_eq!(
        moved_by("[profile]\n\"snich.driver.mmio_read\" = 5200\n"),
        ["snich", "sriov-veb"]
    );
}

#[test]
fn the_management_port_latency_costs_polls_only_when_it_outlasts_the_command_write() {
    // 9 cycles (36 ns at 250 MHz) in the profile. Raised to 12, 48 ns, the command still
    // ends before the driver's first STATUS read, issued one register write (150 cycles, 58 ns
    // at 2.6 GHz) after the CMD write: nothing moves.
    assert!(moved_by("[profile]\n\"snich.card.mgmt_command\" = 12\n").is_empty());
    // 2,500 cycles (10 us): every command is polled about ten more times. Only sNICh moves.
    let slow = "[profile.snich.card]\nmgmt_command = 2500\n";
    assert_eq!(moved_by(slow), ["snich"]);
    let fast = runner::run_switch(SwitchKind::Snich, &small_with("")).expect("run");
    let slow = runner::run_switch(SwitchKind::Snich, &small_with(slow)).expect("run");
    let (polls, busy) = (
        fast.extra["mgmt_status_polls"],
        fast.extra["mgmt_busy_polls"],
    );
    assert!(polls > 0);
    assert_eq!(busy, 0, "the default latency hides behind the CMD write");
    assert!(
        slow.extra["mgmt_busy_polls"] >= 9 * slow.flow_setups,
        "{} busy polls for {} setups",
        slow.extra["mgmt_busy_polls"],
        slow.flow_setups
    );
    // Each busy poll is a register read on the driver's core: flow setup costs more.
    let driver = |r: &SwitchRun| r.host_cpu_cycles["driver"] as f64 / r.flow_setups as f64;
    assert!(
        driver(&slow) > driver(&fast) + 9.0 * 2_600.0,
        "driver cycles per setup: {} -> {}",
        driver(&fast),
        driver(&slow)
    );
}

#[test]
fn doubling_the_upcall_cost_moves_only_open_vswitch() {
    // 25,000 ns in the profile; the nested form a sweep writes. Every OVS datapath's slow
    // path pays it.
    assert_eq!(
        moved_by("[profile.ovs]\nupcall = 50000\n"),
        ["ovs-kernel", "ovs-dpdk", "ovs-afxdp"]
    );
}

#[test]
fn each_datapath_cost_moves_only_its_own_switch() {
    assert_eq!(
        moved_by("[profile.ovs_kernel]\nfast_path = 820\n"),
        ["ovs-kernel"]
    );
    assert_eq!(
        moved_by("[profile.ovs_dpdk]\nvhost_tx = 178.8\n"),
        ["ovs-dpdk"]
    );
    assert_eq!(moved_by("[profile.ovs]\nfast_path = 5724\n"), ["ovs-afxdp"]);
}

#[test]
fn the_per_visit_cost_moves_every_switch_that_classifies() {
    assert_eq!(
        moved_by("[profile]\n\"classifier.per_visit\" = 200\n"),
        ["snich", "ovs-kernel", "ovs-dpdk", "ovs-afxdp"]
    );
}

#[test]
fn an_override_of_no_profile_number_is_refused_naming_it() {
    let text = std::fs::read_to_string(here("data/small_scenario.toml")).expect("small");
    let err = Scenario::from_toml(&format!("{text}\n[profile]\n\"ovs.upcal\" = 1\n"), None)
        .expect_err("unknown key");
    assert_eq!(
        err.to_string(),
        "<scenario>: profile.ovs.upcal: not a number of the profile"
    );
    let err = Scenario::from_toml(
        &format!("{text}\n[profile]\n\"ovs.upcall\" = \"x\"\n"),
        None,
    )
    .expect_err("not a number");
    assert_eq!(
        err.to_string(),
        "<scenario>: profile.ovs.upcall: string is not a number"
    );
    // An override is validated like the number it replaces.
    let err = Scenario::from_toml(
        &format!("{text}\n[profile]\n\"ovs.emc_entries\" = 0.5\n"),
        None,
    )
    .expect_err("not whole");
    assert!(
        err.to_string().contains("ovs.emc_entries") && err.to_string().contains("whole"),
        "{err}"
    );
}

#[test]
fn a_sweep_varies_a_profile_number_by_its_path() {
    let doc = ScenarioDocument::from_file(&here("data/small_scenario.toml")).expect("doc");
    let vary: runner::Vary = "profile.ovs.upcall=10000,40000".parse().expect("vary");
    let upcall_cycles: Vec<u64> = vary
        .values
        .iter()
        .map(|v| {
            let s = doc.with(&vary.key, v).unwrap_or_else(|e| panic!("{e}"));
            let run =
                runner::run_switch(SwitchKind::OvsAfxdp, &s).unwrap_or_else(|e| panic!("{e}"));
            let upcalls = run.extra["upcalls"];
            assert!(upcalls > 0);
            run.host_cpu_cycles["upcall"] / upcalls
        })
        .collect();
    // 30,000 ns more per upcall at 2.6 GHz: 78,000 cycles.
    let more = upcall_cycles[1] - upcall_cycles[0];
    assert!((77_000..=79_000).contains(&more), "{upcall_cycles:?}");
}

/// The rules_acl1 paper scenario's rules and topology at `rules` filter rules.
fn acl1(rules: u32) -> Scenario {
    let file = format!("{}/../tests/data/acl1_10K", env!("CARGO_MANIFEST_DIR"));
    Scenario::from_toml(
        &format!(
            "seed = 1\npackets = 4000\n[vms]\ncount = 4\nip_base = \"10.0.0.1\"\n\
             [[external_hosts]]\nmac = \"02:00:00:00:ff:01\"\nip = \"10.1.0.1\"\n\
             [rules]\nfile = \"{file}\"\naction = \"drop\"\ncount = {rules}\n\
             [workload]\nkind = \"mix\"\n\
             mix = [{{ kind = \"inter-vm\", share = 0.5 }}, {{ kind = \"wire-to-vm\", share = 0.5 }}]\n\
             size = {{ fixed = 64 }}\nrate = {{ poisson_pps = 1e6 }}\n\
             flows = {{ initial = 64, new_per_second = 1e5 }}\n"
        ),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Cycles per flow setup of sNICh's agent and of Open vSwitch's upcalls.
fn setup_cycles(s: &Scenario) -> (u64, u64) {
    let snich = runner::run_switch(SwitchKind::Snich, s).unwrap_or_else(|e| panic!("{e}"));
    let ovs = runner::run_switch(SwitchKind::OvsAfxdp, s).unwrap_or_else(|e| panic!("{e}"));
    assert!(snich.flow_setups > 0 && ovs.extra["upcalls"] > 0);
    (
        snich.host_cpu_cycles["agent"] / snich.flow_setups,
        ovs.host_cpu_cycles["upcall"] / ovs.extra["upcalls"],
    )
}

#[test]
fn more_rules_cost_every_classifying_switch_more_per_setup() {
    let (snich_1, ovs_1) = setup_cycles(&acl1(1));
    let (snich_many, ovs_many) = setup_cycles(&acl1(9824));
    assert!(snich_many > snich_1, "{snich_1} -> {snich_many}");
    assert!(ovs_many > ovs_1, "{ovs_1} -> {ovs_many}");
}

#[test]
fn a_sweep_varies_a_copy_engine_number_three_levels_deep() {
    let doc = ScenarioDocument::from_file(&here("data/small_scenario.toml")).expect("doc");
    let vary: runner::Vary = "profile.snich.copy_engine.submit=300,600"
        .parse()
        .expect("vary");
    let per_copy: Vec<u64> = vary
        .values
        .iter()
        .map(|v| {
            let s = doc.with(&vary.key, v).unwrap_or_else(|e| panic!("{e}"));
            let run = runner::run_switch(SwitchKind::Snich, &s).unwrap_or_else(|e| panic!("{e}"));
            let copies = run.extra["copies"];
            assert!(copies > 0);
            assert_eq!(run.host_cpu_cycles["copy"] % copies, 0);
            run.host_cpu_cycles["copy"] / copies
        })
        .collect();
    // A submission and a polled completion per copy: 300 + 260, then 600 + 260.
    assert_eq!(per_copy, [560, 860]);
}
