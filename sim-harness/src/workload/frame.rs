//! Frame building: real Ethernet II / [802.1Q] / IPv4 / UDP or TCP frames of a given size,
//! emitted by [`nic_abi::emit`]: IPv4 total length, UDP length and the IPv4 header checksum
//! are right; the L4 checksum is left zero (no switch here reads it). The one place
//! sim-harness builds the workload's frames.

use nic_abi::emit::{
    EthernetRepr, FrameRepr, Ipv4Repr, NetworkRepr, Payload, TcpRepr, TransportRepr, UdpRepr,
    VlanTag,
};
use nic_abi::key::MacAddr;

use super::spec::Protocol;
use super::FCS_BYTES;

/// Builds an Ethernet II / [802.1Q] / IPv4 / UDP or TCP frame of `size` bytes with FCS
/// (returned without it). The datagram fills the frame: zeros after the L4 header, counted
/// in the IPv4 total length (no Ethernet padding). A size below the headers gives just the
/// headers; one whose datagram would pass IPv4's 65,535 bytes gives the largest datagram.
/// IPv4 identification 0, don't fragment, TTL 64; TCP segments are ACKs with window 65,535.
pub fn build_frame(
    protocol: Protocol,
    size: u32,
    dst_mac: MacAddr,
    src_mac: MacAddr,
    vlan: Option<u16>,
    (src_ip, dst_ip): (u32, u32),
    (src_port, dst_port): (u16, u16),
) -> Vec<u8> {
    let tag = vlan.map(|v| [VlanTag::dot1q(v, 0)]);
    let transport = match protocol {
        Protocol::Udp => TransportRepr::Udp(UdpRepr {
            src_port,
            dst_port,
            ..UdpRepr::default()
        }),
        Protocol::Tcp => TransportRepr::Tcp(TcpRepr {
            src_port,
            dst_port,
            flags: TcpRepr::ACK,
            window: u16::MAX,
            ..TcpRepr::default()
        }),
    };
    let mut frame = FrameRepr {
        ethernet: EthernetRepr {
            dst: dst_mac,
            src: src_mac,
            tags: tag.as_ref().map_or(&[], |t| t.as_slice()),
            ..EthernetRepr::default()
        },
        network: NetworkRepr::Ipv4(Ipv4Repr {
            flags_fragment: Ipv4Repr::DONT_FRAGMENT,
            src: src_ip.into(),
            dst: dst_ip.into(),
            ..Ipv4Repr::default()
        }),
        transport,
        ..FrameRepr::default()
    };
    let len = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .saturating_sub(FCS_BYTES);
    // Headers without options: the layout is always known.
    if let Ok(layout) = frame.layout() {
        let largest = layout.network + usize::from(u16::MAX);
        frame.payload = Payload::Zeros(len.min(largest).saturating_sub(layout.payload));
    }
    // Cannot fail: whole headers and a datagram of at most 65,535 bytes.
    frame.to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_byte_exact() {
        let f = build_frame(
            Protocol::Udp,
            64,
            MacAddr([2, 0, 0, 0, 0, 2]),
            MacAddr([2, 0, 0, 0, 0, 1]),
            None,
            (0x0a00_0001, 0x0a00_0002),
            (1024, 80),
        );
        assert_eq!(f.len(), 60);
        let p = etherparse::SlicedPacket::from_ethernet(&f).expect("parses");
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("ipv4")
        };
        assert_eq!(ip.header().total_len(), 46);
        assert_eq!(
            ip.header().to_header().calc_header_checksum(),
            ip.header().header_checksum()
        );
        let Some(etherparse::TransportSlice::Udp(u)) = p.transport else {
            panic!("udp")
        };
        assert_eq!(
            (u.source_port(), u.destination_port(), u.length()),
            (1024, 80, 26)
        );
        let t = build_frame(
            Protocol::Tcp,
            1518,
            MacAddr([2, 0, 0, 0, 0, 2]),
            MacAddr([2, 0, 0, 0, 0, 1]),
            Some(7),
            (1, 2),
            (5, 6),
        );
        assert_eq!(t.len(), 1514);
        let p = etherparse::SlicedPacket::from_ethernet(&t).expect("parses");
        assert!(matches!(
            p.transport,
            Some(etherparse::TransportSlice::Tcp(_))
        ));
        assert_eq!(p.vlan_ids().first().map(|v| v.value()), Some(7));
    }
}
