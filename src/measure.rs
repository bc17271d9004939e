//! One attack run and what it did: the single runner behind `avfoil attack`, the demo and `avfoil
//! eval`.
//!
//! It runs the attack through a [`Counting`] wrapper (so every report gives its query counts:
//! forward and gradient passes, and the examples they held), predicts the adversarial examples with
//! the same classifier, and measures each perturbation in the units of the modality.

use crate::array::tensor_to_vec;
use crate::attack::{Attack, AttackOutput, ComponentOutcome, Mask};
use crate::classifier::{Classifier, Counting, Counts, Eot, argmax_rows, probabilities};
use crate::error::Result;
use crate::metrics::{Examples, Perturbation, perturbations};
use burn::tensor::Tensor;
use std::time::Instant;

/// What to attack: a batch, its host copy (perturbations are measured against it), and the labels
/// and mask the attack takes.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// Flattened inputs `[N, d]`.
    pub x: &'a Tensor<2>,
    /// `x` on the host, `[N·d]`.
    pub clean: &'a [f32],
    /// Targets (targeted) or true labels (untargeted; default: the clean predictions).
    pub labels: Option<&'a [usize]>,
    /// Features the attack may change.
    pub mask: Option<&'a Mask>,
    /// Draws of the defences' randomness each gradient averages (expectation over
    /// transformation; 1: one draw, the plain attack).
    pub eot: usize,
}

/// An attack's outcome on a batch.
#[derive(Clone, Debug)]
pub struct Measured {
    /// `[N·d]` adversarial inputs.
    pub adversarial: Vec<f32>,
    /// The attacked classifier's prediction on each.
    pub predicted: Vec<usize>,
    /// Its softmax probabilities `[N·K]`.
    pub probabilities: Vec<f32>,
    /// Each example's perturbation.
    pub perturbations: Vec<Perturbation>,
    /// The eps each example was attacked with.
    pub eps: Vec<f32>,
    /// Early stopping: the iteration at which each example first succeeded.
    pub success_iteration: Vec<Option<usize>>,
    /// Wall-clock seconds of the attack alone, and of the attack and the prediction.
    pub attack_seconds: f64,
    pub seconds: f64,
    /// What the attack asked of the classifier.
    pub queries: Counts,
    /// An ensemble's components, in the order they ran (empty for a single attack).
    pub components: Vec<ComponentOutcome>,
}

/// Runs `attack` on `target` through `classifier` and measures the outcome; `video` says how
/// perturbations are measured (PSNR and changed frames, or SNR); `batch_size` examples per
/// prediction.
pub fn attack_and_measure(
    classifier: &dyn Classifier,
    attack: &dyn Attack,
    target: Target,
    video: bool,
    batch_size: usize,
) -> Result<Measured> {
    let counting = Counting::new(classifier);
    // Inside the counter, so that each of the EOT draws counts as the gradient pass it is.
    let eot;
    let attacked: &dyn Classifier = if target.eot > 1 {
        eot = Eot::new(&counting, target.eot)?;
        &eot
    } else {
        &counting
    };
    let started = Instant::now();
    let AttackOutput {
        adversarial,
        success_iteration,
        eps,
        components,
    } = attack.generate(attacked, target.x, target.labels, target.mask)?;
    let attack_seconds = started.elapsed().as_secs_f64();
    let logits = classifier.predict(&adversarial, batch_size)?;
    let seconds = started.elapsed().as_secs_f64();
    let predicted = argmax_rows(logits.clone());
    let n = predicted.len();
    let adversarial = tensor_to_vec(adversarial);
    let examples = Examples {
        shape: classifier.input_shape(),
        video,
        clip: classifier.clip(),
        frame_axis: attack.frame_axis(),
    };
    Ok(Measured {
        perturbations: perturbations(examples, target.clean, &adversarial, n),
        adversarial,
        predicted,
        probabilities: tensor_to_vec(probabilities(logits)),
        eps,
        success_iteration,
        attack_seconds,
        seconds,
        queries: counting.counts(),
        components,
    })
}
