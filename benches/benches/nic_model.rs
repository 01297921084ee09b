//! Whole-model benchmark (issue 2): `nic_model/wire_to_vm_64B`, back-to-back 64-byte frames
//! (60 bytes + FCS) from one 25G port to 8 VMs, every frame a table hit. Throughput is
//! simulated packets per wall-clock second.
//!
//! Each iteration is 8 rounds; a round offers one ring's worth of frames per VM (8 x 256) at
//! line rate and runs the card until they are all in the VMs' memory (descriptor fetches,
//! DMA writes, completions and interrupts included). Re-posting the consumed RX buffers
//! between rounds (the guests' work) is not timed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nic_abi::action::Action;
use nic_abi::desc::{QueueIndex, VmId};
use nic_abi::emit::{
    EthernetRepr, FrameRepr, Ipv4Repr, NetworkRepr, Payload, TransportRepr, UdpRepr,
};
use nic_abi::key::{MacAddr, PortNo};
use nic_abi::parse::parse_card;
use nic_abi::time::SimDuration;
use nic_model::card::{Card, CardConfig};
use nic_model::host::IrqVector;
use nic_model::testing::{FlatMemoryHost, VmLayout};

const VMS: u16 = 8;
/// Ring entries per VM: 256, virtio-net's default queue size.
const ENTRIES: u16 = 256;
/// Packets per round: one full ring per VM.
const ROUND: u64 = 8 * ENTRIES as u64;
/// Rounds per measured iteration.
const ROUNDS: u64 = 8;
const PACKETS: u64 = ROUND * ROUNDS;
const FLOWS_PER_VM: u32 = 64;

/// A 60-byte UDP frame of flow `flow`: 10.0.0.1:1000 -> 10.1.x.y:`flow`.
fn frame(flow: u32) -> Vec<u8> {
    FrameRepr {
        ethernet: EthernetRepr {
            dst: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
            src: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
            ..EthernetRepr::default()
        },
        network: NetworkRepr::Ipv4(Ipv4Repr {
            src: [10, 0, 0, 1].into(),
            dst: (0x0a01_0000u32 + flow).into(),
            ..Ipv4Repr::default()
        }),
        transport: TransportRepr::Udp(UdpRepr {
            src_port: 1000,
            dst_port: u16::try_from(flow).expect("few flows"),
            ..UdpRepr::default()
        }),
        payload: Payload::Zeros(18),
        ..FrameRepr::default()
    }
    .to_vec()
    .expect("a plain UDP frame")
}

struct Bench {
    card: Card<FlatMemoryHost>,
    vms: Vec<VmLayout>,
    frames: Vec<Bytes>,
    posted: Vec<u16>,
}

fn setup() -> Bench {
    let mut host = FlatMemoryHost::new();
    let vms: Vec<VmLayout> = (0..VMS)
        .map(|i| VmLayout {
            vm: VmId(i + 1),
            port: PortNo(101 + i),
            queue: QueueIndex(i),
            entries: ENTRIES,
        })
        .collect();
    for l in &vms {
        host.add_vm(l.vm, l.memory_bytes());
    }
    let mut card = Card::new(CardConfig::default(), host).expect("valid config");
    for (i, l) in (0u16..).zip(&vms) {
        card.add_queue(l.queue_setup(IrqVector(2 * i), IrqVector(2 * i + 1)))
            .expect("queue");
    }
    let mut frames = Vec::new();
    for flow in 0..u32::from(VMS) * FLOWS_PER_VM {
        let f = frame(flow);
        let vm = vms[(flow % u32::from(VMS)) as usize];
        card.install(&parse_card(&f, PortNo(1)), Action::output(vm.port))
            .expect("room");
        // The frames live for the whole benchmark: static buffers, as a generator's packet
        // templates are, so offering one costs no allocation and no reference count.
        frames.push(Bytes::from_static(Vec::leak(f)));
    }
    Bench {
        card,
        vms,
        frames,
        posted: vec![0; usize::from(VMS)],
    }
}

impl Bench {
    /// Posts a full ring of fresh buffers to every VM (untimed guest work).
    fn repost(&mut self) {
        for (i, l) in self.vms.iter().enumerate() {
            let from = self.posted[i];
            for k in 0..ENTRIES {
                l.post_rx(self.card.host_mut(), from.wrapping_add(k))
                    .expect("ring in memory");
            }
            self.posted[i] = from.wrapping_add(ENTRIES);
            self.card
                .rx_doorbell(l.queue, self.posted[i])
                .expect("queue");
        }
    }

    /// Offers `ROUND` frames back to back and runs the card until all are delivered.
    fn run(&mut self) {
        let start = self.card.counters().delivered;
        let mut next = 0usize;
        let mut offered = 0u64;
        // The wire's own clock: 32 frames of 26.88 ns (64 B + 20 B at 25 Gb/s) per chunk.
        let mut wire = self.card.now();
        while offered < ROUND {
            for _ in 0..32 {
                self.card
                    .offer_from_wire(PortNo(1), self.frames[next].clone(), wire)
                    .expect("mac port");
                next = (next + 1) % self.frames.len();
                offered += 1;
            }
            wire += SimDuration::from_ps(32 * 26_880);
            self.card.run_until(wire);
        }
        self.card.drain();
        assert_eq!(
            self.card.counters().delivered - start,
            ROUND,
            "{:?}",
            self.card.counters()
        );
    }
}

fn wire_to_vm_64b(c: &mut Criterion) {
    let mut bench = setup();
    let mut group = c.benchmark_group("nic_model");
    group.throughput(Throughput::Elements(PACKETS));
    group.sample_size(20);
    group.bench_function("wire_to_vm_64B", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters * ROUNDS {
                bench.repost();
                let t = Instant::now();
                bench.run();
                total += t.elapsed();
            }
            total
        })
    });
    group.finish();
    bench.card.finish().expect("conserved and drained");
}

criterion_group!(benches, wire_to_vm_64b);
criterion_main!(benches);
