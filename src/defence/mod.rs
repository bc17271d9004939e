//! Input-transformation defences (ART's preprocessor defences). Each implements
//! [`crate::classifier::Preprocessor`]: a forward transformation and, by default, an identity backward
//! pass (BPDA), which is what makes `attack --defence ...` the adaptive attack.
//!
//! A defence is one file: the transformation, a [`DefenceSpec`] (its parameters, validated, and
//! how it is built for a model's inputs) and a [`DefenceEntry`] that parses the spec from a
//! scenario table or command-line flags. One line in [`BUILTIN`] registers it.

pub mod bit_depth;
pub mod fir;
pub mod frame_drop;
pub mod gaussian_noise;
pub mod h264;
pub mod jpeg;
pub mod median;
pub mod median_spatial;
pub mod moving_average;
pub mod mp3;
pub mod resample;
pub mod room;
mod window;

pub use gaussian_noise::GaussianNoise;
pub use h264::{H264Backend, H264Compression, H264Quality};
pub use mp3::Mp3Compression;

use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::params::{Param, Params};
use crate::registry::{Entry, Registry};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

/// A defence as a user configured it, before it is built for a model.
pub trait DefenceSpec: std::fmt::Debug + Send + Sync {
    /// The registered name (`mp3`).
    fn name(&self) -> &'static str;
    /// The defence for a model with these inputs (an error says why it does not fit).
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>>;
    /// Every parameter with its value, for reports.
    fn params(&self) -> serde_json::Value;
    /// Whether the defence draws fresh randomness on every pass (what the summary needs, without a
    /// model, to ask for expectation over transformation); its preprocessor says the same.
    fn randomised(&self) -> bool {
        false
    }
}

/// A defence in the registry.
pub struct DefenceEntry {
    pub name: &'static str,
    /// One line for listings and docs.
    pub about: &'static str,
    /// What [`parse`](Self::parse) reads, for listings and docs.
    pub params: &'static [Param],
    /// Reads the defence's parameters (and nothing else) from `params`.
    pub parse: fn(&mut Params) -> Result<Box<dyn DefenceSpec>>,
}

impl Entry for DefenceEntry {
    fn name(&self) -> &'static str {
        self.name
    }
}

/// The built-in defences, one line each.
const BUILTIN: &[&DefenceEntry] = &[
    &mp3::ENTRY,
    &h264::ENTRY,
    &gaussian_noise::ENTRY,
    &room::ENTRY,
    &resample::ENTRY,
    &fir::LOWPASS,
    &fir::BANDPASS,
    &bit_depth::ENTRY,
    &median::ENTRY,
    &moving_average::ENTRY,
    &jpeg::ENTRY,
    &median_spatial::ENTRY,
    &frame_drop::SUBSAMPLE,
    &frame_drop::DROP,
];

/// Every defence.
pub static DEFENCES: Registry<DefenceEntry> = Registry::new("defence", BUILTIN);

/// The defence called `name` configured by `params`, every key of which it must read.
pub fn parse(name: &str, params: &mut Params) -> Result<Box<dyn DefenceSpec>> {
    let entry = DEFENCES.find(name)?;
    let spec = (entry.parse)(params)?;
    params.finish(entry.name, entry.params)?;
    Ok(spec)
}

/// Defences applied one after the other, under one label (`mp3`, `mp3-16k`, `mp3+h264`).
#[derive(Debug)]
pub struct DefenceChain {
    pub label: String,
    pub stages: Vec<Box<dyn DefenceSpec>>,
}

impl DefenceChain {
    /// `stages` labelled `label`, or by their names joined with `+`.
    pub fn new(label: Option<String>, stages: Vec<Box<dyn DefenceSpec>>) -> Result<Self> {
        if stages.is_empty() {
            return Err(Error::invalid(
                "defence",
                "a chain needs at least one defence",
            ));
        }
        let label = label.unwrap_or_else(|| {
            stages
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join("+")
        });
        if label.is_empty() || label.contains('|') {
            return Err(Error::invalid(
                "label",
                format!("{label:?}: a non-empty name without '|'"),
            ));
        }
        Ok(Self { label, stages })
    }

    /// The preprocessors for a model with these inputs, in order.
    pub fn build(&self, input: &InputConfig) -> Result<Vec<Box<dyn Preprocessor>>> {
        self.stages.iter().map(|s| s.build(input)).collect()
    }

    /// Whether any stage is randomised.
    pub fn randomised(&self) -> bool {
        self.stages.iter().any(|s| s.randomised())
    }

    /// Every stage's name and parameters, for reports.
    pub fn params(&self) -> serde_json::Value {
        let stages: Vec<serde_json::Value> = self
            .stages
            .iter()
            .map(|s| {
                let mut p = s.params();
                p["name"] = serde_json::json!(s.name());
                p
            })
            .collect();
        serde_json::json!({ "label": self.label, "stages": stages })
    }
}

/// Applies a per-example codec to every row of a batch `[N, d]`, examples in parallel, on the host;
/// the input tensor is not touched. Codecs work on host buffers, so this is where every defence's
/// batch goes through them.
pub(crate) fn map_examples(
    x: Tensor<2>,
    f: impl Fn(&[f32]) -> Result<Vec<f32>> + Sync + Send,
) -> Result<Tensor<2>> {
    let [n, d] = x.dims();
    let device = x.device();
    let host = crate::array::tensor_to_vec(x);
    let rows: Vec<Vec<f32>> = host.par_chunks(d.max(1)).map(f).collect::<Result<_>>()?;
    Ok(Tensor::from_data(
        TensorData::new(rows.concat(), [n, d]),
        &device,
    ))
}

/// The `[channels, samples]` of an audio model's examples, or an error naming `defence`: the
/// waveform defences refuse video models instead of filtering along the wrong axis.
pub(crate) fn audio_shape(input: &InputConfig, defence: &str) -> Result<[usize; 2]> {
    match (input.modality, input.shape.as_slice()) {
        (Modality::Audio, &[c, l]) if c > 0 && l > 0 => Ok([c, l]),
        _ => Err(Error::invalid(
            "defence",
            format!(
                "{defence} needs an audio model with [channels, samples] inputs; this model is {} \
                 with inputs of shape {:?}",
                input.modality.name(),
                input.shape
            ),
        )),
    }
}

/// The sample rate of an audio model, or an error naming `defence` (the filters are in Hz).
pub(crate) fn sample_rate(input: &InputConfig, defence: &str) -> Result<u32> {
    audio_shape(input, defence)?;
    input.sample_rate.ok_or_else(|| {
        Error::invalid(
            "defence",
            format!("{defence} needs input.sample_rate in the model's model.toml"),
        )
    })
}

/// The `[channels, frames, height, width]` of a video model's examples, or an error naming
/// `defence`.
pub(crate) fn video_shape(input: &InputConfig, defence: &str) -> Result<[usize; 4]> {
    match (input.modality, input.shape.as_slice()) {
        (Modality::Video, &[c, f, h, w]) if c * f * h * w > 0 => Ok([c, f, h, w]),
        _ => Err(Error::invalid(
            "defence",
            format!(
                "{defence} needs a video model with [channels, frames, height, width] inputs; this \
                 model is {} with inputs of shape {:?}",
                input.modality.name(),
                input.shape
            ),
        )),
    }
}

/// Applies `f` to every `len`-long run of every example of a batch `[N, d]` (a channel of a
/// waveform, a frame of one colour), examples in parallel; the input tensor is not touched. Most
/// preprocessors act on such runs independently, so this keeps the channel bookkeeping in one place.
pub(crate) fn map_runs(
    x: Tensor<2>,
    len: usize,
    f: impl Fn(&[f32]) -> Result<Vec<f32>> + Sync + Send,
) -> Result<Tensor<2>> {
    map_examples(x, |row| {
        let mut out = Vec::with_capacity(row.len());
        for run in row.chunks(len.max(1)) {
            out.extend(f(run)?);
        }
        Ok(out)
    })
}

/// The exact backward pass of a preprocessor acting on runs of `len` (see [`map_runs`]):
/// `f(x_run, grad_run)` is the gradient at the run's input, given the run's input and the
/// gradient at its output.
pub(crate) fn backward_runs(
    x_in: &Tensor<2>,
    grad: Tensor<2>,
    len: usize,
    f: impl Fn(&[f32], &[f32]) -> Vec<f32> + Sync + Send,
) -> Tensor<2> {
    let [n, d] = grad.dims();
    let device = grad.device();
    let x = crate::array::tensor_to_vec(x_in.clone());
    let g = crate::array::tensor_to_vec(grad);
    let len = len.max(1);
    let out: Vec<f32> = x
        .par_chunks(len)
        .zip(g.par_chunks(len))
        .flat_map_iter(|(x, g)| f(x, g))
        .collect();
    Tensor::from_data(TensorData::new(out, [n, d]), &device)
}
