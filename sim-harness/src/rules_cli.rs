//! `snich rules`: check, lint and trace flow rules with flow-setup.
//!
//! - `check FILE`: parses the rules file and reports every error as `FILE:LINE:COLUMN: what`.
//! - `lint FILE`: shadowed, redundant and conflicting rules, each with a witness packet.
//! - `trace FILE PACKETS`: one JSON object per packet: the matched rule's cookie and priority
//!   (null when none matches), its actions, and the megaflow (the bits the decision used).
//! - `bench FILE PACKETS`: the classifier's build time, lookups and updates per second and
//!   memory on this rule set and trace.
//!
//! Rules files: `ovs-ofctl` flow lines, ClassBench filters, ClassBench-ng `.ofrules`, JSON or
//! TOML rule sets, gzipped or not, loaded by `flow_setup::ruleset` (the format detected from
//! the file's name and content, or given with `--format`). Packets: a pcap or
//! pcapng capture (parsed with nic-abi's software parser), a ClassBench trace, or `ovs-ofctl`
//! packet descriptions (`in_port=1,tcp,nw_src=10.0.0.5,tcp_dst=80`, one per line; `-` reads
//! them from standard input).

use std::io::{Read, Write};
use std::path::Path;

use flow_setup::classbench::parse_trace;
use flow_setup::classifier::{from_rules, Classifier, SplitTree};
use flow_setup::lint::{lint, FindingKind};
use flow_setup::ofctl::{describe_packet, format_actions, is_blank_or_comment, parse_match_at};
use flow_setup::rule::{Field, FieldMatch, Point, Rule};
use flow_setup::ruleset::{read_file, RuleSet, RulesFileError, RulesFormat};
use nic_abi::key::{FlowKey, KeyClass, PortNo};
use nic_abi::parse::parse_software;
use serde_json::json;

use crate::capture::Capture;

/// The syntax of a packets input, as `--packets-format` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PacketsFormat {
    /// A pcap or pcapng capture (gzipped or not).
    Pcap,
    /// A ClassBench trace (`src dst sport dport proto flags filter`), gzipped or not.
    Classbench,
    /// `ovs-ofctl` packet descriptions, one per line.
    Ofctl,
}

/// Why a `snich rules` command could not do its work (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum RulesCliError {
    /// A rules or packets file could not be read (what and which file).
    #[error(transparent)]
    File(#[from] RulesFileError),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// `snich rules check`: every error on `err`, a summary on `out`. Returns true when the file
/// has no error.
pub fn check(
    path: &Path,
    format: Option<RulesFormat>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool, RulesCliError> {
    let loaded = RuleSet::load(path, format)?;
    for e in &loaded.errors {
        writeln!(err, "{e}")?;
    }
    for w in &loaded.warnings {
        writeln!(err, "{w}")?;
    }
    let warnings = match loaded.warnings.len() {
        0 => String::new(),
        n => format!(", {n} warnings"),
    };
    writeln!(
        out,
        "{}: {} rules ({}), {} errors{warnings}",
        path.display(),
        loaded.rules.len(),
        loaded.format.title(),
        loaded.errors.len()
    )?;
    Ok(loaded.errors.is_empty())
}

fn kind_name(k: FindingKind) -> &'static str {
    match k {
        FindingKind::Shadowed => "shadowed",
        FindingKind::Redundant => "redundant",
        FindingKind::Conflict => "conflict",
    }
}

/// What `snich rules lint` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LintOutcome {
    /// The file did not parse (errors written).
    ParseErrors,
    /// No finding.
    Clean,
    /// At least one finding.
    Findings,
}

/// `snich rules lint`: the findings, as text or one JSON document.
pub fn lint_file(
    path: &Path,
    format: Option<RulesFormat>,
    as_json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<LintOutcome, RulesCliError> {
    let loaded = RuleSet::load(path, format)?;
    for w in &loaded.warnings {
        writeln!(err, "{w}")?;
    }
    if !loaded.errors.is_empty() {
        for e in &loaded.errors {
            writeln!(err, "{e}")?;
        }
        return Ok(LintOutcome::ParseErrors);
    }
    let rules = &loaded.rules;
    let report = lint(rules);
    if as_json {
        let findings: Vec<serde_json::Value> = report
            .findings
            .iter()
            .map(|f| {
                // Rules are numbered from 1 in file order, as in the text report.
                json!({
                    "kind": kind_name(f.kind),
                    "rule": f.rule + 1,
                    "rule_text": rules.get(f.rule).map(ToString::to_string),
                    "others": f.others.iter().map(|o| o + 1).collect::<Vec<_>>(),
                    "witness": describe_packet(&f.witness),
                })
            })
            .collect();
        let doc = json!({
            "file": path.display().to_string(),
            "rules": rules.len(),
            "overlaps": report.overlaps,
            "findings": findings,
            "undetermined": report.undetermined.iter().map(|u| u + 1).collect::<Vec<_>>(),
            "dropped_fields": loaded.warnings.iter().map(|w| json!({
                "line": w.note.line,
                "column": w.note.column,
                "field": w.note.dropped.field.name(),
                "requires": w.note.dropped.needs,
            })).collect::<Vec<_>>(),
        });
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        )?;
    } else {
        write!(out, "{}", report.render(rules))?;
    }
    // A dropped field is a finding: the rule matches more than it says.
    Ok(
        if report.findings.is_empty() && loaded.warnings.is_empty() {
            LintOutcome::Clean
        } else {
            LintOutcome::Findings
        },
    )
}

/// A packet description (`ovs-ofctl` match syntax) as a packet: every field takes the value
/// given (a masked value keeps its masked bits, the rest 0); ranges are refused.
pub fn packet_from_description(text: &str, line: usize) -> Result<FlowKey, String> {
    let m =
        parse_match_at(text, line).map_err(|e| format!("{}:{}: {}", e.line, e.column, e.kind))?;
    let mut p = Point::default();
    for f in Field::ALL {
        match m.get(f) {
            FieldMatch::Any => {}
            FieldMatch::Masked { value, .. } => p.0[f.index()] = value,
            FieldMatch::Range { .. } => {
                return Err(format!(
                    "{line}:1: {} is a range; a packet needs one value",
                    f.name()
                ))
            }
        }
    }
    Ok(p.to_key())
}

/// Sniffs a packets file: a capture by its magic number, a ClassBench trace by its first line
/// (seven integers), else packet descriptions.
fn detect_packets(bytes: &[u8]) -> PacketsFormat {
    const MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    if MAGICS.iter().any(|m| bytes.starts_with(m)) {
        return PacketsFormat::Pcap;
    }
    let first = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)])
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
        .unwrap_or_default();
    let fields: Vec<&str> = first.split_whitespace().collect();
    if fields.len() == 7 && fields.iter().all(|f| f.parse::<u64>().is_ok()) {
        PacketsFormat::Classbench
    } else {
        PacketsFormat::Ofctl
    }
}

/// Reads the packets to trace. `source` is a file path or `-` (standard input, packet
/// descriptions). Errors (a bad line, a bad capture) are returned as text with their place.
pub fn load_packets(
    source: &str,
    format: Option<PacketsFormat>,
    in_port: PortNo,
    stdin: &mut dyn Read,
) -> Result<Result<Vec<FlowKey>, String>, RulesCliError> {
    let (name, bytes) = if source == "-" {
        let mut b = Vec::new();
        stdin.read_to_end(&mut b)?;
        ("<stdin>".to_string(), b)
    } else {
        (source.to_string(), read_file(Path::new(source))?)
    };
    let format = format.unwrap_or_else(|| {
        if source == "-" {
            PacketsFormat::Ofctl
        } else {
            detect_packets(&bytes)
        }
    });
    Ok(match format {
        PacketsFormat::Pcap => Capture::from_bytes(Path::new(&name), &bytes)
            .map(|c| {
                c.frames
                    .iter()
                    .map(|f| parse_software(&f.data, in_port))
                    .collect()
            })
            .map_err(|e| e.to_string()),
        PacketsFormat::Classbench => {
            let text = String::from_utf8_lossy(&bytes);
            parse_trace(&text)
                .map(|t| {
                    t.into_iter()
                        .map(|h| FlowKey { in_port, ..h.key })
                        .collect()
                })
                .map_err(|e| format!("{name}: {e}"))
        }
        PacketsFormat::Ofctl => {
            let text = String::from_utf8_lossy(&bytes);
            text.lines()
                .enumerate()
                .filter(|(_, l)| !is_blank_or_comment(l))
                .map(|(i, l)| {
                    packet_from_description(l.trim(), i + 1).map_err(|e| format!("{name}:{e}"))
                })
                .collect()
        }
    })
}

/// `snich rules trace`: one JSON object per packet on `out`: `packet` (0-based index),
/// `cookie` and `priority` of the matched rule and its `actions` (all null when no rule
/// matches), `megaflow` (the bits the decision depended on, `field=0xmask`), `flow` (the
/// packet in ovs-ofctl syntax) and `class` (`parsed`, or why the key is incomplete).
pub fn trace(
    rules: &[Rule],
    packets: &[FlowKey],
    out: &mut dyn Write,
) -> Result<(), RulesCliError> {
    let classifier: SplitTree = from_rules(rules);
    for (i, key) in packets.iter().enumerate() {
        let found = classifier.lookup_megaflow(&Point::from(key));
        let rule = found
            .rule
            .and_then(|id| rules.get(usize::try_from(id.0).unwrap_or(usize::MAX)));
        let line = json!({
            "packet": i,
            "cookie": rule.map(|r| r.cookie),
            "priority": rule.map(|r| r.priority),
            "actions": rule.map(|r| format_actions(&r.actions)),
            "megaflow": found.megaflow.to_string(),
            "flow": describe_packet(key),
            "class": match key.class {
                KeyClass::Parsed => "parsed",
                KeyClass::Unparsed(reason) => reason.name(),
            },
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// What `snich rules bench` measured (wall-clock, on this machine, one thread).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RulesBench {
    /// Rules in the set.
    pub rules: usize,
    /// Packets in the trace.
    pub packets: usize,
    /// Packets of the trace some rule matches.
    pub matched: usize,
    /// Building the classifier over every rule at once (bulk insert).
    pub build_seconds: f64,
    /// Lookups per second over the trace (repeated until `min_seconds` passed).
    pub lookups_per_second: f64,
    /// Updates per second: each rule deleted and inserted back, each of the two one update.
    pub updates_per_second: f64,
    /// Heap bytes the classifier holds after the build (capacities times element sizes).
    pub memory_bytes: usize,
    /// Lookups timed.
    pub lookups: u64,
    /// Updates timed.
    pub updates: u64,
}

/// `snich rules bench`: builds flow-setup's classifier over `rules`, then times lookups of
/// `packets` and a delete-and-reinsert of each rule, each phase repeated until at least
/// `min_seconds` of wall-clock time.
pub fn bench(rules: &[Rule], packets: &[FlowKey], min_seconds: f64) -> RulesBench {
    use std::hint::black_box;
    use std::time::Instant;
    let min = std::time::Duration::from_secs_f64(min_seconds.max(0.0));
    let start = Instant::now();
    let mut classifier: SplitTree = from_rules(black_box(rules));
    let build_seconds = start.elapsed().as_secs_f64();
    let memory_bytes = classifier.memory_bytes();
    let points: Vec<Point> = packets.iter().map(Point::from).collect();
    let matched = points
        .iter()
        .filter(|p| classifier.lookup(p).is_some())
        .count();
    let mut lookups = 0u64;
    let start = Instant::now();
    while !points.is_empty() {
        for p in &points {
            black_box(classifier.lookup(black_box(p)));
        }
        lookups += points.len() as u64;
        if start.elapsed() >= min {
            break;
        }
    }
    let lookup_seconds = start.elapsed().as_secs_f64();
    let mut updates = 0u64;
    let start = Instant::now();
    'rounds: while !rules.is_empty() {
        for (i, r) in rules.iter().enumerate() {
            let id = flow_setup::classifier::rule_id(i);
            // Every rule is in the classifier: the delete and the re-insert cannot fail.
            let removed = classifier.remove(id).is_ok();
            let inserted = classifier.insert(id, r.priority, &r.pattern).is_ok();
            updates += u64::from(removed) + u64::from(inserted);
            if i % 64 == 63 && start.elapsed() >= min {
                break 'rounds;
            }
        }
        if start.elapsed() >= min {
            break;
        }
    }
    let update_seconds = start.elapsed().as_secs_f64();
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    RulesBench {
        rules: rules.len(),
        packets: packets.len(),
        matched,
        build_seconds,
        lookups_per_second: rate(lookups, lookup_seconds),
        updates_per_second: rate(updates, update_seconds),
        memory_bytes,
        lookups,
        updates,
    }
}

impl RulesBench {
    /// The human-readable summary.
    pub fn text(&self) -> String {
        format!(
            "rules              {}\npackets            {} ({} matched)\nbuild              {:.3} s\nlookups            {:.2} M/s\nupdates            {:.1} K/s (delete and re-insert of each rule)\nmemory             {:.1} MiB\n",
            self.rules,
            self.packets,
            self.matched,
            self.build_seconds,
            self.lookups_per_second / 1e6,
            self.updates_per_second / 1e3,
            self.memory_bytes as f64 / (1024.0 * 1024.0)
        )
    }
}
