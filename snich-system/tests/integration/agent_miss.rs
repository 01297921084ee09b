//! The agent services the driver's misses: a miss is set up through the registers and
//! released, the driver's register work is billed to the host.

use flow_setup::ofctl::parse_rules;
use host_driver::copy::CopyMode;
use host_driver::host::CpuUse;
use host_driver::iommu::GrantMode;
use nic_abi::desc::RxStatus;

use crate::fixtures::{small_card, udp_frame, vm_mac};
use crate::support::system;

#[test]
fn bring_up_work_is_billed_to_the_host_before_the_run() {
    let (cp, _) = system(
        CopyMode::CopyEngine,
        2,
        16,
        GrantMode::Persistent,
        small_card(),
        Vec::new(),
    );
    let d = cp.driver();
    // Bring-up's register work is counted (before the run, on no core's timeline).
    let reads = d.metrics().mmio_reads;
    assert!(d.host().metrics().cycles(CpuUse::Driver) >= reads * 2_600);
    assert_eq!(cp.metrics().core_busy_ps, 0);
}

#[test]
fn a_miss_is_set_up_by_the_agent_then_hits() {
    let rules = parse_rules("priority=10,in_port=101,actions=output:102\npriority=5,actions=drop")
        .expect("rules");
    let (mut cp, mut guests) = system(
        CopyMode::CopyEngine,
        2,
        16,
        GrantMode::Persistent,
        small_card(),
        rules,
    );
    let f = udp_frame(vm_mac(0), vm_mac(1), 300, || 9);
    let first = guests[0]
        .send(cp.driver_mut().card_mut(), &f)
        .expect("sent");
    cp.drain(|_, _| Ok(())).expect("drained");
    let second = guests[0]
        .send(cp.driver_mut().card_mut(), &f)
        .expect("sent");
    cp.drain(|_, _| Ok(())).expect("drained");
    assert_eq!((first.value(), second.value()), (0, 1));
    let mut got = Vec::new();
    guests[1]
        .poll(cp.driver_mut().card_mut(), &mut got)
        .expect("polled");
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.status == RxStatus::Ok));
    let c = cp.driver().card().counters().clone();
    assert_eq!((c.table_misses, c.table_hits, c.delivered), (1, 2, 2));
    assert_eq!(cp.agent().counters().installed, 1);
    assert_eq!(cp.metrics().relookups, 1);
    let host = cp.driver().host().metrics();
    // The setup cost the agent its per-miss time and the driver its register work.
    assert!(host.cycles(CpuUse::Agent) >= 4_039 * 2_600 / 1_000);
    assert!(host.cycles(CpuUse::Driver) > 0 && host.cycles(CpuUse::Interrupts) > 0);
    // The first packet waited for the setup: its completion came microseconds later.
    assert!(got[0].timestamp.0 > 4_039_000);
    // A flow the rules drop: the packet is released with drop and counted as the agent's.
    let other = udp_frame(vm_mac(7), vm_mac(1), 300, || 9);
    guests[1]
        .send(cp.driver_mut().card_mut(), &other)
        .expect("sent");
    cp.drain(|_, _| Ok(())).expect("drained");
    let counters = cp.driver_mut().card_mut().finish().expect("conserved");
    assert_eq!(counters.dropped_total(), 1);
}
