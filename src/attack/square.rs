//! The Square attack (Andriushchenko et al., ECCV 2020), L∞, L2 and L1: a random search that needs
//! the model's scores only, no gradients, so it runs through defences that cannot be
//! differentiated, without BPDA; the honest check against gradient masking.
//!
//! Windows: each query picks a random window covering a fraction p of the signal (a square on
//! images; an interval on waveforms; a box on clips: each axis after the channels scaled by
//! p^(1/axes)). p starts at `p_init` and halves on the paper's schedule (at 10, 50, 200, 500, 1000,
//! 2000, 4000, 6000 and 8000 of every 10,000 queries). A change is kept if the loss drops: the
//! margin z_y − max_{k≠y} z_k untargeted, the cross-entropy at the target when targeted. Examples
//! stop querying once they succeed.
//!
//! L∞: start at x0 + eps·s, one random sign s per channel and position along the last axis (the
//! paper's vertical stripes); each query sets the window to a fresh random ±eps per channel.
//!
//! L2: start from the same stripes scaled to L2 norm eps (the paper tiles pseudo-Gaussian blocks
//! on images; stripes need no image geometry and serve waveforms and clips alike). Each query
//! moves mass between two windows of the same size: per channel, the second window is emptied and
//! the first gets a fresh pseudo-Gaussian bump of random sign (positive on one half of the window,
//! negative on the other, as the paper's "meta" bump) plus its old content, scaled to hold the
//! energy both windows held and any budget left unused; the whole perturbation is then rescaled to
//! norm eps and clipped to the input range.
//!
//! Cost: one forward pass per query over the examples still unfooled. L∞ changes only the window,
//! so where the classifier keeps its activations ([`Classifier::local_session`]: RawAudioCNN's host
//! kernel, without defences) each example's query recomputes only what its window reaches, with the
//! same scores to the bit (L2 and L1 rescale or project the whole perturbation, so they always
//! take the batch pass).
//!
//! L1: AutoAttack's L1 version (odd windows, a peaked bump, mass moved between two windows, then
//! the projection onto the L1 ball within the input range); see [`square_l1`](super::square_l1).

use super::geometry::project_l1_box_row;
use super::spec::{AttackEntry, AttackSpec, RunSettings, stepless_common, take_norm_among};
use super::square_l1;
use super::square_window::{Window, norm2};
use super::{Attack, AttackOutput, Common, Mask, Norm, example_rngs, run_batches};
use crate::array::tensor_to_vec;
use crate::classifier::{Classifier, LocalSession};
use crate::error::{Error, Result};
use crate::params::Param;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rayon::prelude::*;

/// `square`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "square",
    about: "Square attack (Andriushchenko et al. 2020), L-inf, L2 or L1: random search on the scores only, no gradients (runs through any defence)",
    params: &PARAMS,
    parse: |p| {
        let norm = take_norm_among(
            p,
            Norm::Inf,
            &[Norm::Inf, Norm::L2, Norm::L1],
            "the Square attack",
        )?;
        let spec = SquareSpec {
            norm,
            max_queries: p.take_or("max_queries", 1000)?,
            p_init: p.take_or("p_init", 0.8)?,
        };
        if spec.max_queries == 0 {
            return Err(Error::invalid(p.display("max_queries"), "at least 1"));
        }
        if !(spec.p_init > 0.0 && spec.p_init <= 1.0) {
            return Err(Error::invalid(
                p.display("p_init"),
                format!("a fraction in (0, 1], got {}", spec.p_init),
            ));
        }
        Ok(Box::new(spec))
    },
};

const PARAMS: [Param; 3] = [
    Param {
        key: "norm",
        default: "inf",
        about: "the budget's geometry: inf, 2 or 1",
    },
    Param {
        key: "max_queries",
        default: "1000",
        about: "score queries per example (the model is asked about each candidate once)",
    },
    Param {
        key: "p_init",
        default: "0.8",
        about: "fraction of the signal the first windows cover",
    },
];

/// Square as configured by a user.
#[derive(Clone, Debug, PartialEq)]
pub struct SquareSpec {
    pub norm: Norm,
    pub max_queries: usize,
    pub p_init: f32,
}

impl AttackSpec for SquareSpec {
    fn name(&self) -> &'static str {
        "square"
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn iterative(&self) -> bool {
        true
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        let square = Square {
            common: stepless_common(self.norm, run),
            max_queries: self.max_queries,
            p_init: self.p_init,
        };
        square.validate()?;
        Ok(Box::new(square))
    }
}

/// The Square attack's configuration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Square {
    #[serde(flatten)]
    pub common: Common,
    pub max_queries: usize,
    pub p_init: f32,
}

impl Square {
    pub fn validate(&self) -> Result<()> {
        self.common.validate()?;
        if ![Norm::Inf, Norm::L2, Norm::L1].contains(&self.common.norm) {
            return Err(Error::Unsupported(format!(
                "the Square attack takes L-inf, L2 or L1, got {}",
                self.common.norm
            )));
        }
        if self.max_queries == 0 {
            return Err(Error::invalid("max_queries", "at least 1"));
        }
        if !(self.p_init > 0.0 && self.p_init <= 1.0) {
            return Err(Error::invalid("p_init", "a fraction in (0, 1]"));
        }
        Ok(())
    }

    /// The fraction of the signal a window covers at query `i` of `n`.
    pub fn p_at(&self, i: usize, n: usize) -> f32 {
        let t = (i as f64 / n as f64 * 10_000.0) as usize;
        let halvings = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
            .iter()
            .filter(|&&b| t > b)
            .count();
        self.p_init / (1u32 << halvings) as f32
    }
}

/// One [`LocalSession`] per example of `inputs` (opened in parallel, one forward pass each), or
/// `None` where the classifier has none.
fn local_sessions<'a>(
    classifier: &'a dyn Classifier,
    inputs: &[Vec<f32>],
) -> Result<Option<Vec<Box<dyn LocalSession + 'a>>>> {
    let opened: Vec<Option<Box<dyn LocalSession + 'a>>> = inputs
        .par_iter()
        .map(|x| classifier.local_session(x))
        .collect::<Result<_>>()?;
    Ok(opened.into_iter().collect())
}

/// The logits of `input(i)` for each example `i` of `active` (ascending), each through its own
/// session, in parallel as the batch forward pass would be.
fn try_inputs(
    sessions: &mut [Box<dyn LocalSession + '_>],
    active: &[usize],
    input: impl Fn(usize) -> Vec<f32> + Sync,
) -> Result<Vec<Vec<f32>>> {
    let mut tried: Vec<(usize, &mut Box<dyn LocalSession + '_>)> = sessions
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| active.binary_search(i).is_ok())
        .collect();
    tried
        .par_iter_mut()
        .map(|(i, session)| session.try_input(&input(*i)))
        .collect()
}

/// The loss Square lowers for one example's logits: the margin, or the target's cross-entropy.
fn loss(z: &[f32], label: usize, targeted: bool) -> f32 {
    if targeted {
        let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
        lse - z[label]
    } else {
        let other = z
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != label)
            .map(|(_, &v)| v)
            .fold(f32::NEG_INFINITY, f32::max);
        z[label] - other
    }
}

fn fooled(z: &[f32], label: usize, targeted: bool) -> bool {
    let top = crate::classifier::argmax(z);
    if targeted { top == label } else { top != label }
}

impl Attack for Square {
    fn name(&self) -> &'static str {
        "square"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data serialises")
    }

    fn targeted(&self) -> bool {
        self.common.targeted
    }

    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
    ) -> Result<AttackOutput> {
        self.validate()?;
        let c = &self.common;
        let [n, _] = x.dims();
        let labels = c.labels(classifier, x, labels)?;
        let eps = c.eps.per_example(n, "eps")?;
        let eps_step = eps.clone();
        let mut rngs = example_rngs(c, n)?;
        let shape = classifier.input_shape().to_vec();
        run_batches(
            c.batch_size,
            x,
            &labels,
            mask,
            eps,
            &eps_step,
            &mut rngs,
            |b, rngs| self.batch(classifier, &shape, b.x, b.labels, b.mask, b.eps, rngs),
        )
    }
}

impl Square {
    #[allow(clippy::too_many_arguments)]
    fn batch(
        &self,
        classifier: &dyn Classifier,
        shape: &[usize],
        x: &Tensor<2>,
        labels: &[usize],
        mask: Option<&Tensor<2>>,
        eps: &[f32],
        rngs: &mut [rand_chacha::ChaCha8Rng],
    ) -> Result<(Tensor<2>, Vec<Option<usize>>)> {
        let [m, d] = x.dims();
        let k = classifier.num_classes();
        let targeted = self.common.targeted;
        let x0 = tensor_to_vec(x.clone());
        let mask = mask.map(|t| tensor_to_vec(t.clone()));
        let allowed = |i: usize, j: usize| match &mask {
            Some(mk) if mk.len() == d => mk[j] > 0.0,
            Some(mk) => mk[i * d + j] > 0.0,
            None => true,
        };
        let clip = |v: f32| match classifier.clip() {
            Some((lo, hi)) => v.clamp(lo, hi),
            None => v,
        };
        let channels = shape[0].max(1);
        let spatial = &shape[1..];
        let last = *spatial.last().unwrap_or(&1);
        let l2 = self.common.norm == Norm::L2;
        let l1 = self.common.norm == Norm::L1;
        let bounds = classifier.clip();
        // L1: onto the ball within the range, in place (the reference's eps·(1 − 10⁻⁶)).
        let project_l1 = |row: &mut [f32], i: usize| {
            let x = &x0[i * d..(i + 1) * d];
            let projected = project_l1_box_row(row, x, eps[i] * (1.0 - 1e-6), bounds);
            for (j, v) in row.iter_mut().enumerate() {
                *v = clip(x[j] + projected[j] as f32) - x[j];
            }
        };
        // Vertical stripes: one sign per channel and position along the last axis (L2: scaled to
        // norm eps); kept as the perturbation that survives clipping. L1: the grid of bumps.
        let mut delta = vec![0f32; m * d];
        for (i, rng) in rngs.iter_mut().enumerate() {
            if l1 {
                let mass = match bounds {
                    Some((lo, hi)) if (hi - lo).is_finite() => hi - lo,
                    _ => eps[i],
                };
                let start = square_l1::start(spatial, channels, mass, &|j| allowed(i, j), rng);
                let row = &mut delta[i * d..(i + 1) * d];
                row.copy_from_slice(&start);
                project_l1(row, i);
                continue;
            }
            let signs: Vec<f32> = (0..channels * last)
                .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
                .collect();
            let row = &mut delta[i * d..(i + 1) * d];
            for (j, v) in row.iter_mut().enumerate() {
                let (ch, pos) = (j / (d / channels), j % last);
                if allowed(i, j) {
                    *v = signs[ch * last + pos];
                }
            }
            let scale = if l2 {
                eps[i] / norm2(row).max(1e-12)
            } else {
                eps[i]
            };
            for (j, v) in row.iter_mut().enumerate() {
                *v = clip(x0[i * d + j] + *v * scale) - x0[i * d + j];
            }
        }
        let candidate = |delta: &[f32], i: usize| -> Vec<f32> {
            (0..d)
                .map(|j| clip(x0[i * d + j] + delta[i * d + j]))
                .collect()
        };
        let scores = |rows: &[usize], delta: &[f32]| -> Result<Vec<Vec<f32>>> {
            let values: Vec<f32> = rows.iter().flat_map(|&i| candidate(delta, i)).collect();
            let t = Tensor::<2>::from_data(TensorData::new(values, [rows.len(), d]), &x.device());
            let z = tensor_to_vec(classifier.logits(t)?);
            Ok(z.chunks(k).map(|r| r.to_vec()).collect())
        };
        let all: Vec<usize> = (0..m).collect();
        // L∞ changes only the window: where the model keeps its activations (a host kernel with a
        // local pass), each try recomputes only what the window reaches, with the same scores.
        let mut sessions = if self.common.norm == Norm::Inf {
            let starts: Vec<Vec<f32>> = all.iter().map(|&i| candidate(&delta, i)).collect();
            local_sessions(classifier, &starts)?
        } else {
            None
        };
        let z = match &sessions {
            Some(kept) => kept.iter().map(|s| s.logits()).collect(),
            None => scores(&all, &delta)?,
        };
        let mut best: Vec<f32> = (0..m).map(|i| loss(&z[i], labels[i], targeted)).collect();
        let mut done: Vec<Option<usize>> = (0..m)
            .map(|i| fooled(&z[i], labels[i], targeted).then_some(0))
            .collect();
        for q in 1..self.max_queries {
            let active: Vec<usize> = (0..m).filter(|&i| done[i].is_none()).collect();
            if active.is_empty() {
                break;
            }
            let p = self.p_at(q, self.max_queries);
            let mut trial = delta.clone();
            for &i in &active {
                let row = &mut trial[i * d..(i + 1) * d];
                let allowed_here = |j: usize| allowed(i, j);
                if l1 {
                    let sides = square_l1::sides(spatial, p);
                    let window = Window::place(spatial, sides, true, &mut rngs[i]);
                    square_l1::move_mass(
                        row,
                        &window.first,
                        &window.second,
                        &window.sides,
                        channels,
                        eps[i],
                        &allowed_here,
                        &mut rngs[i],
                    );
                    project_l1(row, i);
                    continue;
                }
                let window = Window::draw(spatial, p, l2, &mut rngs[i]);
                if l2 {
                    window.move_mass(row, channels, eps[i], &allowed_here, &mut rngs[i]);
                    let scale = eps[i] / norm2(row).max(1e-12);
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = clip(x0[i * d + j] + *v * scale) - x0[i * d + j];
                    }
                } else {
                    window.resample(row, channels, eps[i], &allowed_here, &mut rngs[i]);
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = clip(x0[i * d + j] + *v) - x0[i * d + j];
                    }
                }
            }
            let z = match &mut sessions {
                Some(kept) => try_inputs(kept, &active, |i| candidate(&trial, i))?,
                None => scores(&active, &trial)?,
            };
            for (r, &i) in active.iter().enumerate() {
                let l = loss(&z[r], labels[i], targeted);
                if l < best[i] {
                    best[i] = l;
                    delta[i * d..(i + 1) * d].copy_from_slice(&trial[i * d..(i + 1) * d]);
                    if let Some(kept) = &mut sessions {
                        kept[i].keep_last();
                    }
                    if fooled(&z[r], labels[i], targeted) {
                        done[i] = Some(q);
                    }
                }
            }
        }
        let values: Vec<f32> = (0..m).flat_map(|i| candidate(&delta, i)).collect();
        let adv = Tensor::<2>::from_data(TensorData::new(values, [m, d]), &x.device());
        Ok((adv, done))
    }
}
