//! One host (issue 14, point 1): the sNICh system's host work runs on the scenario's
//! `host.cores`, so more cores set up more flows when the agent is the bottleneck.

use sim_harness::runner;
use sim_harness::scenario::Scenario;
use sim_harness::switch::{SwitchKind, SwitchRun};

/// A small new-flow-rate scenario (as `scenarios/paper/new_flow_rate.toml`, inter-VM only):
/// 2 Mpps of 64-byte frames, a million new flows a second, on `cores` host cores.
fn new_flow_rate(cores: u16) -> Scenario {
    let text = format!(
        r#"
name = "new_flow_rate_small"
seed = 1
packets = 20_000
switches = ["snich"]

[host]
cores = {cores}

[vms]
count = 8

[workload]
kind = "inter-vm"
size = {{ fixed = 64 }}
rate = {{ pps = 2e6 }}
flows = {{ initial = 16, new_per_second = 1e6, zipf_s = 1.0, max_active = 4096 }}
"#
    );
    Scenario::from_toml(&text, None).unwrap_or_else(|e| panic!("{e}"))
}

fn run(cores: u16) -> SwitchRun {
    runner::run_switch(SwitchKind::Snich, &new_flow_rate(cores)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn four_host_cores_set_up_more_flows_than_one() {
    // Measured: about 1.45 times the rate (the management port's installs, serial on the
    // card, and the miss core's ring service bound the rest).
    let one = run(1);
    let four = run(4);
    let rate = |r: &SwitchRun| r.flow_setups as f64 / r.span().as_ps() as f64 * 1e12;
    let (r1, r4) = (rate(&one), rate(&four));
    assert!(
        r4 > 1.3 * r1,
        "flow setups/s: 1 core {r1:.0} ({} setups), 4 cores {r4:.0} ({} setups)",
        one.flow_setups,
        four.flow_setups
    );
    assert!(four.ledger.delivered > one.ledger.delivered);
    for r in [&one, &four] {
        r.check_conservation().expect("invariant 1");
    }
}
