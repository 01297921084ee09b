//! A guest issues DMA that faults, under load: TX descriptors whose buffer grant it revokes
//! right after posting (revoked mid-flight), descriptors naming memory it was never granted
//! (the IOVA of another VM's buffer, in its own space and claiming the other VM as owner),
//! and RX buffers whose grants it revokes while they are posted. Nothing of another VM's
//! memory reaches anyone, the other VMs get every packet, and the fault counters show the
//! faults against the guest that made them.

use std::collections::BTreeSet;

use host_driver::copy::CopyMode;
use host_driver::iommu::GrantMode;
use nic_abi::desc::{Iova, RingSize, TxDescriptor, TxFlags, VmId};
use nic_model::counters::DropReason;
use snich_system::assemble::SystemSpec;

use super::traffic::{
    delta_pct, dropped, first_reordering, forward_by_destination_mac, merge, periodic, stamped,
    From, Run,
};
use crate::fixtures::{udp_frame, vm_mac};

const HOSTILE: usize = 0;
const HOSTILE_VM: VmId = VmId(1);
const VICTIM_VM: VmId = VmId(2);
const ENTRIES: u16 = 256;

fn rules() -> Vec<flow_setup::rule::Rule> {
    forward_by_destination_mac(3)
}

/// VM 2 <-> VM 3 (classes 0 and 1, 500 kpps each of 512-byte frames, 10 ms); the hostile
/// VM 1 sends to VM 2 (class 2, 250 kpps, flows 2000-2003) and receives from the wire
/// (class 3, 250 kpps). When `hostile`, only its flow 2000 is legitimate: 2001's buffer
/// grant is revoked right after the post, 2002's descriptor names VM 2's RX buffer address,
/// 2003's claims VM 2 as its owner; and before every fifth wire packet it revokes the
/// grant of one of its posted RX buffers.
fn run(hostile: bool) -> Run {
    let mut spec = SystemSpec::with_guests(
        3,
        RingSize::new(ENTRIES).expect("pow2"),
        GrantMode::Persistent,
    )
    .with_copy_mode(CopyMode::CopyEngine);
    spec.guests[HOSTILE].grants = GrantMode::MapPerPost;
    let (cp, guests) = spec.assemble(rules()).expect("system");
    let mut run = Run::new(cp, guests);
    let stream = |from: From, src: u16, to: u16, sport: u16, gap: u64, n: u64, class: u32| {
        let f = udp_frame(vm_mac(src), vm_mac(to), 512, || 9);
        periodic(n, u64::from(class) * 41, gap, from, class, move |i| {
            stamped(
                f.clone(),
                sport + u16::try_from(i % 4).expect("small"),
                i / 4,
            )
        })
    };
    let offers = merge(vec![
        stream(From::Guest(1), 1, 2, 1_000, 2_000, 5_000, 0),
        stream(From::Guest(2), 2, 1, 1_100, 2_000, 5_000, 1),
        stream(From::Guest(HOSTILE), 0, 1, 2_000, 4_000, 2_500, 2),
        stream(From::Wire, 9, 0, 3_000, 4_000, 2_500, 3),
    ]);
    let victim_buffer = run.guests[1].rx_buffer(5);
    let tx_ring = run.guests[HOSTILE].queue_config().tx;
    let mut wire = 0u64;
    for o in &offers {
        run.run_until(o.at);
        run.cp.driver_mut().card_mut().advance_to(o.at);
        if hostile && o.class == 3 {
            wire += 1;
            if wire % 5 == 0 {
                let slot = u16::try_from(wire / 5 % u64::from(ENTRIES)).expect("small");
                let host = run.cp.driver_mut().card_mut().host_mut();
                run.guests[HOSTILE]
                    .revoke_rx_posted(host, slot)
                    .expect("revoked");
            }
        }
        let index = run.offer(o);
        let (Some(index), true, 2) = (index, hostile, o.class) else {
            continue;
        };
        let sport = u16::from_be_bytes([o.frame[34], o.frame[35]]);
        let host = run.cp.driver_mut().card_mut().host_mut();
        let desc = |vm| TxDescriptor {
            buf: Iova(victim_buffer.0),
            len: 512,
            flags: TxFlags::NONE,
            vm,
            queue: nic_abi::desc::QueueIndex(0),
        };
        let forged = match sport {
            2001 => {
                assert!(run.guests[HOSTILE]
                    .revoke_tx_in_flight(host, index)
                    .expect("revoked"));
                None
            }
            2002 => Some(desc(HOSTILE_VM)),
            2003 => Some(desc(VICTIM_VM)),
            _ => None,
        };
        if let Some(d) = forged {
            let at = tx_ring.0 + u64::from(index.value() % ENTRIES) * TxDescriptor::SIZE as u64;
            host.memory_mut(HOSTILE_VM)
                .expect("its memory")
                .write(host_driver::memory::GuestAddress(at), &d.to_bytes())
                .expect("its own ring");
        }
    }
    run.drain();
    run
}

#[test]
fn a_guests_faulting_dma_under_load_leaks_nothing_and_is_counted_against_it() {
    let (base, faulty) = (run(false), run(true));
    let host = faulty.cp.driver().host();
    let faults = host.dma_faults_by_vm().clone();
    let card = faulty.cp.driver().card().counters().clone();
    let (c2, c3) = (faulty.class(2), faulty.class(3));
    println!(
        "hostile VM: DMA faults by VM {faults:?}; its sends: {} of {} delivered, dropped {:?}; \
         to it: {} of {} delivered, dropped {:?}; card: {} dma_fault, {} bad_descriptor, {} \
         completion faults",
        c2.delivered,
        c2.offered,
        c2.dropped,
        c3.delivered,
        c3.offered,
        c3.dropped,
        card.dropped(DropReason::DmaFault),
        card.dropped(DropReason::BadDescriptor),
        card.completion_faults,
    );
    // The faults are counted, and only against the hostile VM.
    assert_eq!(
        faults.keys().copied().collect::<Vec<_>>(),
        vec![HOSTILE_VM],
        "{faults:?}"
    );
    assert!(host
        .iommu()
        .metrics()
        .fault_log
        .iter()
        .all(|f| f.vm == HOSTILE_VM));
    // Flows 2001-2003 never get through; 2000 always does.
    let refused = dropped(&c2, DropReason::DmaFault) + dropped(&c2, DropReason::BadDescriptor);
    assert_eq!(c2.delivered, c2.offered / 4, "{:?}", c2.dropped);
    assert_eq!(refused, c2.offered - c2.offered / 4, "{:?}", c2.dropped);
    assert!(dropped(&c3, DropReason::DmaFault) > 0, "{:?}", c3.dropped);
    // Every DMA the IOMMU refused is one of the hostile VM's packets dropped as a DMA fault;
    // the descriptors claiming another owner are refused by the card before any DMA
    // (`bad_descriptor`, and the queue's descriptor-refused status).
    assert_eq!(
        faults[&HOSTILE_VM],
        dropped(&c2, DropReason::DmaFault) + dropped(&c3, DropReason::DmaFault)
    );
    assert_eq!(dropped(&c2, DropReason::BadDescriptor), c2.offered / 4);
    // Nothing leaks: VM 2 received exactly VM 3's packets and the hostile VM's legitimate
    // ones, each flow in order, nothing from its own buffer or anyone else's.
    let got = &faulty.received[1];
    let flows: BTreeSet<u16> = got.iter().map(|&(f, _)| f).collect();
    assert_eq!(
        flows,
        [1_100, 1_101, 1_102, 1_103, 2_000].into_iter().collect(),
        "VM 2 received flows {flows:?}"
    );
    assert_eq!(got.len() as u64, faulty.class(1).offered + c2.offered / 4);
    assert_eq!(first_reordering(got), None);
    for class in [0u32, 1] {
        let (b, f) = (base.class(class), faulty.class(class));
        assert_eq!(f.delivered, f.offered, "class {class}: {:?}", f.dropped);
        println!(
            "other VMs, class {class}: throughput {:.3} -> {:.3} Gb/s ({:+.2}%), p50 {:.0} -> \
             {:.0} ns ({:+.2}%), p99 {:.0} -> {:.0} ns ({:+.2}%)",
            b.gbps(),
            f.gbps(),
            delta_pct(f.gbps(), b.gbps()),
            b.latency_ns(50),
            f.latency_ns(50),
            delta_pct(f.latency_ns(50), b.latency_ns(50)),
            b.latency_ns(99),
            f.latency_ns(99),
            delta_pct(f.latency_ns(99), b.latency_ns(99)),
        );
    }
    assert!(base.cp.driver().host().dma_faults_by_vm().is_empty());
}
