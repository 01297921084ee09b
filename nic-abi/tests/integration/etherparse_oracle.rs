//! etherparse as an oracle for nic-abi's parser: the key etherparse's view of a frame gives,
//! and the named categories ([`CATEGORIES`]) in which the two may disagree, each with why it is
//! not a bug. Shared by the differential test over real captures (`differential.rs`) and the
//! `frame` fuzz target (`fuzz/`), which includes this file by path.

use etherparse::err::packet::SliceError;
use etherparse::err::Layer;
use etherparse::err::{ip_auth, ipv6_exts};
use etherparse::LenSource;
use etherparse::{
    Ipv6ExtensionSlice, LinkExtSlice, LinkSlice, NetSlice, SlicedPacket, TransportSlice,
};
use nic_abi::key::{EtherType, FlowKey, FragFlags, MacAddr, PortNo, VlanTci};

/// The key etherparse's view of a frame gives, in our conventions; `Err` when etherparse
/// refuses the frame (with its error).
pub fn etherparse_key(frame: &[u8]) -> Result<FlowKey, Refused> {
    let p = SlicedPacket::from_ethernet(frame).map_err(Refused::Slice)?;
    let mut k = FlowKey {
        in_port: PortNo(1),
        ..FlowKey::default()
    };
    if let Some(LinkSlice::Ethernet2(eth)) = &p.link {
        k.dl_dst = MacAddr(eth.destination());
        k.dl_src = MacAddr(eth.source());
        k.dl_type = EtherType(eth.ether_type().0);
    }
    for (i, ext) in p.link_exts.iter().enumerate() {
        match ext {
            LinkExtSlice::Vlan(v) => {
                let tci =
                    VlanTci::new(v.vlan_identifier().value(), v.priority_code_point().value());
                // Our key keeps two tags; a third is only in etherparse's view.
                match i {
                    0 => k.vlan = tci,
                    1 => k.inner_vlan = tci,
                    _ => {}
                }
                k.dl_type = EtherType(v.ether_type().0);
            }
            LinkExtSlice::Macsec(_) => return Err(Refused::Macsec),
        }
    }
    match &p.net {
        Some(NetSlice::Ipv4(ip)) => {
            let h = ip.header();
            k.nw_src = u128::from(u32::from_be_bytes(h.source()));
            k.nw_dst = u128::from(u32::from_be_bytes(h.destination()));
            k.nw_tos = (h.dcp().value() << 2) | h.ecn().value();
            k.nw_proto = h.protocol().0;
            if h.is_fragmenting_payload() {
                k.frag = if h.fragments_offset().value() != 0 {
                    FragFlags::LATER
                } else {
                    FragFlags::FIRST
                };
            }
        }
        Some(NetSlice::Ipv6(ip)) => {
            let h = ip.header();
            k.nw_src = u128::from_be_bytes(h.source());
            k.nw_dst = u128::from_be_bytes(h.destination());
            k.nw_tos = h.traffic_class();
            k.nw_proto = ip.payload().ip_number.0;
            for ext in ip.extensions().clone() {
                if let Ipv6ExtensionSlice::Fragment(f) = ext {
                    if f.is_fragmenting_payload() {
                        k.frag = if f.fragment_offset().value() != 0 {
                            FragFlags::LATER
                        } else {
                            FragFlags::FIRST
                        };
                    }
                }
            }
        }
        Some(NetSlice::Arp(arp)) => {
            if let Ok(a) = arp.to_packet().try_eth_ipv4() {
                k.nw_src = u128::from(u32::from_be_bytes(a.sender_ipv4));
                k.nw_dst = u128::from(u32::from_be_bytes(a.target_ipv4));
                k.nw_proto = u8::try_from(a.operation.0).unwrap_or(0);
                k.arp_sha = MacAddr(a.sender_mac);
                k.arp_tha = MacAddr(a.target_mac);
            }
        }
        None => {}
    }
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            (k.tp_src, k.tp_dst) = (t.source_port(), t.destination_port())
        }
        Some(TransportSlice::Udp(u)) => {
            (k.tp_src, k.tp_dst) = (u.source_port(), u.destination_port())
        }
        Some(TransportSlice::Icmpv4(i)) => {
            (k.tp_src, k.tp_dst) = (i.type_u8().into(), i.code_u8().into())
        }
        Some(TransportSlice::Icmpv6(i)) => {
            (k.tp_src, k.tp_dst) = (i.type_u8().into(), i.code_u8().into())
        }
        Some(TransportSlice::Igmp(g)) => {
            (k.tp_src, k.tp_dst) = (g.type_u8().into(), g.max_resp_code_or_reserved().into())
        }
        None => {}
    }
    Ok(k)
}

/// Names of the fields (class excluded) where two keys differ.
pub fn differing_fields(a: &FlowKey, b: &FlowKey) -> Vec<&'static str> {
    let mut d = Vec::new();
    macro_rules! cmp {
        ($($f:ident),*) => { $( if a.$f != b.$f { d.push(stringify!($f)); } )* };
    }
    cmp!(
        in_port, frag, dl_dst, dl_src, dl_type, vlan, inner_vlan, nw_proto, nw_tos, nw_src, nw_dst,
        tp_src, tp_dst, arp_sha, arp_tha
    );
    d
}

/// Why etherparse gave no key for a frame.
#[derive(Debug)]
pub enum Refused {
    /// Its strict slicer returned an error.
    Slice(SliceError),
    /// The frame has a MACsec header, whose payload etherparse does not decode without keys.
    Macsec,
}

/// The type/length field after any VLAN tags, read independently of the parser under test.
fn type_after_tags(frame: &[u8]) -> Option<u16> {
    let mut o = 12;
    loop {
        let t = u16::from_be_bytes([*frame.get(o)?, *frame.get(o + 1)?]);
        if !matches!(t, 0x8100 | 0x88a8 | 0x9100) {
            return Some(t);
        }
        o += 4;
    }
}

/// The IP header's offset, after any VLAN tags (Ethernet II only), read independently.
fn l3_offset(frame: &[u8]) -> usize {
    let mut o = 12;
    while let (Some(&a), Some(&b)) = (frame.get(o), frame.get(o + 1)) {
        if !matches!(u16::from_be_bytes([a, b]), 0x8100 | 0x88a8 | 0x9100) {
            break;
        }
        o += 4;
    }
    o + 2
}

/// Bytes after the IP datagram (its length from the IPv4 total length or the IPv6 payload
/// length), read independently.
fn bytes_after_datagram(frame: &[u8], ours: &FlowKey) -> Option<usize> {
    let l3 = l3_offset(frame);
    let be16 = |o: usize| Some(u16::from_be_bytes([*frame.get(o)?, *frame.get(o + 1)?]));
    let datagram = match ours.dl_type {
        EtherType::IPV4 => usize::from(be16(l3 + 2)?),
        EtherType::IPV6 => 40 + usize::from(be16(l3 + 4)?),
        _ => return None,
    };
    frame.len().checked_sub(l3 + datagram)
}

/// Bytes of AH's fixed part (next header, length, reserved, SPI, sequence number), the least
/// etherparse slices.
const AH_FIXED_LEN: usize = 12;

/// The category of one frame's comparison. See [`CATEGORIES`] for what each one means.
pub fn categorise(frame: &[u8], ours: &FlowKey, theirs: &Result<FlowKey, Refused>) -> &'static str {
    use nic_abi::key::{KeyClass, UnparsedReason as R};
    let tp = ["tp_src", "tp_dst"];
    let only = |d: &[&str], allowed: &[&str]| d.iter().all(|f| allowed.contains(f));
    match theirs {
        Ok(t) => {
            let d = differing_fields(ours, t);
            if d.is_empty() {
                "agree"
            } else if type_after_tags(frame).is_some_and(|t| t < 0x0600)
                && only(
                    &d,
                    &[
                        "dl_type", "frag", "nw_proto", "nw_tos", "nw_src", "nw_dst", "tp_src",
                        "tp_dst",
                    ],
                )
            {
                "llc_snap_802_3"
            } else if ours.class == KeyClass::Unparsed(R::TooManyVlanTags) {
                "third_vlan_tag"
            } else if ours.frag == FragFlags::LATER && ours.nw_proto == 44 && d == ["nw_proto"] {
                "ipv6_later_fragment_nw_proto_44"
            } else if ours.dl_type == EtherType::IPV6
                && ours.frag == FragFlags::LATER
                && ours.nw_proto == 44
                && only(&d, &["frag", "nw_proto", "tp_src", "tp_dst"])
            {
                "ipv6_later_fragment_not_walked"
            } else if ours.dl_type == EtherType::IPV6
                && ours.frag == FragFlags::FIRST
                && t.frag == FragFlags::NONE
                && d.contains(&"frag")
                && only(&d, &["frag", "tp_src", "tp_dst"])
                // Ports may differ only as in sctp_ports.
                && (only(&d, &["frag"])
                    || (ours.nw_proto == 132 && (t.tp_src, t.tp_dst) == (0, 0)))
            {
                "ipv6_fragment_reserved_bits"
            } else if ours.dl_type == EtherType::IPV4 && ours.nw_proto == 51 && only(&d, &tp) {
                "ipv4_ah_not_walked"
            } else if ours.dl_type == EtherType(0x8035)
                && (t.nw_proto, t.nw_src, t.nw_dst) == (0, 0, 0)
                && t.arp_sha == MacAddr::ZERO
                && t.arp_tha == MacAddr::ZERO
                && only(&d, &["nw_proto", "nw_src", "nw_dst", "arp_sha", "arp_tha"])
            {
                "rarp_not_sliced"
            } else if ours.frag == FragFlags::FIRST
                && (t.tp_src, t.tp_dst) == (0, 0)
                && only(&d, &tp)
            {
                "first_fragment_l4_ports"
            } else if ours.nw_proto == 132 && (t.tp_src, t.tp_dst) == (0, 0) && only(&d, &tp) {
                "sctp_ports"
            } else if ours.class == KeyClass::Unparsed(R::Malformed)
                && bytes_after_datagram(frame, ours).is_some_and(|n| n > 0xffff)
            {
                "ip_padding_over_65535"
            } else if ours.class == KeyClass::Unparsed(R::Truncated)
                && ours.dl_type == EtherType::IPV6
                && bytes_after_datagram(frame, ours) == Some(frame.len() - l3_offset(frame) - 40)
            {
                "ipv6_payload_length_zero"
            } else {
                "unexplained"
            }
        }
        Err(_) if ours.is_parsed() && ours.dl_type == EtherType(0x88e5) => "macsec",
        Err(Refused::Slice(_)) if !ours.is_parsed() => match ours.class {
            KeyClass::Unparsed(R::Truncated) => "both_refuse_truncated",
            KeyClass::Unparsed(R::Malformed) => "both_refuse_malformed",
            KeyClass::Unparsed(R::TooManyVlanTags) => "third_vlan_tag",
            _ => "unexplained",
        },
        Err(Refused::Slice(e)) => match e {
            SliceError::Len(l)
                if l.len_source == LenSource::UdpHeaderLen || l.layer == Layer::UdpPayload =>
            {
                "udp_length_unchecked"
            }
            SliceError::Len(l) if l.len_source == LenSource::ArpAddrLengths => {
                "arp_not_ethernet_ipv4"
            }
            SliceError::Ipv6Exts(ipv6_exts::HeaderError::IpAuth(
                ip_auth::HeaderError::ZeroPayloadLen,
            )) => "ipv6_ah_zero_length",
            // An 8-byte AH (payload length 0) with fewer than 12 bytes after it: etherparse
            // wants its 12-byte fixed part before it looks at the length field.
            SliceError::Len(l)
                if ours.dl_type == EtherType::IPV6
                    && l.layer == Layer::IpAuthHeader
                    && l.required_len == AH_FIXED_LEN =>
            {
                "ipv6_ah_zero_length"
            }
            // IPv4's AH is the transport protocol for OVS (nw_proto 51, no ports): it is
            // not walked, so its length is never checked.
            SliceError::Ipv4Exts(_) if ours.dl_type == EtherType::IPV4 => "ipv4_ah_not_walked",
            // What etherparse refuses after the AH (its payload's transport header).
            SliceError::Len(l)
                if ours.dl_type == EtherType::IPV4
                    && ours.nw_proto == 51
                    && matches!(
                        l.layer,
                        Layer::IpAuthHeader
                            | Layer::TcpHeader
                            | Layer::UdpHeader
                            | Layer::UdpPayload
                            | Layer::Icmpv4
                            | Layer::Icmpv4Timestamp
                            | Layer::Icmpv4TimestampReply
                            | Layer::Icmpv6
                            | Layer::Igmp
                    ) =>
            {
                "ipv4_ah_not_walked"
            }
            SliceError::Tcp(_) if ours.dl_type == EtherType::IPV4 && ours.nw_proto == 51 => {
                "ipv4_ah_not_walked"
            }
            SliceError::Len(l)
                if l.layer == Layer::IpAuthHeader
                    && l.len_source == LenSource::Ipv4HeaderTotalLen =>
            {
                "ipv4_ah_not_walked"
            }
            // A later IPv6 fragment: OVS stops at its fragment header; etherparse walks on.
            SliceError::Len(l)
                if ours.dl_type == EtherType::IPV6
                    && ours.frag.is_later()
                    && matches!(
                        l.layer,
                        Layer::IpAuthHeader
                            | Layer::Ipv6ExtHeader
                            | Layer::Ipv6FragHeader
                            | Layer::Ipv6HopByHopHeader
                            | Layer::Ipv6DestOptionsHeader
                            | Layer::Ipv6RouteHeader
                    ) =>
            {
                "ipv6_later_fragment_not_walked"
            }
            SliceError::Ipv6Exts(ipv6_exts::HeaderError::HopByHopNotAtStart) => {
                "ipv6_hop_by_hop_not_first"
            }
            SliceError::Len(l)
                if matches!(
                    l.layer,
                    Layer::Icmpv4Timestamp | Layer::Icmpv4TimestampReply
                ) =>
            {
                "icmpv4_timestamp_length"
            }
            SliceError::Len(l) if l.layer == Layer::Igmp => "igmp_length",
            _ => "unexplained",
        },
        Err(Refused::Macsec) => "unexplained",
    }
}

/// What each category means, and why it is not a bug.
pub const CATEGORIES: &[(&str, &str)] = &[
    ("agree", "every field equal"),
    ("llc_snap_802_3", "802.3 length frame: etherparse reports the length as the EtherType; we follow OVS (SNAP type with OUI 0, else 0x05ff)"),
    ("third_vlan_tag", "three or more tags: we stop with TooManyVlanTags (OVS with vlan-limit 2 stops too); etherparse decodes a third tag and goes on, or refuses what follows it (the refusal found by fuzzing)"),
    ("ipv6_later_fragment_nw_proto_44", "IPv6 non-first fragment: OVS (and we) set nw_proto 44, etherparse the fragment header's next header"),
    ("first_fragment_l4_ports", "first fragment: OVS (and we) read its L4 ports; etherparse does not slice a fragmented payload"),
    ("sctp_ports", "SCTP: etherparse has no SCTP slicer; we read the ports as OVS does"),
    ("ip_padding_over_65535", "more than 65535 bytes after the IP datagram (giant GRO captures whose IPv6 payload length is 0): OVS 3.1 (and we) refuse, etherparse takes length 0 as a jumbogram and parses on"),
    ("ipv6_payload_length_zero", "IPv6 payload length 0: etherparse takes the rest of the frame as payload, OVS (and we) take none, so the next header is truncated"),
    ("macsec", "MACsec frame: etherparse decodes (or refuses) the SecTAG, we (as OVS) stop at EtherType 0x88e5"),
    ("both_refuse_truncated", "etherparse errs and we say Unparsed(Truncated)"),
    ("both_refuse_malformed", "etherparse errs and we say Unparsed(Malformed)"),
    ("udp_length_unchecked", "UDP length field < 8 or beyond the IP payload: etherparse refuses, OVS (and we) read the ports anyway"),
    ("arp_not_ethernet_ipv4", "ARP with other address lengths longer than the frame: etherparse refuses, OVS (and we) parse it as ARP without L3 fields"),
    ("ipv4_ah_not_walked", "IPv4 with AH (protocol 51): OVS (and we) take AH as the transport protocol, nw_proto 51 and no ports; etherparse walks it as an extension header and refuses a short or zero-length one, or reads the ports of the header after it, or refuses that header (found by fuzzing)"),
    ("ipv6_later_fragment_not_walked", "a later IPv6 fragment: OVS (and we) stop at its fragment header with nw_proto 44; etherparse walks on into the fragment's bytes and refuses an extension header there, or takes a further fragment header's flags and next header (found by fuzzing)"),
    ("ipv6_fragment_reserved_bits", "IPv6 fragment header with offset 0, MF clear and a reserved bit set: OVS (and we) mark any non-zero offset/flags word a fragment (FLOW_NW_FRAG_ANY), etherparse looks at offset and MF only; SCTP ports may differ too, as in sctp_ports (found by fuzzing)"),
    ("rarp_not_sliced", "RARP (EtherType 0x8035): OVS (and we) parse it as ARP (opcode, addresses); etherparse slices no RARP, so it has no L3 fields (found by fuzzing)"),
    ("ipv6_ah_zero_length", "IPv6 AH with payload length 0: etherparse refuses (as a zero length, or as shorter than its 12-byte fixed part when fewer bytes remain), OVS (and we) skip (0 + 2) * 4 bytes"),
    ("ipv6_hop_by_hop_not_first", "IPv6 hop-by-hop options after another extension header: etherparse refuses, OVS (and we) walk it like any extension header (found by fuzzing)"),
    ("icmpv4_timestamp_length", "ICMPv4 timestamp (type 13/14) whose length is not 20: etherparse refuses, OVS (and we) read type and code (found by fuzzing)"),
    ("igmp_length", "IGMP message shorter than the length etherparse derives from its type or record counts: etherparse refuses, OVS (and we) read type and max-response code (found by fuzzing)"),
    ("unexplained", "none of the above: a bug to fix"),
];
