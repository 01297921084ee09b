//! Golden packets: hand-built frames of every header kind with the key each profile must give.

use nic_abi::key::{
    EtherType, FlowKey, FragFlags, KeyClass, MacAddr, PortNo, UnparsedReason, VlanTci,
};
use nic_abi::parse::{parse_card, parse_software};

const DST: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
const SRC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const PORT: PortNo = PortNo(7);
const V4_SRC: [u8; 4] = [10, 0, 0, 1];
const V4_DST: [u8; 4] = [192, 168, 1, 2];
const V6_SRC: u128 = 0xfe80_0000_0000_0000_0000_0000_0000_0001;
const V6_DST: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_00ff;

/// Ethernet header with the given type/length field (after any tags pushed by `tagged`).
fn eth(t: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(DST);
    f.extend(SRC);
    f.extend(t.to_be_bytes());
    f
}

/// Ethernet header with tags `(tpid, tci)` and then type `t`.
fn tagged(tags: &[(u16, u16)], t: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(DST);
    f.extend(SRC);
    for &(tpid, tci) in tags {
        f.extend(tpid.to_be_bytes());
        f.extend(tci.to_be_bytes());
    }
    f.extend(t.to_be_bytes());
    f
}

/// An IPv4 header: `ihl` in 32-bit words (options are zero bytes), the payload length and
/// the flags/fragment-offset word.
fn ipv4(proto: u8, tos: u8, ihl: u8, payload: usize, frag: u16) -> Vec<u8> {
    let total = usize::from(ihl) * 4 + payload;
    let mut h = vec![0x40 | ihl, tos];
    h.extend(u16::try_from(total).unwrap().to_be_bytes());
    h.extend([0x12, 0x34]);
    h.extend(frag.to_be_bytes());
    h.extend([64, proto, 0, 0]);
    h.extend(V4_SRC);
    h.extend(V4_DST);
    h.resize(usize::from(ihl) * 4, 0);
    h
}

/// An IPv6 header with traffic class `tc`, flow label 0x12345.
fn ipv6(next: u8, tc: u8, payload: usize) -> Vec<u8> {
    let first = (6u32 << 28) | (u32::from(tc) << 20) | 0x12345;
    let mut h = first.to_be_bytes().to_vec();
    h.extend(u16::try_from(payload).unwrap().to_be_bytes());
    h.extend([next, 64]);
    h.extend(V6_SRC.to_be_bytes());
    h.extend(V6_DST.to_be_bytes());
    h
}

/// A transport header of `len` bytes starting with two 16-bit ports (or type and code bytes).
fn l4(first: u16, second: u16, len: usize) -> Vec<u8> {
    let mut h = first.to_be_bytes().to_vec();
    h.extend(second.to_be_bytes());
    h.resize(len, 0);
    h
}

/// A 20-byte TCP header (data offset 5).
fn tcp(src: u16, dst: u16) -> Vec<u8> {
    let mut h = l4(src, dst, 20);
    h[12] = 0x50;
    h
}

fn icmp(ty: u8, code: u8) -> Vec<u8> {
    let mut h = vec![ty, code];
    h.resize(8, 0);
    h
}

/// A generic IPv6 extension header (hop-by-hop, routing, destination options) of 8 bytes.
fn ext(next: u8) -> Vec<u8> {
    vec![next, 0, 0, 0, 0, 0, 0, 0]
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn v4(a: [u8; 4]) -> u128 {
    u128::from(u32::from_be_bytes(a))
}

/// The key of an untagged frame's L2 header.
fn l2(dl_type: EtherType) -> FlowKey {
    FlowKey {
        in_port: PORT,
        dl_dst: MacAddr(DST),
        dl_src: MacAddr(SRC),
        dl_type,
        ..FlowKey::default()
    }
}

fn ipv4_key(proto: u8, tos: u8) -> FlowKey {
    FlowKey {
        nw_proto: proto,
        nw_tos: tos,
        nw_src: v4(V4_SRC),
        nw_dst: v4(V4_DST),
        ..l2(EtherType::IPV4)
    }
}

fn ipv6_key(proto: u8, tc: u8) -> FlowKey {
    FlowKey {
        nw_proto: proto,
        nw_tos: tc,
        nw_src: V6_SRC,
        nw_dst: V6_DST,
        ..l2(EtherType::IPV6)
    }
}

fn unparsed(reason: UnparsedReason, key: FlowKey) -> FlowKey {
    FlowKey {
        class: KeyClass::Unparsed(reason),
        ..key
    }
}

/// Both profiles give `expected`.
fn both(frame: &[u8], expected: FlowKey) {
    assert_eq!(parse_software(frame, PORT), expected, "software profile");
    assert_eq!(parse_card(frame, PORT), expected, "card profile");
}

#[test]
fn ipv4_tcp_with_options() {
    let f = cat(&[&eth(0x0800), &ipv4(6, 0xb8, 6, 20, 0), &tcp(40000, 443)]);
    both(
        &f,
        FlowKey {
            tp_src: 40000,
            tp_dst: 443,
            ..ipv4_key(6, 0xb8)
        },
    );
}

#[test]
fn ipv4_udp_in_8021q_tag() {
    let f = cat(&[
        &tagged(&[(0x8100, 0xa064)], 0x0800),
        &ipv4(17, 0, 5, 8, 0),
        &l4(5000, 53, 8),
    ]);
    both(
        &f,
        FlowKey {
            vlan: VlanTci::new(100, 5),
            tp_src: 5000,
            tp_dst: 53,
            ..ipv4_key(17, 0)
        },
    );
}

#[test]
fn qinq_88a8_and_9100_keep_both_tags() {
    for outer in [0x88a8, 0x9100] {
        // The DEI bit (0x1000) of the inner tag is replaced by the "present" bit.
        let f = cat(&[
            &tagged(&[(outer, 0x0010), (0x8100, 0x3020)], 0x0800),
            &ipv4(1, 0, 5, 8, 0),
            &icmp(8, 0),
        ]);
        both(
            &f,
            FlowKey {
                vlan: VlanTci::new(16, 0),
                inner_vlan: VlanTci::new(32, 1),
                tp_src: 8,
                tp_dst: 0,
                ..ipv4_key(1, 0)
            },
        );
    }
}

#[test]
fn third_vlan_tag_is_too_many() {
    let f = cat(&[
        &tagged(&[(0x88a8, 1), (0x8100, 2), (0x8100, 3)], 0x0800),
        &ipv4(17, 0, 5, 8, 0),
        &l4(1, 2, 8),
    ]);
    both(
        &f,
        unparsed(
            UnparsedReason::TooManyVlanTags,
            FlowKey {
                vlan: VlanTci::new(1, 0),
                inner_vlan: VlanTci::new(2, 0),
                ..l2(EtherType::VLAN)
            },
        ),
    );
}

#[test]
fn vlan_tag_cut_short_is_truncated_with_the_tpid_as_type() {
    let mut f = tagged(&[(0x8100, 0x0064)], 0x0800);
    f.truncate(17);
    both(&f, unparsed(UnparsedReason::Truncated, l2(EtherType::VLAN)));
}

#[test]
fn llc_snap_gives_the_snap_ethertype_and_other_8023_gives_none() {
    let snap = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
    let ip = ipv4(17, 0, 5, 8, 0);
    let f = cat(&[&eth(46), &snap, &ip, &l4(67, 68, 8)]);
    both(
        &f,
        FlowKey {
            tp_src: 67,
            tp_dst: 68,
            ..ipv4_key(17, 0)
        },
    );
    // Spanning tree: LLC 42 42 03, no SNAP.
    let mut stp = eth(39);
    stp.extend([0x42, 0x42, 0x03, 0, 0, 0, 0, 0]);
    stp.resize(60, 0);
    both(&stp, l2(EtherType::NONE));
    // SNAP with a non-zero OUI (Cisco CDP) has no EtherType either.
    let mut cdp = eth(40);
    cdp.extend([0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00]);
    cdp.resize(60, 0);
    both(&cdp, l2(EtherType::NONE));
}

/// The target hardware address of the golden ARP frames (distinct from every other field, so a
/// wrong offset shows).
const ARP_THA: [u8; 6] = [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f];

fn arp(htype: u16, ptype: u16, hlen: u8, plen: u8, op: u16) -> Vec<u8> {
    let mut a = htype.to_be_bytes().to_vec();
    a.extend(ptype.to_be_bytes());
    a.extend([hlen, plen]);
    a.extend(op.to_be_bytes());
    a.extend(SRC);
    a.extend(V4_SRC);
    a.extend(ARP_THA);
    a.extend(V4_DST);
    a
}

#[test]
fn arp_follows_ovs() {
    let arp_key = |op| FlowKey {
        nw_proto: op,
        nw_src: v4(V4_SRC),
        nw_dst: v4(V4_DST),
        // The hardware addresses, as OVS's `arp_sha`/`arp_tha` (software-only fields).
        arp_sha: MacAddr(SRC),
        arp_tha: MacAddr(ARP_THA),
        ..l2(EtherType::ARP)
    };
    both(&cat(&[&eth(0x0806), &arp(1, 0x0800, 6, 4, 1)]), arp_key(1));
    // RARP is parsed as ARP.
    both(
        &cat(&[&eth(0x8035), &arp(1, 0x0800, 6, 4, 3)]),
        FlowKey {
            dl_type: EtherType(0x8035),
            ..arp_key(3)
        },
    );
    // Opcodes above 255 leave nw_proto 0 (OVS matches only the low byte).
    both(
        &cat(&[&eth(0x0806), &arp(1, 0x0800, 6, 4, 0x0101)]),
        arp_key(0),
    );
    // Not Ethernet/IPv4: an ARP key without L3 fields.
    both(
        &cat(&[&eth(0x0806), &arp(6, 0x0800, 6, 4, 1)]),
        l2(EtherType::ARP),
    );
    // Fewer than 28 bytes.
    let mut short = cat(&[&eth(0x0806), &arp(1, 0x0800, 6, 4, 1)]);
    short.truncate(14 + 27);
    both(
        &short,
        unparsed(UnparsedReason::Truncated, l2(EtherType::ARP)),
    );
}

#[test]
fn ipv4_fragments() {
    // First fragment: more-fragments set, offset 0: ports are read.
    let first = cat(&[
        &eth(0x0800),
        &ipv4(17, 0, 5, 16, 0x2000),
        &l4(1000, 2000, 16),
    ]);
    both(
        &first,
        FlowKey {
            frag: FragFlags::FIRST,
            tp_src: 1000,
            tp_dst: 2000,
            ..ipv4_key(17, 0)
        },
    );
    // Later fragment (offset 185 * 8): no L4 header, ports 0, still parsed.
    let later = cat(&[&eth(0x0800), &ipv4(17, 0, 5, 16, 185), &l4(1000, 2000, 16)]);
    both(
        &later,
        FlowKey {
            frag: FragFlags::LATER,
            ..ipv4_key(17, 0)
        },
    );
    // Don't-fragment alone is not a fragment.
    let df = cat(&[&eth(0x0800), &ipv4(6, 0, 5, 20, 0x4000), &tcp(1, 2)]);
    both(
        &df,
        FlowKey {
            tp_src: 1,
            tp_dst: 2,
            ..ipv4_key(6, 0)
        },
    );
}

#[test]
fn icmp_igmp_sctp() {
    let f = cat(&[&eth(0x0800), &ipv4(1, 0, 5, 8, 0), &icmp(3, 4)]);
    both(
        &f,
        FlowKey {
            tp_src: 3,
            tp_dst: 4,
            ..ipv4_key(1, 0)
        },
    );
    let f = cat(&[&eth(0x0800), &ipv4(2, 0xc0, 6, 8, 0), &icmp(0x16, 0)]);
    both(
        &f,
        FlowKey {
            tp_src: 0x16,
            ..ipv4_key(2, 0xc0)
        },
    );
    let f = cat(&[&eth(0x0800), &ipv4(132, 0, 5, 12, 0), &l4(2905, 2944, 12)]);
    both(
        &f,
        FlowKey {
            tp_src: 2905,
            tp_dst: 2944,
            ..ipv4_key(132, 0)
        },
    );
    // An unknown protocol (GRE) has no ports.
    let f = cat(&[&eth(0x0800), &ipv4(47, 0, 5, 4, 0), &[0, 0, 0x08, 0]]);
    both(&f, ipv4_key(47, 0));
}

#[test]
fn ipv6_tcp_and_icmpv6() {
    let f = cat(&[&eth(0x86dd), &ipv6(6, 0x28, 20), &tcp(22, 50000)]);
    both(
        &f,
        FlowKey {
            tp_src: 22,
            tp_dst: 50000,
            ..ipv6_key(6, 0x28)
        },
    );
    let f = cat(&[&eth(0x86dd), &ipv6(58, 0, 8), &icmp(128, 0)]);
    both(
        &f,
        FlowKey {
            tp_src: 128,
            ..ipv6_key(58, 0)
        },
    );
}

#[test]
fn ipv6_extension_headers_walked_by_software_refused_by_card() {
    // Hop-by-hop, routing, destination options, then UDP.
    let f = cat(&[
        &eth(0x86dd),
        &ipv6(0, 0, 32),
        &ext(43),
        &ext(60),
        &ext(17),
        &l4(546, 547, 8),
    ]);
    assert_eq!(
        parse_software(&f, PORT),
        FlowKey {
            tp_src: 546,
            tp_dst: 547,
            ..ipv6_key(17, 0)
        }
    );
    // The card keeps the addresses only (traffic class and next header are set after the walk).
    assert_eq!(
        parse_card(&f, PORT),
        unparsed(
            UnparsedReason::Ipv6ExtensionHeader,
            FlowKey {
                nw_proto: 0,
                ..ipv6_key(0, 0)
            }
        )
    );
    // AH: (payload_len + 2) * 4 bytes; payload_len 1 gives 12 bytes.
    let mut ah = vec![6, 1];
    ah.resize(12, 0);
    let f = cat(&[&eth(0x86dd), &ipv6(51, 0, 32), &ah, &tcp(80, 8080)]);
    assert_eq!(
        parse_software(&f, PORT),
        FlowKey {
            tp_src: 80,
            tp_dst: 8080,
            ..ipv6_key(6, 0)
        }
    );
    // A walk that runs out of payload keeps only the addresses, as OVS.
    let f = cat(&[&eth(0x86dd), &ipv6(0, 0, 4), &[17, 0, 0, 0]]);
    assert_eq!(
        parse_software(&f, PORT),
        unparsed(UnparsedReason::Truncated, ipv6_key(0, 0))
    );
}

fn frag6(next: u8, offset_words: u16, more: bool) -> Vec<u8> {
    let mut h = vec![next, 0];
    h.extend(((offset_words << 3) | u16::from(more)).to_be_bytes());
    h.extend([0, 0, 0, 9]);
    h
}

#[test]
fn ipv6_fragments() {
    let first = cat(&[
        &eth(0x86dd),
        &ipv6(44, 0, 24),
        &frag6(17, 0, true),
        &l4(7, 9, 16),
    ]);
    assert_eq!(
        parse_software(&first, PORT),
        FlowKey {
            frag: FragFlags::FIRST,
            tp_src: 7,
            tp_dst: 9,
            ..ipv6_key(17, 0)
        }
    );
    // A later fragment keeps nw_proto 44 (OVS) and has no ports.
    let later = cat(&[
        &eth(0x86dd),
        &ipv6(44, 0, 24),
        &frag6(17, 100, false),
        &l4(7, 9, 16),
    ]);
    assert_eq!(
        parse_software(&later, PORT),
        FlowKey {
            frag: FragFlags::LATER,
            ..ipv6_key(44, 0)
        }
    );
    // An atomic fragment (offset 0, no more fragments) is not a fragment for OVS.
    let atomic = cat(&[
        &eth(0x86dd),
        &ipv6(44, 0, 16),
        &frag6(17, 0, false),
        &l4(7, 9, 8),
    ]);
    assert_eq!(
        parse_software(&atomic, PORT),
        FlowKey {
            tp_src: 7,
            tp_dst: 9,
            ..ipv6_key(17, 0)
        }
    );
    for f in [first, later, atomic] {
        assert_eq!(
            parse_card(&f, PORT).class,
            KeyClass::Unparsed(UnparsedReason::Ipv6ExtensionHeader)
        );
    }
}

#[test]
fn other_ethertypes_are_parsed_at_l2_only() {
    let mut mpls = eth(0x8847);
    mpls.extend([0, 0x01, 0x41, 0x40]);
    mpls.extend(ipv4(6, 0, 5, 20, 0));
    mpls.extend(tcp(1, 2));
    both(&mpls, l2(EtherType(0x8847)));
}

#[test]
fn truncated_and_malformed() {
    // Shorter than an Ethernet header: no field at all.
    both(
        &DST,
        unparsed(
            UnparsedReason::Truncated,
            FlowKey {
                in_port: PORT,
                ..FlowKey::default()
            },
        ),
    );
    // L4 header shorter than TCP's 20 bytes: L3 fields kept, ports 0 (OVS's fields).
    let f = cat(&[&eth(0x0800), &ipv4(6, 0, 5, 10, 0), &l4(1, 2, 10)]);
    both(&f, unparsed(UnparsedReason::Truncated, ipv4_key(6, 0)));
    // TCP data offset below 5 words is malformed, beyond the datagram truncated (OVS 3.1:
    // no ports in either case).
    let mut f = cat(&[&eth(0x0800), &ipv4(6, 0, 5, 20, 0), &tcp(1, 2)]);
    f[14 + 20 + 12] = 0x40;
    both(&f, unparsed(UnparsedReason::Malformed, ipv4_key(6, 0)));
    f[14 + 20 + 12] = 0x60;
    both(&f, unparsed(UnparsedReason::Truncated, ipv4_key(6, 0)));
    // Total length beyond the frame (a snapped capture): no L3 field (OVS).
    let mut f = cat(&[&eth(0x0800), &ipv4(6, 0, 5, 20, 0), &tcp(1, 2)]);
    f.truncate(50);
    both(&f, unparsed(UnparsedReason::Truncated, l2(EtherType::IPV4)));
    // IHL 4 is malformed and stops the parse.
    let mut f = cat(&[&eth(0x0800), &ipv4(6, 0, 5, 20, 0), &tcp(1, 2)]);
    f[14] = 0x44;
    both(&f, unparsed(UnparsedReason::Malformed, l2(EtherType::IPV4)));
    // Version 5 is malformed but, as OVS reads any version as 4, the fields are filled.
    f[14] = 0x55;
    let full = FlowKey {
        tp_src: 1,
        tp_dst: 2,
        ..ipv4_key(6, 0)
    };
    both(&f, unparsed(UnparsedReason::Malformed, full));
    // A later stop replaces the note with its own reason.
    let mut f = cat(&[&eth(0x0800), &ipv4(6, 0, 5, 10, 0), &l4(1, 2, 10)]);
    f[14] = 0x55;
    both(&f, unparsed(UnparsedReason::Truncated, ipv4_key(6, 0)));
    // Total length smaller than the header.
    let mut f = cat(&[&eth(0x0800), &ipv4(6, 0, 5, 20, 0), &tcp(1, 2)]);
    f[17] = 19;
    both(&f, unparsed(UnparsedReason::Malformed, l2(EtherType::IPV4)));
    // More than 65535 bytes after the datagram (OVS 3.1's limit on padding).
    let mut f = cat(&[&eth(0x0800), &ipv4(17, 0, 5, 8, 0), &l4(1, 2, 8)]);
    f.resize(f.len() + 65535, 0);
    both(
        &f,
        FlowKey {
            tp_src: 1,
            tp_dst: 2,
            ..ipv4_key(17, 0)
        },
    );
    f.push(0);
    both(&f, unparsed(UnparsedReason::Malformed, l2(EtherType::IPV4)));
    // IPv6: version 4 in an IPv6 frame (noted, parsed on), payload beyond the frame.
    let mut f = cat(&[&eth(0x86dd), &ipv6(17, 0x28, 8), &l4(1, 2, 8)]);
    f[14] = 0x42;
    let full = FlowKey {
        tp_src: 1,
        tp_dst: 2,
        ..ipv6_key(17, 0x28)
    };
    both(&f, unparsed(UnparsedReason::Malformed, full));
    let mut f = cat(&[&eth(0x86dd), &ipv6(17, 0, 8), &l4(1, 2, 8)]);
    f.truncate(60);
    both(&f, unparsed(UnparsedReason::Truncated, l2(EtherType::IPV6)));
}
