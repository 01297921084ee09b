//! The calibration of the baselines' cost profiles against the real switches measured on
//! this project's machines (`tests/data/real_switches/real_switches_2026-11-22.json`).
//!
//! Each measured configuration (Linux bridge with no nftables, with 0/10/100/1,000 linear
//! rules and with a 1,000-element set; Open vSwitch 3.1 with AF_XDP and AF_PACKET ports and
//! 0/10/100/1,000 OpenFlow rules; 1 and 1,000 flows of 64-byte UDP) is rebuilt as a model
//! run: two VMs on a one-core driver domain (the measured veth pairs map onto the VMs'
//! virtual NICs: see profiles/default.toml), VM 0 offering 60-byte frames (64 on the wire)
//! to VM 1 at 2 Mpps, above every configuration's capacity, so the model runs saturated as
//! the measured switch did. The model's forwarded packets per second are printed beside the
//! measured median with the relative error.
//!
//! Five rows were fitted (the profile's numbers were derived from them, so their error is
//! close to 0 by construction): linux-bridge none/0 rules/1 flow (the bridge's base cost),
//! linux-bridge linear/1,000/1 flow (the per-rule cost), linux-bridge set/1,000/1 flow (the
//! set lookup, run as `linux-bridge-nftset`), ovs afxdp/0/1 flow (`default.toml`'s OVS fast
//! path) and ovs system/0/1 flow (`ovs-afpacket.toml`'s). Every other row is predicted.
//! Rules that never match are netfilter or OpenFlow rules on source addresses 10.99.x.y,
//! followed by the measured final rule (accept / NORMAL / output); the set records run the
//! bridge with its rules in sets (the 1,000 rules are one set, the final accept a rule).
//!
//! Run with `cargo test -p sim-harness --test integration calibration -- --nocapture` to see
//! the table.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use flow_setup::rule::{Action, MatchBuilder, Rule};
use nic_abi::time::SimTime;
use serde_json::Value;
use sim_harness::baselines::testing::{context, udp_frame};
use sim_harness::baselines::{LinuxBridge, OpenVswitch};
use sim_harness::switch::{Endpoint, OfferedPacket, SwitchUnderTest, Topology, VmIndex};

/// The data's noise is about +-30% (other work on the shared machine). The worst prediction,
/// +36.8%, is OVS with AF_PACKET ports, 1,000 rules and 1,000 flows: the measurement falls
/// with the rule count at 1,000 flows (122 kpps at 0 rules, 92 kpps at 1,000), which the
/// model, where the traffic collapses into one megaflow whatever the rules, does not show.
const PREDICTED_BOUND: f64 = 0.40;
/// A fitted row must reproduce its measurement (rounding of the profile's numbers only).
const FITTED_BOUND: f64 = 0.02;

fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(rel)
}

fn never_matching_rules(n: u64) -> Vec<Rule> {
    (0..n)
        .map(|i| {
            let ip = Ipv4Addr::new(
                10,
                99,
                u8::try_from(i / 256).expect("ip"),
                u8::try_from(i % 256).expect("ip"),
            );
            let m = MatchBuilder::new()
                .udp()
                .nw_src(ip, 32)
                .build()
                .expect("match");
            let priority = 1_000 + u16::try_from(n - i).expect("priority");
            Rule::new(priority, m, Vec::new())
        })
        .collect()
}

fn final_rule(action: Action) -> Rule {
    Rule::new(0, MatchBuilder::new().build().expect("any"), vec![action])
}

/// One measured configuration.
#[derive(Debug)]
struct Config {
    switch: String,
    ports: String,
    rule_kind: String,
    rules: u64,
    flows: u64,
    measured_pps: f64,
    measured_ns: f64,
}

impl Config {
    fn label(&self) -> String {
        format!(
            "{} {} {}/{} {} flow(s)",
            self.switch, self.ports, self.rule_kind, self.rules, self.flows
        )
    }

    fn fitted(&self) -> bool {
        matches!(
            (
                self.switch.as_str(),
                self.ports.as_str(),
                self.rule_kind.as_str(),
                self.rules,
                self.flows
            ),
            ("linux-bridge", _, "none", 0, 1)
                | ("linux-bridge", _, "linear", 1000, 1)
                | ("linux-bridge", _, "set", 1000, 1)
                | ("ovs-netdev", _, _, 0, 1)
        )
    }

    fn rules(&self) -> Vec<Rule> {
        match (self.switch.as_str(), self.rule_kind.as_str()) {
            ("linux-bridge", "none") => Vec::new(),
            ("linux-bridge", "linear") => {
                let mut r = never_matching_rules(self.rules);
                r.push(final_rule(Action::Normal));
                r
            }
            ("linux-bridge", "set") => {
                let mut r = never_matching_rules(self.rules);
                r.push(final_rule(Action::Normal));
                r
            }
            _ if self.rules == 0 => vec![final_rule(Action::Normal)],
            _ => {
                let mut r = never_matching_rules(self.rules);
                r.push(final_rule(Action::Output(Topology::vm_port(VmIndex(1)))));
                r
            }
        }
    }

    fn profile(&self) -> PathBuf {
        if self.ports == "system" {
            repo_path("profiles/ovs-afpacket.toml")
        } else {
            repo_path("profiles/default.toml")
        }
    }

    /// Runs the model: (forwarded packets per second, switch core ns per forwarded packet).
    fn predict(&self) -> (f64, f64) {
        let mut ctx = context(2, 0, 1, self.rules());
        ctx.profile = Some(self.profile());
        let mut switch: Box<dyn SwitchUnderTest> = if self.rule_kind == "set" {
            Box::new(LinuxBridge::with_sets(&ctx).expect("bridge"))
        } else if self.switch == "linux-bridge" {
            Box::new(LinuxBridge::new(&ctx).expect("bridge"))
        } else {
            Box::new(OpenVswitch::new(&ctx).expect("ovs"))
        };
        let (a, b) = (Endpoint::Vm(VmIndex(0)), Endpoint::Vm(VmIndex(1)));
        let frames: Vec<_> = (0..self.flows)
            .map(|f| udp_frame(&ctx.topology, a, b, u16::try_from(f).expect("flow"), 60))
            .collect();
        // 10 ms at 2 Mpps.
        let n = 20_000u64;
        for k in 0..n {
            switch
                .offer(OfferedPacket {
                    at: SimTime(k * 500_000),
                    from: a,
                    frame: frames[usize::try_from(k % self.flows).expect("k")].clone(),
                })
                .expect("offer");
        }
        let run = switch.finish().expect("run");
        let delivered = run.ledger.delivered as f64;
        let pps = delivered / run.span().as_secs_f64();
        let ns = run.host_cpu_cycles_total() as f64 / 2.6 / delivered;
        (pps, ns)
    }
}

fn configs() -> Vec<Config> {
    let path = repo_path("tests/data/real_switches/real_switches_2026-11-22.json");
    let text = std::fs::read_to_string(&path).expect("measurements");
    let data: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(data["meta"]["schema"], "real_switches/v1");
    let s = |r: &Value, k: &str| r[k].as_str().expect(k).to_string();
    let n = |r: &Value, k: &str| r[k].as_f64().expect(k);
    data["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["switch"] != "none")
        .map(|r| Config {
            switch: s(r, "switch"),
            ports: s(r, "ports"),
            rule_kind: s(r, "rule_kind"),
            rules: r["rules"].as_u64().expect("rules"),
            flows: r["flows"].as_u64().expect("flows"),
            measured_pps: n(&r["forwarded_pps"], "median"),
            measured_ns: n(r, "switch_core_ns_per_fwd_pkt_median"),
        })
        .collect()
}

#[test]
fn calibration_predictions_stay_within_the_noise_of_the_measurements() {
    let configs = configs();
    assert_eq!(configs.len(), 28, "12 bridge and 16 OVS configurations");
    println!(
        "{:<46} {:>9} {:>12} {:>12} {:>7} {:>10} {:>10}",
        "configuration", "", "measured pps", "model pps", "error", "meas ns", "model ns"
    );
    let mut failures = Vec::new();
    let mut worst: f64 = 0.0;
    for c in &configs {
        let (pps, ns) = c.predict();
        let error = pps / c.measured_pps - 1.0;
        let kind = if c.fitted() { "fitted" } else { "predicted" };
        println!(
            "{:<46} {:>9} {:>12.0} {:>12.0} {:>+6.1}% {:>10.0} {:>10.0}",
            c.label(),
            kind,
            c.measured_pps,
            pps,
            error * 100.0,
            c.measured_ns,
            ns
        );
        let bound = if c.fitted() {
            FITTED_BOUND
        } else {
            PREDICTED_BOUND
        };
        if !c.fitted() {
            worst = worst.max(error.abs());
        }
        if error.abs() > bound {
            failures.push(format!(
                "{}: {:+.1}% (bound {:.0}%)",
                c.label(),
                error * 100.0,
                bound * 100.0
            ));
        }
    }
    println!("worst predicted error: {:.1}%", worst * 100.0);
    assert!(failures.is_empty(), "outside the bound: {failures:#?}");
}
