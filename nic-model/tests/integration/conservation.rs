//! Conservation (invariant 1, in DESIGN.md) under random traffic with a drop forced at every
//! drop point: tiny FIFOs, a short miss ring and few held-packet buffers, too few RX buffers,
//! rules that drop or point nowhere, hostile descriptors, DMA refused by the host, malformed frames, and
//! an agent that drops some held packets. Every run must end with
//! `offered = delivered + dropped` and nothing in flight.

use nic_abi::action::{Action, Destination, VlanOp};
use nic_abi::desc::{Iova, QueueIndex, Release, TxDescriptor, TxFlags};
use nic_abi::key::PortNo;
use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::CardConfig;
use nic_model::counters::{Counters, DropReason};
use nic_model::mac::{EthSpeed, MacConfig};
use nic_model::testing::BUFFER_BYTES;
use proptest::prelude::*;

use crate::support::{bytes, key_of, udp_frame, Bed};

/// xorshift64*: a small deterministic generator for scenario choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn index(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).expect("below a usize")
    }
}

const FLOWS: u32 = 40;
const VMS: u16 = 4;
const ENTRIES: u16 = 256;

fn run_scenario(seed: u64) -> Counters {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let config = CardConfig {
        macs: vec![
            MacConfig {
                speed: EthSpeed::G100,
                rx_fifo_bytes: 3_000,
                ..MacConfig::default()
            },
            MacConfig {
                speed: EthSpeed::G10,
                ..MacConfig::default()
            },
        ],
        held_packets: 6,
        dma: nic_model::dma::DmaConfig {
            channels: 1 + u32::try_from(rng.below(4)).expect("small"),
            ..Default::default()
        },
        ..CardConfig::default()
    };
    let mut b = Bed::new(config, VMS, ENTRIES, 4);
    // Half the runs have a host copy engine (inter-VM copies, and their faults), half hairpin.
    if rng.below(2) == 0 {
        b.card.host_mut().copy_engine = Some(nic_model::testing::CopyEngineModel {
            setup: SimDuration::from_ns(100),
            ps_per_byte: 200,
            free: SimTime::ZERO,
        });
    }
    let vm_ports: Vec<PortNo> = b.vms.iter().map(|l| l.port).collect();
    let all_ports: Vec<PortNo> = [PortNo(1), PortNo(2)]
        .into_iter()
        .chain(vm_ports.iter().copied())
        .collect();

    // Rules for every (flow, ingress port): a mix of every action kind.
    for flow in 0..FLOWS {
        for &port in &all_ports {
            let key = key_of(&udp_frame(flow, 100), port);
            let action = match flow % 8 {
                0 => Action::DROP,
                1 => Action::output(PortNo(999)),
                2 => Action::TO_AGENT,
                3 => continue, // never installed: misses
                4 => Action {
                    dest: Destination::Flood,
                    vlan: VlanOp::Keep,
                },
                _ => Action::output(all_ports[rng.index(all_ports.len())]),
            };
            b.card.install(&key, action).expect("table has room");
        }
    }

    // Few RX buffers at first; VM 1's first descriptor is garbage; part of VM 3's buffers
    // are refused by the IOMMU.
    let mut rx_posted = [0u16; VMS as usize];
    for (i, posted) in rx_posted.iter_mut().enumerate() {
        let n = u16::try_from(rng.below(6)).expect("small");
        b.post_rx(i, 0, n);
        *posted = n;
    }
    let garbage = [0xffu8; 16];
    b.vms[1]
        .write_raw_rx(b.card.host_mut(), rx_posted[1], &garbage)
        .expect("memory");
    rx_posted[1] += 1;
    b.card
        .rx_doorbell(b.vms[1].queue, rx_posted[1])
        .expect("queue");
    let l3 = b.vms[3];
    b.card
        .host_mut()
        .refuse(l3.vm, l3.rx_buffer(2), 3 * u64::from(BUFFER_BYTES));

    let mut tx_sent = [0u16; VMS as usize];
    let mut t = SimTime::ZERO;
    for _step in 0..60 {
        // A burst on the wire: on the 100G port it overflows the 3,000-byte FIFO.
        let port = if rng.below(3) == 0 {
            PortNo(2)
        } else {
            PortNo(1)
        };
        for _ in 0..rng.below(12) {
            let flow = u32::try_from(rng.below(u64::from(FLOWS))).expect("small");
            let frame = match rng.below(20) {
                0 => vec![0u8; 10],                      // runt
                1 => udp_frame(flow, 2_000),             // giant
                2 => udp_frame(flow, 60)[..30].to_vec(), // truncated: unparsed
                _ => udp_frame(flow, 60 + rng.index(1_400)),
            };
            b.card
                .offer_from_wire(port, bytes(frame), t)
                .expect("mac port");
        }
        // VMs send.
        for (i, sent) in tx_sent.iter_mut().enumerate() {
            let l = b.vms[i];
            for _ in 0..rng.below(3) {
                if *sent >= ENTRIES - 1 {
                    break;
                }
                let index = *sent;
                let flow = u32::try_from(rng.below(u64::from(FLOWS))).expect("small");
                let frame = udp_frame(flow, 60 + rng.index(600));
                match (i, rng.below(8)) {
                    (2, 0) => {
                        // Hostile: a buffer far outside the VM's memory.
                        let d = TxDescriptor {
                            buf: Iova(1 << 40),
                            len: 100,
                            flags: TxFlags::NONE,
                            vm: l.vm,
                            queue: l.queue,
                        };
                        l.write_raw_tx(b.card.host_mut(), index, &d.to_bytes())
                            .expect("memory");
                    }
                    (2, 1) => l
                        .write_raw_tx(b.card.host_mut(), index, &[0xee; 16])
                        .expect("memory"),
                    (2, 2) => {
                        // Claims another VM's queue.
                        let d = TxDescriptor {
                            buf: l.tx_buffer(index),
                            len: 100,
                            flags: TxFlags::NONE,
                            vm: l.vm,
                            queue: QueueIndex(0),
                        };
                        l.write_raw_tx(b.card.host_mut(), index, &d.to_bytes())
                            .expect("memory");
                    }
                    _ => l
                        .queue_tx(b.card.host_mut(), index, &frame)
                        .expect("memory"),
                }
                *sent += 1;
            }
            b.card.tx_doorbell(l.queue, *sent).expect("queue");
        }
        // Sometimes a VM posts more RX buffers.
        let i = rng.index(usize::from(VMS));
        if rx_posted[i] < ENTRIES - 10 {
            let n = u16::try_from(rng.below(6)).expect("small");
            b.post_rx(i, rx_posted[i], n);
            rx_posted[i] += n;
        }
        t += SimDuration::from_ns(300 + rng.below(3_000));
        b.card.run_until(t);
        // The agent answers some held packets.
        for handle in b.card.held_handles() {
            let release = match rng.below(4) {
                0 => Release::Apply(Action::DROP),
                1 => Release::Apply(Action::output(vm_ports[rng.index(usize::from(VMS))])),
                2 => Release::Relookup,
                _ => continue,
            };
            b.card.release(handle, release).expect("held");
        }
        if rng.below(40) == 0 {
            // The agent crashed: the new one asks for every held packet again, with the
            // ring's records unread (those that find the ring full: `agent_restart`).
            b.card.replay_held_packets();
            b.card.run_until(t);
        }
        let records = u16::try_from(b.card.counters().miss_records & 0xffff).expect("masked");
        b.card.miss_doorbell(records);
        b.card.counters().check().expect("law holds at every step");
    }
    // Drain, dropping whatever the agent still holds.
    loop {
        b.card.drain();
        let held = b.card.held_handles();
        if held.is_empty() {
            break;
        }
        for handle in held {
            b.card
                .release(handle, Release::Apply(Action::DROP))
                .expect("held");
        }
    }
    b.card.finish().expect("conserved and drained")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_traffic_is_conserved(seed in any::<u64>()) {
        let c = run_scenario(seed);
        prop_assert_eq!(c.in_flight, 0);
        prop_assert_eq!(c.offered, c.delivered + c.dropped_total());
    }
}

#[test]
fn every_drop_point_is_exercised() {
    let mut total = Counters::default();
    let mut by_reason = std::collections::BTreeMap::new();
    let mut copies = 0;
    for seed in 0..12 {
        let c = run_scenario(seed);
        for (r, n) in c.dropped_by_reason() {
            *by_reason.entry(r).or_insert(0u64) += n;
        }
        total.offered += c.offered;
        copies += c.copy_commands;
        total.delivered += c.delivered;
    }
    assert!(copies > 0, "no run used the copy engine");
    for r in DropReason::ALL {
        assert!(
            by_reason.get(&r).copied().unwrap_or(0) > 0,
            "drop point {r} never hit: {by_reason:?}"
        );
    }
    assert!(total.delivered > 0);
}

#[test]
fn same_seed_same_counters() {
    assert_eq!(run_scenario(77), run_scenario(77));
}
