//! Loading a rules file: read it (gunzipped when it is gzip), detect its format (its name,
//! then its content) unless given, and parse it as far as it goes, collecting every error
//! with its place. `ovs-ofctl` and ClassBench-ng files are checked line by line, so every bad
//! line is reported; ClassBench, JSON and TOML files stop at their first error.
//!
//! Each error prints as `FILE:LINE:COLUMN: what` (a line's error) or `FILE: what` (a whole
//! file's), the form `snich rules check` prints and a scenario's error quotes.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::{RuleSet, RuleSetError, RulesFormat};
use crate::classbench::{parse_filters, parse_ofrules, ClassBenchError};
use crate::ofctl::{is_blank_or_comment, parse_rule_normalized_at, Normalization, ParseError};
use crate::rule::Rule;

/// gzip's magic number, the first two bytes of a gzip file.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a rules file could not be read, or what is wrong in it, and where.
#[derive(Debug, thiserror::Error)]
pub enum RulesFileError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file (after gunzipping) is not UTF-8 text.
    #[error("{}: not UTF-8 text", .path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// The file starts as gzip but does not decompress.
    #[error("{}: gzip data is corrupt: {source}", .path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decompression error.
        source: std::io::Error,
    },
    /// A line of an `ovs-ofctl` or ClassBench-ng file does not parse.
    #[error("{origin}:{}:{}: {}", .source.line, .source.column, .source.kind)]
    Line {
        /// The file (or where inline rules were written).
        origin: String,
        /// What is wrong, at which line and column.
        source: Box<ParseError>,
    },
    /// A ClassBench, JSON or TOML file does not parse (these stop at their first error).
    #[error("{origin}: {source}")]
    Whole {
        /// The file (or where inline rules were written).
        origin: String,
        /// What is wrong (its message gives the line where the parser knows it).
        source: Box<RuleSetError>,
    },
}

impl RulesFileError {
    /// The 1-based line and column of the error in the file, where known.
    pub fn place(&self) -> Option<(usize, usize)> {
        match self {
            RulesFileError::Line { source, .. } => Some((source.line, source.column)),
            RulesFileError::Whole { source, .. } => match source.as_ref() {
                RuleSetError::ClassBench(ClassBenchError::Syntax { line, column, .. }) => {
                    Some((*line, *column))
                }
                RuleSetError::ClassBench(ClassBenchError::Match { line, .. }) => Some((*line, 1)),
                RuleSetError::Json(e) => Some((e.line(), e.column())),
                _ => None,
            },
            RulesFileError::Io { .. }
            | RulesFileError::NotText { .. }
            | RulesFileError::Gzip { .. } => None,
        }
    }
}

/// A field `ovs-ofctl`'s normalization removed from a rule of an `ovs-ofctl` file: the rule
/// loads (as in Open vSwitch) but matches more than it says. Prints as
/// `FILE:LINE:COLUMN: warning: what`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{}:{}: warning: {}", .note.line, .note.column, .note.dropped)]
pub struct RulesFileWarning {
    /// The file (or where inline rules were written).
    pub origin: String,
    /// The field removed and where it was written.
    pub note: Normalization,
}

/// A rules file read as far as it parses: the rules, the format read, and every error with
/// its place.
#[derive(Debug)]
pub struct LoadedRules {
    /// The rules that parsed, in file order (priority order for ClassBench files). ClassBench
    /// and ClassBench-ng rules have no actions (they drop).
    pub rules: Vec<Rule>,
    /// The format read (given, or detected).
    pub format: RulesFormat,
    /// Every error found, in file order (only [`RulesFileError::Line`] and
    /// [`RulesFileError::Whole`]).
    pub errors: Vec<RulesFileError>,
    /// Every field normalization removed (`ovs-ofctl` files only), in file order.
    pub warnings: Vec<RulesFileWarning>,
}

/// The bytes of the file at `path`, decompressed when they start with gzip's magic number.
pub fn read_file(path: &Path) -> Result<Vec<u8>, RulesFileError> {
    let raw = std::fs::read(path).map_err(|source| RulesFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|source| RulesFileError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(out)
}

impl RuleSet {
    /// Reads the rules file at `path` in `format` (`None`: detected, see
    /// [`RulesFormat::detect_file`]), gunzipping it if it is gzip, and collects every error.
    /// Fails only when the file cannot be read as text.
    pub fn load(path: &Path, format: Option<RulesFormat>) -> Result<LoadedRules, RulesFileError> {
        let text = String::from_utf8(read_file(path)?).map_err(|_| RulesFileError::NotText {
            path: path.to_path_buf(),
        })?;
        Ok(RuleSet::load_text(path, &text, format))
    }

    /// Parses rules `text` as [`RuleSet::load`] parses a file's content; `origin` names where
    /// it was written in errors (a file, or e.g. a scenario's `rules.inline`) and, when no
    /// format is given, its extension is looked at first.
    pub fn load_text(origin: &Path, text: &str, format: Option<RulesFormat>) -> LoadedRules {
        let format = format.unwrap_or_else(|| RulesFormat::detect_file(origin, text));
        let name = origin.display().to_string();
        let line_error = |source: ParseError| RulesFileError::Line {
            origin: name.clone(),
            source: Box::new(source),
        };
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let whole = match format {
            RulesFormat::Ofctl => Ok(text
                .lines()
                .enumerate()
                .filter(|(_, l)| !is_blank_or_comment(l))
                .filter_map(|(i, l)| match parse_rule_normalized_at(l, i + 1) {
                    Ok((rule, notes)) => {
                        warnings.extend(notes.into_iter().map(|note| RulesFileWarning {
                            origin: name.clone(),
                            note,
                        }));
                        Some(rule)
                    }
                    Err(e) => {
                        errors.push(line_error(e));
                        None
                    }
                })
                .collect()),
            RulesFormat::OfRules => {
                let import = parse_ofrules(text, &[]);
                errors.extend(import.rejected.into_iter().map(line_error));
                Ok(import.rules)
            }
            RulesFormat::ClassBench => parse_filters(text, &[]).map_err(RuleSetError::from),
            RulesFormat::Json | RulesFormat::Toml => {
                RuleSet::parse(text, format).map(|set| set.rules)
            }
        };
        let rules = whole.unwrap_or_else(|source| {
            errors.push(RulesFileError::Whole {
                origin: name.clone(),
                source: Box::new(source),
            });
            Vec::new()
        });
        LoadedRules {
            rules,
            format,
            errors,
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    /// A file of `bytes` under the system's temporary directory, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, bytes: &[u8]) -> TempFile {
            let dir = std::env::temp_dir().join(format!("flow-setup-load-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            std::fs::remove_file(&self.0).ok();
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    const OFCTL: &str = "# two rules\n\
                         priority=10,tcp,tp_dst=80,actions=output:2\n\
                         \n\
                         priority=5,actions=drop\n";

    #[test]
    fn every_format_loads_detected() {
        let set = RuleSet::new(crate::ofctl::parse_rules(OFCTL).unwrap());
        let json = set.to_json().unwrap();
        let toml = set.to_toml().unwrap();
        let cases: [(&str, &str, RulesFormat, usize); 5] = [
            ("a.rules", OFCTL, RulesFormat::Ofctl, 2),
            (
                "acl",
                "@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\n\
                 @0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000\n",
                RulesFormat::ClassBench,
                2,
            ),
            (
                "of.ofrules",
                "dl_type=0x0800, nw_proto=6, tp_dst=80\nin_port=1\n",
                RulesFormat::OfRules,
                2,
            ),
            ("set", &json, RulesFormat::Json, 2),
            ("set", &toml, RulesFormat::Toml, 2),
        ];
        for (name, text, format, n) in cases {
            let file = TempFile::new(name, text.as_bytes());
            let loaded = RuleSet::load(&file.0, None).unwrap();
            assert_eq!(loaded.format, format, "{name}");
            assert!(loaded.errors.is_empty(), "{name}: {:?}", loaded.errors);
            assert_eq!(loaded.rules.len(), n, "{name}");
            let given = RuleSet::load(&file.0, Some(format)).unwrap();
            assert_eq!(given.rules, loaded.rules, "{name}");
        }
    }

    #[test]
    fn gzip_is_read_through() {
        let file = TempFile::new("zipped.rules.gz", &gzip(OFCTL.as_bytes()));
        let loaded = RuleSet::load(&file.0, None).unwrap();
        assert_eq!(loaded.format, RulesFormat::Ofctl);
        assert_eq!(loaded.rules.len(), 2);
        let json = TempFile::new(
            "set.json.gz",
            &gzip(br#"{"rules":[{"priority":1,"match":"udp","actions":"drop"}]}"#),
        );
        assert_eq!(RuleSet::load(&json.0, None).unwrap().rules.len(), 1);
    }

    #[test]
    fn unreadable_files_name_the_path() {
        let e = RuleSet::load(Path::new("/no/such/rules"), None).unwrap_err();
        assert!(
            e.to_string().starts_with("/no/such/rules: cannot read: "),
            "{e}"
        );
        let mut cut = gzip(OFCTL.as_bytes());
        cut.truncate(cut.len() / 2);
        let cut = TempFile::new("cut.gz", &cut);
        let e = RuleSet::load(&cut.0, None).unwrap_err();
        assert!(matches!(e, RulesFileError::Gzip { .. }), "{e}");
        assert!(
            e.to_string().contains("cut.gz: gzip data is corrupt: "),
            "{e}"
        );
        let binary = TempFile::new("binary", &[b'a', 0xff, 0xfe]);
        let e = RuleSet::load(&binary.0, None).unwrap_err();
        assert!(e.to_string().ends_with("binary: not UTF-8 text"), "{e}");
    }

    #[test]
    fn every_bad_line_is_reported_with_line_and_column() {
        let text = "priority=1,tcp,actions=drop\n\
                    priority=2,tp_dst=80,actions=drop\n\
                    # fine\n\
                    priority=3,ip,nw_dst=10.0.0.0/33,actions=drop\n\
                    priority=4,icmp,actions=bogus\n";
        let loaded = RuleSet::load_text(Path::new("x.rules"), text, None);
        // Line 2 loads as ovs-ofctl loads it, without its tp_dst, and says so.
        assert_eq!(loaded.rules.len(), 2);
        assert_eq!(loaded.rules[1].to_string(), "priority=2,actions=drop");
        assert_eq!(loaded.warnings.len(), 1);
        assert_eq!(loaded.warnings[0].note.line, 2);
        assert_eq!(loaded.warnings[0].note.column, 12);
        let places: Vec<_> = loaded.errors.iter().map(RulesFileError::place).collect();
        assert_eq!(places, [Some((4, 15)), Some((5, 25))]);
        assert_eq!(
            loaded.errors[0].to_string(),
            "x.rules:4:15: expected a prefix length 0-32, found \"33\""
        );
        let of = RuleSet::load_text(
            Path::new("of.ofrules"),
            "in_port=1\ntp_src=80\ndl_type=0x0800, nw_proto=17, tp_src=53\ntp_dst=1/0\n\
             nw_proto=1, tp_src=999\n",
            None,
        );
        // Line 2 is three rules (tcp, udp, sctp), line 4's tp_dst matches everything, line 5
        // has an ICMP type wider than 8 bits.
        assert_eq!(of.rules.len(), 1 + 3 + 1 + 1);
        assert!(of.warnings.is_empty());
        let lines: Vec<_> = of
            .errors
            .iter()
            .filter_map(|e| e.place())
            .map(|p| p.0)
            .collect();
        assert_eq!(lines, [5]);
        assert!(
            of.errors[0].to_string().contains("icmp_type"),
            "{}",
            of.errors[0]
        );
    }

    #[test]
    fn whole_file_formats_report_their_first_error() {
        let cb = RuleSet::load_text(
            Path::new("acl"),
            "@10.0.0.0/8\t1.2.3/8\t0 : 1\t0 : 1\t0x06/0xFF\t0x0000/0x0000",
            None,
        );
        assert_eq!(cb.format, RulesFormat::ClassBench);
        assert_eq!(cb.errors.len(), 1);
        assert_eq!(cb.errors[0].place(), Some((1, 13)));
        assert!(cb.errors[0]
            .to_string()
            .starts_with("acl: line 1, column 13: expected an IPv4 prefix"));
        let json = RuleSet::load_text(
            Path::new("j"),
            "{\"rules\": [\n  {\"priority\": \"x\"}]}",
            None,
        );
        assert_eq!(json.format, RulesFormat::Json);
        assert_eq!(json.errors[0].place().map(|p| p.0), Some(2));
        assert!(json.errors[0].to_string().starts_with("j: JSON rule set: "));
        let toml = RuleSet::load_text(Path::new("t"), "[[rules]]\npriority = \"x\"\n", None);
        assert_eq!(toml.format, RulesFormat::Toml);
        assert!(toml.errors[0].to_string().starts_with("t: TOML rule set: "));
        assert!(toml.rules.is_empty());
    }
}
