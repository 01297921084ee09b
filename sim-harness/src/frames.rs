//! Seeded random Ethernet frames covering every header kind the card parses: Ethernet II,
//! 802.1Q and QinQ tags, LLC/SNAP, ARP, IPv4 (options, fragments), IPv6 (with and without
//! a hop-by-hop header), TCP, UDP, SCTP, ICMP, ICMPv6, an EtherType with no header after it,
//! and damaged frames (cut short, or one byte overwritten). Flows repeat (a pool of addresses
//! and ports), so table lookups both hit and miss. The headers are emitted by
//! [`nic_abi::emit`]; the damage is done to the emitted bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use nic_abi::emit::{
    ArpRepr, Checksum, EmitError, EthernetRepr, FrameRepr, IcmpRepr, Ipv4Repr, Ipv6ExtHeader,
    Ipv6Repr, Len, NetworkRepr, Payload, SctpRepr, TcpRepr, TransportRepr, UdpRepr, VlanTag,
};
use nic_abi::key::{EtherType, MacAddr};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` frames from `seed`; the same arguments give the same frames.
pub fn random_frames(n: usize, seed: u64) -> Result<Vec<Vec<u8>>, EmitError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| random_frame(&mut rng)).collect()
}

fn pick<T: Copy>(rng: &mut impl Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Eight bytes of IPv4 options: no-operations.
const NOP_OPTIONS: [u8; 8] = [1; 8];

/// An empty hop-by-hop options header.
const HOP_BY_HOP: [Ipv6ExtHeader<'static>; 1] = [Ipv6ExtHeader::Options {
    protocol: 0,
    data: &[0; 6],
}];

/// An echo request's header: identifier 1, sequence 1.
fn echo_request(ty: u8) -> TransportRepr<'static> {
    TransportRepr::Icmp(IcmpRepr {
        ty,
        rest: [0, 1, 0, 1],
        ..IcmpRepr::default()
    })
}

/// What follows the Ethernet header.
struct Layers {
    /// `Some`: this EtherType, whatever the network layer.
    ether_type: Option<EtherType>,
    network: NetworkRepr<'static>,
    transport: TransportRepr<'static>,
    payload: Payload<'static>,
}

impl Layers {
    /// `network` alone, under the EtherType it implies.
    fn network(network: NetworkRepr<'static>) -> Layers {
        Layers {
            ether_type: None,
            network,
            transport: TransportRepr::None,
            payload: Payload::default(),
        }
    }
}

/// One frame: L2 header, L3, L4, payload, then perhaps damage. The draws from `rng` come in
/// a fixed order, so a seed always gives the same frames.
pub fn random_frame(rng: &mut impl Rng) -> Result<Vec<u8>, EmitError> {
    let flow: u8 = rng.random_range(0..64);
    let tags = match rng.random_range(0..10) {
        0 => vec![VlanTag::dot1q(u16::from(flow), 1)],
        1 => vec![
            VlanTag {
                tpid: EtherType::QINQ,
                tci: 0x0010,
            },
            VlanTag::dot1q(u16::from(flow), 0),
        ],
        _ => Vec::new(),
    };
    let layers = match rng.random_range(0..12) {
        0 => Layers::network(NetworkRepr::Arp(arp(flow))),
        1..=3 => ipv6(rng, flow),
        4 => Layers {
            // MPLS, LLDP, or IPv4 with no IPv4 header.
            ether_type: Some(pick(
                rng,
                &[EtherType(0x8847), EtherType(0x88cc), EtherType::IPV4],
            )),
            ..Layers::network(NetworkRepr::None)
        },
        _ => ipv4(rng, flow),
    };
    // Sometimes an 802.3 length and LLC/SNAP carry the EtherType.
    let llc_snap = (rng.random_range(0..20) == 0).then_some(Len::Consistent);
    let mut f = FrameRepr {
        ethernet: EthernetRepr {
            dst: MacAddr([0x02, 0, 0, 0, 0, flow % 8]),
            src: MacAddr([0x02, 0, 0, 0, 1, flow % 5]),
            tags: &tags,
            ether_type: layers.ether_type,
            llc_snap,
        },
        network: layers.network,
        transport: layers.transport,
        payload: layers.payload,
        min_len: 60,
    }
    .to_vec()?;
    // Damage at a random place in the bytes, which no header's representation can name.
    match rng.random_range(0..16) {
        0 => {
            let cut = rng.random_range(0..f.len());
            f.truncate(cut);
        }
        1 => {
            let at = rng.random_range(0..f.len());
            f[at] = rng.random();
        }
        _ => {}
    }
    Ok(f)
}

fn arp(flow: u8) -> ArpRepr {
    ArpRepr {
        oper: 1 + u16::from(flow % 2),
        sha: MacAddr([2, 0, 0, 0, 1, flow]),
        spa: Ipv4Addr::new(10, 0, 0, flow),
        tpa: Ipv4Addr::new(10, 0, 0, 1),
        ..ArpRepr::default()
    }
}

/// The transport header for IP protocol `proto` and its payload; any protocol but TCP, UDP
/// and SCTP carries an ICMP echo request's 8 bytes.
fn l4(rng: &mut impl Rng, proto: u8, flow: u8) -> (TransportRepr<'static>, Payload<'static>) {
    let src_port = 1024 + u16::from(flow);
    let dst_port = pick(rng, &[80u16, 443, 53, 22, 8080]);
    match proto {
        6 => (
            TransportRepr::Tcp(TcpRepr {
                src_port,
                dst_port,
                seq: 1,
                flags: TcpRepr::PSH | TcpRepr::ACK,
                window: u16::MAX,
                ..TcpRepr::default()
            }),
            Payload::default(),
        ),
        // 16 bytes whose length field says 20 (a UDP length the datagram does not hold).
        17 => (
            TransportRepr::Udp(UdpRepr {
                src_port,
                dst_port,
                length: Len::Forced(20),
                ..UdpRepr::default()
            }),
            Payload::Zeros(8),
        ),
        // The same 16 bytes: the tag holds what is UDP's length there.
        132 => (
            TransportRepr::Sctp(SctpRepr {
                src_port,
                dst_port,
                verification_tag: 20 << 16,
                ..SctpRepr::default()
            }),
            Payload::Zeros(4),
        ),
        _ => (echo_request(8), Payload::default()),
    }
}

fn ipv4(rng: &mut impl Rng, flow: u8) -> Layers {
    let proto = pick(rng, &[6u8, 6, 17, 17, 1, 132, 47]);
    let options: &'static [u8] = if rng.random_range(0..8) == 0 {
        &NOP_OPTIONS
    } else {
        &[]
    };
    let flags_fragment = match rng.random_range(0..16) {
        0 => Ipv4Repr::MORE_FRAGMENTS,
        1 => 0x00b9,
        _ => 0,
    };
    let (transport, payload) = l4(rng, proto, flow);
    Layers {
        ether_type: None,
        network: NetworkRepr::Ipv4(Ipv4Repr {
            tos: pick(rng, &[0u8, 0xb8, 0x02]),
            ident: 1,
            flags_fragment,
            protocol: Some(proto),
            checksum: Checksum::Forced(0),
            src: Ipv4Addr::new(10, 0, 0, flow),
            dst: Ipv4Addr::new(10, 0, 1, flow % 4),
            options,
            ..Ipv4Repr::default()
        }),
        transport,
        payload,
    }
}

fn ipv6(rng: &mut impl Rng, flow: u8) -> Layers {
    let proto = pick(rng, &[6u8, 17, 58, 58]);
    let extensions: &'static [Ipv6ExtHeader<'static>] = if rng.random_range(0..6) == 0 {
        &HOP_BY_HOP
    } else {
        &[]
    };
    let (transport, payload) = if proto == 58 {
        (echo_request(128), Payload::default())
    } else {
        l4(rng, proto, flow)
    };
    Layers {
        ether_type: None,
        network: NetworkRepr::Ipv6(Ipv6Repr {
            src: Ipv6Addr::new(0x2001, 0x0db8, 0, 0, 0, 0, 0, u16::from(flow)),
            dst: Ipv6Addr::new(0x2001, 0x0db8, 0, 0, 0, 0, 0, 0x0100 | u16::from(flow % 4)),
            extensions,
            ..Ipv6Repr::default()
        }),
        transport,
        payload,
    }
}
