//! HopSkipJump (Chen, Jordan and Wainwright, IEEE S&P 2020): a decision-based attack that needs
//! the model's predicted labels only, neither scores nor gradients, L2 or L∞. It walks along the
//! decision boundary towards the input, so its result is a minimal perturbation.
//!
//! Per example, with input x₀, d features and θ = 0.01/√d (L2) or 0.01/d (L∞), as ART:
//!
//! - **Start**: an adversarial point. Untargeted: uniform noise in the input range until the
//!   label changes (`init_size` tries), then a binary search on the blend (1 − a)·x₀ + a·noise to a
//!   resolution of 0.001 (ART's and the authors' initial L2 search). Targeted: the first example of
//!   the attacked input predicted as the target (its features where the mask lets features move),
//!   else the same random search until the target is predicted. None found: the input returns
//!   unchanged and the attack fails on it.
//! - **Binary search** to the boundary between x₀ and the point, in the attack's norm: L2 on the
//!   blend a ∈ [0, 1] to a resolution θ; L∞ on the radius of a box around x₀ (clip the point to
//!   x₀ ± a), a ∈ [0, ‖x − x₀‖∞], to a resolution min(θ·‖x − x₀‖∞, θ). The adversarial end is kept.
//! - **Iteration t = 1..max_iter**: the gradient direction at the boundary point x_b is estimated
//!   from n_t = min(⌊init_eval·√t⌋, max_eval) random unit directions u (L2: Gaussian; L∞: uniform in
//!   [−1, 1]; normalised in L2, zero at masked features): each query x_b + δ·u, clipped to the range,
//!   is ±1 (adversarial or not), u is replaced by the step actually taken after clipping, and the
//!   estimate is the mean of (f − mean f)·u (the baseline-subtracted sign trick; the mean of ±u when
//!   every answer agrees). δ = 0.1·(range) at t = 1, then √d·θ·dist (L2) or d·θ·dist (L∞) where dist
//!   is the distance of the last stepped point. The step goes along the normalised estimate (L2) or
//!   its sign (L∞), of size dist/√t halved until the point is adversarial (geometric search), then
//!   clipped to the range and searched back to the boundary.
//! - **Output**: the smallest adversarial boundary point met; where it is farther than eps it is
//!   projected onto the eps-ball (so the attack reports failure, like DeepFool and FAB), where none
//!   was found the input unchanged. One run at a large eps gives each example's distance.
//!
//! Every query of a phase (starts, binary-search midpoints, gradient samples, step sizes) is batched
//! across the examples still in that phase, `batch_size` rows per forward pass; each example draws
//! from its own random stream, so results do not depend on the batch size. Masked features never
//! move.

use super::spec::{AttackEntry, AttackSpec, RunSettings, stepless_common, take_norm_among};
use super::{Attack, AttackOutput, Mask, Norm, check_attack_labels, example_rngs, run_batches};
use super::{Common, success};
use crate::array::tensor_to_vec;
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::params::{Param, Params};
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_distr::StandardNormal;

/// `hopskipjump`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "hopskipjump",
    about: "HopSkipJump (Chen et al. 2020), L2 or L-inf: minimal perturbations from predicted labels only (no scores, no gradients), capped by eps",
    params: &PARAMS,
    parse: |p| Ok(Box::new(HopSkipJumpSpec::take(p)?)),
};

const PARAMS: [Param; 5] = [
    Param {
        key: "norm",
        default: "2",
        about: "2 or inf",
    },
    Param {
        key: "max_iter",
        default: "50",
        about: "boundary iterations (gradient estimate, step, binary search)",
    },
    Param {
        key: "max_eval",
        default: "10000",
        about: "largest number of label queries per gradient estimate",
    },
    Param {
        key: "init_eval",
        default: "100",
        about: "queries of the first gradient estimate; iteration t takes init_eval * sqrt(t)",
    },
    Param {
        key: "init_size",
        default: "100",
        about: "random draws tried for an adversarial starting point",
    },
];

/// HopSkipJump as a user configured it.
#[derive(Clone, Debug, PartialEq)]
pub struct HopSkipJumpSpec {
    pub norm: Norm,
    pub max_iter: usize,
    pub max_eval: usize,
    pub init_eval: usize,
    pub init_size: usize,
}

impl HopSkipJumpSpec {
    /// Reads and validates the parameters, errors naming the key as the user wrote it.
    pub fn take(p: &mut Params) -> Result<Self> {
        let norm = take_norm_among(p, Norm::L2, &[Norm::L2, Norm::Inf], "HopSkipJump")?;
        let spec = HopSkipJumpSpec {
            norm,
            max_iter: p.take_or("max_iter", 50)?,
            max_eval: p.take_or("max_eval", 10_000)?,
            init_eval: p.take_or("init_eval", 100)?,
            init_size: p.take_or("init_size", 100)?,
        };
        if let Some((key, reason)) = spec.problem() {
            return Err(Error::invalid(p.display(key), reason));
        }
        Ok(spec)
    }

    /// The first parameter out of range, and why.
    fn problem(&self) -> Option<(&'static str, String)> {
        check(
            self.norm,
            self.max_iter,
            self.max_eval,
            self.init_eval,
            self.init_size,
        )
    }
}

/// ART's checks (except that max_iter 0, which ART allows, is refused: it would only search the
/// starting point).
fn check(
    norm: Norm,
    max_iter: usize,
    max_eval: usize,
    init_eval: usize,
    init_size: usize,
) -> Option<(&'static str, String)> {
    if norm != Norm::L2 && norm != Norm::Inf {
        return Some(("norm", format!("HopSkipJump takes 2 or inf, got {norm}")));
    }
    for (key, v) in [
        ("max_iter", max_iter),
        ("max_eval", max_eval),
        ("init_eval", init_eval),
        ("init_size", init_size),
    ] {
        if v == 0 {
            return Some((key, "at least 1".into()));
        }
    }
    if init_eval > max_eval {
        return Some((
            "max_eval",
            format!("has to be at least init_eval ({init_eval}), got {max_eval}"),
        ));
    }
    None
}

impl AttackSpec for HopSkipJumpSpec {
    fn name(&self) -> &'static str {
        "hopskipjump"
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn iterative(&self) -> bool {
        true
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        let attack = HopSkipJump {
            common: stepless_common(self.norm, run),
            max_iter: self.max_iter,
            max_eval: self.max_eval,
            init_eval: self.init_eval,
            init_size: self.init_size,
        };
        attack.validate()?;
        Ok(Box::new(attack))
    }
}

/// HopSkipJump's configuration; `common.eps` caps the result, `common.batch_size` is the number
/// of examples attacked together and of rows per forward pass.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HopSkipJump {
    #[serde(flatten)]
    pub common: Common,
    pub max_iter: usize,
    pub max_eval: usize,
    pub init_eval: usize,
    pub init_size: usize,
}

impl Default for HopSkipJump {
    /// ART's defaults: L2, 50 iterations, 10000 / 100 evaluations, 100 random starts, untargeted.
    fn default() -> Self {
        Self {
            common: Common {
                norm: Norm::L2,
                ..Common::default()
            },
            max_iter: 50,
            max_eval: 10_000,
            init_eval: 100,
            init_size: 100,
        }
    }
}

impl HopSkipJump {
    pub fn validate(&self) -> Result<()> {
        self.common.validate()?;
        if let Some((key, reason)) = check(
            self.common.norm,
            self.max_iter,
            self.max_eval,
            self.init_eval,
            self.init_size,
        ) {
            return Err(Error::invalid(key, reason));
        }
        Ok(())
    }

    /// Gradient-estimate queries at iteration `t` (from 1).
    pub fn evals_at(&self, t: usize) -> usize {
        ((self.init_eval as f64 * (t as f64).sqrt()) as usize).min(self.max_eval)
    }
}

impl Attack for HopSkipJump {
    fn name(&self) -> &'static str {
        "hopskipjump"
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
        check_attack_labels(classifier, labels, n, c.targeted)?;
        let predicted = classifier.predict_labels(x, c.batch_size)?;
        let labels = labels.map_or_else(|| predicted.clone(), <[usize]>::to_vec);
        let eps = c.eps.per_example(n, "eps")?;
        let eps_step = eps.clone();
        let mut rngs = example_rngs(c, n)?;
        // The range noise is drawn in and points are clipped to: the model's, else the input's (ART).
        let range = match classifier.clip() {
            Some(r) => r,
            None if n == 0 => (0.0, 0.0),
            None => tensor_to_vec(x.clone())
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                }),
        };
        // Targeted starts: the first example of the input predicted as each class.
        let mut first_of = vec![None; classifier.num_classes()];
        for (j, &p) in predicted.iter().enumerate() {
            if first_of[p].is_none() {
                first_of[p] = Some(j);
            }
        }
        let mut offset = 0;
        run_batches(
            c.batch_size,
            x,
            &labels,
            mask,
            eps,
            &eps_step,
            &mut rngs,
            |b, rngs| {
                let [m, _] = b.x.dims();
                let start = offset;
                offset += m;
                let run = Run {
                    attack: self,
                    classifier,
                    d: b.x.dims()[1],
                    range,
                    device: b.x.device(),
                };
                let starts: Vec<Option<Vec<f32>>> = (0..m)
                    .map(|i| {
                        let j = if c.targeted {
                            first_of.get(b.labels[i]).copied().flatten()
                        } else {
                            None
                        };
                        j.map(|j| tensor_to_vec(x.clone().slice(j..j + 1)))
                    })
                    .collect();
                run.batch(
                    b.x,
                    b.labels,
                    &predicted[start..start + m],
                    b.mask,
                    b.eps,
                    &starts,
                    rngs,
                )
            },
        )
    }
}

/// One batch's attack: what every phase needs.
struct Run<'a> {
    attack: &'a HopSkipJump,
    classifier: &'a dyn Classifier,
    d: usize,
    range: (f32, f32),
    device: burn::tensor::Device,
}

/// One example's state.
struct Example {
    x0: Vec<f32>,
    /// Whether each feature may move.
    free: Vec<bool>,
    label: usize,
    /// The current point: adversarial once started.
    cur: Vec<f32>,
    /// The smallest adversarial point met: (distance, point, iteration).
    best: Option<(f64, Vec<f32>, usize)>,
}

impl Run<'_> {
    fn norm(&self) -> Norm {
        self.attack.common.norm
    }

    /// θ, ART's binary-search resolution.
    fn theta(&self) -> f64 {
        let d = self.d.max(1) as f64;
        match self.norm() {
            Norm::Inf => 0.01 / d,
            _ => 0.01 / d.sqrt(),
        }
    }

    /// Whether each row of `points` is adversarial for its example's label.
    fn adversarial(&self, points: Vec<f32>, labels: &[usize]) -> Result<Vec<bool>> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let t = Tensor::<2>::from_data(
            TensorData::new(points, [labels.len(), self.d]),
            &self.device,
        );
        let c = &self.attack.common;
        let predicted = self.classifier.predict_labels(&t, c.batch_size)?;
        Ok(success(&predicted, labels, c.targeted))
    }

    /// `x0` where features are fixed, `v(j)` clipped to the range elsewhere.
    fn place(&self, e: &Example, v: impl Fn(usize) -> f64) -> Vec<f32> {
        let (lo, hi) = (self.range.0 as f64, self.range.1 as f64);
        (0..self.d)
            .map(|j| {
                if e.free[j] {
                    v(j).clamp(lo, hi) as f32
                } else {
                    e.x0[j]
                }
            })
            .collect()
    }

    /// Distance of `p` from the example's input in the attack's norm.
    fn distance(&self, e: &Example, p: &[f32]) -> f64 {
        let diffs = p
            .iter()
            .zip(&e.x0)
            .map(|(a, b)| (*a as f64 - *b as f64).abs());
        match self.norm() {
            Norm::Inf => diffs.fold(0.0, f64::max),
            _ => diffs.map(|v| v * v).sum::<f64>().sqrt(),
        }
    }

    /// The point at parameter `a` between the input and `p`: the blend (1 − a)·x₀ + a·p (L2), or
    /// `p` clipped to the box x₀ ± a (L∞).
    fn between(&self, e: &Example, p: &[f32], a: f64, norm: Norm) -> Vec<f32> {
        self.place(e, |j| {
            let (x, v) = (e.x0[j] as f64, p[j] as f64);
            match norm {
                Norm::Inf => v.clamp(x - a, x + a),
                _ => (1.0 - a) * x + a * v,
            }
        })
    }

    /// Moves the current point of each of `rows` to the boundary between it and the input, keeping
    /// the adversarial end; `threshold` overrides the resolution (the start's L2 search).
    fn binary_search(
        &self,
        ex: &mut [Example],
        rows: &[usize],
        norm: Norm,
        threshold: Option<f64>,
    ) -> Result<()> {
        let theta = self.theta();
        // (low, high, resolution) per row.
        let mut bounds: Vec<(f64, f64, f64)> = rows
            .iter()
            .map(|&i| match norm {
                Norm::Inf => {
                    let high = self.distance(&ex[i], &ex[i].cur);
                    (0.0, high, threshold.unwrap_or((high * theta).min(theta)))
                }
                _ => (0.0, 1.0, threshold.unwrap_or(theta)),
            })
            .collect();
        // Each halving halves the gap; 64 rounds reach f64's resolution whatever the threshold.
        for _ in 0..64 {
            let open: Vec<usize> = (0..rows.len())
                .filter(|&r| {
                    let (lo, hi, t) = bounds[r];
                    hi - lo > t
                })
                .collect();
            if open.is_empty() {
                break;
            }
            let mut points = Vec::with_capacity(open.len() * self.d);
            let mut labels = Vec::with_capacity(open.len());
            for &r in &open {
                let (lo, hi, _) = bounds[r];
                let e = &ex[rows[r]];
                points.extend(self.between(e, &e.cur, (lo + hi) / 2.0, norm));
                labels.push(e.label);
            }
            let adversarial = self.adversarial(points, &labels)?;
            for (&r, ok) in open.iter().zip(adversarial) {
                let (lo, hi, _) = &mut bounds[r];
                let mid = (*lo + *hi) / 2.0;
                if ok {
                    *hi = mid;
                } else {
                    *lo = mid;
                }
            }
        }
        for (r, &i) in rows.iter().enumerate() {
            let high = bounds[r].1;
            let e = &ex[i];
            ex[i].cur = self.between(e, &e.cur, high, norm);
        }
        Ok(())
    }

    /// Adversarial starting points for `rows` (not yet adversarial at the input): the given start
    /// (targeted), else uniform noise in the range, each followed by its example's random stream.
    /// Returns the rows that have one.
    fn start(
        &self,
        ex: &mut [Example],
        rows: &[usize],
        given: &[Option<Vec<f32>>],
        rngs: &mut [rand_chacha::ChaCha8Rng],
    ) -> Result<Vec<usize>> {
        let mut started = Vec::new();
        // Given starts (another example predicted as the target), with the fixed features of the
        // input: checked with one query each.
        let offered: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| given[i].is_some())
            .collect();
        let mut points = Vec::new();
        for &i in &offered {
            let g = given[i].as_ref().expect("offered");
            points.extend(self.place(&ex[i], |j| g[j] as f64));
        }
        let labels: Vec<usize> = offered.iter().map(|&i| ex[i].label).collect();
        let ok = self.adversarial(points.clone(), &labels)?;
        let d = self.d;
        for (r, &i) in offered.iter().enumerate() {
            if ok[r] {
                ex[i].cur = points[r * d..(r + 1) * d].to_vec();
                started.push(i);
            }
        }
        // Random search for the others.
        let mut pending: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|i| !started.contains(i))
            .collect();
        let mut drawn = Vec::new();
        let (lo, hi) = (self.range.0 as f64, self.range.1 as f64);
        for _ in 0..self.attack.init_size {
            if pending.is_empty() {
                break;
            }
            let mut points = Vec::with_capacity(pending.len() * d);
            for &i in &pending {
                let noise: Vec<f64> = (0..d)
                    .map(|_| lo + (hi - lo) * rngs[i].random::<f64>())
                    .collect();
                points.extend(self.place(&ex[i], |j| noise[j]));
            }
            let labels: Vec<usize> = pending.iter().map(|&i| ex[i].label).collect();
            let ok = self.adversarial(points.clone(), &labels)?;
            let mut still = Vec::new();
            for (r, &i) in pending.iter().enumerate() {
                if ok[r] {
                    ex[i].cur = points[r * d..(r + 1) * d].to_vec();
                    drawn.push(i);
                } else {
                    still.push(i);
                }
            }
            pending = still;
        }
        // Random starts are pulled towards the input on the blend first (ART, the authors).
        drawn.sort_unstable();
        self.binary_search(ex, &drawn, Norm::L2, Some(0.001))?;
        started.extend(drawn);
        started.sort_unstable();
        Ok(started)
    }

    /// The estimated direction towards the adversarial side at each row's current point, from
    /// `evals` random directions per row, zero at fixed features.
    fn direction(
        &self,
        ex: &[Example],
        rows: &[usize],
        deltas: &[f64],
        evals: usize,
        rngs: &mut [rand_chacha::ChaCha8Rng],
    ) -> Result<Vec<Vec<f64>>> {
        let d = self.d;
        let norm = self.norm();
        let per_pass = self.attack.common.batch_size.max(1);
        // Per row: Σ f·u, Σ u, Σ f.
        let mut fu = vec![vec![0f64; d]; rows.len()];
        let mut su = vec![vec![0f64; d]; rows.len()];
        let mut sf = vec![0f64; rows.len()];
        // Queries waiting for a forward pass: (row, the step actually taken / δ), their points.
        let mut waiting: Vec<(usize, Vec<f64>)> = Vec::with_capacity(per_pass);
        let mut points: Vec<f32> = Vec::with_capacity(per_pass * d);
        let mut flush = |waiting: &mut Vec<(usize, Vec<f64>)>, points: &mut Vec<f32>| {
            let labels: Vec<usize> = waiting.iter().map(|(r, _)| ex[rows[*r]].label).collect();
            let ok = self.adversarial(std::mem::take(points), &labels)?;
            for ((r, u), ok) in waiting.drain(..).zip(ok) {
                let f = if ok { 1.0 } else { -1.0 };
                sf[r] += f;
                for j in 0..d {
                    fu[r][j] += f * u[j];
                    su[r][j] += u[j];
                }
            }
            Ok::<(), Error>(())
        };
        for (r, &i) in rows.iter().enumerate() {
            let e = &ex[i];
            let delta = deltas[r];
            for _ in 0..evals {
                let rng = &mut rngs[i];
                let mut v: Vec<f64> = (0..d)
                    .map(|_| match norm {
                        Norm::Inf => rng.random_range(-1.0..=1.0),
                        _ => rng.sample(StandardNormal),
                    })
                    .collect();
                for (v, &free) in v.iter_mut().zip(&e.free) {
                    if !free {
                        *v = 0.0;
                    }
                }
                let len = v.iter().map(|t| t * t).sum::<f64>().sqrt();
                if len > 0.0 {
                    v.iter_mut().for_each(|t| *t /= len);
                }
                let p = self.place(e, |j| e.cur[j] as f64 + delta * v[j]);
                let u: Vec<f64> = (0..d)
                    .map(|j| (p[j] as f64 - e.cur[j] as f64) / delta)
                    .collect();
                points.extend_from_slice(&p);
                waiting.push((r, u));
                if waiting.len() == per_pass {
                    flush(&mut waiting, &mut points)?;
                }
            }
        }
        if !waiting.is_empty() {
            flush(&mut waiting, &mut points)?;
        }
        let n = evals as f64;
        Ok((0..rows.len())
            .map(|r| {
                let mean_f = sf[r] / n;
                let g: Vec<f64> = (0..d)
                    .map(|j| {
                        if mean_f == 1.0 {
                            su[r][j] / n
                        } else if mean_f == -1.0 {
                            -su[r][j] / n
                        } else {
                            fu[r][j] / n - mean_f * su[r][j] / n
                        }
                    })
                    .collect();
                match norm {
                    Norm::Inf => g
                        .iter()
                        .map(|&v| {
                            if v > 0.0 {
                                1.0
                            } else if v < 0.0 {
                                -1.0
                            } else {
                                0.0
                            }
                        })
                        .collect(),
                    _ => {
                        let len = g.iter().map(|v| v * v).sum::<f64>().sqrt();
                        if len > 0.0 {
                            g.iter().map(|v| v / len).collect()
                        } else {
                            g
                        }
                    }
                }
            })
            .collect())
    }

    /// Records each row's current point if it is the smallest adversarial one so far.
    fn record(&self, ex: &mut [Example], rows: &[usize], iteration: usize) {
        for &i in rows {
            let size = self.distance(&ex[i], &ex[i].cur);
            if ex[i].best.as_ref().is_none_or(|b| size < b.0) {
                ex[i].best = Some((size, ex[i].cur.clone(), iteration));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn batch(
        &self,
        x0: &Tensor<2>,
        labels: &[usize],
        predicted: &[usize],
        mask: Option<&Tensor<2>>,
        eps: &[f32],
        given: &[Option<Vec<f32>>],
        rngs: &mut [rand_chacha::ChaCha8Rng],
    ) -> Result<(Tensor<2>, Vec<Option<usize>>)> {
        let [m, d] = x0.dims();
        let norm = self.norm();
        let targeted = self.attack.common.targeted;
        let xs = tensor_to_vec(x0.clone());
        let mask = mask.map(|t| tensor_to_vec(t.clone()));
        let mut ex: Vec<Example> = (0..m)
            .map(|i| {
                let x = xs[i * d..(i + 1) * d].to_vec();
                let free = (0..d)
                    .map(|j| match &mask {
                        Some(mk) if mk.len() == d => mk[j] != 0.0,
                        Some(mk) => mk[i * d + j] != 0.0,
                        None => true,
                    })
                    .collect();
                Example {
                    cur: x.clone(),
                    x0: x,
                    free,
                    label: labels[i],
                    best: None,
                }
            })
            .collect();
        // Examples the model already gets wrong (or right, targeted) need nothing.
        let done = success(predicted, labels, targeted);
        for (e, &done) in ex.iter_mut().zip(&done) {
            if done {
                e.best = Some((0.0, e.x0.clone(), 0));
            }
        }
        let todo: Vec<usize> = (0..m).filter(|&i| !done[i]).collect();
        let rows = self.start(&mut ex, &todo, given, rngs)?;
        self.binary_search(&mut ex, &rows, norm, None)?;
        self.record(&mut ex, &rows, 0);
        let theta = self.theta();
        let span = (self.range.1 - self.range.0) as f64;
        // Distance of each row's last stepped point (before its binary search), for δ.
        let mut stepped: Vec<f64> = vec![0.0; rows.len()];
        for t in 1..=self.attack.max_iter {
            let deltas: Vec<f64> = stepped
                .iter()
                .map(|&dist| {
                    let delta = if t == 1 {
                        0.1 * span
                    } else {
                        match norm {
                            Norm::Inf => d as f64 * theta * dist,
                            _ => (d as f64).sqrt() * theta * dist,
                        }
                    };
                    // At the input itself (a zero distance) any positive probe will do.
                    if delta > 0.0 {
                        delta
                    } else {
                        1e-12_f64.max(span * 1e-6)
                    }
                })
                .collect();
            let updates = self.direction(&ex, &rows, &deltas, self.attack.evals_at(t), rngs)?;
            // Geometric step-size search: dist/√t, halved until adversarial.
            let mut sizes: Vec<f64> = rows
                .iter()
                .map(|&i| self.distance(&ex[i], &ex[i].cur) / (t as f64).sqrt())
                .collect();
            let mut open: Vec<usize> = (0..rows.len()).collect();
            for _ in 0..64 {
                if open.is_empty() {
                    break;
                }
                let mut points = Vec::with_capacity(open.len() * d);
                let mut labels = Vec::with_capacity(open.len());
                for &r in &open {
                    let e = &ex[rows[r]];
                    let (s, u) = (sizes[r], &updates[r]);
                    points.extend(self.place(e, |j| e.cur[j] as f64 + s * u[j]));
                    labels.push(e.label);
                }
                let ok = self.adversarial(points.clone(), &labels)?;
                let mut still = Vec::new();
                for (k, &r) in open.iter().enumerate() {
                    if ok[k] {
                        ex[rows[r]].cur = points[k * d..(k + 1) * d].to_vec();
                    } else {
                        sizes[r] /= 2.0;
                        still.push(r);
                    }
                }
                open = still;
            }
            for (r, &i) in rows.iter().enumerate() {
                stepped[r] = self.distance(&ex[i], &ex[i].cur);
            }
            self.binary_search(&mut ex, &rows, norm, None)?;
            self.record(&mut ex, &rows, t);
        }
        // The smallest adversarial point, projected onto the eps-ball; the input where none.
        let mut out = xs;
        let mut iterations = vec![None; m];
        for (i, e) in ex.iter().enumerate() {
            let Some((size, point, it)) = &e.best else {
                continue;
            };
            let budget = eps[i] as f64;
            let capped = if *size <= budget {
                iterations[i] = Some(*it);
                point.clone()
            } else {
                self.place(e, |j| {
                    let (x, v) = (e.x0[j] as f64, point[j] as f64);
                    match norm {
                        Norm::Inf => x + (v - x).clamp(-budget, budget),
                        _ => x + (v - x) * budget / size,
                    }
                })
            };
            out[i * d..(i + 1) * d].copy_from_slice(&capped);
        }
        Ok((
            Tensor::from_data(TensorData::new(out, [m, d]), &self.device),
            iterations,
        ))
    }
}
