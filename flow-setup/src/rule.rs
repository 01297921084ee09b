//! The rule model: a [`Rule`] is a priority, a [`Match`] over the [`FlowKey`] fields, a list of
//! [`Action`]s and a cookie.
//!
//! A match is a conjunction of per-field constraints ([`FieldMatch`]): any value, a value under
//! a bit mask (exact values and CIDR prefixes are masks), or, for the L4 ports only, an inclusive
//! range (ClassBench rules and firewalls write port ranges; OpenFlow cannot, so the OpenFlow
//! export expands a range into value/mask prefixes).
//!
//! Semantics are Open vSwitch's: the key's fields follow `struct flow` (see `nic_abi::key`),
//! and a match may only constrain a field whose prerequisites it also constrains, as
//! `ovs-ofctl` and `ovs-vswitchd` require (`nw_src` needs `ip`, `ipv6`, `arp` or `rarp`;
//! `arp_sha`/`arp_tha` need `arp` or `rarp`; `tp_dst` needs `tcp`, `udp`, `sctp`, `icmp` or
//! `icmp6`; ...). [`Match::check_prerequisites`] enforces this;
//! every way of building a match ([`MatchBuilder`], the text parser, the importers) calls it.
//! The `ovs-ofctl` text parser first applies [`Match::normalize`], which drops the fields
//! whose prerequisites are missing as `ovs-ofctl` does, and reports them.
//! Given the prerequisites, evaluating a match is a plain field-by-field comparison, exactly
//! what OVS's classifier does with the rule's value and wildcard mask.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use nic_abi::key::{EtherType, FlowKey, FragFlags, KeyClass, MacAddr, PortNo, VlanTci};

/// A key field that rules can match. The order is the order of [`Point`]'s coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Ingress port (16 bits).
    InPort,
    /// Source MAC (48 bits).
    DlSrc,
    /// Destination MAC (48 bits).
    DlDst,
    /// EtherType (16 bits).
    DlType,
    /// Outer VLAN TCI with the OVS "present" bit 0x1000 (16 bits).
    VlanTci,
    /// IP protocol or ARP opcode (8 bits).
    NwProto,
    /// IPv4 TOS / IPv6 traffic class; only the DSCP bits (0xfc) are matched (8 bits).
    NwTos,
    /// Source address; IPv4 in the low 32 bits (128 bits).
    NwSrc,
    /// Destination address; IPv4 in the low 32 bits (128 bits).
    NwDst,
    /// L4 source port or ICMP type (16 bits).
    TpSrc,
    /// L4 destination port or ICMP code (16 bits).
    TpDst,
    /// ARP/RARP sender hardware address (48 bits). Software-only: the card's key does not
    /// hold it (see [`Field::in_card_key`]).
    ArpSha,
    /// ARP/RARP target hardware address (48 bits). Software-only, as [`Field::ArpSha`].
    ArpTha,
}

/// Number of matchable fields.
pub const FIELD_COUNT: usize = 13;

impl Field {
    /// Every field, in coordinate order.
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::InPort,
        Field::DlSrc,
        Field::DlDst,
        Field::DlType,
        Field::VlanTci,
        Field::NwProto,
        Field::NwTos,
        Field::NwSrc,
        Field::NwDst,
        Field::TpSrc,
        Field::TpDst,
        Field::ArpSha,
        Field::ArpTha,
    ];

    /// True when the card's packed key (`nic_abi::key::FlowKey::to_words`) holds the field;
    /// false for the software-only ARP hardware addresses. A decision that depends on a field
    /// the card does not hold cannot be an exact-match entry of the card.
    pub fn in_card_key(self) -> bool {
        !matches!(self, Field::ArpSha | Field::ArpTha)
    }

    /// The field's coordinate index in a [`Point`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Width of the field in bits.
    pub fn width(self) -> u32 {
        match self {
            Field::InPort | Field::DlType | Field::VlanTci | Field::TpSrc | Field::TpDst => 16,
            Field::DlSrc | Field::DlDst | Field::ArpSha | Field::ArpTha => 48,
            Field::NwProto | Field::NwTos => 8,
            Field::NwSrc | Field::NwDst => 128,
        }
    }

    /// All ones over the field's width.
    pub fn full_mask(self) -> u128 {
        low_bits(self.width())
    }

    /// The field's Open vSwitch name.
    pub fn name(self) -> &'static str {
        match self {
            Field::InPort => "in_port",
            Field::DlSrc => "dl_src",
            Field::DlDst => "dl_dst",
            Field::DlType => "dl_type",
            Field::VlanTci => "vlan_tci",
            Field::NwProto => "nw_proto",
            Field::NwTos => "nw_tos",
            Field::NwSrc => "nw_src",
            Field::NwDst => "nw_dst",
            Field::TpSrc => "tp_src",
            Field::TpDst => "tp_dst",
            Field::ArpSha => "arp_sha",
            Field::ArpTha => "arp_tha",
        }
    }
}

/// The `k` low bits set (all 128 for `k >= 128`).
pub(crate) fn low_bits(k: u32) -> u128 {
    if k >= 128 {
        u128::MAX
    } else {
        (1u128 << k) - 1
    }
}

/// A [`FlowKey`] projected onto the matchable fields: one unsigned coordinate per [`Field`].
/// Classifiers and lint work on points; the key's class, fragment flags and inner VLAN tag are
/// not matchable and so not part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Point(pub [u128; FIELD_COUNT]);

impl Point {
    /// The coordinate of `field`.
    pub fn get(&self, field: Field) -> u128 {
        self.0[field.index()]
    }

    /// A parsed, unfragmented key with these field values (bits beyond a field's width are
    /// dropped). Used for witness packets.
    // Every narrowing cast takes a value masked to the field's width first.
    #[allow(clippy::cast_possible_truncation)]
    pub fn to_key(&self) -> FlowKey {
        let g = |f: Field| self.get(f) & f.full_mask();
        FlowKey {
            in_port: PortNo(g(Field::InPort) as u16),
            class: KeyClass::Parsed,
            frag: FragFlags::NONE,
            dl_dst: MacAddr::from_u64(g(Field::DlDst) as u64),
            dl_src: MacAddr::from_u64(g(Field::DlSrc) as u64),
            dl_type: EtherType(g(Field::DlType) as u16),
            vlan: VlanTci(g(Field::VlanTci) as u16),
            inner_vlan: VlanTci::NONE,
            nw_proto: g(Field::NwProto) as u8,
            nw_tos: g(Field::NwTos) as u8,
            nw_src: g(Field::NwSrc),
            nw_dst: g(Field::NwDst),
            tp_src: g(Field::TpSrc) as u16,
            tp_dst: g(Field::TpDst) as u16,
            arp_sha: MacAddr::from_u64(g(Field::ArpSha) as u64),
            arp_tha: MacAddr::from_u64(g(Field::ArpTha) as u64),
        }
    }
}

impl From<&FlowKey> for Point {
    fn from(k: &FlowKey) -> Point {
        Point([
            u128::from(k.in_port.0),
            u128::from(k.dl_src.to_u64()),
            u128::from(k.dl_dst.to_u64()),
            u128::from(k.dl_type.0),
            u128::from(k.vlan.0),
            u128::from(k.nw_proto),
            u128::from(k.nw_tos),
            k.nw_src,
            k.nw_dst,
            u128::from(k.tp_src),
            u128::from(k.tp_dst),
            u128::from(k.arp_sha.to_u64()),
            u128::from(k.arp_tha.to_u64()),
        ])
    }
}

/// The constraint a match puts on one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FieldMatch {
    /// Any value (the field is wildcarded).
    #[default]
    Any,
    /// `packet & mask == value`; `value` has no bits outside `mask`, `mask` is not 0.
    Masked {
        /// Required bits.
        value: u128,
        /// Which bits are compared.
        mask: u128,
    },
    /// `lo <= packet <= hi`; only for `tp_src`/`tp_dst`; never a single value or the full
    /// range (those normalise to [`FieldMatch::Masked`] and [`FieldMatch::Any`]).
    Range {
        /// Lowest value matched.
        lo: u128,
        /// Highest value matched.
        hi: u128,
    },
}

impl FieldMatch {
    /// `value` under `mask`, normalised: bits outside the mask (and outside `field`) are
    /// cleared, and an all-zero mask is [`FieldMatch::Any`].
    pub fn masked(field: Field, value: u128, mask: u128) -> FieldMatch {
        let mask = mask & field.full_mask();
        if mask == 0 {
            FieldMatch::Any
        } else {
            FieldMatch::Masked {
                value: value & mask,
                mask,
            }
        }
    }

    /// Exactly `value`.
    pub fn exact(field: Field, value: u128) -> FieldMatch {
        FieldMatch::masked(field, value, u128::MAX)
    }

    /// The inclusive range `lo..=hi`, normalised (a single value is exact, the full range is
    /// any). Returns `None` when `lo > hi`.
    pub fn range(field: Field, lo: u128, hi: u128) -> Option<FieldMatch> {
        let max = field.full_mask();
        let hi = hi.min(max);
        if lo > hi {
            None
        } else if lo == hi {
            Some(FieldMatch::exact(field, lo))
        } else if lo == 0 && hi == max {
            Some(FieldMatch::Any)
        } else {
            Some(FieldMatch::Range { lo, hi })
        }
    }

    /// True when `v` satisfies the constraint.
    #[inline]
    pub fn matches(&self, v: u128) -> bool {
        match *self {
            FieldMatch::Any => true,
            FieldMatch::Masked { value, mask } => v & mask == value,
            FieldMatch::Range { lo, hi } => lo <= v && v <= hi,
        }
    }

    /// True for [`FieldMatch::Any`].
    pub fn is_any(&self) -> bool {
        matches!(self, FieldMatch::Any)
    }

    /// The exact value, if the constraint is a single value of `field`.
    pub fn exact_value(&self, field: Field) -> Option<u128> {
        match *self {
            FieldMatch::Masked { value, mask } if mask == field.full_mask() => Some(value),
            _ => None,
        }
    }

    /// The smallest interval holding every value that matches (the mask's leading ones form
    /// the prefix of a masked value).
    pub fn hull(&self, field: Field) -> (u128, u128) {
        let full = field.full_mask();
        match *self {
            FieldMatch::Any => (0, full),
            FieldMatch::Masked { value, mask } => {
                let prefix = prefix_part(mask, field.width());
                let lo = value & prefix;
                (lo, lo | (full & !prefix))
            }
            FieldMatch::Range { lo, hi } => (lo, hi),
        }
    }

    /// The constraint as a list of value/mask pairs whose union is the same set of values
    /// (a range becomes its minimal prefix cover; any becomes one pair with mask 0).
    pub fn to_prefixes(&self, field: Field) -> Vec<(u128, u128)> {
        match *self {
            FieldMatch::Any => vec![(0, 0)],
            FieldMatch::Masked { value, mask } => vec![(value, mask)],
            FieldMatch::Range { lo, hi } => range_to_prefixes(lo, hi, field.width()),
        }
    }
}

/// The leading ones of `mask` within `width` bits (the CIDR prefix part of a mask).
pub(crate) fn prefix_part(mask: u128, width: u32) -> u128 {
    let full = low_bits(width);
    let shifted = (mask & full) << (128 - width);
    let ones = shifted.leading_ones();
    full & !low_bits(width - ones.min(width))
}

/// The prefix length of `mask` if it is a CIDR mask within `width` bits.
pub(crate) fn prefix_len(mask: u128, width: u32) -> Option<u32> {
    let p = prefix_part(mask, width);
    (p == mask & low_bits(width)).then(|| p.count_ones())
}

/// The minimal list of value/mask prefixes covering exactly `lo..=hi` in `width` bits.
pub fn range_to_prefixes(lo: u128, hi: u128, width: u32) -> Vec<(u128, u128)> {
    let full = low_bits(width);
    let mut out = Vec::new();
    let mut cur = lo;
    loop {
        if cur > hi {
            break;
        }
        // Largest aligned block starting at `cur` that stays within `hi`.
        let mut k = if cur == 0 {
            width
        } else {
            cur.trailing_zeros().min(width)
        };
        while k > 0 && (cur | low_bits(k)) > hi {
            k -= 1;
        }
        out.push((cur, full & !low_bits(k)));
        let end = cur | low_bits(k);
        if end >= hi {
            break;
        }
        cur = end + 1;
    }
    out
}

/// Error in a match: a field set without its prerequisites, or a value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// A field was constrained without the fields OVS requires with it.
    #[error("{field} requires {needs}")]
    MissingPrerequisite {
        /// The field that was set (its OVS name).
        field: &'static str,
        /// What the match must also say.
        needs: &'static str,
    },
    /// A field that OVS matches only exactly was given a mask or range.
    #[error("{field} can only be matched exactly (no mask or range)")]
    NotMaskable {
        /// The field.
        field: &'static str,
    },
    /// A port range on a field other than `tp_src`/`tp_dst`.
    #[error("{field} cannot be matched by a range (only tp_src and tp_dst can)")]
    RangeNotAllowed {
        /// The field.
        field: &'static str,
    },
    /// A value does not fit its field.
    #[error("{field}: value {value:#x} does not fit in {bits} bits")]
    ValueTooWide {
        /// The field.
        field: &'static str,
        /// The value given.
        value: u128,
        /// The field's width.
        bits: u32,
    },
}

/// A constraint [`Match::normalize`] removed because its prerequisites were missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedField {
    /// The field.
    pub field: Field,
    /// The constraint it had.
    pub was: FieldMatch,
    /// What the match would have had to say for the field to stay.
    pub needs: &'static str,
}

impl fmt::Display for DroppedField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} dropped, as ovs-ofctl's normalization drops it: it requires {}, so the rule \
             matches more than it says",
            self.field.name(),
            self.needs
        )
    }
}

/// Ethertypes and protocols used by shorthands and prerequisites.
pub mod proto {
    /// IPv4 ethertype.
    pub const ETH_IP: u128 = 0x0800;
    /// ARP ethertype.
    pub const ETH_ARP: u128 = 0x0806;
    /// RARP ethertype: Open vSwitch parses RARP as ARP, and the ARP fields (`arp_op`,
    /// `arp_spa`, `arp_tpa`, `arp_sha`, `arp_tha`) take either type as their prerequisite.
    pub const ETH_RARP: u128 = 0x8035;
    /// IPv6 ethertype.
    pub const ETH_IPV6: u128 = 0x86dd;
    /// ICMP.
    pub const ICMP: u128 = 1;
    /// TCP.
    pub const TCP: u128 = 6;
    /// UDP.
    pub const UDP: u128 = 17;
    /// ICMPv6.
    pub const ICMPV6: u128 = 58;
    /// SCTP.
    pub const SCTP: u128 = 132;
}

/// A conjunction of per-field constraints. Build one with [`MatchBuilder`] or parse one from
/// text ([`crate::ofctl`]); both enforce OVS's prerequisites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Match {
    fields: [FieldMatch; FIELD_COUNT],
}

impl Match {
    /// The match that every packet satisfies.
    pub fn any() -> Match {
        Match::default()
    }

    /// The constraint on `field`.
    #[inline]
    pub fn get(&self, field: Field) -> FieldMatch {
        self.fields[field.index()]
    }

    /// All constraints, in [`Field::ALL`] order.
    pub fn fields(&self) -> &[FieldMatch; FIELD_COUNT] {
        &self.fields
    }

    /// Sets the constraint on `field` without checking prerequisites (callers check the whole
    /// match at the end, so that field order does not matter, as in OVS).
    pub(crate) fn set(&mut self, field: Field, m: FieldMatch) {
        self.fields[field.index()] = m;
    }

    /// A match from per-field constraints, checked.
    pub fn from_fields(fields: [FieldMatch; FIELD_COUNT]) -> Result<Match, MatchError> {
        let m = Match { fields };
        m.check_prerequisites()?;
        Ok(m)
    }

    /// True when the packet with this key satisfies every constraint.
    pub fn matches(&self, key: &FlowKey) -> bool {
        self.matches_point(&Point::from(key))
    }

    /// True when the point satisfies every constraint.
    #[inline]
    pub fn matches_point(&self, p: &Point) -> bool {
        self.fields
            .iter()
            .zip(p.0.iter())
            .all(|(m, &v)| m.matches(v))
    }

    /// The exact `dl_type`, if set.
    pub fn dl_type(&self) -> Option<u16> {
        self.get(Field::DlType)
            .exact_value(Field::DlType)
            .and_then(|v| u16::try_from(v).ok())
    }

    /// The exact `nw_proto`, if set.
    pub fn nw_proto(&self) -> Option<u8> {
        self.get(Field::NwProto)
            .exact_value(Field::NwProto)
            .and_then(|v| u8::try_from(v).ok())
    }

    /// Checks OVS's prerequisites and exact-only fields; see the module doc.
    pub fn check_prerequisites(&self) -> Result<(), MatchError> {
        for f in Field::ALL {
            let m = self.get(f);
            if let FieldMatch::Range { .. } = m {
                if !matches!(f, Field::TpSrc | Field::TpDst) {
                    return Err(MatchError::RangeNotAllowed { field: f.name() });
                }
            }
            if matches!(f, Field::InPort | Field::DlType | Field::NwProto)
                && !m.is_any()
                && m.exact_value(f).is_none()
            {
                return Err(MatchError::NotMaskable { field: f.name() });
            }
            if f == Field::NwTos {
                if let FieldMatch::Masked { mask, .. } = m {
                    if mask != 0xfc {
                        return Err(MatchError::NotMaskable { field: "nw_tos" });
                    }
                }
            }
        }
        let dl_type = self.get(Field::DlType).exact_value(Field::DlType);
        let is_ip = dl_type == Some(proto::ETH_IP);
        let is_ip6 = dl_type == Some(proto::ETH_IPV6);
        let is_arp = dl_type == Some(proto::ETH_ARP) || dl_type == Some(proto::ETH_RARP);
        // Transport first: its message names the most specific thing missing.
        let nw_proto = self.get(Field::NwProto).exact_value(Field::NwProto);
        for f in [Field::TpSrc, Field::TpDst] {
            if self.get(f).is_any() {
                continue;
            }
            let ok = match nw_proto {
                None => {
                    return Err(MatchError::MissingPrerequisite {
                        field: f.name(),
                        needs:
                            "an L4 protocol (tcp, udp, sctp, icmp or icmp6; nw_proto is not set)",
                    })
                }
                Some(p) => {
                    ((is_ip || is_ip6) && (p == proto::TCP || p == proto::UDP || p == proto::SCTP))
                        || (is_ip && p == proto::ICMP)
                        || (is_ip6 && p == proto::ICMPV6)
                }
            };
            if !ok {
                return Err(MatchError::MissingPrerequisite {
                    field: f.name(),
                    needs:
                        "tcp, udp or sctp (or icmp with ip, icmp6 with ipv6): nw_proto and dl_type",
                });
            }
            // ICMP type and code are 8-bit fields in OVS (icmp_type, icmp_code).
            if matches!(nw_proto, Some(proto::ICMP) | Some(proto::ICMPV6)) {
                let (lo, _) = self.get(f).hull(f);
                if lo > 0xff {
                    return Err(MatchError::ValueTooWide {
                        field: if f == Field::TpSrc {
                            "icmp_type"
                        } else {
                            "icmp_code"
                        },
                        value: lo,
                        bits: 8,
                    });
                }
            }
        }
        for f in [Field::NwSrc, Field::NwDst] {
            let m = self.get(f);
            if m.is_any() {
                continue;
            }
            if !(is_ip || is_ip6 || is_arp) {
                return Err(MatchError::MissingPrerequisite {
                    field: f.name(),
                    needs: "ip, ipv6, arp or rarp (dl_type=0x0800, 0x86dd, 0x0806 or 0x8035)",
                });
            }
            if !is_ip6 {
                if let FieldMatch::Masked { value, mask } = m {
                    if mask > u128::from(u32::MAX) {
                        return Err(MatchError::ValueTooWide {
                            field: f.name(),
                            value,
                            bits: 32,
                        });
                    }
                }
            }
        }
        let has_l3 = is_ip || is_ip6 || is_arp;
        if !self.get(Field::NwProto).is_any() && !has_l3 {
            return Err(MatchError::MissingPrerequisite {
                field: "nw_proto",
                needs: "ip, ipv6, arp or rarp (dl_type=0x0800, 0x86dd, 0x0806 or 0x8035)",
            });
        }
        for f in [Field::ArpSha, Field::ArpTha] {
            if !self.get(f).is_any() && !is_arp {
                return Err(MatchError::MissingPrerequisite {
                    field: f.name(),
                    needs: "arp or rarp (dl_type=0x0806 or 0x8035)",
                });
            }
        }
        let has_ip = is_ip || is_ip6;
        if !self.get(Field::NwTos).is_any() && !has_ip {
            return Err(MatchError::MissingPrerequisite {
                field: "nw_tos",
                needs: "ip or ipv6 (dl_type=0x0800 or 0x86dd)",
            });
        }
        Ok(())
    }

    /// Open vSwitch's normalization: removes every constraint whose prerequisites the match
    /// does not also constrain (`nw_src` without `ip`/`ipv6`/`arp`, `tp_dst` without an L4
    /// protocol, `nw_proto` without an L3 type, ...), as `ovs-ofctl` does to flows it parses
    /// (it logs "normalization changed ofp_match" and installs the rest). Returns what it
    /// removed, in the order removed. Errors that are not a missing prerequisite (a mask on an
    /// exact-only field, a value too wide) are still errors, as they are for `ovs-ofctl`.
    pub fn normalize(&mut self) -> Result<Vec<DroppedField>, MatchError> {
        let mut dropped = Vec::new();
        loop {
            match self.check_prerequisites() {
                Ok(()) => return Ok(dropped),
                Err(MatchError::MissingPrerequisite { field, needs }) => {
                    let Some(f) = Field::ALL.iter().copied().find(|f| f.name() == field) else {
                        return Err(MatchError::MissingPrerequisite { field, needs });
                    };
                    dropped.push(DroppedField {
                        field: f,
                        was: self.get(f),
                        needs,
                    });
                    self.set(f, FieldMatch::Any);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// True when the match constrains a field the card's key does not hold
    /// ([`Field::in_card_key`]: `arp_sha`, `arp_tha`).
    pub fn uses_software_fields(&self) -> bool {
        Field::ALL
            .iter()
            .any(|f| !f.in_card_key() && !self.get(*f).is_any())
    }

    /// True when the key satisfies every constraint on the fields the card's key holds (the
    /// software-only fields are not looked at): some packet with the key's card fields
    /// satisfies the match, whatever its ARP hardware addresses, when the others allow it.
    pub fn matches_card_fields(&self, key: &FlowKey) -> bool {
        let p = Point::from(key);
        Field::ALL
            .iter()
            .filter(|f| f.in_card_key())
            .all(|f| self.get(*f).matches(p.get(*f)))
    }

    /// True when some packet satisfies both matches.
    pub fn overlaps(&self, other: &Match) -> bool {
        Field::ALL
            .iter()
            .all(|&f| field_overlaps(f, self.get(f), other.get(f)))
    }
}

/// True when some value satisfies both constraints on `field`.
pub(crate) fn field_overlaps(field: Field, a: FieldMatch, b: FieldMatch) -> bool {
    match (a, b) {
        (FieldMatch::Any, _) | (_, FieldMatch::Any) => true,
        (
            FieldMatch::Masked {
                value: v1,
                mask: m1,
            },
            FieldMatch::Masked {
                value: v2,
                mask: m2,
            },
        ) => (v1 ^ v2) & m1 & m2 == 0,
        (FieldMatch::Range { lo: l1, hi: h1 }, FieldMatch::Range { lo: l2, hi: h2 }) => {
            l1.max(l2) <= h1.min(h2)
        }
        (FieldMatch::Range { .. }, m @ FieldMatch::Masked { .. })
        | (m @ FieldMatch::Masked { .. }, FieldMatch::Range { .. }) => {
            let r = if a.is_range() { a } else { b };
            r.to_prefixes(field)
                .iter()
                .any(|&(pv, pm)| field_overlaps(field, m, FieldMatch::masked(field, pv, pm)))
        }
    }
}

impl FieldMatch {
    fn is_range(&self) -> bool {
        matches!(self, FieldMatch::Range { .. })
    }
}

/// What to do with a packet that matches a rule. An empty action list drops the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Send out of this port (`output:N`).
    Output(PortNo),
    /// L2 forwarding by destination MAC (`normal`).
    Normal,
    /// Every port except the input port (`flood`).
    Flood,
    /// Back out of the input port (`in_port`).
    InPort,
    /// To the controller, i.e. the flow-setup agent's slow path (`controller[:max_len]`).
    Controller {
        /// Bytes of the packet to send (65535: all).
        max_len: u16,
    },
    /// Set (or push) the outer VLAN id (`mod_vlan_vid:N`).
    ModVlanVid(u16),
    /// Remove the outer VLAN tag (`strip_vlan`).
    StripVlan,
}

/// A rule's identity in a classifier: where it was inserted. Among rules of equal priority the
/// one with the lower id wins (OpenFlow leaves that case undefined; the lint reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub u32);

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Default priority of an OpenFlow rule, as in `ovs-ofctl`.
pub const DEFAULT_PRIORITY: u16 = 32768;

/// A flow rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Higher wins.
    pub priority: u16,
    /// Opaque identifier (ClassBench import: the 0-based line index).
    pub cookie: u64,
    /// Which packets the rule applies to.
    pub pattern: Match,
    /// What it does to them; empty means drop.
    pub actions: Vec<Action>,
}

impl Rule {
    /// A rule with cookie 0.
    pub fn new(priority: u16, pattern: Match, actions: Vec<Action>) -> Rule {
        Rule {
            priority,
            cookie: 0,
            pattern,
            actions,
        }
    }

    /// The same rule with this cookie.
    pub fn with_cookie(mut self, cookie: u64) -> Rule {
        self.cookie = cookie;
        self
    }

    /// The destination MAC (as [`Field::DlDst`]'s value) when the rule's match is a MAC-table
    /// entry's: an exact destination MAC, maybe a VLAN, nothing else. Such a rule that
    /// outputs to one port is a static FDB entry: the Linux bridge holds it in its FDB
    /// rather than in netfilter, and the flow-setup agent resolves `normal` with it.
    pub fn l2_destination(&self) -> Option<u128> {
        let dst = self.pattern.get(Field::DlDst).exact_value(Field::DlDst)?;
        Field::ALL
            .iter()
            .filter(|f| !matches!(f, Field::DlDst | Field::VlanTci))
            .all(|f| self.pattern.get(*f).is_any())
            .then_some(dst)
    }

    /// The static FDB entry this rule is, if it is one: an [`Rule::l2_destination`] match
    /// whose only action is `output:N`, as (destination MAC, N).
    pub fn fdb_entry(&self) -> Option<(u128, PortNo)> {
        match self.actions.as_slice() {
            [Action::Output(port)] => Some((self.l2_destination()?, *port)),
            _ => None,
        }
    }
}

/// Builds a [`Match`] with typed setters; [`MatchBuilder::build`] checks prerequisites.
///
/// ```
/// use flow_setup::rule::MatchBuilder;
/// use std::net::Ipv4Addr;
/// let m = MatchBuilder::new()
///     .tcp()
///     .nw_dst(Ipv4Addr::new(10, 0, 0, 0), 8)
///     .tp_dst_range(1000, 2000)
///     .build()
///     .unwrap();
/// assert_eq!(m.nw_proto(), Some(6));
/// // A port without an L4 protocol is refused, as in OVS.
/// assert!(MatchBuilder::new().tp_dst(80).build().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct MatchBuilder {
    m: Match,
    error: Option<MatchError>,
}

impl MatchBuilder {
    /// A builder matching everything.
    pub fn new() -> MatchBuilder {
        MatchBuilder::default()
    }

    fn with(mut self, f: Field, m: FieldMatch) -> Self {
        self.m.set(f, m);
        self
    }

    fn with_range(mut self, f: Field, lo: u128, hi: u128) -> Self {
        match FieldMatch::range(f, lo, hi) {
            Some(m) => self.m.set(f, m),
            None => {
                self.error.get_or_insert(MatchError::ValueTooWide {
                    field: f.name(),
                    value: lo,
                    bits: f.width(),
                });
            }
        }
        self
    }

    /// `in_port=N`.
    pub fn in_port(self, port: PortNo) -> Self {
        self.with(
            Field::InPort,
            FieldMatch::exact(Field::InPort, port.0.into()),
        )
    }
    /// `dl_src=MAC`.
    pub fn dl_src(self, mac: MacAddr) -> Self {
        self.dl_src_masked(mac, MacAddr::BROADCAST)
    }
    /// `dl_src=MAC/MASK`.
    pub fn dl_src_masked(self, mac: MacAddr, mask: MacAddr) -> Self {
        let m = FieldMatch::masked(Field::DlSrc, mac.to_u64().into(), mask.to_u64().into());
        self.with(Field::DlSrc, m)
    }
    /// `dl_dst=MAC`.
    pub fn dl_dst(self, mac: MacAddr) -> Self {
        self.dl_dst_masked(mac, MacAddr::BROADCAST)
    }
    /// `dl_dst=MAC/MASK`.
    pub fn dl_dst_masked(self, mac: MacAddr, mask: MacAddr) -> Self {
        let m = FieldMatch::masked(Field::DlDst, mac.to_u64().into(), mask.to_u64().into());
        self.with(Field::DlDst, m)
    }
    /// `dl_type=T`.
    pub fn dl_type(self, t: EtherType) -> Self {
        self.with(Field::DlType, FieldMatch::exact(Field::DlType, t.0.into()))
    }
    /// `dl_vlan=VID`: a tag with this id is present (12 bits kept).
    pub fn dl_vlan(mut self, vid: u16) -> Self {
        self.m.set(
            Field::VlanTci,
            vlan_set_vid(self.m.get(Field::VlanTci), vid),
        );
        self
    }
    /// `dl_vlan=0xffff`: no VLAN tag.
    pub fn no_vlan(self) -> Self {
        self.with(Field::VlanTci, FieldMatch::exact(Field::VlanTci, 0))
    }
    /// `dl_vlan_pcp=P`: a tag with this priority is present (3 bits kept).
    pub fn dl_vlan_pcp(mut self, pcp: u8) -> Self {
        self.m.set(
            Field::VlanTci,
            vlan_set_pcp(self.m.get(Field::VlanTci), pcp),
        );
        self
    }
    /// `vlan_tci=V/M`.
    pub fn vlan_tci(self, value: u16, mask: u16) -> Self {
        self.with(
            Field::VlanTci,
            FieldMatch::masked(Field::VlanTci, value.into(), mask.into()),
        )
    }
    /// `nw_proto=P`.
    pub fn nw_proto(self, p: u8) -> Self {
        self.with(Field::NwProto, FieldMatch::exact(Field::NwProto, p.into()))
    }
    /// `nw_tos=T` (the DSCP bits, 0xfc, are matched).
    pub fn nw_tos(self, tos: u8) -> Self {
        self.with(
            Field::NwTos,
            FieldMatch::masked(Field::NwTos, tos.into(), 0xfc),
        )
    }
    fn shorthand(self, dl_type: u128, nw_proto: Option<u128>) -> Self {
        let s = self.with(Field::DlType, FieldMatch::exact(Field::DlType, dl_type));
        match nw_proto {
            Some(p) => s.with(Field::NwProto, FieldMatch::exact(Field::NwProto, p)),
            None => s,
        }
    }
    /// `ip`.
    pub fn ip(self) -> Self {
        self.shorthand(proto::ETH_IP, None)
    }
    /// `ipv6`.
    pub fn ipv6(self) -> Self {
        self.shorthand(proto::ETH_IPV6, None)
    }
    /// `arp`.
    pub fn arp(self) -> Self {
        self.shorthand(proto::ETH_ARP, None)
    }
    /// `rarp` (`dl_type=0x8035`).
    pub fn rarp(self) -> Self {
        self.shorthand(proto::ETH_RARP, None)
    }
    /// `arp_sha=MAC/MASK` (needs `arp` or `rarp`).
    pub fn arp_sha_masked(self, mac: MacAddr, mask: MacAddr) -> Self {
        let m = FieldMatch::masked(Field::ArpSha, mac.to_u64().into(), mask.to_u64().into());
        self.with(Field::ArpSha, m)
    }
    /// `arp_tha=MAC/MASK` (needs `arp` or `rarp`).
    pub fn arp_tha_masked(self, mac: MacAddr, mask: MacAddr) -> Self {
        let m = FieldMatch::masked(Field::ArpTha, mac.to_u64().into(), mask.to_u64().into());
        self.with(Field::ArpTha, m)
    }
    /// `tcp`.
    pub fn tcp(self) -> Self {
        self.shorthand(proto::ETH_IP, Some(proto::TCP))
    }
    /// `udp`.
    pub fn udp(self) -> Self {
        self.shorthand(proto::ETH_IP, Some(proto::UDP))
    }
    /// `icmp`.
    pub fn icmp(self) -> Self {
        self.shorthand(proto::ETH_IP, Some(proto::ICMP))
    }
    /// `tcp6`.
    pub fn tcp6(self) -> Self {
        self.shorthand(proto::ETH_IPV6, Some(proto::TCP))
    }
    /// `udp6`.
    pub fn udp6(self) -> Self {
        self.shorthand(proto::ETH_IPV6, Some(proto::UDP))
    }
    /// `icmp6`.
    pub fn icmp6(self) -> Self {
        self.shorthand(proto::ETH_IPV6, Some(proto::ICMPV6))
    }
    /// `nw_src=A.B.C.D/len`.
    pub fn nw_src(self, addr: Ipv4Addr, prefix_len: u8) -> Self {
        let m = v4_prefix(addr, prefix_len);
        self.with(Field::NwSrc, m)
    }
    /// `nw_dst=A.B.C.D/len`.
    pub fn nw_dst(self, addr: Ipv4Addr, prefix_len: u8) -> Self {
        let m = v4_prefix(addr, prefix_len);
        self.with(Field::NwDst, m)
    }
    /// `nw_src=A.B.C.D/M.M.M.M` (any mask).
    pub fn nw_src_masked(self, addr: Ipv4Addr, mask: Ipv4Addr) -> Self {
        let m = FieldMatch::masked(Field::NwSrc, u32::from(addr).into(), u32::from(mask).into());
        self.with(Field::NwSrc, m)
    }
    /// `nw_dst=A.B.C.D/M.M.M.M` (any mask).
    pub fn nw_dst_masked(self, addr: Ipv4Addr, mask: Ipv4Addr) -> Self {
        let m = FieldMatch::masked(Field::NwDst, u32::from(addr).into(), u32::from(mask).into());
        self.with(Field::NwDst, m)
    }
    /// `ipv6_src=ADDR/len`.
    pub fn ipv6_src(self, addr: Ipv6Addr, prefix_len: u8) -> Self {
        self.with(Field::NwSrc, v6_prefix(addr, prefix_len))
    }
    /// `ipv6_dst=ADDR/len`.
    pub fn ipv6_dst(self, addr: Ipv6Addr, prefix_len: u8) -> Self {
        self.with(Field::NwDst, v6_prefix(addr, prefix_len))
    }
    /// `tp_src=N`.
    pub fn tp_src(self, port: u16) -> Self {
        self.with(Field::TpSrc, FieldMatch::exact(Field::TpSrc, port.into()))
    }
    /// `tp_dst=N`.
    pub fn tp_dst(self, port: u16) -> Self {
        self.with(Field::TpDst, FieldMatch::exact(Field::TpDst, port.into()))
    }
    /// `tp_src=V/M`.
    pub fn tp_src_masked(self, value: u16, mask: u16) -> Self {
        self.with(
            Field::TpSrc,
            FieldMatch::masked(Field::TpSrc, value.into(), mask.into()),
        )
    }
    /// `tp_dst=V/M`.
    pub fn tp_dst_masked(self, value: u16, mask: u16) -> Self {
        self.with(
            Field::TpDst,
            FieldMatch::masked(Field::TpDst, value.into(), mask.into()),
        )
    }
    /// `tp_src=LO-HI` (inclusive; an sNICh extension, exported to OpenFlow as prefixes).
    pub fn tp_src_range(self, lo: u16, hi: u16) -> Self {
        self.with_range(Field::TpSrc, lo.into(), hi.into())
    }
    /// `tp_dst=LO-HI` (inclusive).
    pub fn tp_dst_range(self, lo: u16, hi: u16) -> Self {
        self.with_range(Field::TpDst, lo.into(), hi.into())
    }
    /// `icmp_type=T` (needs `icmp` or `icmp6`).
    pub fn icmp_type(self, t: u8) -> Self {
        self.tp_src(t.into())
    }
    /// `icmp_code=C` (needs `icmp` or `icmp6`).
    pub fn icmp_code(self, c: u8) -> Self {
        self.tp_dst(c.into())
    }

    /// The match, if its prerequisites hold.
    pub fn build(self) -> Result<Match, MatchError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.m.check_prerequisites()?;
        Ok(self.m)
    }
}

fn v4_prefix(addr: Ipv4Addr, len: u8) -> FieldMatch {
    let len = u32::from(len.min(32));
    let mask = low_bits(32) & !low_bits(32 - len);
    FieldMatch::masked(Field::NwSrc, u32::from(addr).into(), mask)
}

fn v6_prefix(addr: Ipv6Addr, len: u8) -> FieldMatch {
    let len = u32::from(len.min(128));
    let mask = !low_bits(128 - len);
    FieldMatch::masked(Field::NwSrc, u128::from(addr), mask)
}

/// The VLAN TCI constraint after `dl_vlan=vid` (OVS `match_set_dl_vlan`): `0xffff` means no tag
/// (the whole TCI must be 0); otherwise the tag must be present with this id, keeping any
/// priority constraint already set.
pub(crate) fn vlan_set_vid(cur: FieldMatch, vid: u16) -> FieldMatch {
    if vid == 0xffff {
        return FieldMatch::exact(Field::VlanTci, 0);
    }
    let (v, m) = tci_parts(cur);
    let v = (v & !0x0fff) | 0x1000 | u128::from(vid & 0x0fff);
    FieldMatch::masked(Field::VlanTci, v, m | 0x1fff)
}

/// The VLAN TCI constraint after `dl_vlan_pcp=pcp` (OVS `match_set_dl_vlan_pcp`).
pub(crate) fn vlan_set_pcp(cur: FieldMatch, pcp: u8) -> FieldMatch {
    let (v, m) = tci_parts(cur);
    let v = (v & !0xe000) | 0x1000 | (u128::from(pcp & 7) << 13);
    FieldMatch::masked(Field::VlanTci, v, m | 0xf000)
}

fn tci_parts(m: FieldMatch) -> (u128, u128) {
    match m {
        FieldMatch::Masked { value, mask } => (value, mask),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_prefixes_cover_exactly() {
        for (lo, hi) in [
            (0u128, 65535u128),
            (1, 1),
            (1024, 65535),
            (1000, 2000),
            (0, 0),
            (5, 6),
        ] {
            let ps = range_to_prefixes(lo, hi, 16);
            for v in 0..=65535u128 {
                let n = ps.iter().filter(|&&(pv, pm)| v & pm == pv).count();
                assert_eq!(n, usize::from(lo <= v && v <= hi), "{lo}-{hi} at {v}");
            }
        }
        assert_eq!(range_to_prefixes(1024, 65535, 16).len(), 6);
    }

    #[test]
    fn prerequisites_follow_ovs() {
        assert!(MatchBuilder::new().tp_dst(80).build().is_err());
        assert!(MatchBuilder::new().ip().tp_dst(80).build().is_err());
        assert!(MatchBuilder::new().udp().tp_dst(80).build().is_ok());
        assert!(MatchBuilder::new().icmp6().icmp_type(135).build().is_ok());
        assert!(MatchBuilder::new()
            .arp()
            .nw_src(Ipv4Addr::new(1, 2, 3, 4), 32)
            .build()
            .is_ok());
        assert!(MatchBuilder::new()
            .nw_src(Ipv4Addr::new(1, 2, 3, 4), 32)
            .build()
            .is_err());
        assert!(MatchBuilder::new().arp().nw_tos(4).build().is_err());
        let sha = MacAddr([2, 0, 0, 0, 0, 1]);
        // The ARP fields take ARP or RARP, as in OVS (MFP_ARP).
        for m in [MatchBuilder::new().arp(), MatchBuilder::new().rarp()] {
            assert!(m
                .clone()
                .arp_sha_masked(sha, MacAddr::BROADCAST)
                .arp_tha_masked(sha, MacAddr([0xff, 0xff, 0xff, 0, 0, 0]))
                .nw_src(Ipv4Addr::new(1, 2, 3, 4), 32)
                .build()
                .is_ok());
        }
        assert!(MatchBuilder::new()
            .ip()
            .arp_sha_masked(sha, MacAddr::BROADCAST)
            .build()
            .is_err());
        assert!(MatchBuilder::new()
            .arp_tha_masked(sha, MacAddr::BROADCAST)
            .build()
            .is_err());
    }

    #[test]
    fn arp_hardware_addresses_are_software_only_fields() {
        let sha = MacAddr([2, 0, 0, 0, 0, 1]);
        let m = MatchBuilder::new()
            .arp()
            .arp_sha_masked(sha, MacAddr::BROADCAST)
            .build()
            .unwrap();
        assert!(m.uses_software_fields());
        assert!(!MatchBuilder::new()
            .arp()
            .build()
            .unwrap()
            .uses_software_fields());
        let key = FlowKey {
            dl_type: EtherType::ARP,
            arp_sha: sha,
            ..FlowKey::default()
        };
        assert!(m.matches(&key));
        let other = FlowKey {
            arp_sha: MacAddr([2, 0, 0, 0, 0, 9]),
            ..key
        };
        assert!(!m.matches(&other), "the full key tells the packets apart");
        assert!(m.matches_card_fields(&other), "the card's key cannot");
        assert_eq!(Point::from(&key).to_key(), key);
    }

    #[test]
    fn vlan_semantics_use_the_present_bit() {
        let untagged = FlowKey::default();
        let tagged = FlowKey {
            vlan: VlanTci::new(5, 3),
            ..FlowKey::default()
        };
        let none = MatchBuilder::new().no_vlan().build().unwrap();
        assert!(none.matches(&untagged) && !none.matches(&tagged));
        let vid0 = MatchBuilder::new().dl_vlan(0).build().unwrap();
        assert!(!vid0.matches(&untagged));
        let vid5 = MatchBuilder::new().dl_vlan(5).build().unwrap();
        assert!(vid5.matches(&tagged) && !vid5.matches(&untagged));
        let pcp3 = MatchBuilder::new().dl_vlan_pcp(3).build().unwrap();
        assert!(pcp3.matches(&tagged));
        let pcp0 = MatchBuilder::new().dl_vlan_pcp(0).build().unwrap();
        assert!(!pcp0.matches(&untagged), "pcp=0 still needs a tag");
    }

    #[test]
    fn hull_of_non_prefix_mask_contains_matches() {
        let m = FieldMatch::masked(Field::TpDst, 0x0050, 0xf0f0);
        let (lo, hi) = m.hull(Field::TpDst);
        for v in 0..=0xffffu128 {
            if m.matches(v) {
                assert!(lo <= v && v <= hi);
            }
        }
    }
}
