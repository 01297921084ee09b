//! The host side: ring operations, and the inter-VM path through the whole model.
//!
//! - `ring/post_complete`: a guest posts a TX descriptor into its ring in guest memory, the
//!   device side writes its completion, the guest reads it and frees the slot.
//! - `copy/inter_vm_1500B`: 1,500-byte packets from VM A to VM B through the card, the host's
//!   copy engine and the driver (entry installed through the management registers), the
//!   system assembled by `snich-system`, drained per batch: simulated packets per wall-clock
//!   second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use host_driver::iommu::GrantMode;
use host_driver::memory::{GuestAddress, GuestMemory};
use host_driver::ring::{write_slot, ConsumerRing, ProducerRing, RingPlace};
use nic_abi::action::Action;
use nic_abi::desc::{
    Iova, QueueIndex, RingIndex, RingSize, TxCompletion, TxDescriptor, TxFlags, TxStatus, VmId,
};
use nic_abi::device::FlowTableDevice;
use nic_abi::emit::{
    EthernetRepr, FrameRepr, Ipv4Repr, NetworkRepr, Payload, TransportRepr, UdpRepr,
};
use nic_abi::key::{MacAddr, PortNo};
use nic_abi::parse::parse_card;
use nic_abi::time::SimTime;
use snich_system::assemble::SystemSpec;

fn ring(c: &mut Criterion) {
    const OPS: u64 = 4096;
    let size = RingSize::new(256).expect("power of two");
    let place = RingPlace {
        base: GuestAddress(0),
        size,
    };
    let cq_place = RingPlace {
        base: GuestAddress(0x1000),
        size,
    };
    let mut mem = GuestMemory::flat(VmId(1), 0x2000).expect("memory");
    let mut tx = ProducerRing::<TxDescriptor>::new(place);
    let mut cq = ConsumerRing::<TxCompletion>::new(cq_place);
    let mut device_cq = RingIndex::new(0);
    let d = TxDescriptor {
        buf: Iova(0x10_0000),
        len: 64,
        flags: TxFlags::NONE,
        vm: VmId(1),
        queue: QueueIndex(0),
    };
    let mut g = c.benchmark_group("ring");
    g.throughput(Throughput::Elements(OPS));
    g.bench_function("post_complete", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                let index = tx.post(&mut mem, black_box(&d)).expect("room");
                let cpl = TxCompletion {
                    index,
                    status: TxStatus::Done,
                    timestamp: SimTime(1),
                };
                write_slot(&mut mem, cq_place, device_cq, &cpl).expect("in memory");
                device_cq = device_cq.advance(1);
                let got = cq.poll(&mem, device_cq).expect("valid").expect("one");
                tx.consumed_up_to(got.index.advance(1)).expect("in order");
            }
        });
    });
    g.finish();
}

/// A `len`-byte UDP frame (`len` >= 42), 10.0.0.1 -> 10.0.0.2.
fn frame(len: usize) -> Vec<u8> {
    FrameRepr {
        ethernet: EthernetRepr {
            dst: MacAddr([2, 0, 0, 0, 0, 2]),
            src: MacAddr([2, 0, 0, 0, 0, 1]),
            ..EthernetRepr::default()
        },
        network: NetworkRepr::Ipv4(Ipv4Repr {
            src: [10, 0, 0, 1].into(),
            dst: [10, 0, 0, 2].into(),
            ..Ipv4Repr::default()
        }),
        transport: TransportRepr::Udp(UdpRepr::default()),
        payload: Payload::Zeros(len.checked_sub(42).expect("room for the headers")),
        ..FrameRepr::default()
    }
    .to_vec()
    .expect("a plain UDP frame")
}

fn inter_vm(c: &mut Criterion) {
    const BATCH: u64 = 256;
    let entries = RingSize::new(512).expect("power of two");
    let spec = SystemSpec::with_guests(2, entries, GrantMode::Persistent);
    let (mut cp, mut guests) = spec.assemble(Vec::new()).expect("system");
    let f = frame(1500);
    cp.driver_mut()
        .insert(&parse_card(&f, PortNo(101)), Action::output(PortNo(102)))
        .expect("entry");
    let mut received = Vec::new();
    let mut g = c.benchmark_group("copy");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("inter_vm_1500B", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                guests[0]
                    .send(cp.driver_mut().card_mut(), &f)
                    .expect("room");
            }
            cp.drain(|_, _| Ok(())).expect("drained");
            received.clear();
            for gu in guests.iter_mut() {
                gu.poll(cp.driver_mut().card_mut(), &mut received)
                    .expect("polled");
                gu.post_rx_buffers(cp.driver_mut().card_mut())
                    .expect("reposted");
            }
            assert_eq!(received.len() as u64, BATCH);
        });
    });
    g.finish();
}

criterion_group!(benches, ring, inter_vm);
criterion_main!(benches);
