//! Frames and a small card shared by host-driver's and snich-system's integration tests
//! (snich-system's binary includes this file).

use std::net::Ipv4Addr;

use nic_abi::emit::{
    EthernetRepr, FrameRepr, Ipv4Repr, NetworkRepr, Payload, TransportRepr, UdpRepr,
};
use nic_abi::key::MacAddr;
use nic_model::card::{CardConfig, TableConfig};

/// The MAC of VM `i` (0-based).
pub fn vm_mac(i: u16) -> [u8; 6] {
    let [a, b] = i.to_be_bytes();
    [0x02, 0, 0, 0, a, b]
}

/// An IPv4/UDP frame of `len` bytes (at least 42) from `src` to `dst`, 10.0.0.1:1000 to
/// 10.0.0.2:2000, payload from `fill`.
#[allow(
    dead_code,
    reason = "snich-system's tests use it; host-driver's vary the address with udp_frame_to"
)]
pub fn udp_frame(src: [u8; 6], dst: [u8; 6], len: usize, fill: impl FnMut() -> u8) -> Vec<u8> {
    udp_frame_to(src, dst, Ipv4Addr::new(10, 0, 0, 2), len, fill)
}

/// [`udp_frame`] to the IPv4 address `dst_ip`.
pub fn udp_frame_to(
    src: [u8; 6],
    dst: [u8; 6],
    dst_ip: Ipv4Addr,
    len: usize,
    fill: impl FnMut() -> u8,
) -> Vec<u8> {
    let payload: Vec<u8> = std::iter::repeat_with(fill)
        .take(len.checked_sub(42).expect("room for the headers"))
        .collect();
    FrameRepr {
        ethernet: EthernetRepr {
            dst: MacAddr(dst),
            src: MacAddr(src),
            ..EthernetRepr::default()
        },
        network: NetworkRepr::Ipv4(Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: dst_ip,
            ..Ipv4Repr::default()
        }),
        transport: TransportRepr::Udp(UdpRepr {
            src_port: 1000,
            dst_port: 2000,
            ..UdpRepr::default()
        }),
        payload: Payload::Bytes(&payload),
        ..FrameRepr::default()
    }
    .to_vec()
    .expect("a plain UDP frame")
}

/// A small card: a 64-bucket table, descriptor batches of one (so every packet's PCIe
/// traffic is its own and can be computed by hand).
pub fn small_card() -> CardConfig {
    let mut c = CardConfig {
        table: TableConfig {
            buckets: 64,
            ..TableConfig::default()
        },
        ..CardConfig::default()
    };
    c.dma.descriptor_batch = 1;
    c
}
