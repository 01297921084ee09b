//! Whole-system simulations through the switch-under-test contract: simulated packets per
//! wall-clock second. One section per switch.
//!
//! - `sim/snich_inter_vm_64B`: 10,000 64-byte packets from VM 0 to VM 1, one every 200 ns,
//!   through the sNICh system (card, copy engine, driver, agent: the first packets miss).
//! - `sim/snich_wire_to_vm_64B`: 10,000 64-byte packets from the wire to VM 0, one every 100 ns.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flow_setup::ofctl::parse_rules;
use nic_abi::key::MacAddr;
use nic_abi::time::{SimDuration, SimTime};
use sim_harness::host_cpu::HostConfig;
use sim_harness::switch::{
    Endpoint, ExternalHostIndex, ExternalNode, InterVmCopy, OfferedPacket, SwitchContext,
    SwitchUnderTest, Topology, VmIndex, VmNode,
};

const PACKETS: u64 = 10_000;

fn mac(i: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, i])
}

/// Two VMs and one external host, a forwarding rule per address.
fn context() -> SwitchContext {
    let vm = |i: u8| VmNode {
        mac: mac(i),
        ipv4: 0x0a00_0000 + u32::from(i),
        vlan: None,
        queue_entries: 256,
    };
    let rules = parse_rules(
        "dl_dst=02:00:00:00:00:01,actions=output:101\n\
         dl_dst=02:00:00:00:00:02,actions=output:102\n\
         dl_dst=02:00:00:00:00:f0,actions=output:1",
    )
    .expect("rules");
    SwitchContext {
        topology: Topology {
            vms: vec![vm(1), vm(2)],
            external_hosts: vec![ExternalNode {
                mac: mac(0xf0),
                ipv4: 0xc000_0201,
            }],
        },
        rules,
        host: HostConfig::default(),
        card: nic_model::card::CardConfig::default(),
        inter_vm: InterVmCopy::CopyEngine,
        profile: None,
        seed: 1,
    }
}

/// A 64-byte IPv4/UDP frame from `src` to `dst`.
fn frame(src: MacAddr, dst: MacAddr) -> Bytes {
    let mut f = vec![0u8; 64];
    f[0..6].copy_from_slice(&dst.0);
    f[6..12].copy_from_slice(&src.0);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[23] = 17;
    Bytes::from(f)
}

/// Offers `PACKETS` copies of `frame` from `from`, `gap_ns` apart, and finishes the run.
fn offer_all(mut s: Box<dyn SwitchUnderTest>, from: Endpoint, frame: &Bytes, gap_ns: u64) {
    for i in 0..PACKETS {
        s.offer(OfferedPacket {
            at: SimTime::ZERO + SimDuration::from_ns(gap_ns * i),
            from,
            frame: frame.clone(),
        })
        .expect("offered");
    }
    // Conservation is checked by `finish`; a new flow's burst may overflow the agent's
    // per-flow hold queue (counted drops), so not every packet need arrive.
    let run = s.finish().expect("conserved");
    assert!(run.ledger.delivered > PACKETS / 2, "{:?}", run.ledger);
}

mod snich {
    use super::*;
    use sim_harness::snich_system::SnichSystem;

    pub fn benches(c: &mut Criterion) {
        let ctx = context();
        let build =
            || -> Box<dyn SwitchUnderTest> { Box::new(SnichSystem::new(&ctx).expect("system")) };
        let mut g = c.benchmark_group("sim");
        g.throughput(Throughput::Elements(PACKETS));
        g.sample_size(20);
        let inter_vm = frame(mac(1), mac(2));
        g.bench_function("snich_inter_vm_64B", |b| {
            b.iter_batched(
                build,
                |s| offer_all(s, Endpoint::Vm(VmIndex(0)), &inter_vm, 200),
                BatchSize::PerIteration,
            );
        });
        let wire = frame(mac(0xf0), mac(1));
        g.bench_function("snich_wire_to_vm_64B", |b| {
            b.iter_batched(
                build,
                |s| offer_all(s, Endpoint::External(ExternalHostIndex(0)), &wire, 100),
                BatchSize::PerIteration,
            );
        });
        g.finish();
    }
}

criterion_group!(benches, snich::benches);
criterion_main!(benches);
