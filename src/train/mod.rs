//! Training avfoil's own models: RawAudioCNN on spoken digits, c3d-lite on action clips.
//!
//! One loop ([`fit`]) serves both: Adam with a one-cycle learning rate, batch norm in training mode
//! (running statistics blended batch by batch, then re-estimated over the training set after the
//! last epoch), held-out accuracy after every epoch, every random choice drawn from one seed. What
//! differs is where a step runs ([`Engine`]: a hand-written host step, or burn's autodiff) and how
//! a batch is drawn ([`TrainSet`]: augmentation), which each model's file supplies. What the steps
//! learn from beyond the batch is the [`Regime`]: an [`Adversary`] (PGD, fast or TRADES training,
//! attacking the model as it stands) or [`GaussianNoise`], with the step's loss over its forward
//! passes given by a [`loss::TrainingLoss`]; held-out robustness is measured by [`RobustEval`].

pub mod adversary;
pub mod c3d_lite;
pub mod loss;
pub mod noise;
pub mod raw_audio_cnn;
pub mod robust;

pub use adversary::{ADVERSARIES, Adversary, Budget};
pub use noise::GaussianNoise;
pub use raw_audio_cnn::{Dataset, TrainConfig, classifier_of, train_raw_audio_cnn};
pub use robust::RobustEval;

use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::model::batch_stats::{BatchStats, average, blend};
use crate::model::weights::HostTensor;
use loss::{CrossEntropyLoss, TrainingLoss};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// What one epoch did.
#[derive(Clone, Debug, Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    /// Accuracy on the clean passes the steps learned from (with `--gaussian-noise`, the noisy
    /// batches); `None` when every pass was adversarial (PGD and fast training).
    pub train_accuracy: Option<f64>,
    /// Accuracy on the adversarial passes the steps learned from, against the training adversary
    /// as it was at each step; `None` in plain training.
    pub train_robust_accuracy: Option<f64>,
    /// Accuracy on each held-out set, in evaluation mode.
    pub heldout: Vec<(String, f64)>,
    /// Accuracy under the held-out PGD check on each held-out set's subset ([`RobustEval`]);
    /// empty without one.
    pub robust_heldout: Vec<(String, f64)>,
    pub seconds: f64,
}

/// Progress within an epoch, for a progress bar.
pub struct Progress {
    pub epoch: usize,
    pub done: usize,
    pub total: usize,
    pub loss: f64,
    /// As [`EpochLog::train_accuracy`], so far this epoch.
    pub accuracy: Option<f64>,
    /// As [`EpochLog::train_robust_accuracy`], so far this epoch.
    pub robust_accuracy: Option<f64>,
}

/// What one optimisation step computed.
pub struct StepOutput {
    /// The loss (batch mean).
    pub loss: f32,
    /// Each pass's logits `[n·K]` (training mode).
    pub logits: Vec<Vec<f32>>,
    /// Each pass's batch statistics, per batch-norm layer.
    pub stats: Vec<Vec<BatchStats>>,
}

/// Where training steps run.
pub trait Engine {
    /// One optimisation step at learning rate `lr`: each of `passes` (`[n·d]` each) forward in
    /// training mode, `loss` over their logits against `labels`, one Adam update from the summed
    /// gradients.
    fn step(
        &mut self,
        passes: Vec<Vec<f32>>,
        labels: &[usize],
        loss: &dyn TrainingLoss,
        lr: f64,
    ) -> Result<StepOutput>;
    /// Each batch-norm layer's statistics on `n` examples `x` (training mode, no update).
    fn batch_stats(&self, x: &[f32], n: usize) -> Result<Vec<BatchStats>>;
    /// Replaces the running statistics of every batch-norm layer.
    fn set_running_stats(&mut self, stats: &[BatchStats]);
    /// Every tensor under its PyTorch name.
    fn weights(&self) -> BTreeMap<String, HostTensor>;
}

/// The training examples as the loop draws them.
#[allow(clippy::len_without_is_empty)]
pub trait TrainSet {
    /// Number of examples.
    fn len(&self) -> usize;
    /// The examples `idx`, augmented with draws from `rng`: inputs `[n·d]` and labels.
    fn batch(&self, idx: &[usize], rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<usize>);
    /// The examples `idx` as evaluation sees them (no augmentation), for re-estimating batch norm.
    fn plain(&self, idx: &[usize]) -> Vec<f32>;
}

/// The optimisation schedule; every random choice comes from `seed`.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate of the one-cycle schedule.
    pub lr: f64,
    pub seed: u64,
    /// Examples per batch when batch norm is re-estimated after the last epoch.
    pub recalibration_batch: usize,
}

/// Builds the evaluation-mode classifier of some weights (what an adversary attacks).
pub type ModelOf<'a> = dyn Fn(&BTreeMap<String, HostTensor>) -> Result<Box<dyn Classifier>> + 'a;

/// What the steps learn from beyond the augmented batch (an adversary's passes, the batch plus
/// Gaussian noise as in Cohen et al.'s base-classifier training, or the batch itself), and how
/// held-out robustness is measured after every epoch.
#[derive(Clone, Copy, Default)]
pub struct Regime<'a> {
    pub adversary: Option<&'a dyn Adversary>,
    pub noise: Option<GaussianNoise>,
    pub robust: Option<&'a RobustEval>,
}

impl Regime<'_> {
    /// Refuses what the loop does not define: noise and an adversary together (attacking the
    /// noisy batch would be neither Cohen et al.'s training nor an adversary's).
    pub fn validate(&self) -> Result<()> {
        if self.adversary.is_some() && self.noise.is_some() {
            return Err(Error::invalid(
                "gaussian-noise",
                "cannot be combined with --adversarial: train the base classifier of a smoothed \
                 model with noise alone",
            ));
        }
        Ok(())
    }
}

/// What held-out evaluation found for some weights.
#[derive(Clone, Debug, Default)]
pub struct HeldOut {
    /// Accuracy on each held-out set.
    pub clean: Vec<(String, f64)>,
    /// Accuracy under attack on each held-out set's subset (empty without a robustness check).
    pub robust: Vec<(String, f64)>,
}

/// Accuracy of some weights on each held-out set, in evaluation mode.
pub type Evaluate<'a> = dyn FnMut(&BTreeMap<String, HostTensor>) -> Result<HeldOut> + 'a;

/// The part of the run's seed that draws Gaussian noise.
const NOISE: u64 = 2;
/// Within [`NOISE`], the draws of the final batch-norm recalibration (apart from training's).
const RECALIBRATION: u64 = 1;

/// Trains `engine` on `train` for `classes` classes under `regime` (`model_of` builds the model an
/// adversary attacks); returns the weights under PyTorch's names and the epoch logs.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    engine: &mut dyn Engine,
    train: &dyn TrainSet,
    classes: usize,
    schedule: Schedule,
    regime: Regime,
    model_of: &ModelOf,
    evaluate: &mut Evaluate,
    on_progress: &mut dyn FnMut(&Progress),
    on_epoch: &mut dyn FnMut(&EpochLog),
) -> Result<(BTreeMap<String, HostTensor>, Vec<EpochLog>)> {
    regime.validate()?;
    let steps_per_epoch = train.len().div_ceil(schedule.batch_size);
    let total_steps = steps_per_epoch * schedule.epochs;
    let mut rng = ChaCha8Rng::seed_from_u64(schedule.seed.wrapping_add(1));
    let noise_seed = crate::seed::mix(schedule.seed, &[NOISE]);
    let mut running: Option<Vec<BatchStats>> = None;
    let mut logs = Vec::new();
    let mut step = 0;
    // Examples drawn so far: each draw's random stream for noise and adversaries.
    let mut drawn = 0u64;
    for epoch in 1..=schedule.epochs {
        let start = Instant::now();
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let mut loss_sum = 0f64;
        let mut tally = Tally::default();
        for (b, idx) in order.chunks(schedule.batch_size).enumerate() {
            let (mut x, y) = train.batch(idx, &mut rng);
            let n = idx.len();
            let streams: Vec<u64> = (drawn..drawn + n as u64).collect();
            drawn += n as u64;
            if let Some(noise) = &regime.noise {
                x = noise.apply(&x, &streams, noise_seed);
            }
            let (passes, loss, adversarial): (_, &dyn TrainingLoss, &[bool]) =
                match regime.adversary {
                    None => (vec![x], &CrossEntropyLoss, &[false]),
                    Some(adversary) => {
                        // The model as evaluation would see it now: the running statistics so
                        // far (the batch's own before the first step).
                        let now = match &running {
                            Some(r) => r.clone(),
                            None => engine.batch_stats(&x, n)?,
                        };
                        engine.set_running_stats(&now);
                        let model = model_of(&engine.weights())?;
                        let passes = adversary.passes(&*model, &x, &y, streams)?;
                        (passes, adversary.loss(), adversary.adversarial_passes())
                    }
                };
            if passes.len() != loss.passes() || adversarial.len() != passes.len() {
                return Err(Error::invalid(
                    "adversary",
                    format!(
                        "gave {} passes for a loss over {}",
                        passes.len(),
                        loss.passes()
                    ),
                ));
            }
            let lr = one_cycle(schedule.lr, step, total_steps);
            let out = engine.step(passes, &y, loss, lr)?;
            for stats in out.stats {
                running = Some(match running {
                    None => stats,
                    Some(r) => blend(r, stats, 0.1),
                });
            }
            step += 1;
            for (logits, &adv) in out.logits.iter().zip(adversarial) {
                tally.add(adv, &argmax_host(logits, classes), &y);
            }
            loss_sum += f64::from(out.loss) * n as f64;
            let seen = (b * schedule.batch_size + n).min(train.len());
            on_progress(&Progress {
                epoch,
                done: seen,
                total: train.len(),
                loss: loss_sum / seen as f64,
                accuracy: tally.clean(),
                robust_accuracy: tally.adversarial(),
            });
        }
        if epoch == schedule.epochs {
            let seed = crate::seed::mix(schedule.seed, &[NOISE, RECALIBRATION]);
            recalibrate(
                engine,
                train,
                schedule.recalibration_batch,
                regime.noise.as_ref(),
                seed,
            )?;
        } else if let Some(r) = &running {
            engine.set_running_stats(r);
        }
        let weights = engine.weights();
        let held = evaluate(&weights)?;
        let log = EpochLog {
            epoch,
            loss: loss_sum / train.len() as f64,
            train_accuracy: tally.clean(),
            train_robust_accuracy: tally.adversarial(),
            heldout: held.clean,
            robust_heldout: held.robust,
            seconds: start.elapsed().as_secs_f64(),
        };
        on_epoch(&log);
        check_converging(&log, classes, regime.adversary.is_none())?;
        logs.push(log);
    }
    let weights = engine.weights();
    if let Some((key, _)) = weights
        .iter()
        .find(|(_, t)| t.data.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::invalid(
            "training",
            format!("diverged: tensor {key:?} holds non-finite values; nothing was written"),
        ));
    }
    Ok((weights, logs))
}

/// Correct predictions over the clean and the adversarial passes of an epoch.
#[derive(Default)]
struct Tally {
    clean: (usize, usize),
    adversarial: (usize, usize),
}

impl Tally {
    fn add(&mut self, adversarial: bool, predicted: &[usize], labels: &[usize]) {
        let t = if adversarial {
            &mut self.adversarial
        } else {
            &mut self.clean
        };
        t.0 += predicted.iter().zip(labels).filter(|(p, y)| p == y).count();
        t.1 += labels.len();
    }

    fn clean(&self) -> Option<f64> {
        (self.clean.1 > 0).then(|| self.clean.0 as f64 / self.clean.1 as f64)
    }

    fn adversarial(&self) -> Option<f64> {
        (self.adversarial.1 > 0).then(|| self.adversarial.0 as f64 / self.adversarial.1 as f64)
    }
}

/// How far above chance the mean training loss may end an epoch before the run counts as
/// diverged: guessing uniformly costs `ln(classes)` (2.3 for 10 classes).
const DIVERGED_ABOVE_CHANCE: f64 = 10.0;

/// Stops a run whose loss is not finite or (when `bounded`) far worse than guessing, so that a
/// diverged model never replaces a good one (the caller writes nothing on an error). An
/// adversary's loss is not bounded that way: it is the loss the adversary maximised, and a model
/// confidently wrong on adversarial examples early in training has not diverged.
fn check_converging(log: &EpochLog, classes: usize, bounded: bool) -> Result<()> {
    let limit = DIVERGED_ABOVE_CHANCE * (classes.max(2) as f64).ln();
    if log.loss.is_finite() && (log.loss <= limit || !bounded) {
        return Ok(());
    }
    Err(Error::invalid(
        "training",
        format!(
            "diverged: mean loss {:.3e} after epoch {} (guessing costs {:.2}; the limit is {:.1}); \
             nothing was written: lower the learning rate",
            log.loss,
            log.epoch,
            (classes.max(2) as f64).ln(),
            limit
        ),
    ))
}

/// Sets every batch-norm layer's running statistics to the average of its batch statistics over
/// the training set (PyTorch's `momentum=None`), in batches of `batch` without augmentation.
/// PyTorch's momentum 0.1 leaves them lagging the final weights, which costs accuracy in
/// evaluation mode.
///
/// With `noise` (the base classifier of a smoothed one), the statistics are those of the noisy
/// inputs the model was trained on and will be certified under: statistics of clean inputs, whose
/// variance is lower, would shift every layer of the model the certificate actually queries.
/// Each example draws its noise from its own stream of `noise_seed`.
fn recalibrate(
    engine: &mut dyn Engine,
    train: &dyn TrainSet,
    batch: usize,
    noise: Option<&GaussianNoise>,
    noise_seed: u64,
) -> Result<()> {
    let all: Vec<usize> = (0..train.len()).collect();
    let stats: Vec<Vec<BatchStats>> = all
        .chunks(batch.max(1))
        .filter(|idx| idx.len() >= 2)
        .map(|idx| {
            let x = train.plain(idx);
            let x = match noise {
                Some(noise) => {
                    let streams: Vec<u64> = idx.iter().map(|&i| i as u64).collect();
                    noise.apply(&x, &streams, noise_seed)
                }
                None => x,
            };
            engine.batch_stats(&x, idx.len())
        })
        .collect::<Result<_>>()?;
    if let Some(avg) = average(stats) {
        engine.set_running_stats(&avg);
    }
    Ok(())
}

/// PyTorch's `OneCycleLR` defaults: cosine warm-up over the first 30% from peak/25 to the peak, then
/// cosine annealing to peak/(25·10⁴).
pub(crate) fn one_cycle(peak: f64, step: usize, total: usize) -> f64 {
    let (initial, last) = (peak / 25.0, peak / 25.0 / 1e4);
    let warm = (0.3 * total as f64).max(1.0);
    let cos = |from: f64, to: f64, t: f64| {
        to + (from - to) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
    };
    let s = step as f64;
    if s < warm {
        cos(initial, peak, s / warm)
    } else {
        cos(
            peak,
            last,
            ((s - warm) / (total as f64 - warm).max(1.0)).min(1.0),
        )
    }
}

pub(crate) fn argmax_host(logits: &[f32], k: usize) -> Vec<usize> {
    logits
        .chunks(k)
        .map(|row| (0..k).fold(0, |best, c| if row[c] > row[best] { c } else { best }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_rises_then_falls() {
        let lr: Vec<f64> = (0..100).map(|s| one_cycle(1e-3, s, 100)).collect();
        assert!((lr[0] - 4e-5).abs() < 1e-9);
        assert!((lr[30] - 1e-3).abs() < 1e-9);
        assert!(lr[99] < 1e-6);
    }
}
