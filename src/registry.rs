//! Open registries: the model families, attacks and defences avfoil knows, looked up by name.
//!
//! Each registry is a list of built-in entries (one line per entry, next to the code that defines
//! it) plus the entries registered at run time, so that a crate using avfoil as a library adds its
//! own attack or model family with one call and every front end (command line, scenario files)
//! finds it by name.

use crate::error::{Error, Result};
use std::sync::RwLock;

/// Something a registry holds: it has a unique name.
pub trait Entry: Sync + 'static {
    /// The name users give (`pgd`, `mp3`, `raw-audio-cnn`).
    fn name(&self) -> &'static str;
}

/// A registry of `T`s: the built-in ones and the ones registered since.
pub struct Registry<T: 'static> {
    /// What the entries are, for errors (`attack`, `defence`, `architecture`).
    what: &'static str,
    builtin: &'static [&'static T],
    added: RwLock<Vec<&'static T>>,
}

impl<T: Entry> Registry<T> {
    /// A registry of `what`s holding `builtin`.
    pub const fn new(what: &'static str, builtin: &'static [&'static T]) -> Self {
        Self {
            what,
            builtin,
            added: RwLock::new(Vec::new()),
        }
    }

    /// Every entry: the built-in ones, then the registered ones in registration order.
    pub fn all(&self) -> Vec<&'static T> {
        let added = self.added.read().unwrap_or_else(|e| e.into_inner());
        self.builtin.iter().chain(added.iter()).copied().collect()
    }

    /// Every entry's name, in [`all`](Self::all)'s order.
    pub fn names(&self) -> Vec<&'static str> {
        self.all().iter().map(|e| e.name()).collect()
    }

    /// The entry called `name`.
    pub fn find(&self, name: &str) -> Result<&'static T> {
        self.all()
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    self.what,
                    format!(
                        "unknown {} {name:?}; expected one of {}",
                        self.what,
                        self.names().join(", ")
                    ),
                )
            })
    }

    /// Adds `entry`; its name must be new.
    pub fn register(&self, entry: &'static T) -> Result<()> {
        let mut added = self.added.write().unwrap_or_else(|e| e.into_inner());
        let taken = self
            .builtin
            .iter()
            .chain(added.iter())
            .any(|e| e.name() == entry.name());
        if taken {
            return Err(Error::invalid(
                self.what,
                format!("{} {:?} is registered already", self.what, entry.name()),
            ));
        }
        added.push(entry);
        Ok(())
    }
}
