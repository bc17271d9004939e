//! Model directories (`model.toml` + weights + model card) and the architectures avfoil knows.
//!
//! ```toml
//! architecture = "raw-audio-cnn"
//! classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
//! weights = "model.safetensors"
//! [input]
//! modality = "audio"
//! shape = [1, 8000]
//! clip = [-32768.0, 32767.0]
//! sample_rate = 8000
//! ```
//!
//! A torchvision video ResNet (`r3d-18` or `r2plus1d-18`) with its own state dict, on `[0, 1]`
//! pixels, prepared as torchvision's Kinetics-400 preset does (shorter side resized to 128, centre
//! crop 112, its mean and std; every second frame of a 30 fps video gives its 15 fps clips):
//!
//! ```toml
//! architecture = "r3d-18"
//! classes = ["abseiling", "air drumming", "…"]
//! weights = "r3d_18.pth"
//! [input]
//! modality = "video"
//! shape = [3, 16, 112, 112]
//! clip = [0.0, 1.0]
//! mean = [0.43216, 0.394666, 0.37645]
//! std = [0.22803, 0.22145, 0.216989]
//! [input.sampling]
//! stride = 2
//! resize = 128
//! ```

pub mod batch_stats;
pub mod c3d_lite;
pub mod c3d_lite_chunked;
pub mod clip_kernel;
pub mod conv_bn;
mod input;
pub mod linear;
pub mod pool3d;
pub mod raw_audio_cnn;
mod raw_audio_cnn_cpu;
pub mod raw_audio_cnn_train_cpu;
pub mod shipped;
pub mod video_resnet;
pub mod weights;

use crate::classifier::{NeuralClassifier, Standardise};
use crate::error::{Error, Result};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
pub use weights::{HostTensor, Weights};

/// The architectures `model.toml` may name.
pub const ARCHITECTURES: [&str; 5] = [
    "raw-audio-cnn",
    "c3d-lite",
    "linear",
    "r3d-18",
    "r2plus1d-18",
];

/// What kind of signal a model takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Waveforms `[C, L]`.
    Audio,
    /// Clips `[C, F, H, W]`.
    Video,
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

/// `model.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// One of [`ARCHITECTURES`].
    pub architecture: String,
    /// Class names; their count is the number of outputs.
    pub classes: Vec<String>,
    /// Weight file, relative to the model directory.
    pub weights: String,
    /// What the model takes.
    pub input: InputConfig,
}

/// A loaded model: its description and a classifier ready for attacks.
pub struct Model {
    /// Where it was loaded from.
    pub dir: PathBuf,
    /// Its `model.toml`.
    pub config: ModelConfig,
    /// The classifier (no defences yet; callers add them).
    pub classifier: NeuralClassifier,
}

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

    fn validate(&self) -> Result<()> {
        if !ARCHITECTURES.contains(&self.architecture.as_str()) {
            return Err(Error::invalid(
                "architecture",
                format!(
                    "unknown {:?}; expected one of {}",
                    self.architecture,
                    ARCHITECTURES.join(", ")
                ),
            ));
        }
        if self.classes.len() < 2 {
            return Err(Error::invalid(
                "classes",
                "a classifier needs at least 2 classes",
            ));
        }
        if self.input.shape.is_empty() || self.input.shape.contains(&0) {
            return Err(Error::invalid(
                "input.shape",
                format!("{:?} is not a valid example shape", self.input.shape),
            ));
        }
        if let Some([lo, hi]) = self.input.clip
            && (lo.is_nan() || hi.is_nan() || lo >= hi)
        {
            return Err(Error::invalid(
                "input.clip",
                format!("expected [min, max] with min < max, got [{lo}, {hi}]"),
            ));
        }
        if let Some(sampling) = &self.input.sampling {
            if self.input.modality != Modality::Video {
                return Err(Error::invalid(
                    "input.sampling",
                    "frame sampling applies to video models only",
                ));
            }
            sampling.validate()?;
        }
        if self.input.mean.is_some() != self.input.std.is_some() {
            return Err(Error::invalid(
                "input.mean",
                "mean and std must be given together",
            ));
        }
        Ok(())
    }
}

impl Model {
    /// Loads the model directory `dir` onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let config = ModelConfig::read(dir)?;
        let mut weights = Weights::load(&dir.join(&config.weights))?;
        let classifier = build_classifier(&config, &mut weights, device)?;
        weights.finish()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            classifier,
        })
    }
}

/// Builds the classifier that `config` describes from `weights`.
pub fn build_classifier(
    config: &ModelConfig,
    weights: &mut Weights,
    device: &Device,
) -> Result<NeuralClassifier> {
    let k = config.classes.len();
    let shape = config.input.shape.clone();
    let clip = config.input.clip.map(|[lo, hi]| (lo, hi));
    let classifier = match config.architecture.as_str() {
        "raw-audio-cnn" => {
            raw_audio_cnn::RawAudioCnn::check_input(&shape)?;
            let net = raw_audio_cnn::RawAudioCnn::from_weights(weights, k, device)?;
            NeuralClassifier::new(net, device, shape, k, clip)?
        }
        "c3d-lite" => {
            let net = c3d_lite::C3dLite::from_weights(weights, k, &shape, device)?;
            NeuralClassifier::new(net, device, shape, k, clip)?
        }
        "linear" => {
            let d = shape.iter().product();
            let net = linear::LinearSoftmax::from_weights(weights, k, d, device)?;
            NeuralClassifier::new(net, device, shape, k, clip)?
        }
        "r3d-18" | "r2plus1d-18" => {
            let spec = video_resnet::VideoResNetSpec::from_architecture(&config.architecture)
                .expect("the match arm names only video ResNets");
            let net = video_resnet::VideoResNet::from_weights(weights, &spec, k, &shape, device)?;
            NeuralClassifier::new(net, device, shape, k, clip)?
        }
        other => return Err(Error::invalid("architecture", format!("unknown {other:?}"))),
    };
    Ok(match (&config.input.mean, &config.input.std) {
        (Some(mean), Some(std)) => {
            classifier.with_standardise(Standardise::new(mean, std, &config.input.shape)?)
        }
        _ => classifier,
    })
}
