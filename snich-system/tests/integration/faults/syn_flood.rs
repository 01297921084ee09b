//! A miss-ring overflow storm: a SYN flood of new flows from the wire at ten times the
//! agent's setup capacity. The card holds what it can and drops the rest as
//! `miss_queue_full`; existing flows (installed before the flood) keep their throughput
//! within 10%.

use std::net::Ipv4Addr;

use flow_setup::ofctl::parse_rules;
use host_driver::copy::CopyMode;
use host_driver::iommu::GrantMode;
use nic_abi::desc::RingSize;
use nic_abi::emit::{
    EthernetRepr, FrameRepr, Ipv4Repr, NetworkRepr, Payload, TcpRepr, TransportRepr,
};
use nic_abi::key::MacAddr;
use nic_model::counters::DropReason;
use snich_system::assemble::SystemSpec;

use super::traffic::{delta_pct, dropped, merge, periodic, stamped, summary, From, Offer, Run};
use crate::fixtures::{udp_frame, vm_mac};

/// A 64-byte TCP SYN from the wire to VM 4, of flow `n` (source address and port from `n`).
fn syn(n: u64) -> Vec<u8> {
    let [a, b, c, d] = u32::try_from(n % (1 << 24)).expect("24 bits").to_be_bytes();
    FrameRepr {
        ethernet: EthernetRepr {
            dst: MacAddr(vm_mac(3)),
            src: MacAddr([0x02, 0xee, a, b, c, d]),
            ..EthernetRepr::default()
        },
        network: NetworkRepr::Ipv4(Ipv4Repr {
            src: Ipv4Addr::new(100, b, c, d),
            dst: Ipv4Addr::new(10, 0, 0, 4),
            ..Ipv4Repr::default()
        }),
        transport: TransportRepr::Tcp(TcpRepr {
            src_port: 1_024 + u16::try_from(n % 60_000).expect("small"),
            dst_port: 80,
            flags: TcpRepr::SYN,
            window: 65_535,
            ..TcpRepr::default()
        }),
        payload: Payload::Zeros(6),
        ..FrameRepr::default()
    }
    .to_vec()
    .expect("a SYN")
}

fn system() -> Run {
    let spec = SystemSpec::with_guests(4, RingSize::new(256).expect("pow2"), GrantMode::Persistent)
        .with_copy_mode(CopyMode::CopyEngine);
    let rules = parse_rules(
        "priority=10,in_port=101,actions=output:102\n\
         priority=10,in_port=1,udp,actions=output:103\n\
         priority=10,in_port=1,tcp,actions=output:104",
    )
    .expect("rules");
    let (cp, guests) = spec.assemble(rules).expect("system");
    Run::new(cp, guests)
}

/// `n` SYNs of new flows, one every `gap_ps` from `start_ns` (class 2).
fn flood(n: u64, start_ns: u64, gap_ps: u64) -> Vec<Offer> {
    (0..n)
        .map(|i| Offer {
            at: nic_abi::time::SimTime(start_ns * 1_000 + i * gap_ps),
            from: From::Wire,
            frame: syn(i),
            class: 2,
        })
        .collect()
}

/// The agent's setup capacity, setups per second: setups completed while a flood far beyond
/// it (4 million new flows per second, 2 ms) keeps the miss ring full.
fn setup_capacity() -> u64 {
    let mut run = system();
    run.offer_all(&flood(8_000, 0, 250_000), |_, _| {});
    let started = u128::from(run.cp.agent().counters().started);
    let span_ps = u128::from(run.cp.driver().card().now().as_ps()).max(1);
    u64::try_from(started * 1_000_000_000_000 / span_ps).expect("a rate")
}

/// VM 1 -> VM 2 (class 0) and wire -> VM 3 (class 1): 8 flows each, 500 kpps of 512-byte
/// frames for 10 ms; with `flood_per_s` above 0, SYNs of new flows to VM 4 from 1 ms to 9 ms.
fn run(flood_per_s: u64) -> Run {
    let mut run = system();
    let vm = udp_frame(vm_mac(0), vm_mac(1), 512, || 3);
    let wire = udp_frame(vm_mac(9), vm_mac(2), 512, || 4);
    let mut streams = vec![
        periodic(5_000, 0, 2_000, From::Guest(0), 0, |i| {
            stamped(
                vm.clone(),
                1_000 + u16::try_from(i % 8).expect("small"),
                i / 8,
            )
        }),
        periodic(5_000, 1_000, 2_000, From::Wire, 1, |i| {
            stamped(
                wire.clone(),
                1_100 + u16::try_from(i % 8).expect("small"),
                i / 8,
            )
        }),
    ];
    if let Some(gap_ps) = 1_000_000_000_000u64.checked_div(flood_per_s) {
        let gap_ps = gap_ps.max(1);
        let n = 8_000_000_000 / gap_ps; // 8 ms of it
        streams.push(flood(n, 1_000_000, gap_ps));
    }
    run.offer_all(&merge(streams), |_, _| {});
    run
}

#[test]
fn a_syn_flood_at_ten_times_setup_capacity_spares_existing_flows() {
    let capacity = setup_capacity();
    let rate = 10 * capacity;
    let (base, flooded) = (run(0), run(rate));
    let f = flooded.class(2);
    let agent = flooded.cp.agent().counters();
    println!(
        "SYN flood: agent setup capacity {capacity} setups/s, flood {rate} new flows/s: \
         {} SYNs, {} set up, {} delivered, dropped {:?}",
        f.offered, agent.started, f.delivered, f.dropped
    );
    assert!(
        dropped(&f, DropReason::MissQueueFull) > f.offered / 2,
        "the miss path overflowed: {:?}",
        f.dropped
    );
    let mut worst = 0f64;
    for class in [0u32, 1] {
        let (b, x) = (base.class(class), flooded.class(class));
        let d = delta_pct(x.gbps(), b.gbps());
        println!(
            "existing flows, class {class}: without flood {}; flooded {}; throughput {:+.2}%, \
             p50 {:+.2}%, p99 {:+.2}%, dropped {:?}",
            summary(&b),
            summary(&x),
            d,
            delta_pct(x.latency_ns(50), b.latency_ns(50)),
            delta_pct(x.latency_ns(99), b.latency_ns(99)),
            x.dropped
        );
        worst = worst.max(d.abs());
    }
    assert!(
        worst <= 10.0,
        "existing flows' throughput changed by {worst:.2}%"
    );
}
