//! A model directory (or a shipped model) as a classifier: its family's network from the
//! architecture registry, behind the standardisation its `[input]` names.

use super::{Classifier, NeuralClassifier, Standardise};
use crate::error::Result;
use crate::model::shipped::ModelSource;
use crate::model::{ARCHITECTURES, ModelFiles};
use crate::model::{ModelConfig, Weights};
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded model: its description and its classifier (no defences; callers put them in front
/// with [`super::Defended`], sharing the classifier).
pub struct Model {
    /// Where it was loaded from: its directory, or `shipped:NAME`.
    pub dir: PathBuf,
    /// Its `model.toml`.
    pub config: ModelConfig,
    /// The classifier.
    pub classifier: Arc<dyn Classifier>,
}

impl Model {
    /// Loads the model directory `dir` onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        Self::build(ModelSource::read_dir(dir)?, device)
    }

    /// Loads `spec`: a model directory, or else the name of a shipped model.
    pub fn open(spec: &str, device: &Device) -> Result<Self> {
        Self::build(ModelSource::open(spec)?, device)
    }

    /// Builds the classifier a model's source describes.
    pub fn build(source: ModelSource, device: &Device) -> Result<Self> {
        let ModelSource {
            origin,
            config,
            mut files,
        } = source;
        let classifier = classifier_from_files(&config, &mut files, device)?;
        files.finish()?;
        Ok(Self {
            dir: origin,
            config,
            classifier: Arc::new(classifier),
        })
    }
}

/// Builds the classifier that `config` describes from `weights`, which it must use up (a tensor
/// left over is an error naming it).
pub fn build_classifier(
    config: &ModelConfig,
    weights: Weights,
    device: &Device,
) -> Result<NeuralClassifier> {
    let mut files = ModelFiles::new(None, Some(weights));
    let classifier = classifier_from_files(config, &mut files, device)?;
    files.finish()?;
    Ok(classifier)
}

fn classifier_from_files(
    config: &ModelConfig,
    files: &mut ModelFiles,
    device: &Device,
) -> Result<NeuralClassifier> {
    let architecture = ARCHITECTURES.find(&config.architecture)?;
    (architecture.check)(config)?;
    let network = (architecture.build)(config, files, device)?;
    let frames = network.output_frames();
    let input = &config.input;
    let classifier = NeuralClassifier::from_compiled(
        network,
        input.shape.clone(),
        config.classes.len(),
        input.clip_range(),
    )?
    .with_output_frames(frames)?
    .with_sample_rate(input.sample_rate);
    Ok(match (&input.mean, &input.std) {
        (Some(mean), Some(std)) => {
            classifier.with_standardise(Standardise::new(mean, std, &input.shape)?)
        }
        _ => classifier,
    })
}
