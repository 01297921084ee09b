//! Shared helpers: frames, a card with VMs and an agent's miss ring.

use std::net::Ipv4Addr;

use bytes::Bytes;
use nic_abi::desc::{PacketHandle, QueueIndex, Release, VmId};
use nic_abi::emit::{
    EthernetRepr, FrameRepr, Ipv4Repr, NetworkRepr, Payload, TransportRepr, UdpRepr,
};
use nic_abi::key::{FlowKey, MacAddr, PortNo};
use nic_abi::parse::parse_card;
use nic_model::card::{Card, CardConfig};
use nic_model::counters::Counters;
use nic_model::host::IrqVector;
use nic_model::testing::{FlatMemoryHost, MissLayout, VmLayout};

/// An IPv4/UDP frame of `len` bytes (at least 42) from flow number `flow`: 10.0.0.1:1000 to
/// 10.1.x.y (the flow number) on port `flow % 60,000 + 1`, a payload that differs by flow.
pub fn udp_frame(flow: u32, len: usize) -> Vec<u8> {
    assert!(len >= 42);
    let payload: Vec<u8> = (0u32..)
        .take(len - 42)
        .map(|i| (i ^ flow).to_le_bytes()[0])
        .collect();
    FrameRepr {
        ethernet: EthernetRepr {
            dst: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
            src: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
            ..EthernetRepr::default()
        },
        network: NetworkRepr::Ipv4(Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::from(0x0a01_0000u32 + flow),
            ..Ipv4Repr::default()
        }),
        transport: TransportRepr::Udp(UdpRepr {
            src_port: 1000,
            dst_port: u16::try_from(flow % 60_000).expect("fits") + 1,
            ..UdpRepr::default()
        }),
        payload: Payload::Bytes(&payload),
        ..FrameRepr::default()
    }
    .to_vec()
    .expect("a UDP frame")
}

/// The key the card forms for `frame` entering on `port`.
pub fn key_of(frame: &[u8], port: PortNo) -> FlowKey {
    parse_card(frame, port)
}

/// A card with `vms` VMs on ports 101.., each with rings of `entries` and all RX buffers
/// posted, and an agent miss ring of `miss_entries` in VM 0's memory.
pub struct Bed {
    pub card: Card<FlatMemoryHost>,
    pub vms: Vec<VmLayout>,
    pub miss: MissLayout,
}

pub const AGENT: VmId = VmId(0);

impl Bed {
    pub fn new(config: CardConfig, vms: u16, entries: u16, miss_entries: u16) -> Bed {
        let mut host = FlatMemoryHost::new();
        let miss = MissLayout {
            vm: AGENT,
            entries: miss_entries,
        };
        host.add_vm(AGENT, miss.memory_bytes());
        let layouts: Vec<VmLayout> = (0..vms)
            .map(|i| VmLayout {
                vm: VmId(i + 1),
                port: PortNo(101 + i),
                queue: QueueIndex(i),
                entries,
            })
            .collect();
        for l in &layouts {
            host.add_vm(l.vm, l.memory_bytes());
        }
        let mut card = Card::new(config, host).expect("valid config");
        card.set_miss_queue(miss.setup(IrqVector(0)))
            .expect("miss ring");
        for (i, l) in (0u16..).zip(&layouts) {
            let q = card
                .add_queue(l.queue_setup(IrqVector(2 + 2 * i), IrqVector(3 + 2 * i)))
                .expect("queue");
            assert_eq!(q, l.queue);
        }
        Bed {
            card,
            vms: layouts,
            miss,
        }
    }

    /// Posts RX buffers `from..from+count` of VM `i` and rings its doorbell.
    pub fn post_rx(&mut self, i: usize, from: u16, count: u16) {
        let l = self.vms[i];
        for k in 0..count {
            l.post_rx(self.card.host_mut(), from.wrapping_add(k))
                .expect("ring in memory");
        }
        self.card
            .rx_doorbell(l.queue, from.wrapping_add(count))
            .expect("queue");
    }

    /// Releases held packet `handle`, runs to the end and checks conservation: the
    /// (delivered, held, releases, miss records) counts, and the counters.
    pub fn release_and_finish(
        &mut self,
        handle: PacketHandle,
        release: Release,
    ) -> ((u64, u64, u64, u64), Counters) {
        self.card.release(handle, release).expect("held");
        let c = self.card.finish().expect("conserved and drained");
        ((c.delivered, c.held, c.releases, c.miss_records), c)
    }
}

pub fn bytes(v: Vec<u8>) -> Bytes {
    Bytes::from(v)
}
