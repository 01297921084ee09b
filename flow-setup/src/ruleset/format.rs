//! The syntax of a rules file: the names `--format` and a scenario's `rules.format` accept,
//! the names reports print, and detection from a file's name and content.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The syntax of a rules file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RulesFormat {
    /// `ovs-ofctl add-flows` lines.
    Ofctl,
    /// ClassBench filters (`@src/len dst/len ...`, lines start with `@`).
    ClassBench,
    /// ClassBench-ng OpenFlow matches (`attr=value, ...`, first line highest priority).
    OfRules,
    /// JSON (`{"rules": [...]}`).
    Json,
    /// TOML (`[[rules]]` tables).
    Toml,
}

/// A format name that is not one of [`RulesFormat::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not one of ofctl, classbench, ofrules, json, toml")]
pub struct UnknownRulesFormat(pub String);

impl RulesFormat {
    /// Every format, in the order help texts list them.
    pub const ALL: [RulesFormat; 5] = [
        RulesFormat::Ofctl,
        RulesFormat::ClassBench,
        RulesFormat::OfRules,
        RulesFormat::Json,
        RulesFormat::Toml,
    ];

    /// The name a user gives (`--format`, `rules.format`): `ofctl`, `classbench`, `ofrules`,
    /// `json` or `toml`; [`FromStr`] reads it back (ignoring case).
    pub fn name(self) -> &'static str {
        match self {
            RulesFormat::Ofctl => "ofctl",
            RulesFormat::ClassBench => "classbench",
            RulesFormat::OfRules => "ofrules",
            RulesFormat::Json => "json",
            RulesFormat::Toml => "toml",
        }
    }

    /// What reports call it (`ovs-ofctl`, `ClassBench`, `ClassBench-ng ofrules`, `JSON`,
    /// `TOML`).
    pub fn title(self) -> &'static str {
        match self {
            RulesFormat::Ofctl => "ovs-ofctl",
            RulesFormat::ClassBench => "ClassBench",
            RulesFormat::OfRules => "ClassBench-ng ofrules",
            RulesFormat::Json => "JSON",
            RulesFormat::Toml => "TOML",
        }
    }

    /// True for the formats that carry no actions (ClassBench and ClassBench-ng): their
    /// rules drop unless the caller gives them actions.
    pub fn carries_no_actions(self) -> bool {
        matches!(self, RulesFormat::ClassBench | RulesFormat::OfRules)
    }

    /// Guesses the format from the first non-blank, non-comment line: `@` ClassBench, `{`
    /// JSON, `[[rules]]` TOML, anything else `ovs-ofctl` (ClassBench-ng lines look like
    /// `ovs-ofctl` matches; only a file's name tells them apart, see
    /// [`RulesFormat::detect_file`]).
    pub fn detect(text: &str) -> RulesFormat {
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default();
        if first.starts_with('@') {
            RulesFormat::ClassBench
        } else if first.starts_with('{') {
            RulesFormat::Json
        } else if first.starts_with("[[rules]]") {
            RulesFormat::Toml
        } else {
            RulesFormat::Ofctl
        }
    }

    /// The format of a file at `path` with content `text`: by the extension (`.ofrules`,
    /// `.json`, `.toml`, under a `.gz` if gzipped), else by the content
    /// ([`RulesFormat::detect`]).
    pub fn detect_file(path: &Path, text: &str) -> RulesFormat {
        let named = if path.extension().is_some_and(|e| e == "gz") {
            path.file_stem().map(Path::new)
        } else {
            Some(path)
        };
        match named.and_then(Path::extension).and_then(|e| e.to_str()) {
            Some("ofrules") => RulesFormat::OfRules,
            Some("json") => RulesFormat::Json,
            Some("toml") => RulesFormat::Toml,
            _ => RulesFormat::detect(text),
        }
    }
}

impl fmt::Display for RulesFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RulesFormat {
    type Err = UnknownRulesFormat;

    /// Reads a [`RulesFormat::name`], ignoring case.
    fn from_str(s: &str) -> Result<RulesFormat, UnknownRulesFormat> {
        RulesFormat::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownRulesFormat(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_ignoring_case() {
        for f in RulesFormat::ALL {
            assert_eq!(f.name().parse::<RulesFormat>(), Ok(f));
            assert_eq!(f.to_string().to_uppercase().parse::<RulesFormat>(), Ok(f));
        }
        assert_eq!(
            "iptables".parse::<RulesFormat>().unwrap_err().to_string(),
            "`iptables` is not one of ofctl, classbench, ofrules, json, toml"
        );
    }

    #[test]
    fn content_decides_when_the_name_does_not() {
        assert_eq!(
            RulesFormat::detect("# acl\n\n@1.2.3.4/32\t..."),
            RulesFormat::ClassBench
        );
        assert_eq!(RulesFormat::detect(" {\"rules\": []}"), RulesFormat::Json);
        assert_eq!(RulesFormat::detect("# c\n[[rules]]\n"), RulesFormat::Toml);
        assert_eq!(RulesFormat::detect("tcp,actions=drop"), RulesFormat::Ofctl);
        assert_eq!(RulesFormat::detect(""), RulesFormat::Ofctl);
        let by_content = Path::new("acl1_1K");
        assert_eq!(
            RulesFormat::detect_file(by_content, "@1.2.3.4/32"),
            RulesFormat::ClassBench
        );
    }

    #[test]
    fn the_extension_decides_first() {
        let cases = [
            ("of1_1K.ofrules", RulesFormat::OfRules),
            ("of1_1K.ofrules.gz", RulesFormat::OfRules),
            ("set.json", RulesFormat::Json),
            ("set.toml.gz", RulesFormat::Toml),
            ("small.rules", RulesFormat::Ofctl),
            ("rules.gz", RulesFormat::Ofctl),
        ];
        for (name, format) in cases {
            assert_eq!(
                RulesFormat::detect_file(Path::new(name), "tcp,actions=drop"),
                format,
                "{name}"
            );
        }
    }
}
