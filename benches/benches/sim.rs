//! Whole simulation runs: simulated packets per wall-clock second.
//!
//! Each bench builds a switch from a fixed small [`SwitchContext`] and offers it the same
//! stream of packets, then finishes the run (drain and conservation check included). The
//! scenario: 4 VMs and one external host on a 2-core host, 10 filter rules that never match
//! above the per-destination-MAC forwarding rules a scenario generates, 64-byte UDP frames
//! (60 bytes without FCS) from the 4 VMs in turn, 16 flows, 250 kpps offered in total: below
//! the saturation of every switch under the calibrated cost profile (Open vSwitch, the slowest,
//! saturates near 500 kpps on the 2-core host), so every packet takes the whole path and the
//! run asserts that all are delivered.
//!
//! Benches: `sim/linux_bridge_64B`, `sim/ovs_64B`; the sNICh system on the same stream,
//! `sim/snich_inter_vm_64B`, and from the wire (the external host to the 4 VMs in turn, 16
//! flows, 250 kpps), `sim/snich_wire_to_vm_64B`.

use std::hint::black_box;
use std::net::Ipv4Addr;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flow_setup::rule::{Action, MatchBuilder, Rule};
use nic_abi::time::SimTime;
use sim_harness::baselines::testing::{context, udp_frame};
use sim_harness::baselines::{LinuxBridge, OpenVswitch};
use sim_harness::snich_switch::SnichSwitch;
use sim_harness::switch::{
    Endpoint, ExternalHostIndex, OfferedPacket, SwitchContext, SwitchUnderTest, Topology, VmIndex,
};

/// Packets per run.
const PACKETS: u64 = 20_000;
const VMS: u16 = 4;
const FLOWS: u16 = 16;
/// Time between offered packets: 4 us, 250 kpps.
const PACKET_INTERVAL_PS: u64 = 4_000_000;

fn small_scenario() -> SwitchContext {
    let mut ctx = context(VMS, 1, 2, Vec::new());
    let mut rules: Vec<Rule> = (0..10u8)
        .map(|i| {
            let m = MatchBuilder::new()
                .udp()
                .nw_src(Ipv4Addr::new(10, 99, 0, i), 32)
                .build()
                .expect("match");
            Rule::new(100, m, Vec::new())
        })
        .collect();
    for (i, vm) in ctx.topology.vms.iter().enumerate() {
        let m = MatchBuilder::new().dl_dst(vm.mac).build().expect("match");
        let port = Topology::vm_port(VmIndex(u16::try_from(i).expect("vm")));
        rules.push(Rule::new(10, m, vec![Action::Output(port)]));
    }
    ctx.rules = rules;
    ctx
}

/// The offered stream: VM `k % 4` to VM `(k + 1) % 4`, flow `k % 16`, one every 4 us.
fn packets(ctx: &SwitchContext) -> Vec<OfferedPacket> {
    let frames: Vec<(Endpoint, Bytes)> = (0..FLOWS)
        .map(|f| {
            let s = f % VMS;
            let (from, to) = (
                Endpoint::Vm(VmIndex(s)),
                Endpoint::Vm(VmIndex((s + 1) % VMS)),
            );
            (from, udp_frame(&ctx.topology, from, to, f, 60))
        })
        .collect();
    (0..PACKETS)
        .map(|k| {
            let (from, frame) = frames[usize::try_from(k % u64::from(FLOWS)).expect("k")].clone();
            OfferedPacket {
                at: SimTime(k * PACKET_INTERVAL_PS),
                from,
                frame,
            }
        })
        .collect()
}

fn run(mut switch: Box<dyn SwitchUnderTest>, packets: &[OfferedPacket]) -> u64 {
    for p in packets {
        switch.offer(p.clone()).expect("offer");
    }
    let run = switch.finish().expect("run");
    assert_eq!(
        run.ledger.delivered, PACKETS,
        "below saturation every packet is delivered: {:?}",
        run.ledger
    );
    run.ledger.delivered
}

fn baselines(c: &mut Criterion) {
    let ctx = small_scenario();
    let packets = packets(&ctx);
    let mut g = c.benchmark_group("sim");
    g.throughput(Throughput::Elements(PACKETS));
    g.sample_size(20);
    g.bench_function("linux_bridge_64B", |b| {
        b.iter(|| {
            let switch = Box::new(LinuxBridge::new(&ctx).expect("bridge"));
            black_box(run(switch, &packets))
        })
    });
    g.bench_function("ovs_64B", |b| {
        b.iter(|| {
            let switch = Box::new(OpenVswitch::new(&ctx).expect("ovs"));
            black_box(run(switch, &packets))
        })
    });
    g.finish();
}

/// The wire stream: the external host to VM `k % 4`, flow `k % 16`, one every 4 us.
fn wire_packets(ctx: &SwitchContext) -> Vec<OfferedPacket> {
    let from = Endpoint::External(ExternalHostIndex(0));
    let frames: Vec<Bytes> = (0..FLOWS)
        .map(|f| udp_frame(&ctx.topology, from, Endpoint::Vm(VmIndex(f % VMS)), f, 60))
        .collect();
    (0..PACKETS)
        .map(|k| OfferedPacket {
            at: SimTime(k * PACKET_INTERVAL_PS),
            from,
            frame: frames[usize::try_from(k % u64::from(FLOWS)).expect("k")].clone(),
        })
        .collect()
}

fn snich(c: &mut Criterion) {
    let ctx = small_scenario();
    let inter_vm = packets(&ctx);
    let wire = wire_packets(&ctx);
    let mut g = c.benchmark_group("sim");
    g.throughput(Throughput::Elements(PACKETS));
    g.sample_size(20);
    g.bench_function("snich_inter_vm_64B", |b| {
        b.iter(|| {
            let switch = Box::new(SnichSwitch::new(&ctx).expect("snich"));
            black_box(run(switch, &inter_vm))
        })
    });
    g.bench_function("snich_wire_to_vm_64B", |b| {
        b.iter(|| {
            let switch = Box::new(SnichSwitch::new(&ctx).expect("snich"));
            black_box(run(switch, &wire))
        })
    });
    g.finish();
}

criterion_group!(benches, baselines, snich);
criterion_main!(benches);
