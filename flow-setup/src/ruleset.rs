//! A rule set, its file formats (`ovs-ofctl` text, ClassBench filters, ClassBench-ng
//! OpenFlow matches, JSON and TOML) and the one place rules files are loaded.
//!
//! - [`RulesFormat`] (in `format`): the formats, their names (`--format`, a scenario's
//!   `rules.format`) and detection from a file's name, then its content.
//! - [`RuleSet::load`] / [`RuleSet::load_text`] (in `load`): read a file (gunzipped if it is
//!   gzip), detect its format, parse it as far as it goes and collect every error with its
//!   place ([`LoadedRules`], [`RulesFileError`]).
//! - [`RuleSet::parse`]: text in a known format to a rule set, stopping at the first error;
//!   JSON and TOML both ways.
//!
//! In JSON and TOML each rule is a table of four strings and a number, the match and actions
//! in `ovs-ofctl` syntax (so a rule reads the same in every format):
//!
//! ```toml
//! [[rules]]
//! priority = 100
//! cookie = "0x7"
//! match = "tcp,nw_dst=10.0.0.0/8,tp_dst=80"
//! actions = "output:2"
//! ```
//!
//! The cookie is a string because TOML integers stop at 2^63 - 1. Deserialising goes through
//! the plain [`RuleSpec`] and validates it into a [`Rule`] (`TryFrom`).
//!
//! ```
//! use std::path::Path;
//! use flow_setup::ruleset::{RuleSet, RulesFormat};
//!
//! let text = "priority=10,tcp,tp_dst=80,actions=output:2\npriority=5,tp_dst=81,actions=drop\n\
//!             priority=1,tcp,tp_dst=99999,actions=drop\n";
//! let loaded = RuleSet::load_text(Path::new("acl.rules"), text, None);
//! assert_eq!(loaded.format, RulesFormat::Ofctl);
//! // As ovs-ofctl does, `tp_dst` without a protocol is dropped: rule 2 matches everything.
//! assert_eq!(loaded.rules.len(), 2);
//! assert_eq!(loaded.rules[1].to_string(), "priority=5,actions=drop");
//! assert!(loaded.warnings[0].to_string().starts_with("acl.rules:2:12: warning: tp_dst dropped,"));
//! assert_eq!(loaded.errors[0].place(), Some((3, 16)));
//! ```

mod format;
mod load;

use serde::{Deserialize, Serialize};

pub use format::{RulesFormat, UnknownRulesFormat};
pub use load::{read_file, LoadedRules, RulesFileError, RulesFileWarning};

use crate::classbench::{self, ClassBenchError};
use crate::ofctl::{self, format_actions, format_match, parse_match_at, ParseError};
use crate::rule::{Action, Rule};

/// An ordered list of rules. Order matters only between rules of equal priority (the earlier
/// one wins in the classifiers; OpenFlow leaves it undefined and the lint reports it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleSet {
    /// The rules.
    pub rules: Vec<Rule>,
}

/// A rule as written in JSON or TOML, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Priority (default 32768).
    #[serde(default = "default_priority")]
    pub priority: u16,
    /// Cookie, decimal or `0x` hex (default 0).
    #[serde(default)]
    pub cookie: String,
    /// The match in `ovs-ofctl` syntax (`""` matches everything).
    #[serde(rename = "match", default)]
    pub pattern: String,
    /// The actions in `ovs-ofctl` syntax (`drop` or empty to drop).
    #[serde(default)]
    pub actions: String,
}

fn default_priority() -> u16 {
    crate::rule::DEFAULT_PRIORITY
}

/// Errors reading or writing rule files.
#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    /// `ovs-ofctl` text (or a match/actions string in JSON/TOML) did not parse.
    #[error("{0}")]
    Ofctl(#[from] ParseError),
    /// A ClassBench file did not parse.
    #[error("{0}")]
    ClassBench(#[from] ClassBenchError),
    /// JSON did not parse or did not describe a rule set.
    #[error("JSON rule set: {0}")]
    Json(#[from] serde_json::Error),
    /// TOML did not parse or did not describe a rule set.
    #[error("TOML rule set: {0}")]
    TomlRead(#[from] toml::de::Error),
    /// TOML could not be written.
    #[error("TOML rule set: {0}")]
    TomlWrite(#[from] toml::ser::Error),
    /// A rule's cookie is not a number.
    #[error("rule {index}: cookie {cookie:?} is not a decimal or 0x-hex 64-bit number")]
    Cookie {
        /// 0-based index of the rule in the file.
        index: usize,
        /// The text.
        cookie: String,
    },
    /// A rule's match or actions string is invalid.
    #[error("rule {index}: {source}")]
    Rule {
        /// 0-based index of the rule in the file.
        index: usize,
        /// Why.
        source: ParseError,
    },
}

impl From<&Rule> for RuleSpec {
    fn from(r: &Rule) -> RuleSpec {
        RuleSpec {
            priority: r.priority,
            cookie: format!("{:#x}", r.cookie),
            pattern: format_match(&r.pattern),
            actions: format_actions(&r.actions),
        }
    }
}

impl TryFrom<&RuleSpec> for Rule {
    type Error = RuleSetError;

    fn try_from(s: &RuleSpec) -> Result<Rule, RuleSetError> {
        let bad_cookie = || RuleSetError::Cookie {
            index: 0,
            cookie: s.cookie.clone(),
        };
        let c = s.cookie.trim();
        let cookie = if c.is_empty() {
            0
        } else if let Some(h) = c.strip_prefix("0x") {
            u64::from_str_radix(h, 16).map_err(|_| bad_cookie())?
        } else {
            c.parse().map_err(|_| bad_cookie())?
        };
        let pattern = parse_match_at(&s.pattern, 1)?;
        let actions_text = if s.actions.trim().is_empty() {
            "drop"
        } else {
            s.actions.as_str()
        };
        let actions = parse_actions_text(actions_text)?;
        Ok(Rule {
            priority: s.priority,
            cookie,
            pattern,
            actions,
        })
    }
}

fn parse_actions_text(text: &str) -> Result<Vec<Action>, ParseError> {
    let mut e = ofctl::parse_rule(&format!("actions={text}"))?;
    Ok(std::mem::take(&mut e.actions))
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RuleSpec::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        let spec = RuleSpec::deserialize(d)?;
        Rule::try_from(&spec).map_err(serde::de::Error::custom)
    }
}

impl RuleSet {
    /// A rule set of these rules.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        RuleSet { rules }
    }

    /// Parses a rules file's text in the given format, stopping at the first error
    /// (ClassBench and ClassBench-ng rules get no actions: drop). [`RuleSet::load_text`]
    /// collects every error instead.
    pub fn parse(text: &str, format: RulesFormat) -> Result<RuleSet, RuleSetError> {
        Ok(match format {
            RulesFormat::Ofctl => RuleSet::new(ofctl::parse_rules(text)?),
            RulesFormat::ClassBench => RuleSet::new(classbench::parse_filters(text, &[])?),
            RulesFormat::OfRules => {
                let import = classbench::parse_ofrules(text, &[]);
                if let Some(e) = import.rejected.into_iter().next() {
                    return Err(e.into());
                }
                RuleSet::new(import.rules)
            }
            RulesFormat::Json => RuleSet::from_json(text)?,
            RulesFormat::Toml => RuleSet::from_toml(text)?,
        })
    }

    /// `ovs-ofctl` text, one rule per line.
    pub fn to_ofctl(&self) -> String {
        self.rules.iter().map(|r| format!("{r}\n")).collect()
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String, RuleSetError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Reads JSON.
    pub fn from_json(text: &str) -> Result<RuleSet, RuleSetError> {
        Ok(serde_json::from_str(text)?)
    }

    /// TOML.
    pub fn to_toml(&self) -> Result<String, RuleSetError> {
        Ok(toml::to_string(self)?)
    }

    /// Reads TOML.
    pub fn from_toml(text: &str) -> Result<RuleSet, RuleSetError> {
        Ok(toml::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_toml_round_trip() {
        let set = RuleSet::new(
            ofctl::parse_rules(
                "priority=100,cookie=0xffffffffffffffff,tcp,nw_dst=10.0.0.0/8,tp_dst=80-90,actions=output:2\n\
                 priority=1,actions=drop\n",
            )
            .unwrap(),
        );
        let json = set.to_json().unwrap();
        assert_eq!(RuleSet::from_json(&json).unwrap(), set);
        let toml = set.to_toml().unwrap();
        assert!(
            toml.contains("match = \"tcp,nw_dst=10.0.0.0/8,tp_dst=80-90\""),
            "{toml}"
        );
        assert_eq!(RuleSet::from_toml(&toml).unwrap(), set);
        assert_eq!(RulesFormat::detect(&toml), RulesFormat::Toml);
        assert_eq!(RulesFormat::detect(&json), RulesFormat::Json);
    }

    #[test]
    fn invalid_spec_is_refused_with_reason() {
        let e = RuleSet::from_json(
            r#"{"rules":[{"priority":1,"match":"tp_dst=80","actions":"drop"}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("tp_dst requires"), "{e}");
    }
}
