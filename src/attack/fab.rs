//! FAB, the fast adaptive boundary attack (Croce and Hein, ICML 2020): minimal L1, L2 or L∞
//! perturbations. Each iteration linearises the model at the current point, picks the nearest
//! linearised boundary (untargeted: over every other class; FAB-T: the target's), projects both
//! the current point and the original input onto that hyperplane within the input range
//! ([`fab_projection`](super::fab_projection)), and steps to a biased mix of the two projections,
//! all distances in the attack's norm (the nearest boundary by the dual norm of its gradient:
//! ℓ1 for L∞, ℓ2 for L2, ℓ∞ for L1, whose projection moves the largest-gradient features first),
//! x ← (1 − α)(x + η·δx) + α(x₀ + η·δx₀), α = min(‖δx‖/(‖δx‖ + ‖δx₀‖), α_max), so the iterate stays
//! near the input. Once adversarial, the point is recorded if it is the smallest so far and pulled
//! back towards the input, x ← x₀ + β(x − x₀), and the search goes on from there.
//!
//! Each class difference needs one gradient, taken one class at a time over the whole batch (as
//! DeepFool does), so memory stays that of one gradient; an untargeted iteration costs K − 1
//! gradients and one forward pass, a FAB-T iteration one gradient and one forward pass.
//!
//! Restarts after the first start at a random point at distance min(best so far, eps_init)/2 of
//! the input, as in the paper. FAB-T (`target_classes = k`) runs towards each of the k classes with
//! the highest clean logits after the label, each run only on the examples not yet fooled within
//! eps, and keeps the smallest perturbation found. The result is minimal, not bounded: it is
//! projected onto the eps-ball at the end, so at a budget below its size the attack reports
//! failure, and one run with a large eps gives every example's distance to the boundary.

use super::deepfool::LogitDifference;
use super::fab_projection::{project, size};
use super::spec::{AttackEntry, AttackSpec, RunSettings, stepless_common, take_norm_among};
use super::{Attack, AttackOutput, Common, Mask, Norm, example_rngs, run_batches};
use crate::array::tensor_to_vec;
use crate::classifier::objective::ranked;
use crate::classifier::{Classifier, argmax};
use crate::error::{Error, Result};
use crate::params::{Param, Params};
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_distr::StandardNormal;

/// `fab`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "fab",
    about: "FAB (Croce & Hein 2020): minimal L1, L2 or L-inf perturbations by box-constrained projections onto the nearest linearised boundary; target_classes = k for FAB-T",
    params: &PARAMS,
    parse: |p| Ok(Box::new(FabSpec::take(p)?)),
};

const PARAMS: [Param; 8] = [
    Param {
        key: "norm",
        default: "inf",
        about: "1, 2 or inf",
    },
    Param {
        key: "max_iter",
        default: "100",
        about: "iterations per run",
    },
    Param {
        key: "n_restarts",
        default: "1",
        about: "runs per target; those after the first start at a random point",
    },
    Param {
        key: "alpha_max",
        default: "0.1",
        about: "largest weight of the step from the input (the bias towards it), in [0, 1]",
    },
    Param {
        key: "eta",
        default: "1.05",
        about: "overshoot of the projections, at least 1",
    },
    Param {
        key: "beta",
        default: "0.9",
        about: "backward step once adversarial: x <- x0 + beta (x - x0), in (0, 1)",
    },
    Param {
        key: "target_classes",
        default: "0",
        about: "0: untargeted; k: FAB-T towards each of the k most likely other classes",
    },
    Param {
        key: "eps_init",
        default: "eps",
        about: "random restarts start at distance min(best found, eps_init) / 2",
    },
];

/// FAB as a user configured it.
#[derive(Clone, Debug, PartialEq)]
pub struct FabSpec {
    pub norm: Norm,
    pub max_iter: usize,
    pub n_restarts: usize,
    pub alpha_max: f32,
    pub eta: f32,
    pub beta: f32,
    pub target_classes: usize,
    pub eps_init: Option<f32>,
}

impl FabSpec {
    /// Reads and validates FAB's parameters.
    pub fn take(p: &mut Params) -> Result<Self> {
        let norm = take_norm_among(p, Norm::Inf, &[Norm::L1, Norm::L2, Norm::Inf], "FAB")?;
        let spec = FabSpec {
            norm,
            max_iter: p.take_or("max_iter", 100)?,
            n_restarts: p.take_or("n_restarts", 1)?,
            alpha_max: p.take_or("alpha_max", 0.1)?,
            eta: p.take_or("eta", 1.05)?,
            beta: p.take_or("beta", 0.9)?,
            target_classes: p.take_or("target_classes", 0)?,
            eps_init: p.take("eps_init")?,
        };
        if spec.max_iter == 0 {
            return Err(Error::invalid(p.display("max_iter"), "at least 1"));
        }
        if spec.n_restarts == 0 {
            return Err(Error::invalid(p.display("n_restarts"), "at least 1"));
        }
        if !(0.0..=1.0).contains(&spec.alpha_max) {
            return Err(Error::invalid(
                p.display("alpha_max"),
                format!("a number in [0, 1], got {}", spec.alpha_max),
            ));
        }
        if !(spec.eta.is_finite() && spec.eta >= 1.0) {
            return Err(Error::invalid(
                p.display("eta"),
                format!("a finite number at least 1, got {}", spec.eta),
            ));
        }
        if !(spec.beta > 0.0 && spec.beta < 1.0) {
            return Err(Error::invalid(
                p.display("beta"),
                format!("a number in (0, 1), got {}", spec.beta),
            ));
        }
        if let Some(e) = spec.eps_init
            && !(e.is_finite() && e > 0.0)
        {
            return Err(Error::invalid(
                p.display("eps_init"),
                format!("a positive finite number, got {e}"),
            ));
        }
        Ok(spec)
    }
}

impl AttackSpec for FabSpec {
    fn name(&self) -> &'static str {
        "fab"
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn iterative(&self) -> bool {
        true
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        if run.targeted {
            return Err(Error::invalid(
                "targeted",
                "FAB is untargeted (FAB-T, target_classes = k, chooses its own targets)",
            ));
        }
        Ok(Box::new(Fab {
            common: stepless_common(self.norm, run), // untargeted: refused above
            max_iter: self.max_iter,
            n_restarts: self.n_restarts,
            alpha_max: self.alpha_max,
            eta: self.eta,
            beta: self.beta,
            target_classes: self.target_classes,
            eps_init: self.eps_init,
        }))
    }
}

/// FAB's configuration; `common.eps` caps the result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Fab {
    #[serde(flatten)]
    pub common: Common,
    pub max_iter: usize,
    pub n_restarts: usize,
    pub alpha_max: f32,
    pub eta: f32,
    pub beta: f32,
    /// 0: untargeted; k: FAB-T over the k most likely other classes.
    pub target_classes: usize,
    /// Radius of the random restarts (`None`: each example's eps).
    pub eps_init: Option<f32>,
}

impl Default for Fab {
    /// The reference implementation's defaults, L∞, untargeted.
    fn default() -> Self {
        Self {
            common: Common::default(),
            max_iter: 100,
            n_restarts: 1,
            alpha_max: 0.1,
            eta: 1.05,
            beta: 0.9,
            target_classes: 0,
            eps_init: None,
        }
    }
}

/// An adversarial point and its distance to the input.
#[derive(Clone, Debug)]
struct Found {
    size: f64,
    point: Vec<f32>,
    /// The iteration of its run at which that run first fooled the model.
    iteration: usize,
}

impl Attack for Fab {
    fn name(&self) -> &'static str {
        "fab"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data serialises")
    }

    fn targeted(&self) -> bool {
        false
    }

    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
    ) -> Result<AttackOutput> {
        let c = &self.common;
        c.validate()?;
        if c.targeted {
            return Err(Error::invalid(
                "targeted",
                "FAB is untargeted (FAB-T, target_classes = k, chooses its own targets)",
            ));
        }
        if ![Norm::L1, Norm::L2, Norm::Inf].contains(&c.norm) {
            return Err(Error::invalid(
                "norm",
                format!("FAB takes 1, 2 or inf, got {}", c.norm),
            ));
        }
        self.check()?;
        let [n, _] = x.dims();
        let labels = c.labels(classifier, x, labels)?;
        let eps = c.eps.per_example(n, "eps")?;
        let eps_step = eps.clone();
        let mut rngs = example_rngs(c, n)?;
        run_batches(
            c.batch_size,
            x,
            &labels,
            mask,
            eps,
            &eps_step,
            &mut rngs,
            |b, rngs| self.batch(classifier, b.x, b.labels, b.mask, b.eps, rngs),
        )
    }
}

impl Fab {
    /// The checks of [`FabSpec::take`], for a `Fab` built directly.
    fn check(&self) -> Result<()> {
        if self.max_iter == 0 || self.n_restarts == 0 {
            return Err(Error::invalid(
                "max_iter",
                "max_iter and n_restarts at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.alpha_max) {
            return Err(Error::invalid("alpha_max", "a number in [0, 1]"));
        }
        if !(self.eta.is_finite() && self.eta >= 1.0) {
            return Err(Error::invalid("eta", "a finite number at least 1"));
        }
        if !(self.beta > 0.0 && self.beta < 1.0) {
            return Err(Error::invalid("beta", "a number in (0, 1)"));
        }
        if let Some(e) = self.eps_init
            && !(e.is_finite() && e > 0.0)
        {
            return Err(Error::invalid("eps_init", "a positive finite number"));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn batch(
        &self,
        classifier: &dyn Classifier,
        x0: &Tensor<2>,
        labels: &[usize],
        mask: Option<&Tensor<2>>,
        eps: &[f32],
        rngs: &mut [rand_chacha::ChaCha8Rng],
    ) -> Result<(Tensor<2>, Vec<Option<usize>>)> {
        let [m, d] = x0.dims();
        let k = classifier.num_classes();
        let device = x0.device();
        let norm = self.common.norm;
        let xs = tensor_to_vec(x0.clone());
        let mask: Option<Vec<f32>> = mask.map(|mk| {
            let v = tensor_to_vec(mk.clone());
            if v.len() == d { v.repeat(m) } else { v }
        });
        let clean = tensor_to_vec(classifier.logits(x0.clone())?);
        let row = |v: &[f32], i: usize| v[i * d..(i + 1) * d].to_vec();
        // Examples already misclassified need nothing.
        let mut best: Vec<Option<Found>> = (0..m)
            .map(|i| {
                (argmax(&clean[i * k..(i + 1) * k]) != labels[i]).then(|| Found {
                    size: 0.0,
                    point: row(&xs, i),
                    iteration: 0,
                })
            })
            .collect();
        // FAB-T's targets: the most likely other classes at the clean point.
        let targets: Vec<Vec<usize>> = clean
            .chunks(k)
            .zip(labels)
            .map(|(z, &y)| {
                ranked(z)
                    .into_iter()
                    .filter(|&c| c != y)
                    .take(self.target_classes)
                    .collect()
            })
            .collect();
        let rounds = if self.target_classes == 0 {
            1
        } else {
            self.target_classes.min(k.saturating_sub(1))
        };
        #[allow(clippy::needless_range_loop)] // `round` indexes every example's target list
        for round in 0..rounds {
            for restart in 0..self.n_restarts {
                // Only the examples not yet fooled within their budget.
                let rows: Vec<usize> = (0..m)
                    .filter(|&i| best[i].as_ref().is_none_or(|f| f.size > eps[i] as f64))
                    .collect();
                if rows.is_empty() {
                    break;
                }
                let x0s: Vec<f32> = rows.iter().flat_map(|&i| row(&xs, i)).collect();
                let masks: Option<Vec<f32>> = mask
                    .as_ref()
                    .map(|mk| rows.iter().flat_map(|&i| row(mk, i)).collect());
                let mut start = x0s.clone();
                if restart > 0 {
                    for (r, &i) in rows.iter().enumerate() {
                        let budget = self.eps_init.unwrap_or(eps[i]) as f64;
                        let radius = 0.5 * best[i].as_ref().map_or(budget, |f| f.size.min(budget));
                        let keep = masks.as_ref().map(|mk| &mk[r * d..(r + 1) * d]);
                        let noise = sphere(d, norm, keep, &mut rngs[i]);
                        let (lo, hi) = bounds(classifier);
                        for j in 0..d {
                            let v = x0s[r * d + j] as f64 + radius * noise[j];
                            start[r * d + j] = v.clamp(lo as f64, hi as f64) as f32;
                        }
                    }
                }
                let ys: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
                let towards: Option<Vec<usize>> = (self.target_classes > 0)
                    .then(|| rows.iter().map(|&i| targets[i][round]).collect());
                let found = self.run(
                    classifier,
                    &x0s,
                    start,
                    &ys,
                    towards.as_deref(),
                    masks.as_deref(),
                    &device,
                )?;
                for (r, f) in found.into_iter().enumerate() {
                    let i = rows[r];
                    if let Some(f) = f
                        && best[i].as_ref().is_none_or(|b| f.size < b.size)
                    {
                        best[i] = Some(f);
                    }
                }
            }
        }
        // The smallest adversarial point per example, projected onto the eps-ball; the input
        // where none was found.
        let (lo, hi) = bounds(classifier);
        let mut out = xs.clone();
        let mut iterations = vec![None; m];
        for i in 0..m {
            let Some(f) = &best[i] else { continue };
            let e = eps[i] as f64;
            let x = &xs[i * d..(i + 1) * d];
            let dst = &mut out[i * d..(i + 1) * d];
            if f.size <= e {
                dst.copy_from_slice(&f.point);
                iterations[i] = Some(f.iteration);
                continue;
            }
            for j in 0..d {
                let delta = f.point[j] as f64 - x[j] as f64;
                let delta = match norm {
                    Norm::Inf => delta.clamp(-e, e),
                    _ => delta * e / f.size,
                };
                dst[j] = if delta == 0.0 {
                    x[j]
                } else {
                    (x[j] as f64 + delta).clamp(lo as f64, hi as f64) as f32
                };
            }
        }
        Ok((
            Tensor::from_data(TensorData::new(out, [m, d]), &device),
            iterations,
        ))
    }

    /// One FAB run on `r` examples (`x0`, flattened) from `start`: towards `towards[i]` (FAB-T) or
    /// the nearest boundary; the smallest adversarial point found per example.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        classifier: &dyn Classifier,
        x0: &[f32],
        start: Vec<f32>,
        labels: &[usize],
        towards: Option<&[usize]>,
        mask: Option<&[f32]>,
        device: &burn::tensor::Device,
    ) -> Result<Vec<Option<Found>>> {
        let r = labels.len();
        let d = x0.len() / r.max(1);
        let k = classifier.num_classes();
        let norm = self.common.norm;
        let (lo, hi) = bounds(classifier);
        let (eta, beta) = (self.eta as f64, self.beta as f64);
        // The classes whose boundary with the label each example considers.
        let others: Vec<Vec<usize>> = (0..r)
            .map(|i| match towards {
                Some(t) => vec![t[i]],
                None => (0..k).filter(|&c| c != labels[i]).collect(),
            })
            .collect();
        let passes = others.iter().map(Vec::len).max().unwrap_or(0);
        let mut cur = start;
        let mut found: Vec<Option<Found>> = vec![None; r];
        let mut first: Vec<Option<usize>> = vec![None; r];
        for it in 0..self.max_iter {
            let xt = Tensor::<2>::from_data(TensorData::new(cur.clone(), [r, d]), device);
            // Per example: the nearest linearised boundary, as (distance, f, ∇f) with f = z_l − z_y.
            let mut near: Vec<(f64, f64, Vec<f32>)> = vec![(f64::INFINITY, 0.0, Vec::new()); r];
            for p in 0..passes {
                let a: Vec<usize> = (0..r)
                    .map(|i| *others[i].get(p).unwrap_or(&labels[i]))
                    .collect();
                let objective = LogitDifference { a: &a, b: labels };
                let (g, z) = classifier.objective_gradient(xt.clone(), &objective)?;
                let z = tensor_to_vec(z);
                let mut g = tensor_to_vec(g);
                for (j, v) in g.iter_mut().enumerate() {
                    if v.is_nan() {
                        *v = 0.0;
                    }
                    if let Some(mk) = mask {
                        *v *= mk[j];
                    }
                }
                for i in 0..r {
                    if p >= others[i].len() {
                        continue;
                    }
                    let w = &g[i * d..(i + 1) * d];
                    let f = z[i * k + a[i]] as f64 - z[i * k + labels[i]] as f64;
                    let dual = dual_size(w, norm);
                    let dist = f.abs() / (dual + 1e-12);
                    if dist < near[i].0 {
                        near[i] = (dist, f, w.to_vec());
                    }
                }
            }
            for (i, (_, f, w)) in near.iter().enumerate() {
                if w.is_empty() {
                    continue; // no finite boundary: stay
                }
                let x1 = &cur[i * d..(i + 1) * d];
                let xi = &x0[i * d..(i + 1) * d];
                // The linearised boundary: w·z = w·x1 − f.
                let b = x1
                    .iter()
                    .zip(w)
                    .map(|(x, w)| *x as f64 * *w as f64)
                    .sum::<f64>()
                    - f;
                let d1 = project(x1, w, b, lo, hi, norm);
                let d2 = project(xi, w, b, lo, hi, norm);
                let a1 = size(&d1, norm).max(1e-8);
                let a2 = size(&d2, norm).max(1e-8);
                let alpha = (a1 / (a1 + a2)).clamp(0.0, self.alpha_max as f64);
                let next: Vec<f32> = (0..d)
                    .map(|j| {
                        if mask.is_some_and(|mk| mk[i * d + j] == 0.0) {
                            return xi[j];
                        }
                        let v = (1.0 - alpha) * (x1[j] as f64 + eta * d1[j])
                            + alpha * (xi[j] as f64 + eta * d2[j]);
                        v.clamp(lo as f64, hi as f64) as f32
                    })
                    .collect();
                cur[i * d..(i + 1) * d].copy_from_slice(&next);
            }
            let xt = Tensor::<2>::from_data(TensorData::new(cur.clone(), [r, d]), device);
            let z = tensor_to_vec(classifier.logits(xt)?);
            for i in 0..r {
                if argmax(&z[i * k..(i + 1) * k]) == labels[i] {
                    continue;
                }
                let xi = &x0[i * d..(i + 1) * d];
                let x1 = &mut cur[i * d..(i + 1) * d];
                let delta: Vec<f64> = x1
                    .iter()
                    .zip(xi)
                    .map(|(a, b)| *a as f64 - *b as f64)
                    .collect();
                let s = size(&delta, norm);
                let first_it = *first[i].get_or_insert(it);
                if found[i].as_ref().is_none_or(|f| s < f.size) {
                    found[i] = Some(Found {
                        size: s,
                        point: x1.to_vec(),
                        iteration: first_it,
                    });
                }
                // Back towards the input, and on from there.
                for j in 0..d {
                    x1[j] = if delta[j] == 0.0 {
                        xi[j]
                    } else {
                        (xi[j] as f64 + beta * delta[j]) as f32
                    };
                }
            }
        }
        Ok(found)
    }
}

/// ‖w‖ in the dual of `norm` (ℓ1 for L∞, ℓ∞ for L1, ℓ2 for L2): the distance to the linearised
/// boundary f + w·δ = 0 is |f| / ‖w‖_dual.
fn dual_size(w: &[f32], norm: Norm) -> f64 {
    let magnitudes = w.iter().map(|v| v.abs() as f64);
    match norm {
        Norm::Inf => magnitudes.sum(),
        n if n == Norm::L1 => magnitudes.fold(0.0, f64::max),
        _ => magnitudes.map(|v| v * v).sum::<f64>().sqrt(),
    }
}

/// The input range, unbounded for a model without one.
fn bounds(classifier: &dyn Classifier) -> (f32, f32) {
    classifier
        .clip()
        .unwrap_or((f32::NEG_INFINITY, f32::INFINITY))
}

/// A random point of the unit sphere of `norm` (L∞: uniform in the cube, scaled so its largest
/// coordinate is ±1; L2 and L1: a Gaussian normalised in that norm, as the reference), zero where
/// `keep` is zero.
fn sphere(d: usize, norm: Norm, keep: Option<&[f32]>, rng: &mut impl Rng) -> Vec<f64> {
    let mut t: Vec<f64> = (0..d)
        .map(|_| match norm {
            Norm::Inf => rng.random_range(-1.0..=1.0),
            _ => rng.sample(StandardNormal),
        })
        .collect();
    if let Some(keep) = keep {
        for (v, k) in t.iter_mut().zip(keep) {
            if *k == 0.0 {
                *v = 0.0;
            }
        }
    }
    let len = size(&t, norm);
    if len > 0.0 {
        t.iter_mut().for_each(|v| *v /= len);
    }
    t
}
