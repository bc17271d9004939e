//! Training avfoil's own models: RawAudioCNN on spoken digits, c3d-lite on action clips. Both use
//! Adam with a one-cycle learning rate and batch norm in training mode, every random choice drawn
//! from one seed.

pub mod c3d_lite;
pub mod raw_audio_cnn;

pub use raw_audio_cnn::{Dataset, TrainConfig, classifier_of, train_raw_audio_cnn};

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

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
