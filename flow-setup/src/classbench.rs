//! ClassBench rule sets and header traces, ClassBench-ng OpenFlow matches, and the export of
//! rules with port ranges to OpenFlow.
//!
//! A filter line is tab-separated:
//! `@src/len  dst/len  sport_lo : sport_hi  dport_lo : dport_hi  proto/mask  flags/mask`.
//! The addresses are IPv4 prefixes (ClassBench) or, in ClassBench-ng's IPv6 sets, IPv6
//! prefixes (`@2001:db8::/32  ::/0  ...`); a line's two addresses are of one family, and an
//! IPv6 line is an `ipv6` rule (`ipv6_src`/`ipv6_dst` in `ovs-ofctl` text).
//! The first line has the highest priority; a rule's priority is `n - index` (so all differ)
//! and its cookie its 0-based line index. Port ranges stay ranges. The flags column is not
//! part of the key and is ignored (the data's README says it matches its filter only 40-94%
//! of the time). ClassBench has no actions: the caller gives them.

use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};

use nic_abi::key::{EtherType, FlowKey};

use crate::ofctl::{is_blank_or_comment, parse_match_unchecked_at, ParseError, ParseErrorKind};
use crate::rule::{proto, Action, Field, FieldMatch, Match, MatchError, Rule};

/// A ClassBench file that did not parse, and where.
#[derive(Debug, thiserror::Error)]
pub enum ClassBenchError {
    /// A line does not follow the format.
    #[error("line {line}, column {column}: expected {expected}, found {found:?}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the format requires there.
        expected: &'static str,
        /// What was there.
        found: String,
    },
    /// The rule it describes is not a valid match.
    #[error("line {line}: {source}")]
    Match {
        /// 1-based line.
        line: usize,
        /// Why.
        source: MatchError,
    },
    /// More rules than 16-bit priorities can order.
    #[error("{0} rules: ClassBench import gives each its own 16-bit priority, at most 65535")]
    TooManyRules(usize),
    /// A gzip trace could not be decompressed.
    #[error("reading gzip trace: {0}")]
    Gzip(#[from] std::io::Error),
}

/// Column tracker over one line's tab/space separated fields.
struct Cursor<'a> {
    line_no: usize,
    line: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        while self.line[self.pos..].starts_with([' ', '\t']) {
            self.pos += 1;
        }
    }

    fn err(&self, expected: &'static str) -> ClassBenchError {
        let rest: String = self.line[self.pos..].chars().take(20).collect();
        ClassBenchError::Syntax {
            line: self.line_no,
            column: self.line[..self.pos].chars().count() + 1,
            expected,
            found: rest,
        }
    }

    /// The next run of characters without white space.
    fn word(&mut self, expected: &'static str) -> Result<(usize, &'a str), ClassBenchError> {
        self.skip_ws();
        let start = self.pos;
        let len = self.line[start..]
            .find([' ', '\t'])
            .unwrap_or(self.line.len() - start);
        if len == 0 {
            return Err(self.err(expected));
        }
        self.pos += len;
        Ok((start, &self.line[start..start + len]))
    }

    fn expect(&mut self, s: &'static str, expected: &'static str) -> Result<(), ClassBenchError> {
        self.skip_ws();
        if self.line[self.pos..].starts_with(s) {
            self.pos += s.len();
            Ok(())
        } else {
            Err(self.err(expected))
        }
    }

    fn fail_at(&mut self, pos: usize, expected: &'static str) -> ClassBenchError {
        self.pos = pos;
        self.err(expected)
    }
}

/// An address prefix of a filter line, IPv4 (`a.b.c.d/len`) or IPv6 (ClassBench-ng's IPv6
/// sets: `2001:db8::/32`); the flag is true for IPv6.
fn parse_prefix(c: &mut Cursor<'_>) -> Result<(FieldMatch, bool), ClassBenchError> {
    const WHAT: &str = "an IPv4 prefix a.b.c.d/len or an IPv6 prefix x:x::x/len";
    let (start, w) = c.word(WHAT)?;
    let w = w.strip_prefix('@').unwrap_or(w);
    let parsed = w.split_once('/').and_then(|(a, l)| {
        let l: u32 = l.parse().ok()?;
        if let Ok(a) = a.parse::<Ipv4Addr>() {
            return (l <= 32).then_some((u128::from(u32::from(a)), l, 32, false));
        }
        let a: Ipv6Addr = a.parse().ok()?;
        (l <= 128).then_some((u128::from(a), l, 128, true))
    });
    let Some((addr, len, width, v6)) = parsed else {
        return Err(c.fail_at(start, WHAT));
    };
    let mask = crate::rule::low_bits(width) & !crate::rule::low_bits(width - len);
    Ok((FieldMatch::masked(Field::NwSrc, addr, mask), v6))
}

fn parse_port_range(c: &mut Cursor<'_>, f: Field) -> Result<FieldMatch, ClassBenchError> {
    let (start, lo) = c.word("a port range `lo : hi`")?;
    c.expect(":", "`:` between the ends of a port range")?;
    let (_, hi) = c.word("the upper end of a port range")?;
    let lo: Option<u16> = lo.parse().ok();
    let hi: Option<u16> = hi.parse().ok();
    match (lo, hi) {
        (Some(lo), Some(hi)) => FieldMatch::range(f, lo.into(), hi.into())
            .ok_or_else(|| c.fail_at(start, "a port range with lo <= hi")),
        _ => Err(c.fail_at(start, "port numbers 0-65535")),
    }
}

fn parse_hex_pair(c: &mut Cursor<'_>, what: &'static str) -> Result<(u32, u32), ClassBenchError> {
    let (start, w) = c.word(what)?;
    let hex = |s: &str| {
        s.strip_prefix("0x")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    match w.split_once('/').map(|(v, m)| (hex(v), hex(m))) {
        Some((Some(v), Some(m))) => Ok((v, m)),
        _ => Err(c.fail_at(start, what)),
    }
}

/// Parses a ClassBench filter set; every rule gets `actions`.
///
/// ```
/// use flow_setup::classbench::parse_filters;
/// let rules = parse_filters("@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 89\t0x06/0xFF\t0x0000/0x0000\n", &[])
///     .unwrap();
/// assert_eq!(rules[0].to_string(), "priority=1,tcp,nw_src=10.0.0.0/8,tp_dst=80-89,actions=drop");
/// ```
pub fn parse_filters(text: &str, actions: &[Action]) -> Result<Vec<Rule>, ClassBenchError> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let n = lines.len();
    if n > 65535 {
        return Err(ClassBenchError::TooManyRules(n));
    }
    let mut rules = Vec::with_capacity(n);
    for (index, &(line_idx, line)) in lines.iter().enumerate() {
        let line_no = line_idx + 1;
        let mut c = Cursor {
            line_no,
            line,
            pos: 0,
        };
        c.skip_ws();
        if !line[c.pos..].starts_with('@') {
            return Err(c.err("`@` starting a filter"));
        }
        let (src, src_v6) = parse_prefix(&mut c)?;
        c.skip_ws();
        let dst_at = c.pos;
        let (dst, dst_v6) = parse_prefix(&mut c)?;
        if src_v6 != dst_v6 {
            return Err(c.fail_at(
                dst_at,
                "a destination of the source's family (both IPv4 or both IPv6)",
            ));
        }
        let sport = parse_port_range(&mut c, Field::TpSrc)?;
        let dport = parse_port_range(&mut c, Field::TpDst)?;
        let (pv, pm) = parse_hex_pair(&mut c, "a protocol value/mask like 0x06/0xFF")?;
        // The flags column is read for syntax only.
        c.skip_ws();
        if c.pos < line.len() {
            parse_hex_pair(&mut c, "TCP flags value/mask like 0x0000/0x0000")?;
        }
        let mut fields = [FieldMatch::Any; crate::rule::FIELD_COUNT];
        let dl_type = if src_v6 {
            proto::ETH_IPV6
        } else {
            proto::ETH_IP
        };
        fields[Field::DlType.index()] = FieldMatch::exact(Field::DlType, dl_type);
        fields[Field::NwSrc.index()] = src;
        fields[Field::NwDst.index()] = dst;
        fields[Field::NwProto.index()] = match pm {
            0 => FieldMatch::Any,
            0xff => FieldMatch::exact(Field::NwProto, pv.into()),
            _ => {
                return Err(ClassBenchError::Syntax {
                    line: line_no,
                    column: 1,
                    expected: "a protocol mask of 0xFF or 0x00",
                    found: format!("{pm:#04x}"),
                })
            }
        };
        fields[Field::TpSrc.index()] = sport;
        fields[Field::TpDst.index()] = dport;
        let pattern = Match::from_fields(fields).map_err(|source| ClassBenchError::Match {
            line: line_no,
            source,
        })?;
        // n <= 65535, so both conversions succeed.
        let priority = u16::try_from(n - index).unwrap_or(u16::MAX);
        let cookie = u64::try_from(index).unwrap_or(u64::MAX);
        rules.push(Rule {
            priority,
            cookie,
            pattern,
            actions: actions.to_vec(),
        });
    }
    Ok(rules)
}

/// One header of a ClassBench trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceHeader {
    /// The header as a key (IPv4; port 0 for in_port; other fields 0).
    pub key: FlowKey,
    /// The 0-based index of the filter the generator made it from (the first match may be an
    /// earlier filter).
    pub filter_index: usize,
}

/// Parses a trace: `src dst sport dport proto flags filter_index` per line (integers).
pub fn parse_trace(text: &str) -> Result<Vec<TraceHeader>, ClassBenchError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut c = Cursor {
            line_no: i + 1,
            line,
            pos: 0,
        };
        let mut num = |max: u64, what: &'static str| -> Result<u64, ClassBenchError> {
            let (start, w) = c.word(what)?;
            match w.parse::<u64>() {
                Ok(v) if v <= max => Ok(v),
                _ => Err(c.fail_at(start, what)),
            }
        };
        let src = num(u64::from(u32::MAX), "a source address (integer)")?;
        let dst = num(u64::from(u32::MAX), "a destination address (integer)")?;
        let sport = num(65535, "a source port 0-65535")?;
        let dport = num(65535, "a destination port 0-65535")?;
        let proto = num(255, "a protocol 0-255")?;
        let _flags = num(u64::MAX, "a flags integer")?;
        let filter = num(u64::MAX, "a filter index")?;
        out.push(TraceHeader {
            key: FlowKey {
                dl_type: EtherType::IPV4,
                nw_src: src.into(),
                nw_dst: dst.into(),
                nw_proto: u8::try_from(proto).unwrap_or_default(),
                tp_src: u16::try_from(sport).unwrap_or_default(),
                tp_dst: u16::try_from(dport).unwrap_or_default(),
                ..FlowKey::default()
            },
            filter_index: usize::try_from(filter).unwrap_or(usize::MAX),
        });
    }
    Ok(out)
}

/// Parses a gzip-compressed trace.
pub fn parse_trace_gz(bytes: &[u8]) -> Result<Vec<TraceHeader>, ClassBenchError> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text)?;
    parse_trace(&text)
}

/// Expands every port range into value/mask prefixes, so that real OpenFlow switches can load
/// the rules: a rule with ranges becomes the cross product of its ports' prefix covers, each
/// copy keeping the priority, cookie and actions. The copies of one rule are disjoint, so the
/// decision for every packet is unchanged.
pub fn to_openflow(rules: &[Rule]) -> Vec<Rule> {
    let mut out = Vec::new();
    for r in rules {
        let src = r.pattern.get(Field::TpSrc).to_prefixes(Field::TpSrc);
        let dst = r.pattern.get(Field::TpDst).to_prefixes(Field::TpDst);
        for &(sv, sm) in &src {
            for &(dv, dm) in &dst {
                let mut fields = *r.pattern.fields();
                fields[Field::TpSrc.index()] = FieldMatch::masked(Field::TpSrc, sv, sm);
                fields[Field::TpDst.index()] = FieldMatch::masked(Field::TpDst, dv, dm);
                // Narrowing a constraint keeps prerequisites intact.
                if let Ok(pattern) = Match::from_fields(fields) {
                    out.push(Rule {
                        pattern,
                        ..r.clone()
                    });
                }
            }
        }
    }
    out
}

/// The result of importing a ClassBench-ng OpenFlow match list.
#[derive(Debug, Clone)]
pub struct OfRulesImport {
    /// The rules the lines mean (priority `n - index`, cookie = index; a line whose ports
    /// stand without a protocol gives three rules, see [`parse_ofrules`]).
    pub rules: Vec<Rule>,
    /// The lines that do not parse, with why.
    pub rejected: Vec<ParseError>,
}

/// The L4 protocols that have ports, for `.ofrules` lines that match ports without naming one.
const PORT_PROTOCOLS: [u128; 3] = [proto::TCP, proto::UDP, proto::SCTP];

/// Imports `of1_1K.ofrules`-style lines (`attr=value, ...`, first line highest priority),
/// giving every rule `actions`, with the meaning the ClassBench-ng generator intends.
///
/// The generator writes OpenFlow 1.0 matches field by field and leaves out the prerequisites
/// OpenFlow requires (in `of1_1K.ofrules`, 208 lines set `nw_*` without `eth_type` and 13 set
/// `tp_*` without `nw_proto`). A line means "packets whose headers have these values", so
/// the import adds the prerequisites the values imply instead of dropping the fields as
/// `ovs-ofctl` would (which turns such a line into a match of everything):
///
/// - `nw_src`, `nw_dst`, `nw_proto` or `nw_tos` without `eth_type`: IPv4
///   (`eth_type=0x0800`); the generator's addresses are IPv4 addresses.
/// - `tp_src` or `tp_dst` without `nw_proto`: the port of any protocol that has ports, so
///   the line becomes three rules, `tcp`, `udp` and `sctp` (same priority and cookie; they are
///   disjoint, so together they decide exactly the packets the line describes).
///
/// Anything still invalid after that (a malformed value, `tp_*` with a protocol that has no
/// ports) is rejected with its line and column.
pub fn parse_ofrules(text: &str, actions: &[Action]) -> OfRulesImport {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !is_blank_or_comment(l))
        .collect();
    let n = lines.len();
    let mut rules = Vec::new();
    let mut rejected = Vec::new();
    for (index, &(i, line)) in lines.iter().enumerate() {
        let priority = u16::try_from(n - index).unwrap_or(u16::MAX);
        let cookie = u64::try_from(index).unwrap_or(u64::MAX);
        match ofrules_matches(line, i + 1) {
            Ok(patterns) => rules.extend(patterns.into_iter().map(|pattern| Rule {
                priority,
                cookie,
                pattern,
                actions: actions.to_vec(),
            })),
            Err(e) => rejected.push(e),
        }
    }
    OfRulesImport { rules, rejected }
}

/// The matches one `.ofrules` line means (see [`parse_ofrules`]).
fn ofrules_matches(line: &str, line_no: usize) -> Result<Vec<Match>, ParseError> {
    let m = parse_match_unchecked_at(line, line_no)?;
    let set = |f: Field| !m.get(f).is_any();
    let mut fields = *m.fields();
    let l3 = [Field::NwSrc, Field::NwDst, Field::NwProto, Field::NwTos];
    let l4 = set(Field::TpSrc) || set(Field::TpDst);
    if !set(Field::DlType) && (l4 || l3.iter().any(|&f| set(f))) {
        fields[Field::DlType.index()] = FieldMatch::exact(Field::DlType, proto::ETH_IP);
    }
    let protocols: Vec<FieldMatch> = if l4 && !set(Field::NwProto) {
        PORT_PROTOCOLS
            .iter()
            .map(|&p| FieldMatch::exact(Field::NwProto, p))
            .collect()
    } else {
        vec![fields[Field::NwProto.index()]]
    };
    protocols
        .into_iter()
        .map(|p| {
            fields[Field::NwProto.index()] = p;
            Match::from_fields(fields).map_err(|e| ParseError {
                line: line_no,
                column: 1,
                kind: ParseErrorKind::Match(e),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_errors_say_where() {
        let e = parse_filters(
            "@10.0.0.0/8\t1.2.3/8\t0 : 1\t0 : 1\t0x06/0xFF\t0x0000/0x0000",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 13: expected an IPv4 prefix a.b.c.d/len or an IPv6 prefix x:x::x/len, found \"1.2.3/8\\t0 : 1\\t0 : 1\\t\""
        );
        let e = parse_filters("@10.0.0.0/8\t1.2.3.0/24\t5 : 1\t0 : 1\t0x06/0xFF", &[]).unwrap_err();
        assert!(e.to_string().contains("lo <= hi"), "{e}");
    }

    #[test]
    fn export_expands_ranges_to_prefixes() {
        let rules = parse_filters(
            "@0.0.0.0/0\t0.0.0.0/0\t1024 : 65535\t80 : 81\t0x06/0xFF\t0x0000/0x0000\n",
            &[],
        )
        .unwrap();
        let of = to_openflow(&rules);
        assert_eq!(of.len(), 6);
        assert!(of.iter().all(|r| r.cookie == 0 && r.priority == 1));
        assert_eq!(
            of[0].to_string(),
            "priority=1,tcp,tp_src=0x400/0xfc00,tp_dst=0x50/0xfffe,actions=drop"
        );
    }
}
