//! The `ovs-ofctl` flow syntax, both ways: [`parse_rule`] / [`parse_rules`] read it,
//! [`format_rule`] (and `Display` for [`Rule`]) writes it, and what is written parses back to
//! the same rule.
//!
//! Accepted: `priority=`, `cookie=`, `table=0`, the match fields and shorthands of the rule
//! model with their OVS synonyms (`eth_type`, `eth_src`, `ip_src`, `ip_proto`, `tcp_dst`,
//! `udp_src`, `arp_spa`, `arp_op`, `arp_sha`, `arp_tha`, `rarp`, `ip_dscp`, `icmpv6_type`,
//! ...), `/mask` and `/len` on
//! maskable fields, and `actions=` (or `action=`) with `output:N`, `output(N)`, a bare port
//! number, `drop`, `normal`, `flood`, `in_port`, `controller[:max_len]`,
//! `mod_vlan_vid:N` (`set_vlan_vid`), `strip_vlan` (`pop_vlan`), in any letter case. One
//! extension: `tp_src=LO-HI` / `tp_dst=LO-HI` write an inclusive port range, which OpenFlow
//! cannot; [`crate::classbench::to_openflow`] expands ranges to prefixes for real OVS.
//!
//! Real OVS features outside the single-table model (conntrack, conjunction, learn,
//! resubmit, `goto_table`, `set_field`, multiple tables, tunnels, MPLS, registers, ...) fail
//! with [`ParseErrorKind::Unsupported`] naming the feature; anything else that does not parse
//! is a [`ParseErrorKind::Syntax`] error saying what was expected. Every error carries the
//! 1-based line and column.
//!
//! A field whose prerequisite is missing (`nw_src` without `ip`, `tp_dst` without `tcp`, ...)
//! is not an error: as `ovs-ofctl` does, the field is dropped and the rest of the rule loads
//! ([`crate::rule::Match::normalize`]); [`parse_rule_normalized_at`] also returns each
//! dropped field ([`Normalization`]), which `snich rules check` and `lint` warn about.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use nic_abi::key::{FlowKey, MacAddr, PortNo};

use crate::rule::{
    low_bits, prefix_len, proto, vlan_set_pcp, vlan_set_vid, Action, DroppedField, Field,
    FieldMatch, Match, MatchError, Point, Rule, DEFAULT_PRIORITY, FIELD_COUNT,
};

/// A rule text that did not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// What was wrong.
    pub kind: ParseErrorKind,
}

/// What was wrong with a rule text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// A real Open vSwitch feature that sNICh rules do not support, named.
    #[error("unsupported Open vSwitch feature: {feature}")]
    Unsupported {
        /// The feature, e.g. `ct_state`, `resubmit`, `multiple tables (table=1)`.
        feature: String,
    },
    /// Text that is not valid syntax.
    #[error("expected {expected}, found {found:?}")]
    Syntax {
        /// What the parser expected.
        expected: String,
        /// What it found.
        found: String,
    },
    /// The match breaks OVS's rules (a missing prerequisite, a mask on an exact-only field).
    #[error("{0}")]
    Match(#[from] MatchError),
}

impl ParseErrorKind {
    fn syntax(expected: impl Into<String>, found: impl Into<String>) -> ParseErrorKind {
        ParseErrorKind::Syntax {
            expected: expected.into(),
            found: found.into(),
        }
    }
    fn unsupported(feature: impl Into<String>) -> ParseErrorKind {
        ParseErrorKind::Unsupported {
            feature: feature.into(),
        }
    }
}

/// A field `ovs-ofctl`'s normalization removed from a parsed match, and where it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {dropped}")]
pub struct Normalization {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the token that set the field.
    pub column: usize,
    /// The field, what it was and what it needed.
    pub dropped: DroppedField,
}

/// Parses one rule (a single line; `line` numbers the error), normalized as `ovs-ofctl`
/// normalizes it: a field whose prerequisites are missing is removed (see
/// [`Match::normalize`]).
pub fn parse_rule_at(text: &str, line: usize) -> Result<Rule, ParseError> {
    parse_rule_normalized_at(text, line).map(|(rule, _)| rule)
}

/// [`parse_rule_at`], also returning every field the normalization removed (what
/// `snich rules check` and `lint` warn about).
pub fn parse_rule_normalized_at(
    text: &str,
    line: usize,
) -> Result<(Rule, Vec<Normalization>), ParseError> {
    // A `#` starts a comment, as in `ovs-ofctl add-flows` files.
    let text = match text.find('#') {
        Some(p) => &text[..p],
        None => text,
    };
    let col_of = |col: usize| text[..col.min(text.len())].chars().count() + 1;
    let at = |col: usize, kind: ParseErrorKind| ParseError {
        line,
        column: col_of(col),
        kind,
    };
    let (match_part, actions_part) = match find_actions(text) {
        Some((m_end, a_start)) => (&text[..m_end], Some(a_start)),
        None => (text, None),
    };
    let mut rule = Rule::new(DEFAULT_PRIORITY, Match::any(), Vec::new());
    let (mut m, last_col, origins) =
        parse_match_part(match_part, &mut rule).map_err(|(o, k)| at(o, k))?;
    let Some(a_start) = actions_part else {
        return Err(at(
            text.len(),
            ParseErrorKind::syntax("`actions=` (every rule needs actions)", "end of line"),
        ));
    };
    let dropped = m
        .normalize()
        .map_err(|e| at(last_col, ParseErrorKind::Match(e)))?;
    rule.pattern = m;
    rule.actions = parse_actions(&text[a_start..], a_start).map_err(|(off, k)| at(off, k))?;
    let notes = dropped
        .into_iter()
        .map(|d| Normalization {
            line,
            column: col_of(origins[d.field.index()]),
            dropped: d,
        })
        .collect();
    Ok((rule, notes))
}

/// Parses the tokens of a match part (which may also set priority and cookie), without the
/// final prerequisite check; returns the match, the offset of its last token and, per field,
/// the offset of the token that last set it.
#[allow(clippy::type_complexity)]
fn parse_match_part(
    text: &str,
    rule: &mut Rule,
) -> Result<(Match, usize, [usize; FIELD_COUNT]), (usize, ParseErrorKind)> {
    let mut m = Match::any();
    let mut last_col = 0;
    let mut origins = [0; FIELD_COUNT];
    for (i, (off, tok)) in tokens(text, 0).enumerate() {
        last_col = off;
        // `add-flows --bundle` files may start a line with the command.
        if i == 0 {
            match tok {
                "add" => continue,
                "modify" | "modify_strict" | "delete" | "delete_strict" => {
                    return Err((
                        off,
                        ParseErrorKind::unsupported(format!(
                            "flow table modification command ({tok})"
                        )),
                    ))
                }
                _ => {}
            }
        }
        let before = m;
        parse_match_token(tok, rule, &mut m).map_err(|k| (off, k))?;
        for f in Field::ALL {
            if m.get(f) != before.get(f) {
                origins[f.index()] = off;
            }
        }
    }
    Ok((m, last_col, origins))
}

/// Parses a match alone (`field=value` list, no actions) without checking prerequisites, for
/// importers that add the prerequisites their format implies; `line` numbers the error.
pub(crate) fn parse_match_unchecked_at(text: &str, line: usize) -> Result<Match, ParseError> {
    let mut rule = Rule::new(DEFAULT_PRIORITY, Match::any(), Vec::new());
    let (m, _, _) = parse_match_part(text, &mut rule).map_err(|(o, kind)| ParseError {
        line,
        column: text[..o.min(text.len())].chars().count() + 1,
        kind,
    })?;
    if rule.priority != DEFAULT_PRIORITY || rule.cookie != 0 {
        return Err(ParseError {
            line,
            column: 1,
            kind: ParseErrorKind::syntax("match fields only", text),
        });
    }
    Ok(m)
}

/// Parses a match alone (`field=value` list, no actions), checking prerequisites; `line`
/// numbers the error.
pub fn parse_match_at(text: &str, line: usize) -> Result<Match, ParseError> {
    let at = |col: usize, kind: ParseErrorKind| ParseError {
        line,
        column: text[..col.min(text.len())].chars().count() + 1,
        kind,
    };
    let mut rule = Rule::new(DEFAULT_PRIORITY, Match::any(), Vec::new());
    let (m, last_col, _) = parse_match_part(text, &mut rule).map_err(|(o, k)| at(o, k))?;
    if rule.priority != DEFAULT_PRIORITY || rule.cookie != 0 {
        return Err(at(0, ParseErrorKind::syntax("match fields only", text)));
    }
    m.check_prerequisites()
        .map_err(|e| at(last_col, ParseErrorKind::Match(e)))?;
    Ok(m)
}

/// Parses one rule written on a single line.
///
/// ```
/// use flow_setup::ofctl::parse_rule;
/// let r = parse_rule("priority=10,tcp,nw_dst=10.0.0.0/8,tp_dst=80,actions=output:2").unwrap();
/// assert_eq!(r.priority, 10);
/// assert_eq!(r.to_string(), "priority=10,tcp,nw_dst=10.0.0.0/8,tp_dst=80,actions=output:2");
/// let e = parse_rule("priority=5,ct_state=+trk,actions=drop").unwrap_err();
/// assert_eq!(e.to_string(), "line 1, column 12: unsupported Open vSwitch feature: ct_state");
/// ```
pub fn parse_rule(text: &str) -> Result<Rule, ParseError> {
    parse_rule_at(text, 1)
}

/// Parses a rules file: one rule per line; blank lines and lines starting with `#` are
/// skipped. Stops at the first error.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, ParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !is_blank_or_comment(l))
        .map(|(i, l)| parse_rule_at(l, i + 1))
        .collect()
}

/// True for lines a rules file skips.
pub fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Finds `action=` / `actions=`: returns where the match part ends and the action list starts.
fn find_actions(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("action") {
        let start = i + pos;
        let boundary = start == 0 || matches!(bytes[start - 1], b',' | b' ' | b'\t');
        let mut j = start + "action".len();
        if bytes.get(j) == Some(&b's') {
            j += 1;
        }
        while matches!(bytes.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if boundary && bytes.get(j) == Some(&b'=') {
            return Some((start, j + 1));
        }
        i = start + 1;
    }
    None
}

/// Splits on commas and white space, giving each token's byte offset (plus `base`).
fn tokens(s: &str, base: usize) -> impl Iterator<Item = (usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        if c == ',' || c.is_whitespace() {
            if let Some(st) = start.take() {
                out.push((base + st, &s[st..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push((base + st, &s[st..]));
    }
    out.into_iter()
}

/// Match fields and flow parameters of real OVS that sNICh rules do not support.
const UNSUPPORTED_FIELDS: &[&str] = &[
    "ct_state",
    "ct_zone",
    "ct_mark",
    "ct_label",
    "ct_nw_src",
    "ct_nw_dst",
    "ct_ipv6_src",
    "ct_ipv6_dst",
    "ct_nw_proto",
    "ct_tp_src",
    "ct_tp_dst",
    "conj_id",
    "metadata",
    "tun_id",
    "tunnel_id",
    "tun_src",
    "tun_dst",
    "tun_ipv6_src",
    "tun_ipv6_dst",
    "tun_flags",
    "tun_tos",
    "tun_ttl",
    "tun_gbp_id",
    "tun_gbp_flags",
    "tun_erspan_ver",
    "tun_erspan_idx",
    "tun_erspan_dir",
    "tun_erspan_hwid",
    "tun_gtpu_flags",
    "tun_gtpu_msgtype",
    "mpls_label",
    "mpls_tc",
    "mpls_bos",
    "mpls_ttl",
    "nd_target",
    "nd_sll",
    "nd_tll",
    "nd_reserved",
    "nd_options_type",
    "ipv6_label",
    "nw_ttl",
    "ip_frag",
    "nw_frag",
    "nw_ecn",
    "ip_ecn",
    "tcp_flags",
    "pkt_mark",
    "skb_priority",
    "skb_mark",
    "actset_output",
    "packet_type",
    "dp_hash",
    "recirc_id",
    "ct_tp",
    "dl_vlan_cfi",
    "ipv6_exthdr",
    "mpls",
    "mplsm",
    "in_port_oxm",
    "nsh_flags",
    "nsh_ttl",
    "nsh_mdtype",
    "nsh_np",
    "nsh_spi",
    "nsh_si",
    "nsh_c1",
    "nsh_c2",
    "nsh_c3",
    "nsh_c4",
    "eth_type_mask",
    "vlan_tpid",
    "dl_vlan_tpid",
    "ipv6_nd_target",
    "icmpv6_nd_target",
    "out_port",
    "out_group",
    "idle_timeout",
    "hard_timeout",
    "importance",
    "send_flow_rem",
    "check_overlap",
    "reset_counts",
    "no_packet_counts",
    "no_byte_counts",
    "duration",
    "n_packets",
    "n_bytes",
    "idle_age",
    "hard_age",
    "conjunction",
    "tun_metadata",
    "ct_mark",
    "dst_port",
];

fn unsupported_field(name: &str) -> Option<String> {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if matches!(base, "reg" | "xreg" | "xxreg" | "tun_metadata" | "nsh_c") && base != name {
        return Some(name.to_string());
    }
    UNSUPPORTED_FIELDS
        .iter()
        .find(|&&f| f == name)
        .map(|f| (*f).to_string())
}

fn parse_match_token(tok: &str, rule: &mut Rule, m: &mut Match) -> Result<(), ParseErrorKind> {
    let (name, value) = match tok.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (tok, None),
    };
    let shorthand: Option<(u128, Option<u128>)> = match name {
        "ip" | "ipv4" => Some((proto::ETH_IP, None)),
        "ipv6" | "ip6" => Some((proto::ETH_IPV6, None)),
        "arp" => Some((proto::ETH_ARP, None)),
        "rarp" => Some((proto::ETH_RARP, None)),
        "tcp" => Some((proto::ETH_IP, Some(proto::TCP))),
        "udp" => Some((proto::ETH_IP, Some(proto::UDP))),
        "icmp" => Some((proto::ETH_IP, Some(proto::ICMP))),
        "sctp" => Some((proto::ETH_IP, Some(proto::SCTP))),
        "tcp6" => Some((proto::ETH_IPV6, Some(proto::TCP))),
        "udp6" => Some((proto::ETH_IPV6, Some(proto::UDP))),
        "icmp6" => Some((proto::ETH_IPV6, Some(proto::ICMPV6))),
        "sctp6" => Some((proto::ETH_IPV6, Some(proto::SCTP))),
        _ => None,
    };
    if let Some((dl_type, nw_proto)) = shorthand {
        if let Some(v) = value {
            return Err(ParseErrorKind::syntax(
                format!("no value after the shorthand `{name}`"),
                v,
            ));
        }
        m.set(Field::DlType, FieldMatch::exact(Field::DlType, dl_type));
        if let Some(p) = nw_proto {
            m.set(Field::NwProto, FieldMatch::exact(Field::NwProto, p));
        }
        return Ok(());
    }
    if let Some(p) = name.find('[') {
        return Err(ParseErrorKind::unsupported(format!(
            "field bit ranges ({}[...])",
            &name[..p]
        )));
    }
    if let Some(feature) = unsupported_field(name) {
        return Err(ParseErrorKind::unsupported(feature));
    }
    let Some(value) = value else {
        return Err(ParseErrorKind::syntax(
            "a match field `name=value` or a shorthand (ip, tcp, udp, icmp, arp, ipv6, ...)",
            tok,
        ));
    };
    match name {
        "priority" => rule.priority = parse_uint(value, 16, name).and_then(to_u16)?,
        "cookie" => {
            if value.contains('/') {
                return Err(ParseErrorKind::unsupported("cookie mask (cookie=V/M)"));
            }
            rule.cookie = u64::try_from(parse_uint(value, 64, name)?)
                .map_err(|_| ParseErrorKind::syntax("a 64-bit cookie", value))?;
        }
        "table" => {
            if value.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return Err(ParseErrorKind::unsupported(format!(
                    "table names (table={value})"
                )));
            }
            let t = parse_uint(value, 8, name)?;
            if t != 0 {
                return Err(ParseErrorKind::unsupported(format!(
                    "multiple tables (table={t})"
                )));
            }
        }
        "in_port" => {
            let p = parse_port(value, name)?;
            m.set(Field::InPort, FieldMatch::exact(Field::InPort, p.into()));
        }
        "dl_src" | "eth_src" => m.set(Field::DlSrc, parse_mac_masked(value, name)?),
        "dl_dst" | "eth_dst" => m.set(Field::DlDst, parse_mac_masked(value, name)?),
        "arp_sha" => m.set(Field::ArpSha, parse_mac_masked(value, name)?),
        "arp_tha" => m.set(Field::ArpTha, parse_mac_masked(value, name)?),
        "dl_type" | "eth_type" => {
            if value.contains('/') {
                return Err(MatchError::NotMaskable { field: "dl_type" }.into());
            }
            let t = parse_uint(value, 16, name)?;
            m.set(Field::DlType, FieldMatch::exact(Field::DlType, t));
        }
        "dl_vlan" => {
            let vid = parse_uint(value, 16, name).and_then(to_u16)?;
            if vid != 0xffff && vid > 0x0fff {
                return Err(ParseErrorKind::syntax(
                    "a VLAN id 0-4095 or 0xffff (no tag)",
                    value,
                ));
            }
            m.set(Field::VlanTci, vlan_set_vid(m.get(Field::VlanTci), vid));
        }
        "dl_vlan_pcp" | "vlan_pcp" => {
            let pcp = parse_uint(value, 8, name)?;
            if pcp > 7 {
                return Err(ParseErrorKind::syntax("a VLAN priority 0-7", value));
            }
            let pcp = u8::try_from(pcp).map_err(|_| ParseErrorKind::syntax("0-7", value))?;
            m.set(Field::VlanTci, vlan_set_pcp(m.get(Field::VlanTci), pcp));
        }
        "vlan_tci" => m.set(
            Field::VlanTci,
            parse_int_masked(value, Field::VlanTci, name)?,
        ),
        "vlan_vid" => {
            // OpenFlow 1.2+: the value carries the present bit 0x1000 itself.
            let fm = parse_int_masked(value, Field::VlanTci, name)?;
            let fm = match fm {
                FieldMatch::Masked { value, mask } => {
                    FieldMatch::masked(Field::VlanTci, value & 0x1fff, mask & 0x1fff)
                }
                other => other,
            };
            m.set(Field::VlanTci, fm);
        }
        "nw_src" | "ip_src" | "arp_spa" => m.set(Field::NwSrc, parse_ipv4_masked(value, name)?),
        "nw_dst" | "ip_dst" | "arp_tpa" => m.set(Field::NwDst, parse_ipv4_masked(value, name)?),
        "ipv6_src" => m.set(Field::NwSrc, parse_ipv6_masked(value, name)?),
        "ipv6_dst" => m.set(Field::NwDst, parse_ipv6_masked(value, name)?),
        "nw_proto" | "ip_proto" | "arp_op" => {
            if value.contains('/') {
                return Err(MatchError::NotMaskable { field: "nw_proto" }.into());
            }
            let p = parse_uint(value, 8, name)?;
            m.set(Field::NwProto, FieldMatch::exact(Field::NwProto, p));
        }
        "nw_tos" => {
            let t = parse_uint(value, 8, name)?;
            m.set(Field::NwTos, FieldMatch::masked(Field::NwTos, t, 0xfc));
        }
        "ip_dscp" => {
            let d = parse_uint(value, 8, name)?;
            if d > 63 {
                return Err(ParseErrorKind::syntax("a DSCP value 0-63", value));
            }
            m.set(Field::NwTos, FieldMatch::masked(Field::NwTos, d << 2, 0xfc));
        }
        "tp_src" | "tcp_src" | "udp_src" | "sctp_src" => {
            m.set(Field::TpSrc, parse_port_match(value, Field::TpSrc, name)?)
        }
        "tp_dst" | "tcp_dst" | "udp_dst" | "sctp_dst" => {
            m.set(Field::TpDst, parse_port_match(value, Field::TpDst, name)?)
        }
        "icmp_type" | "icmpv6_type" => {
            let t = parse_uint(value, 8, name)?;
            m.set(Field::TpSrc, FieldMatch::exact(Field::TpSrc, t));
        }
        "icmp_code" | "icmpv6_code" => {
            let c = parse_uint(value, 8, name)?;
            m.set(Field::TpDst, FieldMatch::exact(Field::TpDst, c));
        }
        _ => {
            return Err(ParseErrorKind::syntax(
                "a known match field or flow parameter name",
                name,
            ))
        }
    }
    Ok(())
}

fn to_u16(v: u128) -> Result<u16, ParseErrorKind> {
    u16::try_from(v).map_err(|_| ParseErrorKind::syntax("a 16-bit value", v.to_string()))
}

/// Decimal or `0x` hexadecimal, at most `bits` wide.
fn parse_uint(s: &str, bits: u32, what: &str) -> Result<u128, ParseErrorKind> {
    let bad = || ParseErrorKind::syntax(format!("a number for {what} (decimal or 0x hex)"), s);
    let v = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u128::from_str_radix(hex, 16).map_err(|_| bad())?
    } else {
        s.parse::<u128>().map_err(|_| bad())?
    };
    if v > low_bits(bits) {
        return Err(ParseErrorKind::syntax(
            format!("a value of at most {bits} bits for {what}"),
            s,
        ));
    }
    Ok(v)
}

fn parse_port(s: &str, what: &str) -> Result<u16, ParseErrorKind> {
    let upper = s.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        "LOCAL" | "CONTROLLER" | "NORMAL" | "FLOOD" | "ALL" | "IN_PORT" | "NONE" | "ANY"
    ) {
        return Err(ParseErrorKind::unsupported(format!(
            "reserved port {upper} (sNICh ports are numbers)"
        )));
    }
    if s.starts_with("NXM_") || s.starts_with("OXM_") || s.contains('[') {
        return Err(ParseErrorKind::unsupported(format!(
            "ports read from a field ({s})"
        )));
    }
    if s.starts_with(|c: char| c.is_ascii_alphabetic()) && !s.starts_with("0x") {
        return Err(ParseErrorKind::unsupported(format!(
            "port names ({what}={s}; sNICh ports are numbers)"
        )));
    }
    let v = parse_uint(s, 16, what)?;
    let p = to_u16(v)?;
    if p >= 0xff00 {
        return Err(ParseErrorKind::unsupported(format!(
            "reserved OpenFlow port {p:#x}"
        )));
    }
    Ok(p)
}

fn parse_mac_masked(s: &str, what: &str) -> Result<FieldMatch, ParseErrorKind> {
    let mac = |t: &str| {
        t.parse::<MacAddr>()
            .map(|m| u128::from(m.to_u64()))
            .map_err(|_| ParseErrorKind::syntax(format!("a MAC address for {what}"), t))
    };
    Ok(match s.split_once('/') {
        Some((v, mk)) => FieldMatch::masked(Field::DlSrc, mac(v)?, mac(mk)?),
        None => FieldMatch::exact(Field::DlSrc, mac(s)?),
    })
}

fn parse_int_masked(s: &str, f: Field, what: &str) -> Result<FieldMatch, ParseErrorKind> {
    Ok(match s.split_once('/') {
        Some((v, mk)) => FieldMatch::masked(
            f,
            parse_uint(v, f.width(), what)?,
            parse_uint(mk, f.width(), what)?,
        ),
        None => FieldMatch::exact(f, parse_uint(s, f.width(), what)?),
    })
}

fn parse_port_match(s: &str, f: Field, what: &str) -> Result<FieldMatch, ParseErrorKind> {
    if let Some((lo, hi)) = s.split_once('-') {
        let lo = parse_uint(lo, 16, what)?;
        let hi = parse_uint(hi, 16, what)?;
        return FieldMatch::range(f, lo, hi).ok_or_else(|| {
            ParseErrorKind::syntax(format!("a port range LO-HI with LO <= HI for {what}"), s)
        });
    }
    parse_int_masked(s, f, what)
}

fn parse_ipv4_masked(s: &str, what: &str) -> Result<FieldMatch, ParseErrorKind> {
    let addr = |t: &str| {
        t.parse::<Ipv4Addr>()
            .map(|a| u128::from(u32::from(a)))
            .map_err(|_| ParseErrorKind::syntax(format!("an IPv4 address for {what}"), t))
    };
    let (v, mask) = match s.split_once('/') {
        None => (addr(s)?, low_bits(32)),
        Some((v, m)) if m.contains('.') => (addr(v)?, addr(m)?),
        Some((v, m)) => {
            let len = parse_uint(m, 8, what)?;
            if len > 32 {
                return Err(ParseErrorKind::syntax("a prefix length 0-32", m));
            }
            let len = u32::try_from(len).map_err(|_| ParseErrorKind::syntax("0-32", m))?;
            (addr(v)?, low_bits(32) & !low_bits(32 - len))
        }
    };
    Ok(FieldMatch::masked(Field::NwSrc, v, mask))
}

fn parse_ipv6_masked(s: &str, what: &str) -> Result<FieldMatch, ParseErrorKind> {
    let addr = |t: &str| {
        t.parse::<Ipv6Addr>()
            .map(u128::from)
            .map_err(|_| ParseErrorKind::syntax(format!("an IPv6 address for {what}"), t))
    };
    let (v, mask) = match s.split_once('/') {
        None => (addr(s)?, u128::MAX),
        Some((v, m)) if m.contains(':') => (addr(v)?, addr(m)?),
        Some((v, m)) => {
            let len = parse_uint(m, 8, what)?;
            if len > 128 {
                return Err(ParseErrorKind::syntax("a prefix length 0-128", m));
            }
            let len = u32::try_from(len).map_err(|_| ParseErrorKind::syntax("0-128", m))?;
            (addr(v)?, !low_bits(128 - len))
        }
    };
    Ok(FieldMatch::masked(Field::NwSrc, v, mask))
}

/// Actions of real OVS that sNICh rules do not support.
const UNSUPPORTED_ACTIONS: &[&str] = &[
    "resubmit",
    "goto_table",
    "set_field",
    "load",
    "move",
    "learn",
    "ct",
    "ct_clear",
    "conjunction",
    "mod_nw_src",
    "mod_nw_dst",
    "mod_tp_src",
    "mod_tp_dst",
    "mod_dl_src",
    "mod_dl_dst",
    "mod_nw_tos",
    "mod_nw_ecn",
    "mod_nw_ttl",
    "mod_vlan_pcp",
    "set_vlan_pcp",
    "push_vlan",
    "push_mpls",
    "pop_mpls",
    "set_mpls_label",
    "set_mpls_tc",
    "set_mpls_ttl",
    "dec_mpls_ttl",
    "dec_ttl",
    "set_tunnel",
    "set_tunnel64",
    "set_queue",
    "pop_queue",
    "enqueue",
    "note",
    "multipath",
    "bundle",
    "bundle_load",
    "group",
    "meter",
    "write_actions",
    "write_metadata",
    "clear_actions",
    "sample",
    "exit",
    "fin_timeout",
    "output_reg",
    "push",
    "pop",
    "stack_push",
    "stack_pop",
    "check_pkt_larger",
    "encap",
    "decap",
    "dec_nsh_ttl",
    "clone",
    "nat",
    "debug_recirc",
    "debug_slow",
    "all",
    "local",
    "autopath",
    "delete_field",
    "set_mpls_ttl",
    "copy_ttl_in",
    "copy_ttl_out",
    "strip_vlan_tpid",
];

/// Splits an action list at top-level commas, with byte offsets.
fn split_actions(s: &str, base: usize) -> Result<Vec<(usize, &str)>, (usize, ParseErrorKind)> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err((base + i, ParseErrorKind::syntax("matching `(`", ")")));
                }
            }
            c if depth == 0 && (c == ',' || c.is_whitespace()) => {
                if !s[start..i].trim().is_empty() || c == ',' {
                    out.push((base + start, &s[start..i]));
                }
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err((base + s.len(), ParseErrorKind::syntax("`)`", "end of line")));
    }
    if !s[start..].trim().is_empty() || out.is_empty() {
        out.push((base + start, &s[start..]));
    }
    Ok(out)
}

fn parse_actions(s: &str, base: usize) -> Result<Vec<Action>, (usize, ParseErrorKind)> {
    let mut actions = Vec::new();
    let parts = split_actions(s, base)?;
    let n = parts.len();
    for (off, raw) in parts {
        let lead = raw.len() - raw.trim_start().len();
        let off = off + lead;
        let t = raw.trim();
        if t.is_empty() {
            if n == 1 {
                return Err((
                    off,
                    ParseErrorKind::syntax("an action (or `drop`)", "nothing"),
                ));
            }
            return Err((
                off,
                ParseErrorKind::syntax("an action between commas", "nothing"),
            ));
        }
        let head = t
            .split(['(', ':', '='])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if UNSUPPORTED_ACTIONS.contains(&head.as_str()) {
            return Err((off, ParseErrorKind::unsupported(head)));
        }
        let (name, arg) = split_action(t).map_err(|k| (off, k))?;
        let lname = name.to_ascii_lowercase();
        let port_arg = |a: Option<&str>| -> Result<u16, ParseErrorKind> {
            let a = a.ok_or_else(|| ParseErrorKind::syntax("a port number", "nothing"))?;
            let a = a.strip_prefix("port=").unwrap_or(a);
            parse_port(a, "output")
        };
        let act = match lname.as_str() {
            "drop" if arg.is_none() => {
                if n != 1 {
                    return Err((
                        off,
                        ParseErrorKind::syntax("`drop` alone (it cannot be combined)", t),
                    ));
                }
                continue;
            }
            "output" => {
                if arg.is_some_and(|a| a.contains(',')) {
                    return Err((off, ParseErrorKind::unsupported("output(...) options")));
                }
                Action::Output(PortNo(port_arg(arg).map_err(|k| (off, k))?))
            }
            "normal" if arg.is_none() => Action::Normal,
            "flood" if arg.is_none() => Action::Flood,
            "in_port" if arg.is_none() => Action::InPort,
            "controller" => match arg {
                None => Action::Controller { max_len: 65535 },
                Some(a) => {
                    let a = a.strip_prefix("max_len=").unwrap_or(a);
                    match parse_uint(a, 16, "controller max_len").and_then(to_u16) {
                        Ok(max_len) => Action::Controller { max_len },
                        Err(_) => {
                            return Err((
                                off,
                                ParseErrorKind::unsupported(
                                    "controller options other than max_len",
                                ),
                            ))
                        }
                    }
                }
            },
            "mod_vlan_vid" | "set_vlan_vid" => {
                let a = arg.ok_or((off, ParseErrorKind::syntax("mod_vlan_vid:VID", t)))?;
                let v = parse_uint(a, 16, "mod_vlan_vid")
                    .and_then(to_u16)
                    .map_err(|k| (off, k))?;
                if v > 0x0fff {
                    return Err((off, ParseErrorKind::syntax("a VLAN id 0-4095", a)));
                }
                Action::ModVlanVid(v)
            }
            "strip_vlan" | "pop_vlan" if arg.is_none() => Action::StripVlan,
            _ if name.chars().all(|c| c.is_ascii_digit()) && arg.is_none() => {
                Action::Output(PortNo(parse_port(name, "output").map_err(|k| (off, k))?))
            }
            _ if UNSUPPORTED_ACTIONS.contains(&lname.as_str()) => {
                return Err((off, ParseErrorKind::unsupported(lname)));
            }
            _ => {
                return Err((
                    off,
                    ParseErrorKind::syntax(
                        "an action (output:N, drop, normal, flood, in_port, controller, \
                         mod_vlan_vid:N, strip_vlan)",
                        t,
                    ),
                ))
            }
        };
        actions.push(act);
    }
    Ok(actions)
}

/// `name`, `name:arg` or `name(arg)`.
fn split_action(t: &str) -> Result<(&str, Option<&str>), ParseErrorKind> {
    if let Some(p) = t.find('(') {
        let (name, rest) = t.split_at(p);
        let inner = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| ParseErrorKind::syntax("`)` at the end of the action", t))?;
        return Ok((name, Some(inner)));
    }
    if let Some((name, arg)) = t.split_once(':') {
        return Ok((name, Some(arg)));
    }
    if let Some((name, arg)) = t.split_once('=') {
        // `set_field` style `name=...` is not an action syntax OVS has for our actions.
        return Ok((name, Some(arg)));
    }
    Ok((t, None))
}

/// Writes a rule in `ovs-ofctl` syntax.
pub fn format_rule(rule: &Rule) -> String {
    let mut s = format!("priority={}", rule.priority);
    if rule.cookie != 0 {
        s.push_str(&format!(",cookie={:#x}", rule.cookie));
    }
    let m = format_match(&rule.pattern);
    if !m.is_empty() {
        s.push(',');
        s.push_str(&m);
    }
    s.push_str(",actions=");
    s.push_str(&format_actions(&rule.actions));
    s
}

/// Writes an action list (`drop` when empty).
pub fn format_actions(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "drop".to_string();
    }
    actions
        .iter()
        .map(|a| match a {
            Action::Output(p) => format!("output:{}", p.0),
            Action::Normal => "NORMAL".to_string(),
            Action::Flood => "FLOOD".to_string(),
            Action::InPort => "IN_PORT".to_string(),
            Action::Controller { max_len } => format!("CONTROLLER:{max_len}"),
            Action::ModVlanVid(v) => format!("mod_vlan_vid:{v}"),
            Action::StripVlan => "strip_vlan".to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_rule(self))
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_match(self))
    }
}

/// Writes a match (without priority and actions); empty for the match-all.
pub fn format_match(m: &Match) -> String {
    let mut parts: Vec<String> = Vec::new();
    let dl_type = m.get(Field::DlType).exact_value(Field::DlType);
    let nw_proto = m.get(Field::NwProto).exact_value(Field::NwProto);
    let is_ip6 = dl_type == Some(proto::ETH_IPV6);
    let is_arp = dl_type == Some(proto::ETH_ARP) || dl_type == Some(proto::ETH_RARP);
    let mut proto_done = false;
    match (dl_type, nw_proto) {
        (Some(proto::ETH_IP), p) => {
            let (name, used) = match p {
                Some(proto::TCP) => ("tcp", true),
                Some(proto::UDP) => ("udp", true),
                Some(proto::ICMP) => ("icmp", true),
                Some(proto::SCTP) => ("sctp", true),
                _ => ("ip", false),
            };
            parts.push(name.into());
            proto_done = used;
        }
        (Some(proto::ETH_IPV6), p) => {
            let (name, used) = match p {
                Some(proto::TCP) => ("tcp6", true),
                Some(proto::UDP) => ("udp6", true),
                Some(proto::ICMPV6) => ("icmp6", true),
                _ => ("ipv6", false),
            };
            parts.push(name.into());
            proto_done = used;
        }
        (Some(proto::ETH_ARP), _) => parts.push("arp".into()),
        (Some(proto::ETH_RARP), _) => parts.push("rarp".into()),
        (Some(t), _) => parts.push(format!("dl_type={t:#06x}")),
        (None, _) => {}
    }
    let is_icmp = proto_done && matches!(nw_proto, Some(proto::ICMP) | Some(proto::ICMPV6));
    for f in Field::ALL {
        let fm = m.get(f);
        if fm.is_any() {
            continue;
        }
        let text = match f {
            Field::DlType => continue,
            Field::NwProto if proto_done => continue,
            Field::NwProto => {
                let name = if is_arp { "arp_op" } else { "nw_proto" };
                format!("{name}={}", nw_proto.unwrap_or_default())
            }
            Field::InPort => format!("in_port={}", fm.exact_value(f).unwrap_or_default()),
            Field::DlSrc | Field::DlDst | Field::ArpSha | Field::ArpTha => {
                let mac = |v: u128| {
                    MacAddr::from_u64(u64::try_from(v & f.full_mask()).unwrap_or_default())
                };
                match fm {
                    FieldMatch::Masked { value, mask } if mask == f.full_mask() => {
                        format!("{}={}", f.name(), mac(value))
                    }
                    FieldMatch::Masked { value, mask } => {
                        format!("{}={}/{}", f.name(), mac(value), mac(mask))
                    }
                    _ => continue,
                }
            }
            Field::VlanTci => format_vlan(fm),
            Field::NwTos => match fm {
                FieldMatch::Masked { value, .. } => format!("nw_tos={value}"),
                _ => continue,
            },
            Field::NwSrc | Field::NwDst => {
                let src = f == Field::NwSrc;
                let name = match (is_ip6, is_arp, src) {
                    (true, _, true) => "ipv6_src",
                    (true, _, false) => "ipv6_dst",
                    (_, true, true) => "arp_spa",
                    (_, true, false) => "arp_tpa",
                    (_, _, true) => "nw_src",
                    (_, _, false) => "nw_dst",
                };
                let FieldMatch::Masked { value, mask } = fm else {
                    continue;
                };
                format!("{name}={}", format_addr(value, mask, is_ip6))
            }
            Field::TpSrc | Field::TpDst => {
                let name = match (is_icmp, f == Field::TpSrc) {
                    (true, true) if fm.exact_value(f).is_some_and(|v| v <= 255) => "icmp_type",
                    (true, false) if fm.exact_value(f).is_some_and(|v| v <= 255) => "icmp_code",
                    (_, true) => "tp_src",
                    (_, false) => "tp_dst",
                };
                match fm {
                    FieldMatch::Masked { value, mask } if mask == f.full_mask() => {
                        format!("{name}={value}")
                    }
                    FieldMatch::Masked { value, mask } => {
                        format!("{name}={value:#x}/{mask:#x}")
                    }
                    FieldMatch::Range { lo, hi } => format!("{name}={lo}-{hi}"),
                    FieldMatch::Any => continue,
                }
            }
        };
        parts.push(text);
    }
    parts.join(",")
}

fn format_vlan(fm: FieldMatch) -> String {
    let FieldMatch::Masked { value, mask } = fm else {
        return String::new();
    };
    let present = value & 0x1000 != 0;
    let vid = value & 0x0fff;
    let pcp = (value >> 13) & 7;
    match (mask, present) {
        (0xffff, false) if value == 0 => "dl_vlan=0xffff".to_string(),
        (0x1fff, true) => format!("dl_vlan={vid}"),
        (0xf000, true) => format!("dl_vlan_pcp={pcp}"),
        (0xffff, true) => format!("dl_vlan={vid},dl_vlan_pcp={pcp}"),
        _ => format!("vlan_tci={value:#06x}/{mask:#06x}"),
    }
}

fn format_addr(value: u128, mask: u128, v6: bool) -> String {
    if v6 {
        let a = Ipv6Addr::from(value);
        match prefix_len(mask, 128) {
            Some(128) => a.to_string(),
            Some(len) => format!("{a}/{len}"),
            None => format!("{a}/{}", Ipv6Addr::from(mask)),
        }
    } else {
        let a = Ipv4Addr::from(u32::try_from(value & low_bits(32)).unwrap_or_default());
        match prefix_len(mask, 32) {
            Some(32) => a.to_string(),
            Some(len) => format!("{a}/{len}"),
            None => format!(
                "{a}/{}",
                Ipv4Addr::from(u32::try_from(mask & low_bits(32)).unwrap_or_default())
            ),
        }
    }
}

/// Describes a packet's key in `ovs-ofctl` flow syntax, listing only the fields meaningful
/// for its type (the form `ofproto/trace` accepts, with `tcp_dst` style port names).
///
/// ```
/// use flow_setup::ofctl::describe_packet;
/// use nic_abi::key::{EtherType, FlowKey, PortNo};
/// let k = FlowKey { in_port: PortNo(1), dl_type: EtherType::IPV4, nw_proto: 6,
///                   nw_dst: 0x0a00_0001, tp_dst: 80, ..FlowKey::default() };
/// assert_eq!(describe_packet(&k),
///     "in_port=1,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,tcp,nw_src=0.0.0.0,\
///      nw_dst=10.0.0.1,nw_tos=0,tcp_src=0,tcp_dst=80");
/// ```
pub fn describe_packet(key: &FlowKey) -> String {
    let p = Point::from(key);
    let mut s = format!(
        "in_port={},dl_src={},dl_dst={}",
        key.in_port.0, key.dl_src, key.dl_dst
    );
    if key.vlan.is_present() {
        s.push_str(&format!(
            ",dl_vlan={},dl_vlan_pcp={}",
            key.vlan.vid(),
            key.vlan.pcp()
        ));
    }
    let t = u128::from(key.dl_type.0);
    let proto_name = |v6: bool| match (u128::from(key.nw_proto), v6) {
        (proto::TCP, false) => Some(("tcp", "tcp")),
        (proto::UDP, false) => Some(("udp", "udp")),
        (proto::SCTP, false) => Some(("sctp", "sctp")),
        (proto::ICMP, false) => Some(("icmp", "icmp")),
        (proto::TCP, true) => Some(("tcp6", "tcp")),
        (proto::UDP, true) => Some(("udp6", "udp")),
        (proto::ICMPV6, true) => Some(("icmp6", "icmpv6")),
        _ => None,
    };
    match t {
        proto::ETH_IP | proto::ETH_IPV6 => {
            let v6 = t == proto::ETH_IPV6;
            let pn = proto_name(v6);
            match pn {
                Some((short, _)) => s.push_str(&format!(",{short}")),
                None => s.push_str(&format!(
                    ",{},nw_proto={}",
                    if v6 { "ipv6" } else { "ip" },
                    key.nw_proto
                )),
            }
            let (sn, dn) = if v6 {
                ("ipv6_src", "ipv6_dst")
            } else {
                ("nw_src", "nw_dst")
            };
            s.push_str(&format!(
                ",{sn}={},{dn}={},nw_tos={}",
                format_addr(p.get(Field::NwSrc), u128::MAX, v6),
                format_addr(p.get(Field::NwDst), u128::MAX, v6),
                key.nw_tos
            ));
            if let Some((short, l4)) = pn {
                if short.starts_with("icmp") {
                    s.push_str(&format!(
                        ",{l4}_type={},{l4}_code={}",
                        key.tp_src, key.tp_dst
                    ));
                } else {
                    s.push_str(&format!(",{l4}_src={},{l4}_dst={}", key.tp_src, key.tp_dst));
                }
            }
        }
        proto::ETH_ARP | proto::ETH_RARP => s.push_str(&format!(
            ",{},arp_spa={},arp_tpa={},arp_op={},arp_sha={},arp_tha={}",
            if t == proto::ETH_ARP { "arp" } else { "rarp" },
            format_addr(p.get(Field::NwSrc), u128::MAX, false),
            format_addr(p.get(Field::NwDst), u128::MAX, false),
            key.nw_proto,
            key.arp_sha,
            key.arp_tha
        )),
        _ => s.push_str(&format!(",dl_type={:#06x}", key.dl_type.0)),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let r = parse_rule(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let printed = r.to_string();
        let again = parse_rule(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(again, r, "{printed}");
        printed
    }

    #[test]
    fn prints_canonical_ovs_text() {
        assert_eq!(
            round_trip(
                "table=0 in_port=1 priority=16,tcp,nw_dst=10.1.0.0/255.255.0.0,action=output(3)"
            ),
            "priority=16,tcp,in_port=1,nw_dst=10.1.0.0/16,actions=output:3"
        );
        assert_eq!(
            round_trip("arp,nw_src=1.2.3.4,nw_proto=2,actions=drop"),
            "priority=32768,arp,nw_proto=2,arp_spa=1.2.3.4,actions=drop"
                .replace("nw_proto=2", "arp_op=2")
        );
        assert_eq!(
            round_trip("eth_type=0x800,ip_proto=6,ip_src=1.2.3.4,actions=output(3)"),
            "priority=32768,tcp,nw_src=1.2.3.4,actions=output:3"
        );
        assert_eq!(
            round_trip("dl_vlan=0xffff,actions=normal,flood,in_port,controller"),
            "priority=32768,dl_vlan=0xffff,actions=NORMAL,FLOOD,IN_PORT,CONTROLLER:65535"
        );
        assert_eq!(
            round_trip("icmp6,icmp_type=135,cookie=0x10,actions=mod_vlan_vid:5,strip_vlan,3"),
            "priority=32768,cookie=0x10,icmp6,icmp_type=135,actions=mod_vlan_vid:5,strip_vlan,output:3"
        );
        round_trip("tcp6,ipv6_src=2001:db8::/32,tp_dst=0x50/0xfff0,actions=drop");
        round_trip("udp,tp_src=1000-2000,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=drop");
        round_trip("ip,nw_tos=5,nw_src=10.0.0.0/255.0.255.0,dl_vlan=3,dl_vlan_pcp=2,actions=drop");
        round_trip("dl_vlan_pcp=7,actions=drop");
        round_trip("vlan_tci=0x1000/0x1000,actions=drop");
    }

    #[test]
    fn arp_fields_follow_ovs() {
        // The form OpenFlow test suites use; the fields as real `ovs-ofctl parse-flow` keeps
        // them (it prints them as arp,in_port=1,dl_src=..,arp_spa=..,arp_tpa=..,arp_op=1,
        // arp_sha=..,arp_tha=.., in its own order).
        assert_eq!(
            round_trip(
                "in_port=1,arp,dl_src=00:11:22:33:44:55,arp_op=1,arp_spa=10.0.0.1,\
                 arp_tpa=10.0.0.2,arp_sha=00:11:22:33:44:55,arp_tha=00:00:00:00:00:00,\
                 actions=output:2"
            ),
            "priority=32768,arp,in_port=1,dl_src=00:11:22:33:44:55,arp_op=1,arp_spa=10.0.0.1,\
             arp_tpa=10.0.0.2,arp_sha=00:11:22:33:44:55,arp_tha=00:00:00:00:00:00,\
             actions=output:2"
        );
        // Masks on the hardware addresses, and RARP (0x8035) as their prerequisite, as
        // `ovs-ofctl parse-flow` gives `rarp,arp_spa=10.0.0.0/8,arp_sha=00:11:22:00:00:00/
        // ff:ff:ff:00:00:00,arp_tha=01:00:00:00:00:00/01:00:00:00:00:00`.
        assert_eq!(
            round_trip(
                "rarp,arp_sha=00:11:22:33:44:55/ff:ff:ff:00:00:00,\
                 arp_tha=01:00:00:00:00:00/01:00:00:00:00:00,arp_spa=10.0.0.0/8,actions=drop"
            ),
            "priority=32768,rarp,arp_spa=10.0.0.0/8,arp_sha=00:11:22:00:00:00/ff:ff:ff:00:00:00,\
             arp_tha=01:00:00:00:00:00/01:00:00:00:00:00,actions=drop"
        );
        assert_eq!(
            round_trip("dl_type=0x8035,arp_op=3,actions=drop"),
            "priority=32768,rarp,arp_op=3,actions=drop"
        );
        // Without ARP or RARP the field is dropped, as `ovs-ofctl` normalizes `ip,arp_sha=..`
        // to `ip`.
        let (rule, dropped) =
            parse_rule_normalized_at("ip,arp_sha=00:11:22:33:44:55,actions=drop", 1)
                .expect("normalized");
        assert_eq!(rule.to_string(), "priority=32768,ip,actions=drop");
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].dropped.field, Field::ArpSha);
        // arp_op has no mask (`ovs-ofctl`: "invalid mask for field arp_op").
        assert!(parse_rule("arp,arp_op=1/1,actions=drop").is_err());
    }

    #[test]
    fn errors_name_position_and_feature() {
        // A missing prerequisite is not an error: the field is dropped, as ovs-ofctl does.
        let (r, notes) = parse_rule_normalized_at("priority=1,tp_dst=80,actions=drop", 3).unwrap();
        assert_eq!(r.to_string(), "priority=1,actions=drop");
        assert_eq!(
            notes[0].to_string(),
            "line 3, column 12: tp_dst dropped, as ovs-ofctl's normalization drops it: it \
             requires an L4 protocol (tcp, udp, sctp, icmp or icmp6; nw_proto is not set), so \
             the rule matches more than it says"
        );
        let e = parse_rule("priority=1,icmp,icmp_type=300,actions=drop").unwrap_err();
        assert!(e.to_string().contains("icmp_type"), "{e}");
        let e = parse_rule("table=1,ip,actions=drop").unwrap_err();
        assert_eq!(e.column, 1);
        assert_eq!(
            e.kind,
            ParseErrorKind::Unsupported {
                feature: "multiple tables (table=1)".into()
            }
        );
        let e = parse_rule("ip,actions=resubmit(,1)").unwrap_err();
        assert_eq!(e.column, 12);
        assert_eq!(
            e.to_string(),
            "line 1, column 12: unsupported Open vSwitch feature: resubmit"
        );
        let e = parse_rule("ip,nw_src=1.2.3,actions=drop").unwrap_err();
        assert_eq!(e.column, 4);
        assert!(matches!(e.kind, ParseErrorKind::Syntax { .. }));
        let e = parse_rule("ip,reg3=1,actions=drop").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 4: unsupported Open vSwitch feature: reg3"
        );
        assert!(parse_rule("ip").is_err());
    }
}
