//! The estimator contract that attacks rely on (ART's `PyTorchClassifier`, minus its surprises),
//! and the classifiers that implement it.
//!
//! A classifier sees inputs in *input space* (the user's units: int16-scale audio, [0, 1] pixels),
//! flattened to `[N, features]`, and gives the input gradient of any differentiable function of
//! its scores ([`Objective`]). Classifiers compose:
//!
//! - [`NeuralClassifier`]: a network (burn's autodiff, or a host kernel where one exists) behind the
//!   mean/std standardisation, with its input description (shape, classes, clip range);
//! - [`Defended`]: any classifier behind a chain of input transformations ([`Preprocessor`], ART's
//!   `preprocessing_defences`), each with its own backward pass (identity by default: BPDA) and a
//!   seeded random source for randomised defences;
//! - [`Eot`]: any classifier with every gradient averaged over several draws of its randomised
//!   defences (expectation over transformation);
//! - [`Counting`]: any classifier, counting what is asked of it.
//!
//! Everything downstream (attacks, evaluation, the command line) takes `&dyn Classifier`; a loaded
//! [`Model`] holds an `Arc<dyn Classifier>` so that one network serves every defence in front of it.

mod counting;
mod defended;
mod eot;
mod load;
mod neural;
pub mod objective;
mod standardise;

pub use counting::{Counting, Counts};
pub use defended::{Defended, Preprocessor};
pub use eot::Eot;
pub use load::{Model, build_classifier};
pub use neural::NeuralClassifier;
pub use objective::Objective;
pub use standardise::Standardise;

use crate::error::{Error, Result};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor};
use objective::{ClassLogit, CrossEntropy, PredictedCrossEntropy};

/// One clip evaluated with every activation kept, so that replacing some of its frames is cheap
/// (see [`Classifier::clip_session`]). Clips are one example each, flattened, in input space.
pub trait ClipSession {
    /// Logits of the current clip.
    fn logits(&self) -> Vec<f32>;
    /// Gradient of `objective` (example 0) at the current clip.
    fn gradient(&self, objective: &dyn Objective) -> Vec<f32>;
    /// Replaces the frames `frames` of the current clip by those of `x`; returns the new logits.
    fn replace(&mut self, x: &[f32], frames: &[usize]) -> Vec<f32>;
}

/// One example evaluated with its activations kept, so that inputs differing from it in a short
/// stretch are cheap to score (see [`Classifier::local_session`]). In input space.
pub trait LocalSession: Send {
    /// Logits of the kept input.
    fn logits(&self) -> Vec<f32>;
    /// Logits of `x` (one example), recomputing only what its differences from the kept input
    /// reach: [`Classifier::logits`]'s values to the bit. `x` is held aside until
    /// [`keep_last`](Self::keep_last) or the next try. Fails only when the run is stopped (a
    /// wrapper that lets the user interrupt), as a model pass would.
    fn try_input(&mut self, x: &[f32]) -> Result<Vec<f32>>;
    /// Makes the input last tried the kept one.
    fn keep_last(&mut self);
}

/// Everything an attack may ask of a model.
pub trait Classifier: Send + Sync {
    /// Number of classes K.
    fn num_classes(&self) -> usize;
    /// Shape of one example, channels first (`[1, 8000]`, `[3, 16, 112, 112]`).
    fn input_shape(&self) -> &[usize];
    /// Valid input range `(min, max)`; attacks clip to it after every step.
    fn clip(&self) -> Option<(f32, f32)>;
    /// The device the classifier computes on.
    fn device(&self) -> &Device;

    /// Audio: the sample rate of the input waveforms in Hz, when known (a model directory's
    /// `input.sample_rate`); attacks that work in frequency (the psychoacoustic one) need it.
    fn sample_rate(&self) -> Option<u32> {
        None
    }

    /// Score vectors per example: 1, or one per window or frame for a frame-level model (a
    /// voice-activity detector). [`logits`](Self::logits) gives their mean; objectives see all.
    fn output_frames(&self) -> usize {
        1
    }

    /// Logits `[N, K]` for a batch `[N, d]`, in one pass (a frame-level model's decision: the mean
    /// of its frames' logits).
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>>;

    /// Every frame's logits `[N, F·K]`, frame-major (for `F = 1`, the logits).
    fn frame_logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        self.logits(x)
    }

    /// Gradient `[N, d]` of `objective` (summed over the batch, so each row is that example's own
    /// gradient) with respect to the input, and the logits `[N, K]` at `x`, which attacks use to
    /// check success for free. The objective sees every frame's scores.
    fn objective_gradient(
        &self,
        x: Tensor<2>,
        objective: &dyn Objective,
    ) -> Result<(Tensor<2>, Tensor<2>)>;

    /// A [`ClipSession`] on the single example `x` (`[d]`), whose frames lie along `frame_axis` of
    /// the example's shape; `None` where the classifier has no cheaper way to evaluate a few
    /// changed frames than a forward pass (the default; also any classifier with a defence in
    /// front, which sees the whole clip).
    fn clip_session(
        &self,
        _x: &[f32],
        _frame_axis: usize,
    ) -> Result<Option<Box<dyn ClipSession + '_>>> {
        Ok(None)
    }

    /// A [`LocalSession`] on the single example `x` (`[d]`), for searches that try many inputs each
    /// differing from the last one kept in a short stretch (Square's L∞ windows); `None` (the
    /// default) where the classifier has nothing cheaper than a forward pass (also any classifier
    /// with a defence in front, which sees the whole input).
    fn local_session(&self, _x: &[f32]) -> Result<Option<Box<dyn LocalSession + '_>>> {
        Ok(None)
    }

    /// Gradient `[N, d]` of the cross-entropy of each example against `labels[i]` and the logits
    /// at `x`. ART averages the loss over the batch, which scales rows by 1/N; normalised attacks
    /// do not care.
    fn loss_gradient_and_logits(
        &self,
        x: Tensor<2>,
        labels: &[usize],
    ) -> Result<(Tensor<2>, Tensor<2>)> {
        check_labels(labels, x.dims()[0], self.num_classes())?;
        self.objective_gradient(x, &CrossEntropy(labels))
    }

    /// [`loss_gradient_and_logits`](Self::loss_gradient_and_logits) without the logits.
    fn loss_gradient(&self, x: Tensor<2>, labels: &[usize]) -> Result<Tensor<2>> {
        Ok(self.loss_gradient_and_logits(x, labels)?.0)
    }

    /// Gradient `[N, d]` of logit `classes[i]` of example `i` with respect to its input.
    fn class_gradient(&self, x: Tensor<2>, classes: &[usize]) -> Result<Tensor<2>> {
        check_labels(classes, x.dims()[0], self.num_classes())?;
        Ok(self.objective_gradient(x, &ClassLogit(classes))?.0)
    }

    /// The predicted label of each example of `x`, the gradient of the cross-entropy against those
    /// labels and the logits, from one pass: where an untargeted attack given no labels starts (ART
    /// takes the model's predictions, which avoids label leaking). The objective reads each label
    /// off the logits between the forward and the backward pass; the labels returned are read off
    /// the same logits by the same rule.
    fn prediction_loss_gradient(&self, x: Tensor<2>) -> Result<(Vec<usize>, Tensor<2>, Tensor<2>)> {
        let (g, logits) = self.objective_gradient(x, &PredictedCrossEntropy)?;
        let [n, k] = logits.dims();
        let host = crate::array::tensor_to_vec(logits.clone());
        let labels = (0..n).map(|i| argmax(&host[i * k..(i + 1) * k])).collect();
        Ok((labels, g, logits))
    }

    /// Number of input features per example.
    fn features(&self) -> usize {
        self.input_shape().iter().product()
    }

    /// Logits for a batch of any size, `batch_size` examples per forward pass.
    fn predict(&self, x: &Tensor<2>, batch_size: usize) -> Result<Tensor<2>> {
        let [n, _] = x.dims();
        let batch_size = batch_size.max(1);
        if n <= batch_size {
            return self.logits(x.clone());
        }
        let mut parts = Vec::with_capacity(n.div_ceil(batch_size));
        for start in (0..n).step_by(batch_size) {
            let end = (start + batch_size).min(n);
            parts.push(self.logits(x.clone().slice(start..end))?);
        }
        Ok(Tensor::cat(parts, 0))
    }

    /// Predicted class of each example (the first maximum on ties).
    fn predict_labels(&self, x: &Tensor<2>, batch_size: usize) -> Result<Vec<usize>> {
        Ok(argmax_rows(self.predict(x, batch_size)?))
    }
}

/// Index of the largest value of one row on the host (the first on ties), as [`argmax_rows`].
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best
}

/// Index of the largest value in each row (the first on ties).
pub fn argmax_rows(logits: Tensor<2>) -> Vec<usize> {
    logits
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("argmax gives integers")
        .into_iter()
        .map(|i| i as usize)
        .collect()
}

/// Checks that there is one label per example (`n`) and each names one of `classes` classes.
pub fn check_labels(labels: &[usize], n: usize, classes: usize) -> Result<()> {
    if labels.len() != n {
        return Err(Error::invalid(
            "labels",
            format!("expected {n} labels, got {}", labels.len()),
        ));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
        return Err(Error::invalid(
            "labels",
            format!("label {bad} is out of range for {classes} classes"),
        ));
    }
    Ok(())
}

/// Checks that `x` holds examples of `features` values each (`shape` names them in the error).
pub fn check_features(x: &Tensor<2>, features: usize, shape: &[usize]) -> Result<()> {
    let d = x.dims()[1];
    if d != features {
        return Err(Error::invalid(
            "input",
            format!("expected {features} features per example ({shape:?}), got {d}"),
        ));
    }
    Ok(())
}

/// Softmax probabilities of each row.
pub fn probabilities(logits: Tensor<2>) -> Tensor<2> {
    softmax(logits, 1)
}

/// Per-example cross-entropy of `logits` against `labels`, on the host.
pub fn cross_entropy_rows(logits: Tensor<2>, labels: &[usize]) -> Vec<f32> {
    let [n, k] = logits.dims();
    let logp = crate::array::tensor_to_vec(log_softmax(logits, 1));
    (0..n).map(|i| -logp[i * k + labels[i]]).collect()
}
