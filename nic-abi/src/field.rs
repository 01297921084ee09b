//! Wire offsets: where each field of each header the parser reads and the emitter writes
//! lies, relative to the header's start, and the constants of those headers.
//!
//! Crate-private: [`crate::parse`] reads frames with these offsets and [`crate::emit`] writes
//! them, so the two can never disagree on a position. The parser's length rules (the minimum
//! lengths OVS requires) are here too; the parser's module doc states them in prose.

/// Ethernet II.
pub mod eth {
    pub const DST: usize = 0;
    pub const SRC: usize = 6;
    pub const TYPE: usize = 12;
    pub const HEADER_LEN: usize = 14;
    /// Bytes in a MAC address.
    pub const ADDR_LEN: usize = 6;
}
/// An 802.1Q / 802.1ad tag, starting at its TPID.
pub mod vlan {
    pub const TPID: usize = 0;
    pub const TCI: usize = 2;
    /// The tag (TPID + TCI).
    pub const TAG_LEN: usize = 4;
    /// The tag and the type that follows it: what must be present to take a tag (OVS).
    pub const TAG_AND_TYPE_LEN: usize = 6;
    /// The most tags a key holds.
    pub const MAX_TAGS: usize = 2;
}
/// 802.2 LLC + SNAP, after an 802.3 length field.
pub mod llc_snap {
    /// DSAP, SSAP, control, OUI.
    pub const LLC_AND_OUI: core::ops::Range<usize> = 0..6;
    pub const SNAP_TYPE: usize = 6;
    pub const HEADER_LEN: usize = 8;
    /// `AA AA 03` (SNAP) and OUI `00 00 00` (an EtherType follows).
    pub const ETHERNET_SNAP: [u8; 6] = [0xaa, 0xaa, 0x03, 0, 0, 0];
}
/// ARP for Ethernet and IPv4.
pub mod arp {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
    pub const HEADER_LEN: usize = 28;
    pub const HTYPE_ETHERNET: u16 = 1;
    pub const HLEN_ETHERNET: u8 = 6;
    pub const PLEN_IPV4: u8 = 4;
}
/// IPv4.
pub mod ipv4 {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const MIN_HEADER_LEN: usize = 20;
    /// The IHL field is 4 bits of 32-bit words: at most 60 bytes.
    pub const MAX_HEADER_LEN: usize = 60;
    pub const VERSION: u8 = 4;
    /// More-fragments flag and fragment offset.
    pub const FRAGMENT_MASK: u16 = 0x3fff;
    pub const OFFSET_MASK: u16 = 0x1fff;
}
/// IPv6 and its extension headers.
pub mod ipv6 {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const HEADER_LEN: usize = 40;
    pub const VERSION: u8 = 6;
    /// Traffic class: bits 27..20 of the first word.
    pub const TC_SHIFT: u32 = 20;
    /// Flow label: bits 19..0 of the first word.
    pub const FLOW_LABEL_MASK: u32 = 0x000f_ffff;
    /// Version: bits 31..28 of the first word.
    pub const VERSION_SHIFT: u32 = 28;
    /// Every extension header: next header at 0, a length at 1, at least 8 bytes.
    pub const EXT_NEXT_HEADER: usize = 0;
    pub const EXT_LEN: usize = 1;
    pub const EXT_MIN_LEN: usize = 8;
    /// Hop-by-hop, routing, destination options: `(len + 1) * 8` bytes.
    pub const EXT_LEN_UNIT: usize = 8;
    /// AH: `(len + 2) * 4` bytes.
    pub const AH_LEN_UNIT: usize = 4;
    pub const AH_LEN_BIAS: usize = 2;
    /// Fragment header: offset (13 bits), reserved (2), M (1).
    pub const FRAG_OFFLG: usize = 2;
    pub const FRAG_IDENT: usize = 4;
    pub const FRAG_OFFSET_MASK: u16 = 0xfff8;
    pub const FRAG_OFFSET_SHIFT: u32 = 3;
    pub const FRAG_MORE: u16 = 1;
    pub const FRAG_HEADER_LEN: usize = 8;
}
/// Transport headers: where the ports (or type and code) are, and the minimum lengths OVS
/// requires before it reads them.
pub mod l4 {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const ICMP_TYPE: usize = 0;
    pub const ICMP_CODE: usize = 1;
    pub const ICMP_CHECKSUM: usize = 2;
    /// The four bytes after the checksum (identifier and sequence of an echo, ...).
    pub const ICMP_REST: usize = 4;
    pub const TCP_SEQ: usize = 4;
    pub const TCP_ACK: usize = 8;
    /// TCP data offset: the high nibble, in 32-bit words.
    pub const TCP_DATA_OFFSET: usize = 12;
    pub const TCP_DATA_OFFSET_SHIFT: u32 = 4;
    pub const TCP_FLAGS: usize = 13;
    pub const TCP_WINDOW: usize = 14;
    pub const TCP_CHECKSUM: usize = 16;
    pub const TCP_URGENT: usize = 18;
    pub const TCP_HEADER_LEN: usize = 20;
    /// The data offset is 4 bits of 32-bit words: at most 60 bytes.
    pub const TCP_MAX_HEADER_LEN: usize = 60;
    pub const UDP_LEN: usize = 4;
    pub const UDP_CHECKSUM: usize = 6;
    pub const UDP_HEADER_LEN: usize = 8;
    pub const SCTP_VERIFICATION_TAG: usize = 4;
    pub const SCTP_CHECKSUM: usize = 8;
    pub const SCTP_HEADER_LEN: usize = 12;
    /// ICMP, IGMP and ICMPv6 headers alike.
    pub const ICMP_HEADER_LEN: usize = 8;
}
/// IP protocol numbers the parser acts on.
pub mod proto {
    pub const HOPOPTS: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const DSTOPTS: u8 = 60;
    pub const SCTP: u8 = 132;
}
/// EtherType values beyond those in [`crate::key::EtherType`].
pub mod ethertype {
    /// Smallest EtherType; smaller values are 802.3 lengths.
    pub const MIN: u16 = 0x0600;
    pub const RARP: u16 = 0x8035;
}
/// The most bytes allowed after an IP datagram inside the frame (OVS 3.1's limit on the
/// L2 pad it records, `UINT16_MAX`).
pub const MAX_L2_PAD: usize = 0xffff;
