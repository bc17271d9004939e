//! Training avfoil's own models: RawAudioCNN on spoken digits, c3d-lite on action clips.
//!
//! One loop ([`fit`]) serves both: Adam with a one-cycle learning rate, batch norm in training mode
//! (running statistics blended batch by batch, then re-estimated over the training set after the
//! last epoch), held-out accuracy after every epoch, every random choice drawn from one seed. What
//! differs is where a step runs ([`Engine`]: a hand-written host step, or burn's autodiff) and how
//! a batch is drawn ([`TrainSet`]: augmentation), which each model's file supplies.

pub mod c3d_lite;
pub mod raw_audio_cnn;

pub use raw_audio_cnn::{Dataset, TrainConfig, classifier_of, train_raw_audio_cnn};

use crate::error::{Error, Result};
use crate::model::batch_stats::{BatchStats, average, blend};
use crate::model::weights::HostTensor;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
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
    pub train_accuracy: f64,
    /// Accuracy on each held-out set, in evaluation mode.
    pub heldout: Vec<(String, f64)>,
    pub seconds: f64,
}

/// Progress within an epoch, for a progress bar.
pub struct Progress {
    pub epoch: usize,
    pub done: usize,
    pub total: usize,
    pub loss: f64,
    pub accuracy: f64,
}

/// What one optimisation step computed.
pub struct StepOutput {
    /// The batch's mean loss.
    pub loss: f32,
    /// Its logits `[n·K]` (training mode).
    pub logits: Vec<f32>,
    /// Each batch-norm layer's batch statistics.
    pub stats: Vec<BatchStats>,
}

/// Where training steps run.
pub trait Engine {
    /// One optimisation step at learning rate `lr` on the batch `x` (`[n·d]`) against `labels`.
    fn step(&mut self, x: Vec<f32>, labels: &[usize], lr: f64) -> Result<StepOutput>;
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

/// Accuracy of some weights on each held-out set, in evaluation mode.
pub type Evaluate<'a> = dyn FnMut(&BTreeMap<String, HostTensor>) -> Result<Vec<(String, f64)>> + 'a;

/// Trains `engine` on `train` for `classes` classes; returns the weights under PyTorch's names and
/// the epoch logs.
pub fn fit(
    engine: &mut dyn Engine,
    train: &dyn TrainSet,
    classes: usize,
    schedule: Schedule,
    evaluate: &mut Evaluate,
    on_progress: &mut dyn FnMut(&Progress),
    on_epoch: &mut dyn FnMut(&EpochLog),
) -> Result<(BTreeMap<String, HostTensor>, Vec<EpochLog>)> {
    let steps_per_epoch = train.len().div_ceil(schedule.batch_size);
    let total_steps = steps_per_epoch * schedule.epochs;
    let mut rng = ChaCha8Rng::seed_from_u64(schedule.seed.wrapping_add(1));
    let mut running: Option<Vec<BatchStats>> = None;
    let mut logs = Vec::new();
    let mut step = 0;
    for epoch in 1..=schedule.epochs {
        let start = Instant::now();
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct) = (0f64, 0usize);
        for (b, idx) in order.chunks(schedule.batch_size).enumerate() {
            let (x, y) = train.batch(idx, &mut rng);
            let n = idx.len();
            let lr = one_cycle(schedule.lr, step, total_steps);
            let out = engine.step(x, &y, lr)?;
            running = Some(match running {
                None => out.stats,
                Some(r) => blend(r, out.stats, 0.1),
            });
            step += 1;
            let predicted = argmax_host(&out.logits, classes);
            correct += predicted.iter().zip(&y).filter(|(p, y)| p == y).count();
            loss_sum += f64::from(out.loss) * n as f64;
            let seen = (b * schedule.batch_size + n).min(train.len());
            on_progress(&Progress {
                epoch,
                done: seen,
                total: train.len(),
                loss: loss_sum / seen as f64,
                accuracy: correct as f64 / seen as f64,
            });
        }
        if epoch == schedule.epochs {
            recalibrate(engine, train, schedule.recalibration_batch)?;
        } else if let Some(r) = &running {
            engine.set_running_stats(r);
        }
        let weights = engine.weights();
        let log = EpochLog {
            epoch,
            loss: loss_sum / train.len() as f64,
            train_accuracy: correct as f64 / train.len() as f64,
            heldout: evaluate(&weights)?,
            seconds: start.elapsed().as_secs_f64(),
        };
        on_epoch(&log);
        check_converging(&log, classes)?;
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

/// How far above chance the mean training loss may end an epoch before the run counts as
/// diverged: guessing uniformly costs `ln(classes)` (2.3 for 10 classes).
const DIVERGED_ABOVE_CHANCE: f64 = 10.0;

/// Stops a run whose loss is not finite or far worse than guessing, so that a diverged model never
/// replaces a good one (the caller writes nothing on an error).
fn check_converging(log: &EpochLog, classes: usize) -> Result<()> {
    let limit = DIVERGED_ABOVE_CHANCE * (classes.max(2) as f64).ln();
    if log.loss.is_finite() && log.loss <= limit {
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
fn recalibrate(engine: &mut dyn Engine, train: &dyn TrainSet, batch: usize) -> Result<()> {
    let all: Vec<usize> = (0..train.len()).collect();
    let stats: Vec<Vec<BatchStats>> = all
        .chunks(batch.max(1))
        .filter(|idx| idx.len() >= 2)
        .map(|idx| engine.batch_stats(&train.plain(idx), idx.len()))
        .collect::<Result<_>>()?;
    if let Some(avg) = average(stats) {
        engine.set_running_stats(&avg);
    }
    Ok(())
}

/// The mean cross-entropy of `logits` against `labels` (for burn's autodiff).
pub(crate) fn cross_entropy_mean(
    logits: Tensor<2>,
    labels: &[usize],
    k: usize,
    device: &Device,
) -> Tensor<1> {
    let n = labels.len();
    let mut onehot = vec![0f32; n * k];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * k + l] = 1.0;
    }
    let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [n, k]), device);
    (log_softmax(logits, 1) * onehot).sum().neg() / n as f32
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
