//! One NIC model: with every flow's entry installed before traffic and inter-VM packets
//! hairpinned, sNICh and the SR-IOV VEB are the same card, driver, guests and host with
//! another lookup key, so VM-to-VM traffic gives the same PCIe bytes per packet, the same
//! latency percentiles and the same interrupt costs.

use nic_abi::action::Action;
use nic_abi::parse::parse_card;
use nic_abi::time::SimDuration;
use sim_harness::baselines::testing::{context, offer_stream, udp_frame};
use sim_harness::baselines::SriovVeb;
use sim_harness::snich_switch::SnichSwitch;
use sim_harness::switch::{
    Endpoint, InterVmCopy, OfferedPacket, SwitchRun, SwitchUnderTest, Topology, VmIndex,
};

const VMS: u16 = 4;

/// `n` packets of `len` bytes, one every `gap_ns`, VM `s` to VM `s + 1` in turn.
fn traffic(t: &Topology, n: u64, gap_ns: u64, len: usize) -> Vec<OfferedPacket> {
    offer_stream(t, n, SimDuration::from_ns(gap_ns), VMS)
        .map(|mut p| {
            let Endpoint::Vm(s) = p.from else {
                unreachable!("VM senders only")
            };
            let to = Endpoint::Vm(VmIndex((s.0 + 1) % VMS));
            p.frame = udp_frame(t, p.from, to, s.0, len);
            p
        })
        .collect()
}

fn both(n: u64, gap_ns: u64, len: usize) -> (SwitchRun, SwitchRun) {
    let mut ctx = context(VMS, 1, 2, Vec::new());
    ctx.inter_vm = InterVmCopy::Hairpin;
    let packets = traffic(&ctx.topology, n, gap_ns, len);
    let mut snich = SnichSwitch::new(&ctx).expect("snich");
    for s in 0..VMS {
        let from = Endpoint::Vm(VmIndex(s));
        let to = Topology::vm_port(VmIndex((s + 1) % VMS));
        let frame = udp_frame(
            &ctx.topology,
            from,
            Endpoint::Vm(VmIndex((s + 1) % VMS)),
            s,
            len,
        );
        let key = parse_card(&frame, Topology::ingress_port(from));
        snich
            .control_plane_mut()
            .driver_mut()
            .card_mut()
            .install(&key, Action::output(to))
            .expect("room");
    }
    let mut veb = SriovVeb::new(&ctx).expect("veb");
    for p in &packets {
        snich.offer(p.clone()).expect("offer");
        veb.offer(p.clone()).expect("offer");
    }
    let s = Box::new(snich).finish().expect("snich run");
    let v = Box::new(veb).finish().expect("veb run");
    (s, v)
}

fn assert_symmetric(s: &SwitchRun, v: &SwitchRun) {
    assert_eq!(s.extra["table_misses"], 0, "every flow pre-installed");
    assert_eq!(v.extra["table_misses"], 0, "every MAC has its entry");
    assert_eq!(s.ledger, v.ledger);
    assert!(s.ledger.delivered > 0);
    assert_eq!(s.pcie_bytes, v.pcie_bytes, "PCIe bytes");
    for q in [50.0, 99.0, 99.9] {
        assert_eq!(
            s.latency_ns.value_at_quantile(q / 100.0),
            v.latency_ns.value_at_quantile(q / 100.0),
            "p{q}"
        );
    }
    assert_eq!(s.host_cpu_cycles, v.host_cpu_cycles, "interrupt costs");
    assert!(v.host_cpu_cycles.get("interrupts").is_some_and(|c| *c > 0));
}

#[test]
fn snich_hairpin_with_installed_flows_and_the_veb_are_the_same_card() {
    let (s, v) = both(20_000, 300, 60);
    assert_eq!(s.ledger.delivered, 20_000);
    assert_symmetric(&s, &v);
}

#[test]
fn the_same_under_overload_with_large_frames() {
    // 1,500-byte frames every 100 ns hairpinned: beyond the PCIe link, rings fill and drop.
    let (s, v) = both(20_000, 100, 1_500);
    assert!(s.ledger.dropped_total() > 0, "{:?}", s.ledger);
    assert_symmetric(&s, &v);
}
