//! Frame emission: a representation of each header becomes frame bytes, the inverse of
//! [`crate::parse`].
//!
//! A [`FrameRepr`] is plain data, one representation per layer, in the style of smoltcp's
//! `Repr::emit`: [`EthernetRepr`] (addresses, VLAN tags, Ethernet II or 802.3 + LLC/SNAP), a
//! [`NetworkRepr`] ([`ArpRepr`], [`Ipv4Repr`], [`Ipv6Repr`] with [`Ipv6ExtHeader`]s), a
//! [`TransportRepr`] ([`TcpRepr`], [`UdpRepr`], [`SctpRepr`], [`IcmpRepr`]), a [`Payload`],
//! and a minimum frame length the frame is padded to with zeros. The offsets written are the
//! parser's own (a crate-private `field` module both use), so what [`FrameRepr::emit`] writes
//! is what [`parse_software`](crate::parse::parse_software) reads back.
//!
//! **Consistent by default, wrong on request.** Every length field ([`Len`]), the IPv4 header
//! checksum ([`Checksum`]), the EtherType, the IP protocol, the IHL, the TCP data offset and the
//! IP version are derived from the layers below them unless a field forces a value, so a test
//! of a parser can build a frame that lies about itself. Only the IPv4 header checksum is
//! computed; transport checksums are written as given (0 by default): neither the card nor the
//! agent checks them.
//!
//! **Layout.** Destination and source MAC, the tags in order, then either the EtherType or an
//! 802.3 length, `AA AA 03 00 00 00` and the EtherType; the network header (IPv4 options, IPv6
//! extension headers in order); the transport header; the payload; zeros up to
//! [`FrameRepr::min_len`]. That padding follows the IP datagram and is not counted in any
//! length field, as Ethernet's minimum-size padding. [`FrameRepr::layout`] gives each header's
//! offset.
//!
//! Emission never panics: a representation that cannot be written (options not a whole number
//! of words, a datagram over 64 KiB, a buffer too small, ...) is an [`EmitError`].
//!
//! ```
//! use std::net::Ipv4Addr;
//! use nic_abi::emit::{EthernetRepr, FrameRepr, Ipv4Repr, NetworkRepr, TransportRepr, UdpRepr};
//! use nic_abi::key::{MacAddr, PortNo};
//! use nic_abi::parse::parse_card;
//!
//! let frame = FrameRepr {
//!     ethernet: EthernetRepr { dst: MacAddr([2, 0, 0, 0, 0, 2]), ..EthernetRepr::default() },
//!     network: NetworkRepr::Ipv4(Ipv4Repr {
//!         src: Ipv4Addr::new(10, 0, 0, 1),
//!         dst: Ipv4Addr::new(10, 0, 0, 2),
//!         ..Ipv4Repr::default()
//!     }),
//!     transport: TransportRepr::Udp(UdpRepr { src_port: 5000, dst_port: 53, ..UdpRepr::default() }),
//!     min_len: 60,
//!     ..FrameRepr::default()
//! }
//! .to_vec()?;
//! assert_eq!(frame.len(), 60);
//! assert_eq!(&frame[12..16], &[0x08, 0x00, 0x45, 0x00]);
//! let key = parse_card(&frame, PortNo(1));
//! assert_eq!((key.nw_proto, key.tp_src, key.tp_dst), (17, 5000, 53));
//! # Ok::<(), nic_abi::emit::EmitError>(())
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use thiserror::Error;

use crate::field::{self, arp, eth, ipv4, ipv6, l4, llc_snap, proto, vlan};
use crate::key::{EtherType, MacAddr};

/// A length field: consistent with what follows it, or forced to a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Len {
    /// The length of what the frame actually holds.
    #[default]
    Consistent,
    /// This value, whatever the frame holds (for malformed frames).
    Forced(u16),
}

/// The IPv4 header checksum: correct, or forced to a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksum {
    /// The one's-complement sum of the header as emitted.
    #[default]
    Correct,
    /// This value (0 in frames built before the emitter computed it).
    Forced(u16),
}

/// One VLAN tag as on the wire: its TPID and its TCI (PCP, DEI, VID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag {
    /// 0x8100 (802.1Q), 0x88a8 (802.1ad) or 0x9100; any value is written.
    pub tpid: EtherType,
    /// Priority (3 bits), DEI (1 bit), VLAN id (12 bits).
    pub tci: u16,
}

impl VlanTag {
    /// An 802.1Q (0x8100) tag with VLAN id `vid` (low 12 bits) and priority `pcp` (low 3 bits).
    pub fn dot1q(vid: u16, pcp: u8) -> VlanTag {
        VlanTag {
            tpid: EtherType::VLAN,
            tci: (u16::from(pcp & 0x7) << 13) | (vid & 0x0fff),
        }
    }
}

/// The Ethernet header: addresses, tags, type or 802.3 length with LLC/SNAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EthernetRepr<'a> {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// Tags, outermost first (any number: three make a frame the parser refuses).
    pub tags: &'a [VlanTag],
    /// The EtherType; `None` takes the network layer's (IPv4, IPv6, ARP). Required when there
    /// is no network layer; with one, a different value makes a mislabelled frame.
    pub ether_type: Option<EtherType>,
    /// `Some(length)`: an 802.3 length field and an LLC/SNAP header (`AA AA 03 00 00 00`)
    /// carry the EtherType; the consistent length counts the 8 LLC/SNAP bytes and everything
    /// after them up to the padding.
    pub llc_snap: Option<Len>,
}

/// ARP (or RARP, with [`EthernetRepr::ether_type`] 0x8035). The addresses always take 6 and 4
/// bytes; the length fields are written as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// Hardware type (1: Ethernet).
    pub htype: u16,
    /// Protocol type (0x0800: IPv4).
    pub ptype: EtherType,
    /// Hardware address length (6).
    pub hlen: u8,
    /// Protocol address length (4).
    pub plen: u8,
    /// Opcode (1: request, 2: reply).
    pub oper: u16,
    /// Sender hardware address.
    pub sha: MacAddr,
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address.
    pub tha: MacAddr,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

impl Default for ArpRepr {
    /// An Ethernet/IPv4 request with all addresses zero.
    fn default() -> ArpRepr {
        ArpRepr {
            htype: arp::HTYPE_ETHERNET,
            ptype: EtherType::IPV4,
            hlen: arp::HLEN_ETHERNET,
            plen: arp::PLEN_IPV4,
            oper: 1,
            sha: MacAddr::ZERO,
            spa: Ipv4Addr::UNSPECIFIED,
            tha: MacAddr::ZERO,
            tpa: Ipv4Addr::UNSPECIFIED,
        }
    }
}

/// The IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr<'a> {
    /// Version nibble (4; another value makes a malformed header).
    pub version: u8,
    /// IHL nibble; `None`: the header's length in words (5 + options / 4).
    pub ihl: Option<u8>,
    /// TOS byte (DSCP and ECN).
    pub tos: u8,
    /// Total length of the datagram (header, transport header, payload).
    pub total_len: Len,
    /// Identification.
    pub ident: u16,
    /// Flags and fragment offset word: [`Ipv4Repr::DONT_FRAGMENT`],
    /// [`Ipv4Repr::MORE_FRAGMENTS`], offset in 8-byte units in the low 13 bits.
    pub flags_fragment: u16,
    /// Time to live.
    pub ttl: u8,
    /// Protocol; `None`: the transport layer's (TCP 6, UDP 17, SCTP 132, ICMP 1).
    pub protocol: Option<u8>,
    /// Header checksum.
    pub checksum: Checksum,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Option bytes, a multiple of 4, at most 40.
    pub options: &'a [u8],
}

impl Ipv4Repr<'_> {
    /// The don't-fragment flag of [`Ipv4Repr::flags_fragment`].
    pub const DONT_FRAGMENT: u16 = 0x4000;
    /// The more-fragments flag of [`Ipv4Repr::flags_fragment`].
    pub const MORE_FRAGMENTS: u16 = 0x2000;
}

impl Default for Ipv4Repr<'_> {
    /// Version 4, TTL 64, no options, addresses 0.0.0.0, everything else derived or zero.
    fn default() -> Self {
        Ipv4Repr {
            version: ipv4::VERSION,
            ihl: None,
            tos: 0,
            total_len: Len::Consistent,
            ident: 0,
            flags_fragment: 0,
            ttl: 64,
            protocol: None,
            checksum: Checksum::Correct,
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            options: &[],
        }
    }
}

/// An IPv6 extension header, in the order it follows the IPv6 header. Each header's next
/// header byte is written from what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6ExtHeader<'a> {
    /// A header of the common form, next header, length in 8-byte units beyond the first 8,
    /// data: hop-by-hop options (0), routing (43), destination options (60). `data` is what
    /// follows the first two bytes; `2 + data.len()` must be a multiple of 8.
    Options {
        /// This header's own protocol number.
        protocol: u8,
        /// The bytes after the next-header and length bytes.
        data: &'a [u8],
    },
    /// An authentication header (51): length in 4-byte units minus 2; `2 + data.len()` must
    /// be a multiple of 4 and at least 8.
    Ah {
        /// The bytes after the next-header and payload-length bytes.
        data: &'a [u8],
    },
    /// A fragment header (44), 8 bytes.
    Fragment {
        /// Fragment offset in 8-byte units (13 bits).
        offset: u16,
        /// The more-fragments flag.
        more: bool,
        /// Identification.
        ident: u32,
    },
}

impl Ipv6ExtHeader<'_> {
    /// The header's own protocol number (what the header before it names as next).
    pub fn protocol(&self) -> u8 {
        match self {
            Ipv6ExtHeader::Options { protocol, .. } => *protocol,
            Ipv6ExtHeader::Ah { .. } => proto::AH,
            Ipv6ExtHeader::Fragment { .. } => proto::FRAGMENT,
        }
    }

    /// Bytes the header takes, or why it cannot be written.
    fn len(&self) -> Result<usize, EmitError> {
        let (len, unit) = match self {
            Ipv6ExtHeader::Options { data, .. } => (2 + data.len(), ipv6::EXT_LEN_UNIT),
            Ipv6ExtHeader::Ah { data } => (2 + data.len(), ipv6::AH_LEN_UNIT),
            Ipv6ExtHeader::Fragment { .. } => return Ok(ipv6::FRAG_HEADER_LEN),
        };
        let max = match self {
            Ipv6ExtHeader::Ah { .. } => (usize::from(u8::MAX) + ipv6::AH_LEN_BIAS) * unit,
            _ => (usize::from(u8::MAX) + 1) * unit,
        };
        if len % unit != 0 || len < ipv6::EXT_MIN_LEN || len > max {
            return Err(EmitError::Ipv6Extension {
                protocol: self.protocol(),
                len,
            });
        }
        Ok(len)
    }
}

/// The IPv6 header and its extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr<'a> {
    /// Version nibble (6; another value makes a malformed header).
    pub version: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (low 20 bits).
    pub flow_label: u32,
    /// Payload length (extension headers, transport header, payload).
    pub payload_len: Len,
    /// The upper-layer protocol after the extension headers; `None`: the transport layer's
    /// (TCP 6, UDP 17, SCTP 132, ICMPv6 58).
    pub next_header: Option<u8>,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Extension headers, in order.
    pub extensions: &'a [Ipv6ExtHeader<'a>],
}

impl Default for Ipv6Repr<'_> {
    /// Version 6, hop limit 64, no extension headers, addresses `::`.
    fn default() -> Self {
        Ipv6Repr {
            version: ipv6::VERSION,
            traffic_class: 0,
            flow_label: 0,
            payload_len: Len::Consistent,
            next_header: None,
            hop_limit: 64,
            src: Ipv6Addr::UNSPECIFIED,
            dst: Ipv6Addr::UNSPECIFIED,
            extensions: &[],
        }
    }
}

/// The TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Data offset nibble in words; `None`: 5 + options / 4.
    pub data_offset: Option<u8>,
    /// The flags byte (CWR ECE URG ACK PSH RST SYN FIN): [`TcpRepr::SYN`], ...
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Checksum, written as given.
    pub checksum: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Option bytes, a multiple of 4, at most 40.
    pub options: &'a [u8],
}

impl TcpRepr<'_> {
    /// FIN flag.
    pub const FIN: u8 = 0x01;
    /// SYN flag.
    pub const SYN: u8 = 0x02;
    /// RST flag.
    pub const RST: u8 = 0x04;
    /// PSH flag.
    pub const PSH: u8 = 0x08;
    /// ACK flag.
    pub const ACK: u8 = 0x10;
}

/// The UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length (header and payload).
    pub length: Len,
    /// Checksum, written as given (0: none, for IPv4).
    pub checksum: u16,
}

/// The SCTP common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SctpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Verification tag.
    pub verification_tag: u32,
    /// Checksum, written as given.
    pub checksum: u32,
}

/// An ICMP, ICMPv6 or IGMP header (the same 8-byte shape: type, code, checksum, 4 bytes).
/// Over IPv4 its protocol is ICMP (1), over IPv6 ICMPv6 (58); IGMP forces protocol 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IcmpRepr {
    /// Type.
    pub ty: u8,
    /// Code.
    pub code: u8,
    /// Checksum, written as given.
    pub checksum: u16,
    /// The four bytes after the checksum (an echo's identifier and sequence number, ...).
    pub rest: [u8; 4],
}

/// The network layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkRepr<'a> {
    /// None: the payload follows the Ethernet header (MPLS, LLDP, ... or raw bytes).
    #[default]
    None,
    /// ARP or RARP.
    Arp(ArpRepr),
    /// IPv4.
    Ipv4(Ipv4Repr<'a>),
    /// IPv6.
    Ipv6(Ipv6Repr<'a>),
}

/// The transport layer (only over IPv4 or IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportRepr<'a> {
    /// None: the payload follows the network header.
    #[default]
    None,
    /// TCP.
    Tcp(TcpRepr<'a>),
    /// UDP.
    Udp(UdpRepr),
    /// SCTP.
    Sctp(SctpRepr),
    /// ICMP over IPv4, ICMPv6 over IPv6 (or IGMP with the protocol forced).
    Icmp(IcmpRepr),
}

impl TransportRepr<'_> {
    /// Bytes of the header, or why it cannot be written.
    fn len(&self) -> Result<usize, EmitError> {
        Ok(match self {
            TransportRepr::None => 0,
            TransportRepr::Tcp(t) => {
                let len = l4::TCP_HEADER_LEN + t.options.len();
                if t.options.len() % 4 != 0 || len > l4::TCP_MAX_HEADER_LEN {
                    return Err(EmitError::TcpOptions {
                        len: t.options.len(),
                    });
                }
                len
            }
            TransportRepr::Udp(_) => l4::UDP_HEADER_LEN,
            TransportRepr::Sctp(_) => l4::SCTP_HEADER_LEN,
            TransportRepr::Icmp(_) => l4::ICMP_HEADER_LEN,
        })
    }

    /// The protocol number an IP header names for it (`v6`: over IPv6).
    fn protocol(&self, v6: bool) -> Option<u8> {
        match self {
            TransportRepr::None => None,
            TransportRepr::Tcp(_) => Some(proto::TCP),
            TransportRepr::Udp(_) => Some(proto::UDP),
            TransportRepr::Sctp(_) => Some(proto::SCTP),
            TransportRepr::Icmp(_) if v6 => Some(proto::ICMPV6),
            TransportRepr::Icmp(_) => Some(proto::ICMP),
        }
    }
}

/// What follows the innermost header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// These bytes.
    Bytes(&'a [u8]),
    /// This many zero bytes.
    Zeros(usize),
}

impl Default for Payload<'_> {
    /// No payload.
    fn default() -> Self {
        Payload::Zeros(0)
    }
}

impl Payload<'_> {
    fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Zeros(n) => *n,
        }
    }
}

/// A whole frame, layer by layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameRepr<'a> {
    /// The Ethernet header.
    pub ethernet: EthernetRepr<'a>,
    /// The network layer.
    pub network: NetworkRepr<'a>,
    /// The transport layer (requires IPv4 or IPv6).
    pub transport: TransportRepr<'a>,
    /// The bytes after the innermost header.
    pub payload: Payload<'a>,
    /// The frame is padded with zeros to at least this many bytes (60: Ethernet's minimum
    /// without FCS); the padding is in no length field.
    pub min_len: usize,
}

/// Where each layer of an emitted frame starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// The network header (after the tags, the type and any LLC/SNAP).
    pub network: usize,
    /// The transport header (after any IPv4 options and IPv6 extension headers).
    pub transport: usize,
    /// The payload.
    pub payload: usize,
    /// The end of the payload, where the padding starts.
    pub end: usize,
    /// The frame's length: `end`, padded to [`FrameRepr::min_len`].
    pub len: usize,
}

/// A length field an [`EmitError::LengthOverflow`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthField {
    /// The 802.3 length before LLC/SNAP (must stay below 0x0600, else it reads as a type).
    Ieee8023,
    /// IPv4 total length.
    Ipv4Total,
    /// IPv6 payload length.
    Ipv6Payload,
    /// UDP length.
    Udp,
}

impl core::fmt::Display for LengthField {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            LengthField::Ieee8023 => "the 802.3 length",
            LengthField::Ipv4Total => "the IPv4 total length",
            LengthField::Ipv6Payload => "the IPv6 payload length",
            LengthField::Udp => "the UDP length",
        })
    }
}

/// Why a [`FrameRepr`] cannot be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EmitError {
    /// The buffer is shorter than the frame.
    #[error("the frame needs {needed} bytes, the buffer has {got}")]
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes the buffer has.
        got: usize,
    },
    /// IPv4 options must be whole 32-bit words, at most 40 bytes.
    #[error("{len} bytes of IPv4 options: not a multiple of 4 of at most 40")]
    Ipv4Options {
        /// Bytes of options given.
        len: usize,
    },
    /// TCP options must be whole 32-bit words, at most 40 bytes.
    #[error("{len} bytes of TCP options: not a multiple of 4 of at most 40")]
    TcpOptions {
        /// Bytes of options given.
        len: usize,
    },
    /// An IPv6 extension header whose length its length field cannot express.
    #[error("IPv6 extension header {protocol} of {len} bytes: not a length its header can state")]
    Ipv6Extension {
        /// The header's protocol number.
        protocol: u8,
        /// Its length in bytes.
        len: usize,
    },
    /// A consistent length that does not fit its field.
    #[error("{field} would be {len}, more than the field holds")]
    LengthOverflow {
        /// The field.
        field: LengthField,
        /// The length it would hold.
        len: usize,
    },
    /// No network layer and no [`EthernetRepr::ether_type`].
    #[error("no EtherType: the frame has no network layer and the Ethernet header names none")]
    MissingEtherType,
    /// No transport layer and no IP protocol (or IPv6 next header) given.
    #[error("no IP protocol: the datagram has no transport layer and the IP header names none")]
    MissingProtocol,
    /// A transport header without IPv4 or IPv6 under it.
    #[error("a transport header needs an IPv4 or IPv6 network layer")]
    TransportWithoutIp,
}

/// A length for a 16-bit field: forced, or `len` if it fits below `limit`.
fn len16(len: Len, actual: usize, field: LengthField, limit: usize) -> Result<u16, EmitError> {
    match len {
        Len::Forced(v) => Ok(v),
        Len::Consistent if actual < limit => {
            u16::try_from(actual).map_err(|_| EmitError::LengthOverflow { field, len: actual })
        }
        Len::Consistent => Err(EmitError::LengthOverflow { field, len: actual }),
    }
}

/// The `N`-byte header at `at` of `out`.
fn header<const N: usize>(out: &mut [u8], at: usize) -> Result<&mut [u8; N], EmitError> {
    let got = out.len();
    out.get_mut(at..)
        .and_then(<[u8]>::first_chunk_mut::<N>)
        .ok_or(EmitError::BufferTooSmall {
            needed: at.saturating_add(N),
            got,
        })
}

/// Copies `bytes` to `out` at `at`.
fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), EmitError> {
    let got = out.len();
    let dst = out
        .get_mut(at..)
        .and_then(|s| s.get_mut(..bytes.len()))
        .ok_or(EmitError::BufferTooSmall {
            needed: at.saturating_add(bytes.len()),
            got,
        })?;
    dst.copy_from_slice(bytes);
    Ok(())
}

fn set16<const N: usize>(h: &mut [u8; N], at: usize, v: u16) {
    h[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn set32<const N: usize>(h: &mut [u8; N], at: usize, v: u32) {
    h[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn set_mac<const N: usize>(h: &mut [u8; N], at: usize, mac: MacAddr) {
    h[at..at + eth::ADDR_LEN].copy_from_slice(&mac.0);
}

/// The Internet checksum (RFC 1071) of `bytes`.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| match *c {
            [hi, lo] => u32::from(u16::from_be_bytes([hi, lo])),
            [hi] => u32::from(hi) << 8,
            _ => 0,
        })
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves at most 16 bits.
    #[allow(clippy::cast_possible_truncation)]
    let folded = sum as u16;
    !folded
}

impl FrameRepr<'_> {
    /// Where each layer starts and how long the frame is, or why it cannot be emitted.
    pub fn layout(&self) -> Result<FrameLayout, EmitError> {
        let type_len = if self.ethernet.llc_snap.is_some() {
            2 + llc_snap::HEADER_LEN
        } else {
            2
        };
        let network = eth::TYPE + vlan::TAG_LEN * self.ethernet.tags.len() + type_len;
        let network_len = match &self.network {
            NetworkRepr::None => 0,
            NetworkRepr::Arp(_) => arp::HEADER_LEN,
            NetworkRepr::Ipv4(ip) => {
                let len = ipv4::MIN_HEADER_LEN + ip.options.len();
                if ip.options.len() % 4 != 0 || len > ipv4::MAX_HEADER_LEN {
                    return Err(EmitError::Ipv4Options {
                        len: ip.options.len(),
                    });
                }
                len
            }
            NetworkRepr::Ipv6(ip) => ip
                .extensions
                .iter()
                .try_fold(ipv6::HEADER_LEN, |sum, e| Ok(sum + e.len()?))?,
        };
        if !matches!(self.transport, TransportRepr::None)
            && !matches!(self.network, NetworkRepr::Ipv4(_) | NetworkRepr::Ipv6(_))
        {
            return Err(EmitError::TransportWithoutIp);
        }
        let transport = network + network_len;
        let payload = transport + self.transport.len()?;
        let end = payload + self.payload.len();
        Ok(FrameLayout {
            network,
            transport,
            payload,
            end,
            len: end.max(self.min_len),
        })
    }

    /// The frame as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EmitError> {
        let mut frame = vec![0; self.layout()?.len];
        self.emit(&mut frame)?;
        Ok(frame)
    }

    /// The frame as [`Bytes`].
    pub fn to_bytes(&self) -> Result<Bytes, EmitError> {
        self.to_vec().map(Bytes::from)
    }

    /// Writes the frame at the start of `buf` (padding included, every byte written) and
    /// returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let layout = self.layout()?;
        let got = buf.len();
        let out = buf.get_mut(..layout.len).ok_or(EmitError::BufferTooSmall {
            needed: layout.len,
            got,
        })?;
        out.fill(0);
        self.emit_ethernet(out, &layout)?;
        match &self.network {
            NetworkRepr::None => {}
            NetworkRepr::Arp(a) => emit_arp(a, out, layout.network)?,
            NetworkRepr::Ipv4(ip) => self.emit_ipv4(ip, out, &layout)?,
            NetworkRepr::Ipv6(ip) => self.emit_ipv6(ip, out, &layout)?,
        }
        self.emit_transport(out, &layout)?;
        if let Payload::Bytes(b) = self.payload {
            put(out, layout.payload, b)?;
        }
        Ok(layout.len)
    }

    fn emit_ethernet(&self, out: &mut [u8], layout: &FrameLayout) -> Result<(), EmitError> {
        let e = &self.ethernet;
        let h = header::<{ eth::TYPE }>(out, 0)?;
        set_mac(h, eth::DST, e.dst);
        set_mac(h, eth::SRC, e.src);
        let mut at = eth::TYPE;
        for tag in e.tags {
            let t = header::<{ vlan::TAG_LEN }>(out, at)?;
            set16(t, vlan::TPID, tag.tpid.0);
            set16(t, vlan::TCI, tag.tci);
            at += vlan::TAG_LEN;
        }
        let ether_type = match (e.ether_type, &self.network) {
            (Some(t), _) => t,
            (None, NetworkRepr::Arp(_)) => EtherType::ARP,
            (None, NetworkRepr::Ipv4(_)) => EtherType::IPV4,
            (None, NetworkRepr::Ipv6(_)) => EtherType::IPV6,
            (None, NetworkRepr::None) => return Err(EmitError::MissingEtherType),
        };
        if let Some(len) = e.llc_snap {
            let after_len = at + 2;
            let value = len16(
                len,
                layout.end - after_len,
                LengthField::Ieee8023,
                usize::from(field::ethertype::MIN),
            )?;
            put(out, at, &value.to_be_bytes())?;
            let l = header::<{ llc_snap::HEADER_LEN }>(out, after_len)?;
            l[llc_snap::LLC_AND_OUI].copy_from_slice(&llc_snap::ETHERNET_SNAP);
            set16(l, llc_snap::SNAP_TYPE, ether_type.0);
        } else {
            put(out, at, &ether_type.0.to_be_bytes())?;
        }
        Ok(())
    }

    fn emit_ipv4(
        &self,
        ip: &Ipv4Repr<'_>,
        out: &mut [u8],
        layout: &FrameLayout,
    ) -> Result<(), EmitError> {
        let header_len = layout.transport - layout.network;
        let total = len16(
            ip.total_len,
            layout.end - layout.network,
            LengthField::Ipv4Total,
            usize::from(u16::MAX) + 1,
        )?;
        let protocol = ip
            .protocol
            .or(self.transport.protocol(false))
            .ok_or(EmitError::MissingProtocol)?;
        // At most 60 bytes (checked by `layout`): 15 words fit the nibble.
        let words = u8::try_from(header_len / 4).unwrap_or(0x0f);
        let ihl = ip.ihl.unwrap_or(words);
        let h = header::<{ ipv4::MIN_HEADER_LEN }>(out, layout.network)?;
        h[ipv4::VER_IHL] = (ip.version << 4) | (ihl & 0x0f);
        h[ipv4::TOS] = ip.tos;
        set16(h, ipv4::TOTAL_LEN, total);
        set16(h, ipv4::IDENT, ip.ident);
        set16(h, ipv4::FLAGS_FRAG, ip.flags_fragment);
        h[ipv4::TTL] = ip.ttl;
        h[ipv4::PROTOCOL] = protocol;
        set32(h, ipv4::SRC, u32::from(ip.src));
        set32(h, ipv4::DST, u32::from(ip.dst));
        put(out, layout.network + ipv4::MIN_HEADER_LEN, ip.options)?;
        let checksum = match ip.checksum {
            Checksum::Forced(v) => v,
            Checksum::Correct => {
                let whole =
                    out.get(layout.network..layout.transport)
                        .ok_or(EmitError::BufferTooSmall {
                            needed: layout.transport,
                            got: out.len(),
                        })?;
                internet_checksum(whole)
            }
        };
        let h = header::<{ ipv4::MIN_HEADER_LEN }>(out, layout.network)?;
        set16(h, ipv4::CHECKSUM, checksum);
        Ok(())
    }

    fn emit_ipv6(
        &self,
        ip: &Ipv6Repr<'_>,
        out: &mut [u8],
        layout: &FrameLayout,
    ) -> Result<(), EmitError> {
        let payload_len = len16(
            ip.payload_len,
            layout.end - layout.network - ipv6::HEADER_LEN,
            LengthField::Ipv6Payload,
            usize::from(u16::MAX) + 1,
        )?;
        let upper = ip
            .next_header
            .or(self.transport.protocol(true))
            .ok_or(EmitError::MissingProtocol)?;
        let first_next = ip.extensions.first().map_or(upper, Ipv6ExtHeader::protocol);
        let h = header::<{ ipv6::HEADER_LEN }>(out, layout.network)?;
        let first = (u32::from(ip.version) << ipv6::VERSION_SHIFT)
            | (u32::from(ip.traffic_class) << ipv6::TC_SHIFT)
            | (ip.flow_label & ipv6::FLOW_LABEL_MASK);
        set32(h, ipv6::VER_TC_FLOW, first);
        set16(h, ipv6::PAYLOAD_LEN, payload_len);
        h[ipv6::NEXT_HEADER] = first_next;
        h[ipv6::HOP_LIMIT] = ip.hop_limit;
        h[ipv6::SRC..ipv6::SRC + 16].copy_from_slice(&ip.src.octets());
        h[ipv6::DST..ipv6::DST + 16].copy_from_slice(&ip.dst.octets());
        let mut at = layout.network + ipv6::HEADER_LEN;
        for (i, ext) in ip.extensions.iter().enumerate() {
            let next = ip
                .extensions
                .get(i + 1)
                .map_or(upper, Ipv6ExtHeader::protocol);
            let len = ext.len()?;
            let e = header::<{ ipv6::EXT_MIN_LEN }>(out, at)?;
            e[ipv6::EXT_NEXT_HEADER] = next;
            match ext {
                Ipv6ExtHeader::Options { data, .. } => {
                    // `len` is checked to be (n + 1) * 8 with n a byte.
                    e[ipv6::EXT_LEN] = u8::try_from(len / ipv6::EXT_LEN_UNIT - 1).unwrap_or(0);
                    put(out, at + 2, data)?;
                }
                Ipv6ExtHeader::Ah { data } => {
                    e[ipv6::EXT_LEN] =
                        u8::try_from(len / ipv6::AH_LEN_UNIT - ipv6::AH_LEN_BIAS).unwrap_or(0);
                    put(out, at + 2, data)?;
                }
                Ipv6ExtHeader::Fragment {
                    offset,
                    more,
                    ident,
                } => {
                    let offlg = ((offset << ipv6::FRAG_OFFSET_SHIFT) & ipv6::FRAG_OFFSET_MASK)
                        | if *more { ipv6::FRAG_MORE } else { 0 };
                    set16(e, ipv6::FRAG_OFFLG, offlg);
                    set32(e, ipv6::FRAG_IDENT, *ident);
                }
            }
            at += len;
        }
        Ok(())
    }

    fn emit_transport(&self, out: &mut [u8], layout: &FrameLayout) -> Result<(), EmitError> {
        let at = layout.transport;
        match &self.transport {
            TransportRepr::None => {}
            TransportRepr::Tcp(t) => {
                // At most 60 bytes (checked by `layout`): 15 words fit the nibble.
                let words = u8::try_from((layout.payload - at) / 4).unwrap_or(0x0f);
                let h = header::<{ l4::TCP_HEADER_LEN }>(out, at)?;
                set16(h, l4::SRC_PORT, t.src_port);
                set16(h, l4::DST_PORT, t.dst_port);
                set32(h, l4::TCP_SEQ, t.seq);
                set32(h, l4::TCP_ACK, t.ack);
                h[l4::TCP_DATA_OFFSET] =
                    t.data_offset.unwrap_or(words) << l4::TCP_DATA_OFFSET_SHIFT;
                h[l4::TCP_FLAGS] = t.flags;
                set16(h, l4::TCP_WINDOW, t.window);
                set16(h, l4::TCP_CHECKSUM, t.checksum);
                set16(h, l4::TCP_URGENT, t.urgent);
                put(out, at + l4::TCP_HEADER_LEN, t.options)?;
            }
            TransportRepr::Udp(u) => {
                let length = len16(
                    u.length,
                    layout.end - at,
                    LengthField::Udp,
                    usize::from(u16::MAX) + 1,
                )?;
                let h = header::<{ l4::UDP_HEADER_LEN }>(out, at)?;
                set16(h, l4::SRC_PORT, u.src_port);
                set16(h, l4::DST_PORT, u.dst_port);
                set16(h, l4::UDP_LEN, length);
                set16(h, l4::UDP_CHECKSUM, u.checksum);
            }
            TransportRepr::Sctp(s) => {
                let h = header::<{ l4::SCTP_HEADER_LEN }>(out, at)?;
                set16(h, l4::SRC_PORT, s.src_port);
                set16(h, l4::DST_PORT, s.dst_port);
                set32(h, l4::SCTP_VERIFICATION_TAG, s.verification_tag);
                set32(h, l4::SCTP_CHECKSUM, s.checksum);
            }
            TransportRepr::Icmp(i) => {
                let h = header::<{ l4::ICMP_HEADER_LEN }>(out, at)?;
                h[l4::ICMP_TYPE] = i.ty;
                h[l4::ICMP_CODE] = i.code;
                set16(h, l4::ICMP_CHECKSUM, i.checksum);
                h[l4::ICMP_REST..l4::ICMP_REST + 4].copy_from_slice(&i.rest);
            }
        }
        Ok(())
    }
}

fn emit_arp(a: &ArpRepr, out: &mut [u8], at: usize) -> Result<(), EmitError> {
    let h = header::<{ arp::HEADER_LEN }>(out, at)?;
    set16(h, arp::HTYPE, a.htype);
    set16(h, arp::PTYPE, a.ptype.0);
    h[arp::HLEN] = a.hlen;
    h[arp::PLEN] = a.plen;
    set16(h, arp::OPER, a.oper);
    set_mac(h, arp::SHA, a.sha);
    set32(h, arp::SPA, u32::from(a.spa));
    set_mac(h, arp::THA, a.tha);
    set32(h, arp::TPA, u32::from(a.tpa));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp4<'a>() -> FrameRepr<'a> {
        FrameRepr {
            network: NetworkRepr::Ipv4(Ipv4Repr {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(10, 0, 0, 2),
                ..Ipv4Repr::default()
            }),
            transport: TransportRepr::Udp(UdpRepr {
                src_port: 5000,
                dst_port: 53,
                ..UdpRepr::default()
            }),
            ..FrameRepr::default()
        }
    }

    #[test]
    fn ipv4_checksum_verifies_to_zero() {
        let f = FrameRepr {
            network: NetworkRepr::Ipv4(Ipv4Repr {
                options: &[1, 1, 1, 1],
                tos: 0xb8,
                ident: 0x1234,
                ..Ipv4Repr::default()
            }),
            ..udp4()
        }
        .to_vec()
        .unwrap();
        assert_eq!(f[14], 0x46);
        assert_ne!(&f[24..26], &[0, 0]);
        assert_eq!(internet_checksum(&f[14..38]), 0);
    }

    #[test]
    fn rfc1071_example_sum() {
        // RFC 1071's example: 0001 f203 f4f5 f6f7 sums to ddf2.
        assert_eq!(
            internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        assert_eq!(internet_checksum(&[0x01]), !0x0100);
    }

    #[test]
    fn lengths_are_consistent_and_padding_is_outside_them() {
        let f = FrameRepr {
            payload: Payload::Bytes(&[9, 9, 9]),
            min_len: 60,
            ..udp4()
        };
        let layout = f.layout().unwrap();
        assert_eq!(
            (
                layout.network,
                layout.transport,
                layout.payload,
                layout.end,
                layout.len
            ),
            (14, 34, 42, 45, 60)
        );
        let v = f.to_vec().unwrap();
        assert_eq!(&v[16..18], &31u16.to_be_bytes());
        assert_eq!(&v[38..40], &11u16.to_be_bytes());
        assert_eq!(&v[42..45], &[9, 9, 9]);
        assert!(v[45..].iter().all(|&b| b == 0));
    }

    #[test]
    fn llc_snap_length_counts_the_snap_header_and_the_datagram() {
        let f = FrameRepr {
            ethernet: EthernetRepr {
                tags: &[VlanTag::dot1q(5, 0)],
                llc_snap: Some(Len::Consistent),
                ..EthernetRepr::default()
            },
            ..udp4()
        }
        .to_vec()
        .unwrap();
        assert_eq!(&f[12..16], &[0x81, 0x00, 0x00, 0x05]);
        assert_eq!(&f[16..18], &(8u16 + 28).to_be_bytes());
        assert_eq!(&f[18..26], &[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        assert_eq!(f.len(), 26 + 28);
    }

    #[test]
    fn forced_fields_are_written_as_given() {
        let f = FrameRepr {
            network: NetworkRepr::Ipv4(Ipv4Repr {
                version: 5,
                ihl: Some(4),
                total_len: Len::Forced(19),
                checksum: Checksum::Forced(0),
                protocol: Some(99),
                ..Ipv4Repr::default()
            }),
            ..udp4()
        }
        .to_vec()
        .unwrap();
        assert_eq!(&f[14..18], &[0x54, 0, 0, 19]);
        assert_eq!((f[23], &f[24..26]), (99, &[0u8, 0][..]));
    }

    #[test]
    fn ipv6_extension_chain_names_each_next_header() {
        let exts = [
            Ipv6ExtHeader::Options {
                protocol: proto::HOPOPTS,
                data: &[1, 4, 0, 0, 0, 0],
            },
            Ipv6ExtHeader::Fragment {
                offset: 100,
                more: true,
                ident: 9,
            },
            Ipv6ExtHeader::Ah { data: &[0; 10] },
        ];
        let f = FrameRepr {
            network: NetworkRepr::Ipv6(Ipv6Repr {
                traffic_class: 0x28,
                flow_label: 0x12345,
                extensions: &exts,
                ..Ipv6Repr::default()
            }),
            transport: TransportRepr::Tcp(TcpRepr {
                dst_port: 80,
                ..TcpRepr::default()
            }),
            ..FrameRepr::default()
        }
        .to_vec()
        .unwrap();
        assert_eq!(&f[14..18], &[0x62, 0x81, 0x23, 0x45]);
        assert_eq!(&f[18..20], &(8u16 + 8 + 12 + 20).to_be_bytes());
        assert_eq!(f[20], proto::HOPOPTS);
        assert_eq!(&f[54..56], &[proto::FRAGMENT, 0]);
        assert_eq!(&f[62..66], &[proto::AH, 0, 0x03, 0x21]);
        assert_eq!(&f[70..72], &[proto::TCP, 1]);
        assert_eq!(f[82 + 12], 0x50);
    }

    #[test]
    fn unwritable_representations_are_errors() {
        let bad_options = FrameRepr {
            network: NetworkRepr::Ipv4(Ipv4Repr {
                options: &[0; 3],
                ..Ipv4Repr::default()
            }),
            ..udp4()
        };
        assert_eq!(bad_options.to_vec(), Err(EmitError::Ipv4Options { len: 3 }));
        let no_type = FrameRepr::default();
        assert_eq!(no_type.to_vec(), Err(EmitError::MissingEtherType));
        let no_ip = FrameRepr {
            ethernet: EthernetRepr {
                ether_type: Some(EtherType(0x8847)),
                ..EthernetRepr::default()
            },
            transport: TransportRepr::Udp(UdpRepr::default()),
            ..FrameRepr::default()
        };
        assert_eq!(no_ip.to_vec(), Err(EmitError::TransportWithoutIp));
        let no_proto = FrameRepr {
            transport: TransportRepr::None,
            ..udp4()
        };
        assert_eq!(no_proto.to_vec(), Err(EmitError::MissingProtocol));
        let big = FrameRepr {
            payload: Payload::Zeros(65_536),
            ..udp4()
        };
        assert_eq!(
            big.to_vec(),
            Err(EmitError::LengthOverflow {
                field: LengthField::Ipv4Total,
                len: 65_536 + 28
            })
        );
        let mut small = [0u8; 20];
        assert_eq!(
            udp4().emit(&mut small),
            Err(EmitError::BufferTooSmall {
                needed: 42,
                got: 20
            })
        );
        let odd_ext = FrameRepr {
            network: NetworkRepr::Ipv6(Ipv6Repr {
                extensions: &[Ipv6ExtHeader::Options {
                    protocol: 60,
                    data: &[0; 7],
                }],
                ..Ipv6Repr::default()
            }),
            ..udp4()
        };
        assert_eq!(
            odd_ext.to_vec(),
            Err(EmitError::Ipv6Extension {
                protocol: 60,
                len: 9
            })
        );
    }

    #[test]
    fn emit_overwrites_every_byte_of_a_dirty_buffer() {
        let clean = FrameRepr {
            min_len: 64,
            ..udp4()
        };
        let mut buf = [0xffu8; 100];
        let n = clean.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &clean.to_vec().unwrap()[..]);
        assert!(buf[n..].iter().all(|&b| b == 0xff));
    }
}
