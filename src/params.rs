//! Named parameters of an attack or a defence, as a scenario table or command-line flags give them.
//!
//! An attack's or a defence's file reads its parameters from a [`Params`] with
//! [`take`](Params::take), then [`finish`](Params::finish) refuses every key it did not read. So one
//! parser serves the scenario file (`max_iter = 40` in an `[[attack]]` table, with its line in
//! errors) and the command line (`--max-iter 40`, or `--param max_iter=40` for any parameter), and
//! each parameter's default and validation live once, beside the code that uses it. Each entry also
//! lists its parameters as [`Param`]s, from which the docs and `avfoil list` are written.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// One parameter as documented: its key, default and meaning.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub key: &'static str,
    /// The default, as it would be written (`"100"`, `"none"`, `"eps / 4"`).
    pub default: &'static str,
    pub about: &'static str,
}

/// How keys are shown in errors: as written in a scenario table, or as command-line flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStyle {
    /// `max_iter`
    Table,
    /// `--max-iter`
    Flag,
}

#[derive(Clone, Debug)]
struct Slot {
    key: String,
    value: toml::Value,
    /// Byte range of the key in the scenario file.
    span: Option<Range<usize>>,
    /// How errors name it, when not as [`Params::display`] would (a command-line flag of another
    /// name).
    shown: Option<String>,
    taken: bool,
}

/// Parameters not yet read; see the module docs.
#[derive(Clone, Debug)]
pub struct Params {
    slots: Vec<Slot>,
    style: KeyStyle,
    blame: Option<Range<usize>>,
}

/// A table of a scenario file, with the position of each key.
pub type SpannedTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

impl Params {
    /// No parameters yet, shown in `style`.
    pub fn new(style: KeyStyle) -> Self {
        Self {
            slots: Vec::new(),
            style,
            blame: None,
        }
    }

    /// The keys of a scenario table.
    pub fn from_table(table: SpannedTable) -> Self {
        let slots = table
            .into_iter()
            .map(|(k, v)| Slot {
                span: Some(k.span()),
                key: k.into_inner(),
                value: v.into_inner(),
                shown: None,
                taken: false,
            })
            .collect();
        Self {
            slots,
            style: KeyStyle::Table,
            blame: None,
        }
    }

    /// The keys of an inline table (a value inside a scenario table, whose keys have no position
    /// of their own).
    pub fn from_inline(table: toml::Table) -> Self {
        let mut params = Self::new(KeyStyle::Table);
        for (key, value) in table {
            params.insert(&key, value);
        }
        params
    }

    /// Sets `key` (a later value replaces an earlier one).
    pub fn insert(&mut self, key: &str, value: toml::Value) {
        self.insert_shown(key, value, None);
    }

    /// Sets `key`, given by the user as `shown` (a flag such as `--mp3-bitrate`), which errors about
    /// it name.
    pub fn insert_shown(&mut self, key: &str, value: toml::Value, shown: Option<String>) {
        self.slots.retain(|s| s.key != key);
        self.slots.push(Slot {
            key: key.to_string(),
            value,
            span: None,
            shown,
            taken: false,
        });
    }

    /// `key=value` as written on a command line: the value is read as TOML (`40`, `0.5`, `true`,
    /// `[1, 2]`, `"text"`), or else taken as a string.
    pub fn insert_assignment(&mut self, assignment: &str) -> Result<()> {
        let Some((key, value)) = assignment.split_once('=') else {
            return Err(Error::invalid(
                "--param",
                format!("expected KEY=VALUE, got {assignment:?}"),
            ));
        };
        let key = key.trim();
        let value = value.trim();
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        self.insert(key, parsed);
        Ok(())
    }

    /// `key` as the user wrote it: `max_iter` in a table, `--max-iter` on the command line.
    pub fn display(&self, key: &str) -> String {
        if let Some(shown) = self
            .slots
            .iter()
            .find(|s| s.key == key)
            .and_then(|s| s.shown.clone())
        {
            return shown;
        }
        match self.style {
            KeyStyle::Table => key.to_string(),
            KeyStyle::Flag => format!("--{}", key.replace('_', "-")),
        }
    }

    /// Whether `key` was given (and not read yet).
    pub fn has(&self, key: &str) -> bool {
        self.slots.iter().any(|s| s.key == key && !s.taken)
    }

    /// Reads `key` as a `T`, if it was given. A value of the wrong type is an error naming the key.
    pub fn take<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        let Some(slot) = self.slots.iter_mut().find(|s| s.key == key && !s.taken) else {
            return Ok(None);
        };
        slot.taken = true;
        let (value, span) = (slot.value.clone(), slot.span.clone());
        T::deserialize(value).map(Some).map_err(|e| {
            self.blame = span;
            Error::invalid(self.display(key), e.to_string())
        })
    }

    /// Reads `key`, or `default` when it was not given.
    pub fn take_or<T: DeserializeOwned>(&mut self, key: &str, default: T) -> Result<T> {
        Ok(self.take(key)?.unwrap_or(default))
    }

    /// Removes `key` and returns its raw value (scenario-level keys such as `name` and `eps`).
    pub fn remove(&mut self, key: &str) -> Option<(toml::Value, Option<Range<usize>>)> {
        let i = self.slots.iter().position(|s| s.key == key && !s.taken)?;
        let slot = self.slots.remove(i);
        Some((slot.value, slot.span))
    }

    /// Refuses every key not read: `owner`'s parameters are `accepted`.
    pub fn finish(&mut self, owner: &str, accepted: &[Param]) -> Result<()> {
        let Some(slot) = self.slots.iter().find(|s| !s.taken) else {
            return Ok(());
        };
        self.blame = slot.span.clone();
        let known: Vec<String> = accepted.iter().map(|p| self.display(p.key)).collect();
        Err(Error::invalid(
            self.display(&slot.key),
            format!(
                "not a parameter of {owner}{}",
                if known.is_empty() {
                    " (it takes none)".to_string()
                } else {
                    format!(" (its parameters: {})", known.join(", "))
                }
            ),
        ))
    }

    /// The position of the key that the last error was about, when it came from a scenario file.
    pub fn blame(&self) -> Option<Range<usize>> {
        self.blame.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: &[Param] = &[Param {
        key: "max_iter",
        default: "100",
        about: "iterations",
    }];

    #[test]
    fn flags_and_assignments_read_as_typed_values_and_unknown_keys_are_named() {
        let mut p = Params::new(KeyStyle::Flag);
        p.insert_assignment("max_iter=40").unwrap();
        p.insert_assignment("steps = 3").unwrap();
        assert_eq!(p.take::<usize>("max_iter").unwrap(), Some(40));
        assert_eq!(p.take_or::<usize>("max_iter", 7).unwrap(), 7);
        let e = p.finish("pgd", PARAMS).unwrap_err().to_string();
        assert!(e.contains("--steps") && e.contains("--max-iter"), "{e}");
        let mut p = Params::new(KeyStyle::Flag);
        p.insert_assignment("max_iter=forty").unwrap();
        let e = p.take::<usize>("max_iter").unwrap_err().to_string();
        assert!(e.contains("--max-iter"), "{e}");
        assert!(p.insert_assignment("no-equals").is_err());
    }

    #[test]
    fn table_keys_keep_their_position_for_errors() {
        let text = "a = 1\nmax_iter = \"x\"\n";
        let table: SpannedTable = toml::from_str(text).unwrap();
        let mut p = Params::from_table(table);
        assert_eq!(p.take::<i64>("a").unwrap(), Some(1));
        assert!(p.take::<usize>("max_iter").is_err());
        let span = p.blame().unwrap();
        assert_eq!(&text[span], "max_iter");
    }
}
