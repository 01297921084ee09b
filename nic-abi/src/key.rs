//! The flow key: every header field a rule may match, in the fixed word layout the card uses.
//!
//! Two packets with equal keys always get the same decision, so the key holds every field the
//! rule language can match (see `flow-setup`), and nothing else. Two of them are
//! software-only: ARP's sender and target hardware addresses (`arp_sha`, `arp_tha`) are not in
//! the packed key the card holds (the card's key layout is the hardware contract and has no
//! room for them); the flow-setup agent never installs an entry whose decision depends on
//! them. The packed layout is fixed bit for bit: the RTL receives the key as [`KEY_WORDS`] 32-bit words, the flow table hashes those
//! words, and the generated Verilog include carries the same offsets.
//!
//! ```text
//! word  31                16 15         8 7           0
//!   0  | in_port            | class      | frag flags  |
//!   1  | dl_dst[47:16]                                 |
//!   2  | dl_dst[15:0]       | dl_src[47:32]            |
//!   3  | dl_src[31:0]                                  |
//!   4  | dl_type            | vlan_tci (outer tag)     |
//!   5  | inner_vlan_tci     | nw_proto   | nw_tos      |
//!  6-9 | nw_src[127:0], most significant word first    |
//! 10-13| nw_dst[127:0], most significant word first    |
//!  14  | tp_src             | tp_dst                   |
//! ```
//!
//! Field semantics follow Open vSwitch's `struct flow`, so that rule decisions can be compared
//! with OVS's: IPv4 addresses sit in the low 32 bits of `nw_src`/`nw_dst`; for ARP, `nw_src`
//! and `nw_dst` are the sender and target protocol addresses and `nw_proto` the low byte of the
//! opcode; for ICMP and ICMPv6, `tp_src` is the type and `tp_dst` the code; a VLAN TCI has the
//! CFI bit (0x1000) set exactly when the tag is present.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// Number of 32-bit words in a packed [`FlowKey`].
pub const KEY_WORDS: usize = 15;
/// Number of bits in a packed [`FlowKey`].
pub const KEY_BITS: usize = KEY_WORDS * 32;

/// A packed flow key: the form the RTL and the flow table's hash functions see.
pub type KeyWords = [u32; KEY_WORDS];

/// Word and bit positions of each field in [`KeyWords`]; the Verilog include is generated
/// from these, so the RTL never types an offset by hand.
pub mod layout {
    /// A field's place in the packed key: word index, least significant bit, width in bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct FieldPos {
        /// Name of the field, as it appears in generated Verilog (`KEY_<NAME>_*`).
        pub name: &'static str,
        /// Index of the (first, most significant) word holding the field.
        pub word: usize,
        /// Least significant bit of the field within its last word.
        pub lsb: u32,
        /// Width of the field in bits.
        pub width: u32,
    }

    /// Ingress port.
    pub const IN_PORT: FieldPos = FieldPos {
        name: "IN_PORT",
        word: 0,
        lsb: 16,
        width: 16,
    };
    /// Key class (0: parsed; otherwise the [`super::UnparsedReason`] code).
    pub const CLASS: FieldPos = FieldPos {
        name: "CLASS",
        word: 0,
        lsb: 8,
        width: 8,
    };
    /// Fragment flags ([`super::FragFlags`]).
    pub const FRAG: FieldPos = FieldPos {
        name: "FRAG",
        word: 0,
        lsb: 0,
        width: 8,
    };
    /// Upper 32 bits of the destination MAC.
    pub const DL_DST_HI: FieldPos = FieldPos {
        name: "DL_DST_HI",
        word: 1,
        lsb: 0,
        width: 32,
    };
    /// Lower 16 bits of the destination MAC.
    pub const DL_DST_LO: FieldPos = FieldPos {
        name: "DL_DST_LO",
        word: 2,
        lsb: 16,
        width: 16,
    };
    /// Upper 16 bits of the source MAC.
    pub const DL_SRC_HI: FieldPos = FieldPos {
        name: "DL_SRC_HI",
        word: 2,
        lsb: 0,
        width: 16,
    };
    /// Lower 32 bits of the source MAC.
    pub const DL_SRC_LO: FieldPos = FieldPos {
        name: "DL_SRC_LO",
        word: 3,
        lsb: 0,
        width: 32,
    };
    /// EtherType after the VLAN tags.
    pub const DL_TYPE: FieldPos = FieldPos {
        name: "DL_TYPE",
        word: 4,
        lsb: 16,
        width: 16,
    };
    /// Outer VLAN TCI (CFI bit = present).
    pub const VLAN_TCI: FieldPos = FieldPos {
        name: "VLAN_TCI",
        word: 4,
        lsb: 0,
        width: 16,
    };
    /// Inner VLAN TCI of a QinQ frame (CFI bit = present).
    pub const INNER_VLAN_TCI: FieldPos = FieldPos {
        name: "INNER_VLAN_TCI",
        word: 5,
        lsb: 16,
        width: 16,
    };
    /// IP protocol / IPv6 next header / low byte of the ARP opcode.
    pub const NW_PROTO: FieldPos = FieldPos {
        name: "NW_PROTO",
        word: 5,
        lsb: 8,
        width: 8,
    };
    /// IPv4 TOS byte / IPv6 traffic class.
    pub const NW_TOS: FieldPos = FieldPos {
        name: "NW_TOS",
        word: 5,
        lsb: 0,
        width: 8,
    };
    /// Source address, 128 bits over words 6..=9.
    pub const NW_SRC: FieldPos = FieldPos {
        name: "NW_SRC",
        word: 6,
        lsb: 0,
        width: 128,
    };
    /// Destination address, 128 bits over words 10..=13.
    pub const NW_DST: FieldPos = FieldPos {
        name: "NW_DST",
        word: 10,
        lsb: 0,
        width: 128,
    };
    /// L4 source port / ICMP type.
    pub const TP_SRC: FieldPos = FieldPos {
        name: "TP_SRC",
        word: 14,
        lsb: 16,
        width: 16,
    };
    /// L4 destination port / ICMP code.
    pub const TP_DST: FieldPos = FieldPos {
        name: "TP_DST",
        word: 14,
        lsb: 0,
        width: 16,
    };

    /// Every field, in layout order.
    pub const ALL: [FieldPos; 16] = [
        IN_PORT,
        CLASS,
        FRAG,
        DL_DST_HI,
        DL_DST_LO,
        DL_SRC_HI,
        DL_SRC_LO,
        DL_TYPE,
        VLAN_TCI,
        INNER_VLAN_TCI,
        NW_PROTO,
        NW_TOS,
        NW_SRC,
        NW_DST,
        TP_SRC,
        TP_DST,
    ];
}

/// A port of the switch: an uplink MAC port or a VM's virtual port. Numbering is the
/// scenario's (the driver assigns it); 0 is never a valid port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct PortNo(pub u16);

impl fmt::Display for PortNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// True for group (multicast or broadcast) addresses: the I/G bit is set.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// The address as the low 48 bits of an integer.
    #[inline]
    pub fn to_u64(self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    }

    /// The address held in the low 48 bits of `v` (the upper 16 bits are ignored).
    #[inline]
    pub fn from_u64(v: u64) -> MacAddr {
        let b = v.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error from parsing a MAC address written as six colon-separated hex bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {text:?}: expected six hex bytes separated by ':'")]
pub struct MacAddrParseError {
    /// The text that did not parse.
    pub text: String,
}

impl FromStr for MacAddr {
    type Err = MacAddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacAddrParseError {
            text: s.to_string(),
        };
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.is_empty() || part.len() > 2 {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

/// An EtherType (the `dl_type` of a key: the type after any VLAN tags).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct EtherType(pub u16);

impl EtherType {
    /// IPv4.
    pub const IPV4: EtherType = EtherType(0x0800);
    /// ARP.
    pub const ARP: EtherType = EtherType(0x0806);
    /// IPv6.
    pub const IPV6: EtherType = EtherType(0x86dd);
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IEEE 802.1ad service VLAN tag (QinQ outer tag).
    pub const QINQ: EtherType = EtherType(0x88a8);
    /// Pre-standard QinQ outer tag used by some switches.
    pub const QINQ_LEGACY: EtherType = EtherType(0x9100);
    /// The `dl_type` Open vSwitch gives frames with an 802.3 length field and no SNAP
    /// EtherType (`FLOW_DL_TYPE_NONE`).
    pub const NONE: EtherType = EtherType(0x05ff);
}

/// A VLAN tag control information word, Open vSwitch style: bits 15-13 priority (PCP),
/// bit 12 set when a tag is present (the frame's DEI bit is not kept), bits 11-0 VLAN id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct VlanTci(pub u16);

impl VlanTci {
    /// No tag.
    pub const NONE: VlanTci = VlanTci(0);
    /// The bit that marks a tag as present.
    pub const PRESENT: u16 = 0x1000;

    /// A present tag with this id (low 12 bits) and priority (low 3 bits).
    pub fn new(vid: u16, pcp: u8) -> VlanTci {
        VlanTci((u16::from(pcp & 7) << 13) | Self::PRESENT | (vid & 0x0fff))
    }

    /// True when the frame carried this tag.
    pub fn is_present(self) -> bool {
        self.0 & Self::PRESENT != 0
    }

    /// The 12-bit VLAN id.
    pub fn vid(self) -> u16 {
        self.0 & 0x0fff
    }

    /// The 3-bit priority code point.
    pub fn pcp(self) -> u8 {
        // The shifted value is at most 7.
        #[allow(clippy::cast_possible_truncation)]
        let pcp = (self.0 >> 13) as u8;
        pcp
    }
}

/// IP fragment flags of a key (Open vSwitch's `nw_frag`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct FragFlags(u8);

impl FragFlags {
    /// Not a fragment.
    pub const NONE: FragFlags = FragFlags(0);
    /// A first fragment (more fragments follow, offset 0): carries the L4 header.
    pub const FIRST: FragFlags = FragFlags(Self::ANY_BIT);
    /// A later fragment (offset > 0): no L4 header, so the key's L4 ports are 0.
    pub const LATER: FragFlags = FragFlags(Self::ANY_BIT | Self::LATER_BIT);
    /// Set for any fragment.
    pub const ANY_BIT: u8 = 1;
    /// Set for a fragment with a non-zero offset.
    pub const LATER_BIT: u8 = 2;

    /// The flags as their wire byte.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// True for any fragment.
    pub fn is_fragment(self) -> bool {
        self.0 & Self::ANY_BIT != 0
    }

    /// True for a fragment with a non-zero offset.
    pub fn is_later(self) -> bool {
        self.0 & Self::LATER_BIT != 0
    }
}

impl TryFrom<u8> for FragFlags {
    type Error = KeyLayoutError;

    fn try_from(bits: u8) -> Result<Self, Self::Error> {
        match bits {
            0 => Ok(FragFlags::NONE),
            1 => Ok(FragFlags::FIRST),
            3 => Ok(FragFlags::LATER),
            _ => Err(KeyLayoutError::BadFragFlags(bits)),
        }
    }
}

/// Why a frame's key could not be fully formed. Such keys never hit the exact-match table:
/// the card sends the packet to the flow-setup agent, which may parse it fully in software.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum UnparsedReason {
    /// The frame ends inside a header the parser needed.
    Truncated = 1,
    /// A header's own fields are inconsistent (an IPv4 version or header length that is not
    /// valid, an IPv4 total length shorter than its header, ...).
    Malformed = 2,
    /// More VLAN tags than the parser handles (two).
    TooManyVlanTags = 3,
    /// An IPv6 extension header the parser does not walk (or, in the card's profile, any
    /// extension header at all).
    Ipv6ExtensionHeader = 4,
    /// The headers extend beyond the bytes the card reads of a packet.
    BeyondHeaderWindow = 5,
}

impl UnparsedReason {
    /// Every reason, in code order.
    pub const ALL: [UnparsedReason; 5] = [
        UnparsedReason::Truncated,
        UnparsedReason::Malformed,
        UnparsedReason::TooManyVlanTags,
        UnparsedReason::Ipv6ExtensionHeader,
        UnparsedReason::BeyondHeaderWindow,
    ];

    /// The reason's code in the key's class field.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// A short stable name, for counters and reports.
    pub fn name(self) -> &'static str {
        match self {
            UnparsedReason::Truncated => "truncated",
            UnparsedReason::Malformed => "malformed",
            UnparsedReason::TooManyVlanTags => "too_many_vlan_tags",
            UnparsedReason::Ipv6ExtensionHeader => "ipv6_extension_header",
            UnparsedReason::BeyondHeaderWindow => "beyond_header_window",
        }
    }
}

impl fmt::Display for UnparsedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a key is complete, or why not.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum KeyClass {
    /// Every header the frame has, up to L4, was parsed.
    #[default]
    Parsed,
    /// The key is incomplete; the fields parsed before the problem are kept, the rest are 0.
    Unparsed(UnparsedReason),
}

impl KeyClass {
    /// The class field's code: 0 for parsed, else the reason's code.
    pub fn code(self) -> u8 {
        match self {
            KeyClass::Parsed => 0,
            KeyClass::Unparsed(r) => r.code(),
        }
    }
}

impl TryFrom<u8> for KeyClass {
    type Error = KeyLayoutError;

    fn try_from(code: u8) -> Result<Self, Self::Error> {
        if code == 0 {
            return Ok(KeyClass::Parsed);
        }
        UnparsedReason::ALL
            .iter()
            .find(|r| r.code() == code)
            .map(|&r| KeyClass::Unparsed(r))
            .ok_or(KeyLayoutError::BadClass(code))
    }
}

/// Error from unpacking [`KeyWords`] that no [`FlowKey`] packs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyLayoutError {
    /// The class field (word 0, bits 15-8) holds no known class code.
    #[error("key word 0: class code {0} is not a known key class")]
    BadClass(u8),
    /// The fragment flags (word 0, bits 7-0) are not one of 0, 1, 3.
    #[error("key word 0: fragment flags {0:#04x} are not one of 0x00, 0x01, 0x03")]
    BadFragFlags(u8),
}

/// Every header field a flow rule may match. See the module doc for the layout and the
/// Open vSwitch conventions each field follows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct FlowKey {
    /// Port the packet entered the switch on.
    pub in_port: PortNo,
    /// Parsed, or why not.
    pub class: KeyClass,
    /// IP fragment flags.
    pub frag: FragFlags,
    /// Destination MAC.
    pub dl_dst: MacAddr,
    /// Source MAC.
    pub dl_src: MacAddr,
    /// EtherType after the VLAN tags.
    pub dl_type: EtherType,
    /// Outer VLAN tag (the one `dl_vlan` matches).
    pub vlan: VlanTci,
    /// Inner VLAN tag of a QinQ frame.
    pub inner_vlan: VlanTci,
    /// IP protocol, IPv6 next header after the walked extension headers, or ARP opcode.
    pub nw_proto: u8,
    /// IPv4 TOS byte or IPv6 traffic class (DSCP and ECN).
    pub nw_tos: u8,
    /// IPv4 (low 32 bits) or IPv6 source address; ARP sender protocol address.
    pub nw_src: u128,
    /// IPv4 (low 32 bits) or IPv6 destination address; ARP target protocol address.
    pub nw_dst: u128,
    /// L4 source port, or ICMP type.
    pub tp_src: u16,
    /// L4 destination port, or ICMP code.
    pub tp_dst: u16,
    /// ARP/RARP sender hardware address (Ethernet/IPv4 ARP only, else zero). A
    /// software-only field: not part of the packed card key ([`FlowKey::to_words`] drops it).
    #[serde(default)]
    pub arp_sha: MacAddr,
    /// ARP/RARP target hardware address (Ethernet/IPv4 ARP only, else zero). Software-only,
    /// as [`FlowKey::arp_sha`].
    #[serde(default)]
    pub arp_tha: MacAddr,
}

impl FlowKey {
    /// Packs the key into its word layout (see the module doc).
    // Every narrowing cast below takes bits already masked or shifted into range.
    #[allow(clippy::cast_possible_truncation)]
    #[inline]
    pub fn to_words(&self) -> KeyWords {
        let mac = |m: MacAddr| m.to_u64();
        let dst = mac(self.dl_dst);
        let src = mac(self.dl_src);
        let hi32 = |v: u64| ((v >> 16) & 0xffff_ffff) as u32;
        let mut w = [0u32; KEY_WORDS];
        w[0] = (u32::from(self.in_port.0) << 16)
            | (u32::from(self.class.code()) << 8)
            | u32::from(self.frag.bits());
        w[1] = hi32(dst);
        w[2] = ((dst & 0xffff) as u32) << 16 | (src >> 32) as u32;
        w[3] = (src & 0xffff_ffff) as u32;
        w[4] = (u32::from(self.dl_type.0) << 16) | u32::from(self.vlan.0);
        w[5] = (u32::from(self.inner_vlan.0) << 16)
            | (u32::from(self.nw_proto) << 8)
            | u32::from(self.nw_tos);
        put_u128(&mut w[6..10], self.nw_src);
        put_u128(&mut w[10..14], self.nw_dst);
        w[14] = (u32::from(self.tp_src) << 16) | u32::from(self.tp_dst);
        w
    }

    /// Unpacks words produced by [`FlowKey::to_words`]. Fails only for class codes and
    /// fragment flags that no key has.
    // Every narrowing cast below takes bits already masked or shifted into range.
    #[allow(clippy::cast_possible_truncation)]
    pub fn from_words(w: &KeyWords) -> Result<FlowKey, KeyLayoutError> {
        let lo16 = |v: u32| (v & 0xffff) as u16;
        let dst = (u64::from(w[1]) << 16) | u64::from(w[2] >> 16);
        let src = (u64::from(w[2] & 0xffff) << 32) | u64::from(w[3]);
        Ok(FlowKey {
            in_port: PortNo(lo16(w[0] >> 16)),
            class: KeyClass::try_from(((w[0] >> 8) & 0xff) as u8)?,
            frag: FragFlags::try_from((w[0] & 0xff) as u8)?,
            dl_dst: MacAddr::from_u64(dst),
            dl_src: MacAddr::from_u64(src),
            dl_type: EtherType(lo16(w[4] >> 16)),
            vlan: VlanTci(lo16(w[4])),
            inner_vlan: VlanTci(lo16(w[5] >> 16)),
            nw_proto: ((w[5] >> 8) & 0xff) as u8,
            nw_tos: (w[5] & 0xff) as u8,
            nw_src: get_u128(&w[6..10]),
            nw_dst: get_u128(&w[10..14]),
            tp_src: lo16(w[14] >> 16),
            tp_dst: lo16(w[14]),
            arp_sha: MacAddr::ZERO,
            arp_tha: MacAddr::ZERO,
        })
    }

    /// The key as the card holds it: the software-only fields (`arp_sha`, `arp_tha`) zero.
    /// `FlowKey::from_words(&k.to_words()) == Ok(k.card_view())` for every key.
    pub fn card_view(&self) -> FlowKey {
        FlowKey {
            arp_sha: MacAddr::ZERO,
            arp_tha: MacAddr::ZERO,
            ..*self
        }
    }

    /// True when the key has fields the packed card key does not hold (an ARP key's hardware
    /// addresses): two packets with the same card key may differ there.
    pub fn has_software_fields(&self) -> bool {
        self.arp_sha != MacAddr::ZERO || self.arp_tha != MacAddr::ZERO
    }

    /// True when the key is complete and may be looked up in the exact-match table.
    pub fn is_parsed(&self) -> bool {
        self.class == KeyClass::Parsed
    }
}

// The cast keeps a masked 32-bit slice of the address.
#[allow(clippy::cast_possible_truncation)]
fn put_u128(dst: &mut [u32], v: u128) {
    for (i, word) in dst.iter_mut().enumerate() {
        let shift = 96 - 32 * i;
        *word = ((v >> shift) & 0xffff_ffff) as u32;
    }
}

fn get_u128(src: &[u32]) -> u128 {
    src.iter()
        .fold(0u128, |acc, &w| (acc << 32) | u128::from(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FlowKey {
        FlowKey {
            in_port: PortNo(0x1234),
            class: KeyClass::Parsed,
            frag: FragFlags::FIRST,
            dl_dst: MacAddr([0x01, 0x02, 0x03, 0x04, 0x05, 0x06]),
            dl_src: MacAddr([0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6]),
            dl_type: EtherType::IPV4,
            vlan: VlanTci::new(100, 5),
            inner_vlan: VlanTci::NONE,
            nw_proto: 6,
            nw_tos: 0xb8,
            nw_src: 0x0a00_0001,
            nw_dst: 0xc0a8_0102,
            tp_src: 12345,
            tp_dst: 80,
            arp_sha: MacAddr::ZERO,
            arp_tha: MacAddr::ZERO,
        }
    }

    #[test]
    fn words_follow_the_documented_layout() {
        let w = sample().to_words();
        assert_eq!(w[0], 0x1234_0001);
        assert_eq!(w[1], 0x0102_0304);
        assert_eq!(w[2], 0x0506_a1a2);
        assert_eq!(w[3], 0xa3a4_a5a6);
        assert_eq!(w[4], 0x0800_b064);
        assert_eq!(w[5], 0x0000_06b8);
        assert_eq!(&w[6..10], &[0, 0, 0, 0x0a00_0001]);
        assert_eq!(&w[10..14], &[0, 0, 0, 0xc0a8_0102]);
        assert_eq!(w[14], (12345 << 16) | 80);
    }

    #[test]
    fn words_round_trip() {
        let k = sample();
        assert_eq!(FlowKey::from_words(&k.to_words()), Ok(k));
        let u = FlowKey {
            class: KeyClass::Unparsed(UnparsedReason::Truncated),
            ..k
        };
        assert_eq!(FlowKey::from_words(&u.to_words()), Ok(u));
        let arp = FlowKey {
            dl_type: EtherType::ARP,
            arp_sha: MacAddr([2, 0, 0, 0, 0, 1]),
            arp_tha: MacAddr([2, 0, 0, 0, 0, 2]),
            ..k
        };
        assert!(arp.has_software_fields());
        assert_eq!(arp.to_words(), arp.card_view().to_words());
        assert_eq!(FlowKey::from_words(&arp.to_words()), Ok(arp.card_view()));
        assert!(!arp.card_view().has_software_fields());
    }

    #[test]
    fn bad_class_and_frag_are_refused() {
        let mut w = sample().to_words();
        w[0] = (w[0] & !0xff00) | 0xee00;
        assert_eq!(FlowKey::from_words(&w), Err(KeyLayoutError::BadClass(0xee)));
        let mut w = sample().to_words();
        w[0] = (w[0] & !0xff) | 0x02;
        assert_eq!(
            FlowKey::from_words(&w),
            Err(KeyLayoutError::BadFragFlags(2))
        );
    }

    #[test]
    fn layout_table_covers_every_bit_once() {
        let mut used = [0u32; KEY_WORDS];
        for f in layout::ALL {
            let mut remaining = f.width;
            let mut word = f.word + (f.width as usize).div_ceil(32) - 1;
            let mut lsb = f.lsb;
            while remaining > 0 {
                let bits = remaining.min(32 - lsb);
                let mask = if bits == 32 {
                    u32::MAX
                } else {
                    ((1u32 << bits) - 1) << lsb
                };
                assert_eq!(used[word] & mask, 0, "field {} overlaps", f.name);
                used[word] |= mask;
                remaining -= bits;
                lsb = 0;
                word = word.wrapping_sub(1);
            }
        }
        assert!(used.iter().all(|&w| w == u32::MAX));
    }

    #[test]
    fn mac_text_round_trips() {
        let m: MacAddr = "0a:1B:02:ff:00:9".parse().expect("valid mac");
        assert_eq!(m.to_string(), "0a:1b:02:ff:00:09");
        assert!("0a:1b:02:ff:00".parse::<MacAddr>().is_err());
        assert!("0a:1b:02:ff:00:00:01".parse::<MacAddr>().is_err());
        assert!("0a:1b:02:ff:00:zz".parse::<MacAddr>().is_err());
        assert_eq!(MacAddr::from_u64(m.to_u64()), m);
    }
}
