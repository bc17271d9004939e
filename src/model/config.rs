//! `model.toml`: what a model directory says about its model, checked before any weight is read.

use super::ARCHITECTURES;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What kind of signal a model takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Waveforms `[C, L]`.
    Audio,
    /// Clips `[C, F, H, W]`.
    Video,
}

impl Modality {
    /// `audio` or `video`.
    pub fn name(self) -> &'static str {
        match self {
            Modality::Audio => "audio",
            Modality::Video => "video",
        }
    }
}

/// The `[input]` table of `model.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Audio or video.
    pub modality: Modality,
    /// One example, channels first.
    pub shape: Vec<usize>,
    /// Valid input range (ART's `clip_values`).
    pub clip: Option<[f32; 2]>,
    /// Audio sample rate in Hz.
    pub sample_rate: Option<u32>,
    /// Per-channel mean, subtracted inside the model.
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation, divided inside the model.
    pub std: Option<Vec<f32>>,
    /// Video only: which frames of a video the model sees and how they are sized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<crate::video::clip::Sampling>,
}

impl InputConfig {
    /// The clip range as `(min, max)`.
    pub fn clip_range(&self) -> Option<(f32, f32)> {
        self.clip.map(|[lo, hi]| (lo, hi))
    }
}

/// `model.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A registered architecture ([`super::ARCHITECTURES`]).
    pub architecture: String,
    /// Class names; their count is the number of outputs.
    pub classes: Vec<String>,
    /// Weight file, relative to the model directory; families that carry their own weights (an
    /// ONNX graph) need none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
    /// What the model takes.
    pub input: InputConfig,
    /// Architecture `onnx` only: the graph and how to read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<OnnxConfig>,
}

/// The `[onnx]` table of `model.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxConfig {
    /// The graph, relative to the model directory.
    pub file: String,
    /// The graph input that takes the signal (default: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The graph output that holds the scores (default: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// What that output holds.
    #[serde(default)]
    pub scores: crate::onnx::network::Scores,
    /// Fixed values of the graph's other inputs, by name: a number, or "zeros" (a recurrent
    /// state) in the shape the graph declares.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub constants: std::collections::BTreeMap<String, FixedInput>,
    /// Streaming audio models: how a waveform becomes the graph's batch of windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framing: Option<crate::onnx::network::Framing>,
}

/// A fixed value for a graph input: a number (a sample rate), or `"zeros"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FixedInput {
    Number(f64),
    Text(String),
}

/// The most values one example may hold: every buffer sized from `input.shape` stays within 1 GiB
/// of float32 per example.
pub const MAX_INPUT_ELEMENTS: usize = 1 << 28;

impl ModelConfig {
    /// Reads and validates `dir/model.toml`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("model.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Self::parse(&text, &path)
    }

    /// Parses and validates the text of a `model.toml` (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let config: ModelConfig =
            toml::from_str(text).map_err(|e| Error::decode(path, e.to_string()))?;
        config
            .validate()
            .map_err(|e| Error::decode(path, e.to_string()))?;
        Ok(config)
    }

    /// Checks every key, then that the architecture takes this input.
    pub fn validate(&self) -> Result<()> {
        let architecture = ARCHITECTURES.find(&self.architecture)?;
        if self.classes.len() < 2 {
            return Err(Error::invalid(
                "classes",
                "a classifier needs at least 2 classes",
            ));
        }
        let input = &self.input;
        if input.shape.is_empty() || input.shape.contains(&0) {
            return Err(Error::invalid(
                "input.shape",
                format!("{:?} is not a valid example shape", input.shape),
            ));
        }
        let elements = input
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= MAX_INPUT_ELEMENTS);
        if elements.is_none() {
            return Err(Error::invalid(
                "input.shape",
                format!(
                    "{:?} holds more than {MAX_INPUT_ELEMENTS} values per example (1 GiB of \
                     float32)",
                    input.shape
                ),
            ));
        }
        if let Some(rate) = input.sample_rate {
            crate::audio::check_sample_rate(rate)
                .map_err(|e| Error::invalid("input.sample_rate", e))?;
        }
        if let Some([lo, hi]) = input.clip
            && !(lo.is_finite() && hi.is_finite() && lo < hi)
        {
            return Err(Error::invalid(
                "input.clip",
                format!("expected [min, max] with min < max, got [{lo}, {hi}]"),
            ));
        }
        if let Some(sampling) = &input.sampling {
            if input.modality != Modality::Video {
                return Err(Error::invalid(
                    "input.sampling",
                    "frame sampling applies to video models only",
                ));
            }
            sampling.validate()?;
        }
        if input.mean.is_some() != input.std.is_some() {
            return Err(Error::invalid(
                "input.mean",
                "mean and std must be given together",
            ));
        }
        if architecture.needs_weights && self.weights.is_none() {
            return Err(Error::invalid(
                "weights",
                format!(
                    "{} needs a weights file (weights = \"model.safetensors\")",
                    self.architecture
                ),
            ));
        }
        (architecture.check)(self)
    }
}
