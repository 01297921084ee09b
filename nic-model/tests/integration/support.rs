//! Shared helpers: frames, a card with VMs and an agent's miss ring.

use bytes::Bytes;
use nic_abi::desc::{PacketHandle, QueueIndex, Release, VmId};
use nic_abi::key::{FlowKey, PortNo};
use nic_abi::parse::parse_card;
use nic_model::card::{Card, CardConfig};
use nic_model::counters::Counters;
use nic_model::host::IrqVector;
use nic_model::testing::{FlatMemoryHost, MissLayout, VmLayout};

/// An IPv4/UDP frame of `len` bytes (at least 42) from flow number `flow`.
pub fn udp_frame(flow: u32, len: usize) -> Vec<u8> {
    assert!(len >= 42);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = u16::try_from(len - 14).expect("short frame");
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&(0x0a01_0000u32 + flow).to_be_bytes());
    f[34..36].copy_from_slice(&1000u16.to_be_bytes());
    f[36..38].copy_from_slice(&(u16::try_from(flow % 60_000).expect("fits") + 1).to_be_bytes());
    f[38..40].copy_from_slice(&u16::try_from(len - 34).expect("short").to_be_bytes());
    for (i, b) in (0u32..).zip(f[42..].iter_mut()) {
        *b = (i ^ flow).to_le_bytes()[0];
    }
    f
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
