//! Scenario documents for sweeps: a scenario file kept as a TOML table
//! ([`ScenarioDocument`]), so that a sweep can set any scalar key by its path (`vms.count`,
//! `workload.mix[1].share`) and validate the result as a [`Scenario`]. Missing tables on the
//! way are created; whether the key exists is then checked by deserialising the spec, which
//! refuses unknown keys.
//!
//! ```
//! use sim_harness::scenario::ScenarioDocument;
//!
//! let doc = ScenarioDocument::from_toml("[vms]\ncount = 2\n", None)?;
//! let s = doc.with("vms.count", &toml::Value::Integer(3))?;
//! assert_eq!(s.topology.vms.len(), 3);
//! let err = doc.with("vms.count[0]", &toml::Value::Integer(3)).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "<scenario>: vms.count[0]: [0] indexes something that is not an array"
//! );
//! # Ok::<(), sim_harness::scenario::ScenarioError>(())
//! ```

use std::path::{Path, PathBuf};

use crate::scenario::{
    file_name, key_err, line_column, LocatedSpec, Scenario, ScenarioError, ScenarioSpec, SweepSpec,
};

/// A key path that cannot be set in a scenario document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPathError {
    /// The text is not a key path (an empty name, an unclosed `[`).
    #[error("`{path}` is not a key path (`a.b`, `a[0].b`)")]
    NotAPath {
        /// The text given.
        path: String,
    },
    /// What stands between `[` and `]` is not a number.
    #[error("`{text}` is not an array index")]
    NotAnIndex {
        /// The text between the brackets.
        text: String,
    },
    /// A key's parent is a value, not a table.
    #[error("`{key}`'s parent is not a table")]
    ParentNotTable {
        /// The key.
        key: String,
    },
    /// An index is past the array's end.
    #[error("index {index} is past the array's {len} elements")]
    PastEnd {
        /// The index.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// An index follows something that is not an array.
    #[error("[{index}] indexes something that is not an array")]
    NotAnArray {
        /// The index.
        index: usize,
    },
    /// The path ends at a table or an array.
    #[error("is not a scalar key (a sweep varies numbers, strings or booleans)")]
    NotScalar,
}

/// A scenario file kept as a TOML document, so a sweep can set any key by its path.
#[derive(Debug, Clone)]
pub struct ScenarioDocument {
    /// The document.
    pub table: toml::Table,
    /// The file it was read from.
    pub file: Option<PathBuf>,
    /// Its text as read.
    pub text: String,
}

impl ScenarioDocument {
    /// Reads the file at `path` as a document.
    pub fn from_file(path: &Path) -> Result<ScenarioDocument, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Io {
            file: path.display().to_string(),
            what: e.to_string(),
        })?;
        ScenarioDocument::from_toml(&text, Some(path))
    }

    /// Reads TOML `text` (from `file`) as a document; validates it as a scenario too, so a
    /// bad file is refused before any sweep point runs.
    pub fn from_toml(text: &str, file: Option<&Path>) -> Result<ScenarioDocument, ScenarioError> {
        ScenarioSpec::from_toml(text, file)?;
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
            ScenarioError::Syntax {
                file: file_name(file),
                line,
                column,
                what: e.message().trim().to_string(),
            }
        })?;
        Ok(ScenarioDocument {
            table,
            file: file.map(Path::to_path_buf),
            text: text.to_string(),
        })
    }

    /// The scenario of the document as it is.
    pub fn scenario(&self) -> Result<Scenario, ScenarioError> {
        Scenario::from_toml(&self.text, self.file.as_deref())
    }

    /// The sweep the document itself names (`[sweep]`), if any.
    pub fn sweep(&self) -> Result<Option<SweepSpec>, ScenarioError> {
        Ok(ScenarioSpec::from_toml(&self.text, self.file.as_deref())?.sweep)
    }

    /// The document's TOML text with `key` set to `value`: the scenario [`Self::with`] gives,
    /// as a file (what `snich plan` writes into a job). Validate it with [`Self::with`].
    pub fn text_with(&self, key: &str, value: &toml::Value) -> Result<String, ScenarioError> {
        let f = file_name(self.file.as_deref());
        let mut table = self.table.clone();
        set_path(&mut table, key, value.clone()).map_err(|e| key_err(&f, key, e.to_string()))?;
        toml::to_string(&table).map_err(|e| key_err(&f, key, e.to_string()))
    }

    /// The scenario with `key` (a dotted path, `[i]` for array elements) set to `value`.
    /// Errors name the file, the key and the value.
    pub fn with(&self, key: &str, value: &toml::Value) -> Result<Scenario, ScenarioError> {
        let f = file_name(self.file.as_deref());
        let mut table = self.table.clone();
        set_path(&mut table, key, value.clone()).map_err(|e| key_err(&f, key, e.to_string()))?;
        let spec: ScenarioSpec = serde_path_to_error::deserialize(table).map_err(|e| {
            let path = e.path().to_string();
            key_err(
                &f,
                path,
                format!("{} (with {key} = {value})", e.into_inner().message().trim()),
            )
        })?;
        Scenario::try_from(LocatedSpec {
            spec,
            file: self.file.clone(),
        })
        .map_err(|e| match e {
            ScenarioError::Key {
                file,
                place,
                key: k,
                what,
            } => ScenarioError::Key {
                file,
                place,
                key: k,
                what: format!("{what} (with {key} = {value})"),
            },
            other => other,
        })
    }
}

fn not_a_path(path: &str) -> KeyPathError {
    KeyPathError::NotAPath {
        path: path.to_string(),
    }
}

/// One step of a key path: a table key, or an index into an array.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The steps of `path` (`a.b[2].c`).
fn parse_path(path: &str) -> Result<Vec<Step<'_>>, KeyPathError> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() {
            return Err(not_a_path(path));
        }
        steps.push(Step::Key(name));
        while !rest.is_empty() {
            let close = rest
                .find(']')
                .filter(|_| rest.starts_with('['))
                .ok_or_else(|| not_a_path(path))?;
            let i = rest[1..close]
                .parse()
                .map_err(|_| KeyPathError::NotAnIndex {
                    text: rest[1..close].to_string(),
                })?;
            steps.push(Step::Index(i));
            rest = &rest[close + 1..];
        }
    }
    Ok(steps)
}

/// Sets the scalar at `path` in `table`, creating missing tables on the way (the key's
/// validity is then checked by deserialising the spec, which refuses unknown keys).
fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), KeyPathError> {
    let steps = parse_path(path)?;
    let mut slot: Option<&mut toml::Value> = None;
    let mut root = Some(table);
    for (n, step) in steps.iter().enumerate() {
        let last = n + 1 == steps.len();
        let next: &mut toml::Value = match (step, root.take(), slot.take()) {
            (Step::Key(k), Some(t), None) => t
                .entry((*k).to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())),
            (Step::Key(k), None, Some(v)) => match v {
                toml::Value::Table(t) => t
                    .entry((*k).to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new())),
                _ => {
                    return Err(KeyPathError::ParentNotTable {
                        key: (*k).to_string(),
                    })
                }
            },
            (Step::Index(i), None, Some(v)) => match v {
                toml::Value::Array(a) => {
                    let len = a.len();
                    a.get_mut(*i)
                        .ok_or(KeyPathError::PastEnd { index: *i, len })?
                }
                _ => return Err(KeyPathError::NotAnArray { index: *i }),
            },
            _ => return Err(not_a_path(path)),
        };
        if last {
            if matches!(next, toml::Value::Table(t) if !t.is_empty())
                || matches!(next, toml::Value::Array(_))
            {
                return Err(KeyPathError::NotScalar);
            }
            *next = value;
            return Ok(());
        }
        slot = Some(next);
    }
    Err(not_a_path(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_path_creates_tables_and_refuses_non_scalars() {
        let mut t: toml::Table = toml::from_str("[workload]\nmix = [{ share = 1.0 }]").unwrap();
        set_path(&mut t, "vms.count", toml::Value::Integer(3)).unwrap();
        set_path(&mut t, "workload.mix[0].share", toml::Value::Float(0.5)).unwrap();
        assert_eq!(t["vms"]["count"].as_integer(), Some(3));
        assert_eq!(t["workload"]["mix"][0]["share"].as_float(), Some(0.5));
        let one = || toml::Value::Integer(1);
        assert_eq!(
            set_path(&mut t, "workload.mix", one()),
            Err(KeyPathError::NotScalar)
        );
        assert_eq!(
            set_path(&mut t, "workload.mix[4].share", one()),
            Err(KeyPathError::PastEnd { index: 4, len: 1 })
        );
        assert_eq!(
            set_path(&mut t, "a..b", one()),
            Err(KeyPathError::NotAPath {
                path: "a..b".into()
            })
        );
        assert_eq!(
            set_path(&mut t, "vms.count.x", one()),
            Err(KeyPathError::ParentNotTable { key: "x".into() })
        );
        assert_eq!(
            set_path(&mut t, "vms[x]", one()),
            Err(KeyPathError::NotAnIndex { text: "x".into() })
        );
    }
}
