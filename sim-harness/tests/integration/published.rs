//! Each Open vSwitch variant in a published configuration: the model's prediction beside the
//! publication, with the error. Printed (`cargo test -p sim-harness --test integration
//! published -- --nocapture`) and bounded.
//!
//! The model's per-packet cost of a configuration is assembled from simulated runs on one
//! core at a load every variant carries (one VM, one external host, 64-byte frames, warm
//! caches: the first packets' upcalls, revalidation and idle polling are left out, as the
//! publications measure forwarding): a P2P packet (physical port to physical port, which the
//! workloads cannot offer directly) is the NIC receive of a wire-to-VM run plus the datapath
//! work and NIC transmit of a VM-to-wire run; a PVP packet (physical to VM and back, through
//! the VM's vhost-user ports) is a wire-to-VM and a VM-to-wire packet. The predicted rate on
//! one core is the host clock over those cycles.
//!
//! Anchors: Tu et al., "Revisiting the Open vSwitch Dataplane Ten Years Later" (SIGCOMM
//! 2021): kernel datapath P2P 64 B about 1.4 Mpps for 1 flow on about 1.1 hyperthreads;
//! OVS-DPDK about 11 Mpps on one PMD for 1 flow, 8.7 with 1,000 flows; PVP over vhost-user
//! about 3 Mpps. The AF_XDP variant's anchor is this project's own measurement
//! (`tests/data/real_switches`, VM to VM over veth, 247,598 pps). Which anchors the profile
//! was fitted to and which are checks is said per row; a fitted row can only show that the
//! fit was carried over faithfully, a checked row tests the model.

use sim_harness::runner;
use sim_harness::scenario::Scenario;
use sim_harness::switch::{SwitchKind, SwitchRun};

/// Uses that are not per-packet forwarding work in a warm steady state, or not at the
/// publications' saturating loads: these runs offer 100 kpps, so every packet finds its
/// vhost-net workers asleep (a wake-up and a guest interrupt each) and its PMD iteration
/// empty but for it (every queue polled for one packet), where at saturation the workers
/// never sleep and an iteration takes a burst of 32 from each busy queue; those per-batch
/// costs tend to 0 per packet there, and the fitted per-packet costs hold what is left.
const NOT_FORWARDING: [&str; 6] = [
    "upcall",
    "revalidation",
    "pmd_idle_poll",
    "vhost_wakeup",
    "guest_notify",
    "pmd_poll",
];

fn scenario(kind: SwitchKind, traffic: &str, vms: u16, flows: u32) -> Scenario {
    let text = format!(
        "seed = 7\npackets = 20000\nswitches = [\"{}\"]\n\
         [host]\ncores = 1\nclock_mhz = 2600\n\
         [vms]\ncount = {vms}\n\
         [workload]\nkind = \"{traffic}\"\nsize = {{ fixed = 64 }}\nrate = {{ pps = 1e5 }}\n\
         flows = {{ initial = {flows}, new_per_second = 0.0 }}\n",
        kind.name()
    );
    Scenario::from_toml(&text, None).unwrap_or_else(|e| panic!("{e}"))
}

fn run(kind: SwitchKind, traffic: &str, vms: u16, flows: u32) -> SwitchRun {
    let r = runner::run_switch(kind, &scenario(kind, traffic, vms, flows))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.ledger.delivered, r.ledger.offered,
        "{} {traffic}: below capacity everything is delivered: {:?}",
        r.switch, r.ledger
    );
    r
}

/// Cycles per delivered packet of the uses `pick` selects, forwarding work only.
fn per_packet(r: &SwitchRun, pick: impl Fn(&str) -> bool) -> f64 {
    let cycles: u64 = r
        .host_cpu_cycles
        .iter()
        .filter(|(k, _)| !NOT_FORWARDING.contains(&k.as_str()) && pick(k))
        .map(|(_, c)| *c)
        .sum();
    cycles as f64 / r.ledger.delivered as f64
}

fn is_nic(use_: &str) -> bool {
    matches!(use_, "driver" | "dpdk_port")
}

fn is_vm_port(use_: &str) -> bool {
    matches!(use_, "vnic_backend" | "vhost_user" | "copy")
}

/// Model cycles of one P2P packet of `kind` with `flows` flows.
fn p2p(kind: SwitchKind, flows: u32) -> f64 {
    let to_wire = run(kind, "vm-to-wire", 1, flows);
    let from_wire = run(kind, "wire-to-vm", 1, flows);
    per_packet(&from_wire, is_nic) + per_packet(&to_wire, |u| !is_vm_port(u))
}

/// Model cycles of one PVP packet of `kind`.
fn pvp(kind: SwitchKind) -> f64 {
    let to_wire = run(kind, "vm-to-wire", 1, 1);
    let from_wire = run(kind, "wire-to-vm", 1, 1);
    per_packet(&from_wire, |_| true) + per_packet(&to_wire, |_| true)
}

/// Model cycles of one VM-to-VM packet of `kind` (two VMs, one flow).
fn vm_to_vm(kind: SwitchKind) -> f64 {
    per_packet(&run(kind, "inter-vm", 2, 1), |_| true)
}

struct Row {
    what: &'static str,
    fitted: bool,
    published_mpps: f64,
    cycles: f64,
    /// Largest error the row may show.
    bound: f64,
}

#[test]
fn each_ovs_variant_beside_its_published_configuration() {
    const CLOCK_MHZ: f64 = 2_600.0;
    let rows = [
        Row {
            what: "ovs-kernel P2P 64 B, 1 flow, per core (1.4 Mpps on 1.1 hyperthreads)",
            fitted: true,
            published_mpps: 1.4 / 1.1,
            cycles: p2p(SwitchKind::OvsKernel, 1),
            bound: 0.03,
        },
        Row {
            what: "ovs-dpdk P2P 64 B, 1 flow, one PMD",
            fitted: true,
            published_mpps: 11.0,
            cycles: p2p(SwitchKind::OvsDpdk, 1),
            bound: 0.03,
        },
        Row {
            what: "ovs-dpdk P2P 64 B, 1,000 flows, one PMD",
            fitted: false,
            published_mpps: 8.7,
            cycles: p2p(SwitchKind::OvsDpdk, 1_000),
            // Not fitted: with 1,000 flows most packets miss the EMC (one insertion per
            // 100 misses) and probe the megaflow subtable; the model gives +3.2%. The
            // larger working set's cache misses are not modelled.
            bound: 0.10,
        },
        Row {
            what: "ovs-dpdk PVP over vhost-user, 1 flow, one PMD",
            fitted: true,
            published_mpps: 3.0,
            cycles: pvp(SwitchKind::OvsDpdk),
            bound: 0.03,
        },
        Row {
            what: "ovs-afxdp VM to VM over veth, 1 flow, one core (measured here)",
            fitted: true,
            published_mpps: 0.247_598,
            cycles: vm_to_vm(SwitchKind::OvsAfxdp),
            bound: 0.03,
        },
    ];
    println!("| configuration | anchor | published Mpps | model Mpps | error |");
    println!("|---|---|---|---|---|");
    let mut out_of_bounds = Vec::new();
    for r in &rows {
        let model = CLOCK_MHZ / r.cycles;
        let error = model / r.published_mpps - 1.0;
        println!(
            "| {} | {} | {:.3} | {:.3} | {:+.1}% |",
            r.what,
            if r.fitted { "fitted" } else { "checked" },
            r.published_mpps,
            model,
            error * 100.0
        );
        if error.abs() > r.bound {
            out_of_bounds.push(format!("{}: {error:+.3} beyond +-{}", r.what, r.bound));
        }
    }
    assert!(out_of_bounds.is_empty(), "{out_of_bounds:#?}");
}
