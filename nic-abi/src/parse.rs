//! Header parsing: a frame's bytes become a [`FlowKey`].
//!
//! Two profiles share one implementation and differ in exactly two rules:
//!
//! | | [`parse_card`] | [`parse_software`] |
//! |---|---|---|
//! | who | the card's hardware parser (and the RTL, which implements these rules exactly) | the flow-setup agent |
//! | bytes it may read | the first [`HEADER_WINDOW_BYTES`] of the frame | the whole frame |
//! | IPv6 extension headers | not walked: `Unparsed(Ipv6ExtensionHeader)` | walked (hop-by-hop, routing, destination options, fragment, AH) |
//!
//! Both profiles know the frame's full length (the MAC and the descriptor report it), so every
//! length rule below is evaluated against the whole frame; the window only limits which bytes
//! the card can *read*. Whenever the card profile returns a [`KeyClass::Parsed`] key, the
//! software profile returns the same key (a property test checks this).
//!
//! # Conventions: Open vSwitch's `flow_extract`
//!
//! The key's fields follow `miniflow_extract()` in Open vSwitch's `lib/flow.c`, rule by rule,
//! so that flow-setup's decisions can be compared with the decisions OVS makes for the same
//! packet. Where OVS stops parsing (its `goto out`), we stop too and the key's later fields are
//! 0, exactly as in OVS's `struct flow`; our key additionally says *why* in its class. So the
//! software profile's fields (class aside) are OVS's for every frame; the one deliberate
//! difference is marked **(not OVS)** below. This was checked against a real `ovs-vswitchd`
//! 3.1 (`ofproto/trace` of each packet, `vlan-limit=2`) on every packet of the mix and
//! wireshark captures of `tests/data`: every field equal, except for 13 frames over 64 KiB
//! (GRO captures) on which that `ovs-vswitchd` exits instead of answering.
//!
//! # The rules, in order
//!
//! `len` is the frame length; `be16(o)` the big-endian 16-bit value at byte offset `o`. A key
//! starts all-zero with `in_port` set. When a rule says `Unparsed(r)` the parse stops: fields
//! set so far are kept, every other field stays 0 (it never holds a guess), and the class is
//! `Unparsed(r)`. The one problem that does not stop the parse is a wrong IP version nibble
//! (noted as `Unparsed(Malformed)`, see IPv4 rule 5).
//!
//! **Window (card only).** Each header extent `[a, b)` that a rule below checks against `len`
//! (Ethernet 14 bytes, a tag and the type after it 6, LLC/SNAP 8, ARP 28, IPv4 `ihl * 4`,
//! IPv6 40, the L4 minimum of the table below; not the TCP options, whose length is only
//! compared) must also satisfy `b <= HEADER_WINDOW_BYTES`, else
//! `Unparsed(BeyondHeaderWindow)`. Each extent's window check comes right after the rule that
//! checks it against `len` (for IPv4: the fixed 20 bytes after rule 1, `ihl * 4` after rule 4;
//! for TCP: the 20 bytes before the data-offset check). With a
//! 128-byte window this cannot happen for the headers this parser knows (the deepest extent
//! is 2 tags + SNAP + a 60-byte IPv4 header + a 20-byte TCP header = 110 bytes), but the rule
//! is part of the contract should the window shrink.
//!
//! **Ethernet.**
//! 1. `len < 14`: `Unparsed(Truncated)`, no field set (as OVS, which needs a full Ethernet
//!    header before it stores the MACs).
//! 2. `dl_dst` = bytes 0..6, `dl_src` = bytes 6..12; `o = 12`.
//! 3. VLAN tags: while `be16(o)` is 0x8100, 0x88a8 or 0x9100 **(0x9100: not OVS, which knows
//!    only the first two)**: if two tags were already taken, `dl_type = be16(o)` and
//!    `Unparsed(TooManyVlanTags)` (OVS with `vlan-limit=2` gives the same `dl_type`); if
//!    `len < o + 6` (the tag and the type after it), `dl_type = be16(o)` and
//!    `Unparsed(Truncated)`; else the tag's TCI with bit 12 forced to 1 (the "present" bit,
//!    where the frame has its DEI bit) goes to `vlan` (first tag) or `inner_vlan` (second);
//!    `o += 4`.
//! 4. `t = be16(o)`, `o += 2`. `t >= 0x0600`: `dl_type = t`. Otherwise (an 802.3 length) if
//!    `len >= o + 8` and bytes `o..o+6` are `AA AA 03 00 00 00` (LLC/SNAP with the Ethernet
//!    OUI) and the SNAP type `s = be16(o + 6) >= 0x0600`: `dl_type = s`, `o += 8`; else
//!    `dl_type = 0x05ff` ([`EtherType::NONE`]) and the key is `Parsed` with no L3 fields.
//! 5. `dl_type` IPv4, IPv6, ARP or RARP (0x8035, as OVS): the rules below. Any other type
//!    (MPLS, PPPoE, ...): `Parsed`, L2 fields only (the key holds no field of those headers).
//!
//! **IPv4** at `l3 = o`, `size = len - l3`.
//! 1. `size < 20`: `Unparsed(Truncated)`.
//! 2. `ihl * 4 < 20`: `Unparsed(Malformed)`.
//! 3. `size < ihl * 4` or total length `> size`: `Unparsed(Truncated)`.
//! 4. `ihl * 4 >` total length, or `size - total length > 65535` (more bytes after the
//!    datagram than OVS 3.1 accepts as padding): `Unparsed(Malformed)`.
//! 5. A version nibble other than 4 is *noted*: the key's class becomes `Unparsed(Malformed)`
//!    but the parse goes on, because OVS does not check the version and parses the header as
//!    IPv4; the fields stay OVS's, and the packet still goes to the agent. (A later rule that
//!    stops the parse replaces the class with its own reason.)
//!    `nw_src`, `nw_dst` (low 32 bits), `nw_tos` = TOS byte, `nw_proto` = protocol.
//!    Fragment flags from the flags/offset word `f = be16(l3 + 6)`: `f & 0x3fff != 0` (MF or
//!    offset) sets [`FragFlags::FIRST`]; an offset `f & 0x1fff != 0` makes it
//!    [`FragFlags::LATER`]. A later fragment is `Parsed` with `tp_src = tp_dst = 0` (it has no
//!    L4 header). The L4 header starts at `l3 + ihl * 4` and has `total length - ihl * 4`
//!    bytes (padding after the datagram is never read).
//!
//! **IPv6** at `l3 = o`, `size = len - l3`.
//! 1. `size < 40`: `Unparsed(Truncated)`.
//! 2. Payload length `> size - 40`: `Unparsed(Truncated)`; `size - 40 - payload length >
//!    65535`: `Unparsed(Malformed)`. (A payload length of 0, as in a jumbogram, is taken
//!    literally, as OVS does: the payload is empty.)
//! 3. A version nibble other than 6 is noted as for IPv4 (class `Unparsed(Malformed)`, parse
//!    goes on). `nw_src`, `nw_dst` (128 bits). Next header `nh = byte l3 + 6`, traffic class `tc`.
//! 4. Extension headers: `nh` is one of hop-by-hop (0), routing (43), fragment (44),
//!    AH (51), destination options (60), as in OVS; others (ESP, mobility, no-next-header, ...)
//!    are final. Card: `Unparsed(Ipv6ExtensionHeader)`, keeping only the addresses (`nw_tos`
//!    and `nw_proto` are set after the walk, step 5). Software: walk them within the payload
//!    length; each needs 8 bytes (`Unparsed(Truncated)` if fewer remain); hop-by-hop, routing,
//!    destination options are `(hdr_ext_len + 1) * 8` bytes, AH `(payload_len + 2) * 4`, the
//!    fragment header 8 (any of them longer than what remains: `Unparsed(Truncated)`). A
//!    fragment header whose offset/flags word is non-zero makes the packet a fragment, and one
//!    with a non-zero offset (`& 0xfff8`) a later fragment: the walk stops there and
//!    `nw_proto` is 44 (fragment), as in OVS. A truncated walk keeps only the addresses
//!    (OVS's order: it stores the addresses before walking).
//! 5. `nw_tos = tc`, `nw_proto` = the final next header, fragment flags as above. The L4 header
//!    follows the last extension header, within the payload length.
//!
//! **L4** (IPv4 and IPv6 alike, as in OVS; not for later fragments), by `nw_proto`, with
//! the bytes the IP header says are left (`avail`):
//!
//! | nw_proto | needs | tp_src | tp_dst |
//! |---|---|---|---|
//! | TCP (6) | 20 | source port | destination port |
//! | UDP (17) | 8 | source port | destination port |
//! | SCTP (132) | 12 | source port | destination port |
//! | ICMP (1), IGMP (2), ICMPv6 (58) | 8 | type | code |
//! | anything else | - | 0 | 0 |
//!
//! `avail < needs`: `Unparsed(Truncated)` with `tp_src = tp_dst = 0`. For TCP, as in OVS 3.1,
//! the data offset (high nibble of byte 12) times 4 must also be at least 20
//! (`Unparsed(Malformed)` otherwise) and at most `avail` (`Unparsed(Truncated)`), ports 0 in
//! both cases; the options themselves are never read. OVS here keeps the
//! flow an ordinary one with zero ports (`if (size >= TCP_HEADER_LEN)` simply skips the
//! ports): our fields are OVS's, and the class keeps the card from installing an exact-match
//! entry for a port-less TCP packet, which would otherwise share its entry with real traffic to
//! port 0.
//!
//! **ARP and RARP** at `o`:
//! 1. `len - o < 28`: `Unparsed(Truncated)` (OVS: an ARP flow with no L3 fields; same fields).
//! 2. Hardware type 1, protocol type 0x0800, lengths 6 and 4: `nw_src` = sender protocol
//!    address, `nw_dst` = target protocol address, and `nw_proto` = the opcode when it is at
//!    most 255 (OVS matches only its low byte and leaves 0 for larger opcodes); `arp_sha` and
//!    `arp_tha` = the sender and target hardware addresses (OVS's `miniflow_extract` pushes
//!    them in the same branch). Any other ARP: `Parsed`, no L3 fields (OVS's choice). The
//!    hardware addresses are software-only key fields: the card's packed key drops them (see
//!    `FlowKey::card_view`).
//!
//! ```
//! use nic_abi::key::{EtherType, KeyClass, PortNo};
//! use nic_abi::parse::{parse_card, parse_software};
//!
//! // An Ethernet + IPv4 + UDP frame, 10.0.0.1:5000 -> 10.0.0.2:53.
//! let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
//! frame.extend([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
//! frame.extend([0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0]);
//! let key = parse_card(&frame, PortNo(1));
//! assert_eq!(key.class, KeyClass::Parsed);
//! assert_eq!((key.dl_type, key.nw_proto, key.tp_src, key.tp_dst), (EtherType::IPV4, 17, 5000, 53));
//! assert_eq!(key.nw_dst, 0x0a00_0002);
//! assert_eq!(parse_software(&frame, PortNo(1)), key);
//! ```

use crate::key::{EtherType, FlowKey, FragFlags, KeyClass, MacAddr, PortNo, UnparsedReason};

/// How many bytes of a frame the card's parser sees. Headers that would need bytes past this
/// window make the card's key `Unparsed(BeyondHeaderWindow)`.
pub const HEADER_WINDOW_BYTES: usize = 128;

/// Bytes per beat of the card's parser bus: 64 bytes (512 bits) a cycle carry 100 Gb/s at
/// 250 MHz with room to spare (the bus width of 100G FPGA NICs such as Corundum's), so a
/// header window arrives in two beats.
pub const PARSER_BEAT_BYTES: usize = 64;

/// Cycles from the beat that completes a frame's header window (its first
/// `min(len, HEADER_WINDOW_BYTES)` bytes) to the first cycle its key is valid: one to register
/// the window, one to parse it and register the key. The RTL's `pkt_parser` has exactly this
/// latency and `nic-model` times its parser with it.
pub const PARSER_LATENCY_CYCLES: u32 = 2;

/// Beats the card's parser takes for a frame of `len` bytes: its header window, at least one.
pub fn parser_beats(len: usize) -> usize {
    len.min(HEADER_WINDOW_BYTES)
        .div_ceil(PARSER_BEAT_BYTES)
        .max(1)
}

/// The card's hardware parser: the rules of the module doc, reading only the first
/// [`HEADER_WINDOW_BYTES`] bytes of `frame` and not walking IPv6 extension headers.
///
/// `frame` is the whole frame as received (without FCS); only its length is used beyond the
/// window. Never panics, never allocates.
pub fn parse_card(frame: &[u8], in_port: PortNo) -> FlowKey {
    parse::<HEADER_WINDOW_BYTES, false>(frame, in_port)
}

/// The flow-setup agent's full parser: the rules of the module doc over the whole frame,
/// walking IPv6 extension headers. Never panics, never allocates.
pub fn parse_software(frame: &[u8], in_port: PortNo) -> FlowKey {
    parse::<{ usize::MAX }, true>(frame, in_port)
}

use crate::field;
use UnparsedReason::{BeyondHeaderWindow, Ipv6ExtensionHeader, Malformed, Truncated};

/// The bytes a profile may read and the frame's full length.
struct Frame<'a> {
    /// The readable prefix of the frame (the window, or the whole frame).
    view: &'a [u8],
    /// The frame's full length: every length rule is checked against it.
    len: usize,
}

impl<'a> Frame<'a> {
    /// The `N` bytes at `at`, after the caller has checked `at + N <= len`: fails only when
    /// they lie beyond the window.
    #[inline(always)]
    fn bytes<const N: usize>(&self, at: usize) -> Result<&'a [u8; N], UnparsedReason> {
        self.view
            .get(at..)
            .and_then(<[u8]>::first_chunk::<N>)
            .ok_or(BeyondHeaderWindow)
    }

    /// Checks that the extent `[at, at + n)`, already checked against `len`, is readable.
    #[inline(always)]
    fn readable(&self, at: usize, n: usize) -> Result<(), UnparsedReason> {
        match at.checked_add(n) {
            Some(end) if end <= self.view.len() => Ok(()),
            _ => Err(BeyondHeaderWindow),
        }
    }

    /// Bytes of the frame from `at` to its end (0 past the end).
    #[inline(always)]
    fn left(&self, at: usize) -> usize {
        self.len.saturating_sub(at)
    }
}

#[inline(always)]
fn be16<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be32<const N: usize>(b: &[u8; N], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
fn be128<const N: usize>(b: &[u8; N], at: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    u128::from_be_bytes(a)
}

#[inline(always)]
fn mac<const N: usize>(b: &[u8; N], at: usize) -> MacAddr {
    MacAddr([b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]])
}

/// Both profiles: `WINDOW` bytes readable, `WALK_EXT` walks IPv6 extension headers.
#[inline(always)]
fn parse<const WINDOW: usize, const WALK_EXT: bool>(frame: &[u8], in_port: PortNo) -> FlowKey {
    let f = Frame {
        view: &frame[..frame.len().min(WINDOW)],
        len: frame.len(),
    };
    let mut key = FlowKey {
        in_port,
        ..FlowKey::default()
    };
    if let Err(reason) = parse_l2::<WALK_EXT>(&f, &mut key) {
        key.class = KeyClass::Unparsed(reason);
    }
    key
}

fn is_vlan_tpid(t: u16) -> bool {
    t == EtherType::VLAN.0 || t == EtherType::QINQ.0 || t == EtherType::QINQ_LEGACY.0
}

#[inline(always)]
fn parse_l2<const WALK_EXT: bool>(f: &Frame<'_>, key: &mut FlowKey) -> Result<(), UnparsedReason> {
    use field::{eth, llc_snap, vlan};
    if f.len < eth::HEADER_LEN {
        return Err(Truncated);
    }
    let h = f.bytes::<{ eth::HEADER_LEN }>(0)?;
    key.dl_dst = mac(h, eth::DST);
    key.dl_src = mac(h, eth::SRC);
    let mut o = eth::TYPE;
    let mut t = be16(h, eth::TYPE);
    let mut tags = 0;
    while is_vlan_tpid(t) {
        if tags == vlan::MAX_TAGS {
            key.dl_type = EtherType(t);
            return Err(UnparsedReason::TooManyVlanTags);
        }
        if f.left(o) < vlan::TAG_AND_TYPE_LEN {
            key.dl_type = EtherType(t);
            return Err(Truncated);
        }
        let tag = f.bytes::<{ vlan::TAG_AND_TYPE_LEN }>(o)?;
        let tci = crate::key::VlanTci(be16(tag, vlan::TCI) | crate::key::VlanTci::PRESENT);
        if tags == 0 {
            key.vlan = tci;
        } else {
            key.inner_vlan = tci;
        }
        tags += 1;
        o += vlan::TAG_LEN;
        t = be16(tag, vlan::TAG_LEN);
    }
    // `o` is at the type/length field, which the checks above showed to be in the frame.
    o += 2;
    if t < field::ethertype::MIN {
        key.dl_type = EtherType::NONE;
        if f.left(o) < llc_snap::HEADER_LEN {
            return Ok(());
        }
        let llc = f.bytes::<{ llc_snap::HEADER_LEN }>(o)?;
        let snap_type = be16(llc, llc_snap::SNAP_TYPE);
        if llc[llc_snap::LLC_AND_OUI] != llc_snap::ETHERNET_SNAP
            || snap_type < field::ethertype::MIN
        {
            return Ok(());
        }
        t = snap_type;
        o += llc_snap::HEADER_LEN;
    }
    key.dl_type = EtherType(t);
    match EtherType(t) {
        EtherType::IPV4 => parse_ipv4(f, o, key),
        EtherType::IPV6 => parse_ipv6::<WALK_EXT>(f, o, key),
        EtherType::ARP => parse_arp(f, o, key),
        EtherType(field::ethertype::RARP) => parse_arp(f, o, key),
        _ => Ok(()),
    }
}

#[inline(always)]
fn parse_ipv4(f: &Frame<'_>, l3: usize, key: &mut FlowKey) -> Result<(), UnparsedReason> {
    use field::ipv4;
    let size = f.left(l3);
    if size < ipv4::MIN_HEADER_LEN {
        return Err(Truncated);
    }
    let h = f.bytes::<{ ipv4::MIN_HEADER_LEN }>(l3)?;
    let ver_ihl = h[ipv4::VER_IHL];
    let ip_len = usize::from(ver_ihl & 0x0f) * 4;
    if ip_len < ipv4::MIN_HEADER_LEN {
        return Err(Malformed);
    }
    let total_len = usize::from(be16(h, ipv4::TOTAL_LEN));
    if size < ip_len || total_len > size {
        return Err(Truncated);
    }
    if ip_len > total_len || size - total_len > field::MAX_L2_PAD {
        return Err(Malformed);
    }
    f.readable(l3, ip_len)?;
    if ver_ihl >> 4 != ipv4::VERSION {
        // Noted, not a stop: OVS parses on (see the module doc).
        key.class = KeyClass::Unparsed(Malformed);
    }
    key.nw_src = u128::from(be32(h, ipv4::SRC));
    key.nw_dst = u128::from(be32(h, ipv4::DST));
    key.nw_tos = h[ipv4::TOS];
    key.nw_proto = h[ipv4::PROTOCOL];
    let frag = be16(h, ipv4::FLAGS_FRAG);
    if frag & ipv4::FRAGMENT_MASK != 0 {
        if frag & ipv4::OFFSET_MASK != 0 {
            key.frag = FragFlags::LATER;
            return Ok(());
        }
        key.frag = FragFlags::FIRST;
    }
    parse_l4(f, l3 + ip_len, total_len - ip_len, key)
}

#[inline(always)]
fn parse_ipv6<const WALK_EXT: bool>(
    f: &Frame<'_>,
    l3: usize,
    key: &mut FlowKey,
) -> Result<(), UnparsedReason> {
    use field::{ipv6, proto};
    let size = f.left(l3);
    if size < ipv6::HEADER_LEN {
        return Err(Truncated);
    }
    let h = f.bytes::<{ ipv6::HEADER_LEN }>(l3)?;
    let first = be32(h, ipv6::VER_TC_FLOW);
    let payload_len = usize::from(be16(h, ipv6::PAYLOAD_LEN));
    let after = size - ipv6::HEADER_LEN;
    if payload_len > after {
        return Err(Truncated);
    }
    if after - payload_len > field::MAX_L2_PAD {
        return Err(Malformed);
    }
    if h[ipv6::VER_TC_FLOW] >> 4 != ipv6::VERSION {
        // Noted, not a stop: OVS parses on (see the module doc).
        key.class = KeyClass::Unparsed(Malformed);
    }
    key.nw_src = be128(h, ipv6::SRC);
    key.nw_dst = be128(h, ipv6::DST);
    // The traffic class is the byte at bits 27..20; the cast keeps exactly those bits.
    #[allow(clippy::cast_possible_truncation)]
    let tc = (first >> ipv6::TC_SHIFT) as u8;
    let mut nh = h[ipv6::NEXT_HEADER];
    let mut at = l3 + ipv6::HEADER_LEN;
    let mut avail = payload_len;
    let mut frag = FragFlags::NONE;
    while is_ipv6_extension(nh) {
        if !WALK_EXT {
            return Err(Ipv6ExtensionHeader);
        }
        if avail < ipv6::EXT_MIN_LEN {
            return Err(Truncated);
        }
        let e = f.bytes::<{ ipv6::EXT_MIN_LEN }>(at)?;
        let len_field = usize::from(e[ipv6::EXT_LEN]);
        let ext_len = match nh {
            proto::FRAGMENT => ipv6::FRAG_HEADER_LEN,
            proto::AH => (len_field + ipv6::AH_LEN_BIAS) * ipv6::AH_LEN_UNIT,
            _ => (len_field + 1) * ipv6::EXT_LEN_UNIT,
        };
        if avail < ext_len {
            return Err(Truncated);
        }
        f.readable(at, ext_len)?;
        if nh == proto::FRAGMENT {
            let offlg = be16(e, ipv6::FRAG_OFFLG);
            if offlg != 0 {
                frag = FragFlags::FIRST;
                if offlg & ipv6::FRAG_OFFSET_MASK != 0 {
                    // A later fragment: no L4 header; OVS keeps 44 as nw_proto.
                    key.nw_tos = tc;
                    key.nw_proto = proto::FRAGMENT;
                    key.frag = FragFlags::LATER;
                    return Ok(());
                }
            }
        }
        nh = e[ipv6::EXT_NEXT_HEADER];
        at += ext_len;
        avail -= ext_len;
    }
    key.frag = frag;
    key.nw_tos = tc;
    key.nw_proto = nh;
    parse_l4(f, at, avail, key)
}

/// The IPv6 extension headers OVS walks (and the card refuses).
#[inline(always)]
fn is_ipv6_extension(nh: u8) -> bool {
    use field::proto;
    matches!(
        nh,
        proto::HOPOPTS | proto::ROUTING | proto::DSTOPTS | proto::AH | proto::FRAGMENT
    )
}

#[inline(always)]
fn parse_arp(f: &Frame<'_>, o: usize, key: &mut FlowKey) -> Result<(), UnparsedReason> {
    use field::arp;
    if f.left(o) < arp::HEADER_LEN {
        return Err(Truncated);
    }
    let a = f.bytes::<{ arp::HEADER_LEN }>(o)?;
    if be16(a, arp::HTYPE) == arp::HTYPE_ETHERNET
        && be16(a, arp::PTYPE) == EtherType::IPV4.0
        && a[arp::HLEN] == arp::HLEN_ETHERNET
        && a[arp::PLEN] == arp::PLEN_IPV4
    {
        key.nw_src = u128::from(be32(a, arp::SPA));
        key.nw_dst = u128::from(be32(a, arp::TPA));
        key.nw_proto = u8::try_from(be16(a, arp::OPER)).unwrap_or(0);
        key.arp_sha = MacAddr(*f.bytes::<6>(o + arp::SHA)?);
        key.arp_tha = MacAddr(*f.bytes::<6>(o + arp::THA)?);
    }
    Ok(())
}

/// L4 ports (or ICMP type and code) of the header at `at` with `avail` bytes left in the
/// datagram.
#[inline(always)]
fn parse_l4(
    f: &Frame<'_>,
    at: usize,
    avail: usize,
    key: &mut FlowKey,
) -> Result<(), UnparsedReason> {
    use field::{l4, proto};
    let (needs, ports) = match key.nw_proto {
        proto::TCP => (l4::TCP_HEADER_LEN, true),
        proto::UDP => (l4::UDP_HEADER_LEN, true),
        proto::SCTP => (l4::SCTP_HEADER_LEN, true),
        proto::ICMP | proto::IGMP | proto::ICMPV6 => (l4::ICMP_HEADER_LEN, false),
        _ => return Ok(()),
    };
    if avail < needs {
        return Err(Truncated);
    }
    f.readable(at, needs)?;
    if key.nw_proto == proto::TCP {
        // OVS 3.1 also needs a data offset of at least 5 words, within the datagram.
        let tcp = f.bytes::<{ l4::TCP_HEADER_LEN }>(at)?;
        let data_offset = usize::from(tcp[l4::TCP_DATA_OFFSET] >> l4::TCP_DATA_OFFSET_SHIFT) * 4;
        if data_offset < l4::TCP_HEADER_LEN {
            return Err(Malformed);
        }
        if avail < data_offset {
            return Err(Truncated);
        }
    }
    let h = f.bytes::<4>(at)?;
    if ports {
        key.tp_src = be16(h, l4::SRC_PORT);
        key.tp_dst = be16(h, l4::DST_PORT);
    } else {
        key.tp_src = u16::from(h[l4::ICMP_TYPE]);
        key.tp_dst = u16::from(h[l4::ICMP_CODE]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 (`ihl` words) + TCP 12345 -> 80, with `tags` VLAN tags and an optional
    /// LLC/SNAP.
    fn deep_frame(tags: usize, snap: bool, ihl: u8) -> Vec<u8> {
        use crate::emit::{EthernetRepr, FrameRepr, Ipv4Repr, Len, NetworkRepr, TcpRepr};
        use crate::emit::{TransportRepr, VlanTag};
        let options = vec![0; (usize::from(ihl) - 5) * 4];
        FrameRepr {
            ethernet: EthernetRepr {
                tags: &[VlanTag::dot1q(5, 0); 2][..tags],
                llc_snap: snap.then_some(Len::Consistent),
                ..EthernetRepr::default()
            },
            network: NetworkRepr::Ipv4(Ipv4Repr {
                src: [10, 0, 0, 1].into(),
                dst: [10, 0, 0, 2].into(),
                options: &options,
                ..Ipv4Repr::default()
            }),
            transport: TransportRepr::Tcp(TcpRepr {
                src_port: 12345,
                dst_port: 80,
                ..TcpRepr::default()
            }),
            ..FrameRepr::default()
        }
        .to_vec()
        .unwrap()
    }

    #[test]
    fn deepest_known_headers_fit_the_card_window() {
        let f = deep_frame(2, true, 15);
        assert_eq!(f.len(), 110);
        let card = parse_card(&f, PortNo(1));
        assert_eq!(card.class, KeyClass::Parsed);
        assert_eq!(
            (card.tp_src, card.tp_dst, card.inner_vlan.vid()),
            (12345, 80, 5)
        );
        assert_eq!(card, parse_software(&f, PortNo(1)));
    }

    #[test]
    fn a_smaller_window_refuses_headers_beyond_it() {
        let f = deep_frame(0, false, 5);
        // The IPv4 header ends at 34, the TCP header at 54.
        let at_54 = parse::<54, false>(&f, PortNo(1));
        assert_eq!(at_54, parse_software(&f, PortNo(1)));
        let at_53 = parse::<53, false>(&f, PortNo(1));
        assert_eq!(at_53.class, KeyClass::Unparsed(BeyondHeaderWindow));
        // Fields before the problem are kept: the L3 fields, not the ports.
        assert_eq!((at_53.nw_proto, at_53.tp_src, at_53.tp_dst), (6, 0, 0));
        let at_33 = parse::<33, false>(&f, PortNo(1));
        assert_eq!(at_33.class, KeyClass::Unparsed(BeyondHeaderWindow));
        assert_eq!((at_33.dl_type, at_33.nw_src), (EtherType::IPV4, 0));
        // Length rules come first and use the whole frame: a frame that ends inside the IPv4
        // header is Truncated even when the window would have refused that header too.
        let short = &f[..30];
        assert_eq!(
            parse::<33, false>(short, PortNo(1)).class,
            KeyClass::Unparsed(Truncated)
        );
    }

    #[test]
    fn empty_frame_is_truncated() {
        let k = parse_card(&[], PortNo(9));
        assert_eq!(k.class, KeyClass::Unparsed(Truncated));
        assert_eq!(
            k,
            FlowKey {
                in_port: PortNo(9),
                class: KeyClass::Unparsed(Truncated),
                ..FlowKey::default()
            }
        );
    }
}
