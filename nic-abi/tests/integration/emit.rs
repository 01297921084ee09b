//! The frame emitter against both parsers: random header representations are emitted, and
//! `parse_software` (and `parse_card`, up to IPv6 extension headers) gives exactly the key
//! fields the representation states; `etherparse`, an independent parser, reads the same
//! fields from the frames it can slice.

use std::net::{Ipv4Addr, Ipv6Addr};

use nic_abi::emit::{
    ArpRepr, EthernetRepr, FrameRepr, IcmpRepr, Ipv4Repr, Ipv6ExtHeader, Ipv6Repr, Len,
    NetworkRepr, Payload, SctpRepr, TcpRepr, TransportRepr, UdpRepr, VlanTag,
};
use nic_abi::key::{EtherType, FlowKey, FragFlags, KeyClass, MacAddr, PortNo, UnparsedReason};
use nic_abi::parse::{parse_card, parse_software};
use proptest::prelude::*;

use crate::etherparse_oracle::{differing_fields, etherparse_key};

/// An owned description of a frame, from which a [`FrameRepr`] borrows.
#[derive(Debug, Clone)]
struct Spec {
    dst: [u8; 6],
    src: [u8; 6],
    tags: Vec<VlanTag>,
    snap: bool,
    net: Net,
    l4: L4,
    payload: Vec<u8>,
    min_len: usize,
}

#[derive(Debug, Clone)]
enum Net {
    /// An EtherType the parser does not look into.
    Other(u16),
    Arp {
        rarp: bool,
        repr: ArpRepr,
    },
    V4 {
        tos: u8,
        ttl: u8,
        ident: u16,
        flags_fragment: u16,
        options: Vec<u8>,
        src: u32,
        dst: u32,
    },
    V6 {
        tc: u8,
        flow_label: u32,
        hop_limit: u8,
        src: u128,
        dst: u128,
        exts: Vec<Ext>,
    },
}

#[derive(Debug, Clone)]
enum Ext {
    Options(u8, Vec<u8>),
    Ah(Vec<u8>),
    Fragment { offset: u16, more: bool },
}

#[derive(Debug, Clone)]
enum L4 {
    /// No transport header; the IP header names this protocol.
    Raw(u8),
    Tcp {
        src: u16,
        dst: u16,
        seq: u32,
        flags: u8,
        options: Vec<u8>,
    },
    Udp {
        src: u16,
        dst: u16,
    },
    Sctp {
        src: u16,
        dst: u16,
        tag: u32,
    },
    Icmp {
        ty: u8,
        code: u8,
    },
}

fn is_ip(n: &Net) -> bool {
    matches!(n, Net::V4 { .. } | Net::V6 { .. })
}

fn emit(s: &Spec) -> Vec<u8> {
    let exts: Vec<Ipv6ExtHeader<'_>> = match &s.net {
        Net::V6 { exts, .. } => exts
            .iter()
            .map(|e| match e {
                Ext::Options(protocol, data) => Ipv6ExtHeader::Options {
                    protocol: *protocol,
                    data,
                },
                Ext::Ah(data) => Ipv6ExtHeader::Ah { data },
                Ext::Fragment { offset, more } => Ipv6ExtHeader::Fragment {
                    offset: *offset,
                    more: *more,
                    ident: 0x1234_5678,
                },
            })
            .collect(),
        _ => Vec::new(),
    };
    let raw = match s.l4 {
        L4::Raw(p) => Some(p),
        _ => None,
    };
    let (network, ether_type) = match &s.net {
        Net::Other(t) => (NetworkRepr::None, Some(EtherType(*t))),
        Net::Arp { rarp, repr } => (NetworkRepr::Arp(*repr), rarp.then_some(EtherType(0x8035))),
        Net::V4 {
            tos,
            ttl,
            ident,
            flags_fragment,
            options,
            src,
            dst,
        } => (
            NetworkRepr::Ipv4(Ipv4Repr {
                tos: *tos,
                ttl: *ttl,
                ident: *ident,
                flags_fragment: *flags_fragment,
                protocol: raw,
                src: Ipv4Addr::from(*src),
                dst: Ipv4Addr::from(*dst),
                options,
                ..Ipv4Repr::default()
            }),
            None,
        ),
        Net::V6 {
            tc,
            flow_label,
            hop_limit,
            src,
            dst,
            ..
        } => (
            NetworkRepr::Ipv6(Ipv6Repr {
                traffic_class: *tc,
                flow_label: *flow_label,
                hop_limit: *hop_limit,
                next_header: raw,
                src: Ipv6Addr::from(*src),
                dst: Ipv6Addr::from(*dst),
                extensions: &exts,
                ..Ipv6Repr::default()
            }),
            None,
        ),
    };
    let transport = match &s.l4 {
        _ if !is_ip(&s.net) => TransportRepr::None,
        L4::Raw(_) => TransportRepr::None,
        L4::Tcp {
            src,
            dst,
            seq,
            flags,
            options,
        } => TransportRepr::Tcp(TcpRepr {
            src_port: *src,
            dst_port: *dst,
            seq: *seq,
            flags: *flags,
            window: 0xffff,
            options,
            ..TcpRepr::default()
        }),
        L4::Udp { src, dst } => TransportRepr::Udp(UdpRepr {
            src_port: *src,
            dst_port: *dst,
            ..UdpRepr::default()
        }),
        L4::Sctp { src, dst, tag } => TransportRepr::Sctp(SctpRepr {
            src_port: *src,
            dst_port: *dst,
            verification_tag: *tag,
            ..SctpRepr::default()
        }),
        L4::Icmp { ty, code } => TransportRepr::Icmp(IcmpRepr {
            ty: *ty,
            code: *code,
            ..IcmpRepr::default()
        }),
    };
    FrameRepr {
        ethernet: EthernetRepr {
            dst: MacAddr(s.dst),
            src: MacAddr(s.src),
            tags: &s.tags,
            ether_type,
            llc_snap: s.snap.then_some(Len::Consistent),
        },
        network,
        transport,
        payload: Payload::Bytes(&s.payload),
        min_len: s.min_len,
    }
    .to_vec()
    .expect("every generated representation is writable")
}

/// The key the spec states, by the parser's documented rules (`card`: the card profile).
fn expected(s: &Spec, card: bool) -> FlowKey {
    let mut k = FlowKey {
        in_port: PortNo(1),
        dl_dst: MacAddr(s.dst),
        dl_src: MacAddr(s.src),
        ..FlowKey::default()
    };
    let tci = |t: &VlanTag| nic_abi::key::VlanTci(t.tci | nic_abi::key::VlanTci::PRESENT);
    if let Some(t) = s.tags.first() {
        k.vlan = tci(t);
    }
    if let Some(t) = s.tags.get(1) {
        k.inner_vlan = tci(t);
    }
    let ports = |k: &mut FlowKey| match &s.l4 {
        L4::Raw(_) => {}
        L4::Tcp { src, dst, .. } | L4::Udp { src, dst } | L4::Sctp { src, dst, .. } => {
            (k.tp_src, k.tp_dst) = (*src, *dst)
        }
        L4::Icmp { ty, code } => (k.tp_src, k.tp_dst) = (u16::from(*ty), u16::from(*code)),
    };
    let protocol = |v6: bool| match &s.l4 {
        L4::Raw(p) => *p,
        L4::Tcp { .. } => 6,
        L4::Udp { .. } => 17,
        L4::Sctp { .. } => 132,
        L4::Icmp { .. } if v6 => 58,
        L4::Icmp { .. } => 1,
    };
    match &s.net {
        Net::Other(t) => k.dl_type = EtherType(*t),
        Net::Arp { rarp, repr } => {
            k.dl_type = if *rarp {
                EtherType(0x8035)
            } else {
                EtherType::ARP
            };
            if repr.htype == 1 && repr.ptype == EtherType::IPV4 && repr.hlen == 6 && repr.plen == 4
            {
                k.nw_src = u128::from(u32::from(repr.spa));
                k.nw_dst = u128::from(u32::from(repr.tpa));
                k.nw_proto = u8::try_from(repr.oper).unwrap_or(0);
                k.arp_sha = repr.sha;
                k.arp_tha = repr.tha;
            }
        }
        Net::V4 {
            tos,
            flags_fragment,
            src,
            dst,
            ..
        } => {
            k.dl_type = EtherType::IPV4;
            k.nw_src = u128::from(*src);
            k.nw_dst = u128::from(*dst);
            k.nw_tos = *tos;
            k.nw_proto = protocol(false);
            if flags_fragment & 0x1fff != 0 {
                k.frag = FragFlags::LATER;
            } else {
                if flags_fragment & 0x3fff != 0 {
                    k.frag = FragFlags::FIRST;
                }
                ports(&mut k);
            }
        }
        Net::V6 {
            tc, src, dst, exts, ..
        } => {
            k.dl_type = EtherType::IPV6;
            k.nw_src = *src;
            k.nw_dst = *dst;
            if card && !exts.is_empty() {
                k.class = KeyClass::Unparsed(UnparsedReason::Ipv6ExtensionHeader);
                return k;
            }
            k.nw_tos = *tc;
            for e in exts {
                if let Ext::Fragment { offset, more } = e {
                    if *offset != 0 {
                        k.frag = FragFlags::LATER;
                        k.nw_proto = 44;
                        return k;
                    }
                    if *more {
                        k.frag = FragFlags::FIRST;
                    }
                }
            }
            k.nw_proto = protocol(true);
            ports(&mut k);
        }
    }
    k
}

fn arp() -> impl Strategy<Value = Net> {
    (
        any::<bool>(),
        prop_oneof![4 => Just(1u16), 1 => any::<u16>()],
        prop_oneof![4 => Just(0x0800u16), 1 => any::<u16>()],
        prop_oneof![4 => Just((6u8, 4u8)), 1 => any::<(u8, u8)>()],
        prop_oneof![Just(1u16), Just(2), any::<u16>()],
        any::<([u8; 6], u32, [u8; 6], u32)>(),
    )
        .prop_map(
            |(rarp, htype, ptype, (hlen, plen), oper, (sha, spa, tha, tpa))| Net::Arp {
                rarp,
                repr: ArpRepr {
                    htype,
                    ptype: EtherType(ptype),
                    hlen,
                    plen,
                    oper,
                    sha: MacAddr(sha),
                    spa: Ipv4Addr::from(spa),
                    tha: MacAddr(tha),
                    tpa: Ipv4Addr::from(tpa),
                },
            },
        )
}

fn ipv4() -> impl Strategy<Value = Net> {
    (
        any::<(u8, u8, u16)>(),
        prop_oneof![
            4 => Just(0u16),
            1 => Just(0x4000),
            1 => Just(0x2000),
            1 => 1u16..0x2000,
            1 => (1u16..0x2000).prop_map(|o| o | 0x2000),
        ],
        (0usize..=10).prop_flat_map(|words| proptest::collection::vec(any::<u8>(), words * 4)),
        any::<(u32, u32)>(),
    )
        .prop_map(
            |((tos, ttl, ident), flags_fragment, options, (src, dst))| Net::V4 {
                tos,
                ttl,
                ident,
                flags_fragment,
                options,
                src,
                dst,
            },
        )
}

fn ext() -> impl Strategy<Value = Ext> {
    prop_oneof![
        (
            prop_oneof![Just(43u8), Just(60)],
            (0usize..3).prop_flat_map(|n| proptest::collection::vec(any::<u8>(), 6 + 8 * n)),
        )
            .prop_map(|(p, d)| Ext::Options(p, d)),
        (0usize..3)
            .prop_flat_map(|n| proptest::collection::vec(any::<u8>(), 10 + 4 * n))
            .prop_map(Ext::Ah),
        (prop_oneof![Just(0u16), 1u16..0x2000], any::<bool>())
            .prop_map(|(offset, more)| Ext::Fragment { offset, more }),
    ]
}

fn ipv6() -> impl Strategy<Value = Net> {
    (
        any::<(u8, u32, u8, u128, u128)>(),
        any::<bool>(),
        proptest::collection::vec(ext(), 0..3),
    )
        .prop_map(|((tc, flow, hop_limit, src, dst), hbh, mut exts)| {
            // Hop-by-hop options come first or not at all (RFC 8200, and etherparse).
            if hbh && !exts.is_empty() {
                exts.insert(0, Ext::Options(0, vec![1, 4, 0, 0, 0, 0]));
            }
            Net::V6 {
                tc,
                flow_label: flow & 0x000f_ffff,
                hop_limit,
                src,
                dst,
                exts,
            }
        })
}

fn l4() -> impl Strategy<Value = L4> {
    prop_oneof![
        prop_oneof![Just(47u8), Just(59), Just(103)].prop_map(L4::Raw),
        (
            any::<(u16, u16, u32, u8)>(),
            (0usize..=10).prop_flat_map(|w| proptest::collection::vec(any::<u8>(), w * 4)),
        )
            .prop_map(|((src, dst, seq, flags), options)| L4::Tcp {
                src,
                dst,
                seq,
                flags,
                options,
            }),
        any::<(u16, u16)>().prop_map(|(src, dst)| L4::Udp { src, dst }),
        any::<(u16, u16, u32)>().prop_map(|(src, dst, tag)| L4::Sctp { src, dst, tag }),
        any::<(u8, u8)>().prop_map(|(ty, code)| L4::Icmp { ty, code }),
    ]
}

prop_compose! {
    fn spec()(
        (dst, src) in any::<([u8; 6], [u8; 6])>(),
        tags in proptest::collection::vec(
            (prop_oneof![Just(0x8100u16), Just(0x88a8), Just(0x9100)], any::<u16>())
                .prop_map(|(tpid, tci)| VlanTag { tpid: EtherType(tpid), tci }),
            0..=2,
        ),
        snap in prop_oneof![5 => Just(false), 1 => Just(true)],
        net in prop_oneof![
            1 => prop_oneof![Just(0x8847u16), Just(0x88cc), Just(0x0842)].prop_map(Net::Other),
            1 => arp(),
            4 => ipv4(),
            3 => ipv6(),
        ],
        l4 in l4(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        min_len in prop_oneof![Just(0usize), Just(60), 0usize..200],
    ) -> Spec {
        Spec { dst, src, tags, snap, net, l4, payload, min_len }
    }
}

/// Whether etherparse (which has no LLC/SNAP, SCTP or RARP, does not slice fragments, and
/// refuses ARP without Ethernet/IPv4 address lengths) reads the spec's fields as OVS does.
fn etherparse_reads(s: &Spec) -> bool {
    let l4_ok = !matches!(s.l4, L4::Sctp { .. }) || !is_ip(&s.net);
    let net_ok = match &s.net {
        Net::Other(_) => true,
        Net::Arp { rarp, repr } => !rarp && repr.hlen == 6 && repr.plen == 4,
        Net::V4 { flags_fragment, .. } => flags_fragment & 0x3fff == 0,
        Net::V6 { exts, .. } => !exts.iter().any(|e| matches!(e, Ext::Fragment { .. })),
    };
    !s.snap && l4_ok && net_ok
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsers_read_back_the_emitted_fields(s in spec()) {
        let frame = emit(&s);
        prop_assert!(frame.len() >= s.min_len);
        prop_assert_eq!(parse_software(&frame, PortNo(1)), expected(&s, false), "{:02x?}", frame);
        prop_assert_eq!(parse_card(&frame, PortNo(1)), expected(&s, true), "{:02x?}", frame);
    }

    #[test]
    fn etherparse_reads_the_emitted_fields(s in spec().prop_filter("etherparse reads it", etherparse_reads)) {
        let frame = emit(&s);
        let theirs = etherparse_key(&frame).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let ours = expected(&s, false);
        prop_assert!(differing_fields(&theirs, &ours).is_empty(),
            "{:?}: etherparse {:?}, spec {:?}", differing_fields(&theirs, &ours), theirs, ours);
    }
}

#[test]
fn emitted_frames_equal_hand_built_bytes() {
    // The parser's module-doc frame, byte for byte (with its zero checksum forced).
    let hand: Vec<u8> = [
        &[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00][..],
        &[
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ],
        &[0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0],
    ]
    .concat();
    let emitted = FrameRepr {
        ethernet: EthernetRepr {
            dst: MacAddr([2, 0, 0, 0, 0, 2]),
            src: MacAddr([2, 0, 0, 0, 0, 1]),
            ..EthernetRepr::default()
        },
        network: NetworkRepr::Ipv4(Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            checksum: nic_abi::emit::Checksum::Forced(0),
            ..Ipv4Repr::default()
        }),
        transport: TransportRepr::Udp(UdpRepr {
            src_port: 5000,
            dst_port: 53,
            ..UdpRepr::default()
        }),
        ..FrameRepr::default()
    }
    .to_vec()
    .unwrap();
    assert_eq!(emitted, hand);
}
