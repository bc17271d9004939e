//! Randomised smoothing (Cohen, Rosenfeld and Kolter 2019, "Certified adversarial robustness via
//! randomized smoothing"): the smoothed classifier `g(x) = argmax_c P(f(x + ε) = c)`, `ε ~ N(0, σ²I)`,
//! predicts `c_A` and is constant within an L2 ball of radius `σ·Φ⁻¹(p_A)` around `x` whenever the
//! probability `p_A` of the top class is above one half. `f` is any classifier, so the certificate
//! holds for every model avfoil loads; nothing about the network is assumed.
//!
//! [`certify`] is the paper's CERTIFY: `n0` noisy copies select the class, `n` fresh copies
//! estimate its probability, and the one-sided Clopper-Pearson bound at `alpha` replaces `p_A`.
//! Selection and estimation use separate draws, as they must: a class chosen on the same samples
//! that estimate its probability would bias the bound upwards. When the bound is not above one half
//! the smoothed classifier abstains (no prediction, no radius); with probability at least
//! `1 − alpha` a returned prediction is `g(x)` and the radius is a true one.
//!
//! Every noise vector is drawn from its own stream, `(seed, example, phase, sample)`, so a
//! certificate does not depend on the batch size, on the thread count or on which other examples
//! were certified in the same run. Noisy inputs are clipped to the model's range when it has one;
//! the clip is then part of the base classifier (`f ∘ clip` is still a function of `x + ε`), so the
//! guarantee is unchanged.

pub mod bounds;
pub mod curve;

use crate::classifier::{Classifier, argmax};
use crate::error::{Error, Result};
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::Serialize;

/// The parameters of a certification run (Cohen et al. use n0 = 100, n = 100,000, alpha = 0.001).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SmoothingConfig {
    /// Standard deviation of the noise, in the model's input units (int16 steps, pixels in [0, 1]).
    pub sigma: f32,
    /// Noisy copies that select the class.
    pub n0: usize,
    /// Noisy copies that estimate its probability.
    pub n: usize,
    /// Probability that a returned certificate is wrong.
    pub alpha: f64,
    /// Noisy copies per forward pass (fewer for large inputs; see [`NOISE_ELEMENTS_PER_PASS`]).
    pub batch_size: usize,
    pub seed: u64,
}

impl SmoothingConfig {
    /// Checks every parameter, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(Error::invalid(
                "sigma",
                format!("a positive finite noise std, got {}", self.sigma),
            ));
        }
        if self.n0 == 0 || self.n == 0 {
            return Err(Error::invalid(
                "n0/n",
                format!(
                    "at least one selection and one estimation sample, got n0 = {} and n = {}",
                    self.n0, self.n
                ),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return Err(Error::invalid(
                "alpha",
                format!("a failure probability in (0, 0.5), got {}", self.alpha),
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("batch-size", "at least 1"));
        }
        Ok(())
    }
}

/// What the smoothed classifier says about one example.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Certificate {
    /// `g(x)`, or `None` when it abstains (the lower bound is not above one half).
    pub prediction: Option<usize>,
    /// The class the `n0` selection samples voted for (`c_A`).
    pub selected: usize,
    /// How many of the `n` estimation samples the base classifier gave `selected`.
    pub count: usize,
    pub n: usize,
    /// One-sided Clopper-Pearson lower bound on `p_A` at level `alpha`.
    pub p_lower: f64,
    /// Certified L2 radius in input units, `σ·Φ⁻¹(p_lower)`; `None` when it abstains.
    pub radius: Option<f64>,
    /// The radius relative to the example's L2 norm, in dB (`None` when it abstains or the example
    /// is all zeros): how loud a perturbation it rules out, comparable across recordings.
    pub radius_db: Option<f64>,
    /// Votes of the `n` estimation samples per class.
    pub counts: Vec<usize>,
}

/// At most this many noisy values are held per forward pass (64 MiB of f32): a video clip of
/// 600,000 values gets batches of 27 copies whatever `batch_size` says.
pub const NOISE_ELEMENTS_PER_PASS: usize = 1 << 24;

/// Which draws a batch of noise comes from; selection and estimation never share one.
#[derive(Clone, Copy)]
enum Phase {
    Selection = 0,
    Estimation = 1,
}

/// CERTIFY for the example `x` (`[d]`, input space), whose noise comes from the stream of
/// `example` (its index in the data set, so that results do not depend on how it was batched).
pub fn certify(
    clf: &dyn Classifier,
    x: &[f32],
    example: u64,
    config: &SmoothingConfig,
) -> Result<Certificate> {
    config.validate()?;
    let d = clf.features();
    if x.len() != d {
        return Err(Error::invalid(
            "input",
            format!(
                "expected {d} values per example ({:?}), got {}",
                clf.input_shape(),
                x.len()
            ),
        ));
    }
    let selection = votes(clf, x, example, Phase::Selection, config.n0, config)?;
    let selected = argmax_count(&selection);
    let counts = votes(clf, x, example, Phase::Estimation, config.n, config)?;
    let count = counts[selected];
    let p_lower = bounds::clopper_pearson_lower(count, config.n, config.alpha);
    let (prediction, radius) = if p_lower > 0.5 {
        let r = f64::from(config.sigma) * bounds::normal_quantile(p_lower);
        (Some(selected), Some(r))
    } else {
        (None, None)
    };
    let norm = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
    let radius_db = radius
        .filter(|_| norm > 0.0)
        .map(|r| 20.0 * (r / norm).log10());
    Ok(Certificate {
        prediction,
        selected,
        count,
        n: config.n,
        p_lower,
        radius,
        radius_db,
        counts,
    })
}

/// The base classifier's votes over `samples` noisy copies of `x`.
fn votes(
    clf: &dyn Classifier,
    x: &[f32],
    example: u64,
    phase: Phase,
    samples: usize,
    config: &SmoothingConfig,
) -> Result<Vec<usize>> {
    let d = x.len();
    let per_pass = config
        .batch_size
        .min((NOISE_ELEMENTS_PER_PASS / d.max(1)).max(1));
    let k = clf.num_classes();
    let mut counts = vec![0usize; k];
    let mut start = 0;
    while start < samples {
        let rows = per_pass.min(samples - start);
        let mut noisy = vec![0f32; rows * d];
        noisy
            .par_chunks_mut(d.max(1))
            .enumerate()
            .for_each(|(r, row)| {
                let stream =
                    crate::seed::mix(config.seed, &[example, phase as u64, (start + r) as u64]);
                let mut rng = ChaCha8Rng::seed_from_u64(stream);
                for (out, &v) in row.iter_mut().zip(x) {
                    let z: f32 = rng.sample(StandardNormal);
                    let y = v + config.sigma * z;
                    *out = match clf.clip() {
                        Some((lo, hi)) => y.clamp(lo, hi),
                        None => y,
                    };
                }
            });
        let batch = Tensor::<2>::from_data(TensorData::new(noisy, [rows, d]), clf.device());
        let logits = crate::array::tensor_to_vec(clf.logits(batch)?);
        for row in logits.chunks(k) {
            counts[argmax(row)] += 1;
        }
        start += rows;
    }
    Ok(counts)
}

/// The class with the most votes (the lowest index on ties).
fn argmax_count(counts: &[usize]) -> usize {
    let mut best = 0;
    for (c, &v) in counts.iter().enumerate() {
        if v > counts[best] {
            best = c;
        }
    }
    best
}
