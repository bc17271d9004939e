//! What a model family registers: its name, the check of a `model.toml` against it, and how it
//! builds its network from the model's files.

use super::config::ModelConfig;
use super::network::CompiledNetwork;
use super::weights::Weights;
use crate::error::{Error, Result};
use crate::registry::Entry;
use burn::tensor::Device;
use std::path::PathBuf;

/// One model family.
pub struct Architecture {
    /// What `architecture = "…"` says.
    pub name: &'static str,
    /// One line for listings and docs.
    pub about: &'static str,
    /// Whether `model.toml` must name a weights file (families that carry their own, such as an
    /// ONNX graph, need none).
    pub needs_weights: bool,
    /// Checks that the model's `[input]` (and classes) fit the family, before any weight is read.
    pub check: fn(&ModelConfig) -> Result<()>,
    /// Builds the network on `device` from the model's files.
    pub build: fn(&ModelConfig, &mut ModelFiles, &Device) -> Result<CompiledNetwork>,
    /// Writes the network (without the standardisation, which model.toml keeps) as an ONNX
    /// graph from its weights, for families that can (`avfoil export`).
    pub export: Option<ExportFn>,
}

/// Writes a family's network as the bytes of an ONNX file, from its model.toml and weights.
pub type ExportFn = fn(&ModelConfig, &mut Weights) -> Result<Vec<u8>>;

impl Entry for Architecture {
    fn name(&self) -> &'static str {
        self.name
    }
}

/// What a model's files offer its family while it is built: where the model directory is (none for
/// a model shipped inside the binary), and the weights `model.toml` names.
pub struct ModelFiles {
    /// The model directory.
    pub dir: Option<PathBuf>,
    weights: Option<Weights>,
    /// A graph shipped inside the binary: (its name for errors, its bytes).
    graph: Option<(&'static str, &'static [u8])>,
}

impl ModelFiles {
    /// Files of a model in `dir` (if any) with `weights` (if any).
    pub fn new(dir: Option<PathBuf>, weights: Option<Weights>) -> Self {
        Self {
            dir,
            weights,
            graph: None,
        }
    }

    /// The files of a shipped model whose graph (an ONNX file) is in the binary.
    pub fn shipped_graph(name: &'static str, bytes: &'static [u8]) -> Self {
        Self {
            dir: None,
            weights: None,
            graph: Some((name, bytes)),
        }
    }

    /// The shipped graph, if this model has one.
    pub fn graph_bytes(&self) -> Option<(&'static str, &'static [u8])> {
        self.graph
    }

    /// The weights, for families that read them.
    pub fn weights(&mut self) -> Result<&mut Weights> {
        self.weights
            .as_mut()
            .ok_or_else(|| Error::invalid("weights", "this architecture needs a weights file"))
    }

    /// Checks that the family used every tensor of the weights file.
    pub fn finish(self) -> Result<()> {
        match self.weights {
            Some(w) => w.finish(),
            None => Ok(()),
        }
    }
}
