//! Frame building: real Ethernet II / [802.1Q] / IPv4 / UDP or TCP frames of a given size,
//! emitted by [`nic_abi::emit`]: IPv4 total length, UDP length and the IPv4 header checksum
//! are right; the L4 checksum is left zero (no switch here reads it). The one place
//! sim-harness builds the workload's frames.

use nic_abi::emit::{
    EthernetRepr, FrameRepr, Ipv4Repr, NetworkRepr, Payload, SctpRepr, TcpRepr, TransportRepr,
    UdpRepr, VlanTag,
};
use nic_abi::key::MacAddr;

use super::spec::Protocol;
use super::FCS_BYTES;

/// The IPv4 payload's header: the protocol and the fields a flow key takes from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP with these ports.
    Udp(u16, u16),
    /// TCP (an ACK segment, window 65,535) with these ports.
    Tcp(u16, u16),
    /// SCTP with these ports.
    Sctp(u16, u16),
    /// Any other IP protocol: no transport header, the payload zeros (an ICMP packet reads
    /// as type 0, code 0).
    Other(u8),
}

impl Transport {
    /// The header of IP protocol `protocol` carrying `ports` where the protocol has ports
    /// (TCP, UDP, SCTP); other protocols carry none, so theirs are dropped.
    pub fn for_protocol(protocol: u8, (src, dst): (u16, u16)) -> Transport {
        match protocol {
            6 => Transport::Tcp(src, dst),
            17 => Transport::Udp(src, dst),
            132 => Transport::Sctp(src, dst),
            p => Transport::Other(p),
        }
    }
}

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
    ips: (u32, u32),
    (src_port, dst_port): (u16, u16),
) -> Vec<u8> {
    let transport = match protocol {
        Protocol::Udp => Transport::Udp(src_port, dst_port),
        Protocol::Tcp => Transport::Tcp(src_port, dst_port),
    };
    build_ipv4_frame(transport, size, dst_mac, src_mac, vlan, ips)
}

/// [`build_frame`] for any IPv4 payload: `transport` says which header follows IPv4.
pub fn build_ipv4_frame(
    transport: Transport,
    size: u32,
    dst_mac: MacAddr,
    src_mac: MacAddr,
    vlan: Option<u16>,
    (src_ip, dst_ip): (u32, u32),
) -> Vec<u8> {
    let tag = vlan.map(|v| [VlanTag::dot1q(v, 0)]);
    let (transport, protocol) = match transport {
        Transport::Udp(src_port, dst_port) => (
            TransportRepr::Udp(UdpRepr {
                src_port,
                dst_port,
                ..UdpRepr::default()
            }),
            None,
        ),
        Transport::Tcp(src_port, dst_port) => (
            TransportRepr::Tcp(TcpRepr {
                src_port,
                dst_port,
                flags: TcpRepr::ACK,
                window: u16::MAX,
                ..TcpRepr::default()
            }),
            None,
        ),
        Transport::Sctp(src_port, dst_port) => (
            TransportRepr::Sctp(SctpRepr {
                src_port,
                dst_port,
                ..SctpRepr::default()
            }),
            None,
        ),
        Transport::Other(p) => (TransportRepr::None, Some(p)),
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
            protocol,
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

    #[test]
    fn any_ip_protocol_is_carried_with_ports_only_where_it_has_them() {
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let sctp = build_ipv4_frame(
            Transport::for_protocol(132, (9, 10)),
            64,
            mac,
            mac,
            None,
            (1, 2),
        );
        assert_eq!(sctp.len(), 60);
        assert_eq!(sctp[23], 132, "IPv4 protocol");
        assert_eq!(&sctp[34..38], &[0, 9, 0, 10], "SCTP ports");
        let icmp = build_ipv4_frame(
            Transport::for_protocol(1, (9, 10)),
            64,
            mac,
            mac,
            None,
            (1, 2),
        );
        let p = etherparse::SlicedPacket::from_ethernet(&icmp).expect("parses");
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("ipv4")
        };
        assert_eq!(ip.header().protocol().0, 1);
        assert_eq!(ip.header().total_len(), 46, "the datagram fills the frame");
        assert!(icmp[34..].iter().all(|b| *b == 0), "no ports: zeros");
        assert_eq!(Transport::for_protocol(6, (1, 2)), Transport::Tcp(1, 2));
        assert_eq!(Transport::for_protocol(17, (1, 2)), Transport::Udp(1, 2));
        assert_eq!(Transport::for_protocol(255, (1, 2)), Transport::Other(255));
    }
}
