//! Auto-PGD (Croce and Hein, ICML 2020): PGD whose step size adapts per example, with momentum,
//! checkpoints and the best point kept, on the cross-entropy or the difference-of-logits ratio
//! (DLR); and APGD-T, its targeted DLR version run against each of the top-k other classes.
//!
//! Per example: η(0) = `step`·eps (the paper's 2·eps by default); x(1) = P(x(0) + η ∇f);
//! then z = P(x(k) + η ∇f(x(k))), x(k+1) = P(x(k) + α(z − x(k)) + (1 − α)(x(k) − x(k−1))) with
//! α = 0.75. At checkpoints w_j = ⌈p_j · N⌉ (p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1}
//! − 0.03, 0.06)) the step halves, and the iterate returns to the best point, when fewer than
//! ρ = 0.75 of the steps since the last checkpoint raised the loss, or when neither the step nor
//! the best loss changed since it. P clips to the valid range and projects onto the eps-ball. The
//! output is the first iterate that fooled the model, else the point of highest loss. docs/apgd.md
//! has the semantics and where ART differs from the paper.
//!
//! The iterates live on the host, one row per example, updated in parallel ([`Step`], with
//! [`geometry::project_row`]): a step is a pass or two over each row where burn-flex took some
//! twenty single-threaded tensor operations of the batch's size (a sixth of APGD-CE's time on
//! c3d-lite). Only the gradient goes through the classifier, on whatever device it runs.
//!
//! `norm = 1` is L1-APGD (Croce and Hein, "Mind the box", ICML 2021), as AutoAttack implements it:
//! the threat model is the L1 ball intersected with the input range, projected onto exactly
//! ([`geometry::project_l1_box_row`]); each step moves, by η in L1 norm split evenly, the top
//! fraction k of the coordinates by |∇f| among those the range lets move in their gradient's
//! direction; no momentum; η(0) = eps; every ⌊0.04·N⌋ iterations k becomes the sparsity of the
//! best point / 1.5 and, unless that sparsity fell by more than 5% (then η resets to η(0) and the
//! iterate returns to the best point), η shrinks by 1.5, never below η(0)/10.

use super::spec::{AttackEntry, AttackSpec, CommonSpec, RunSettings, StepSize, common_params};
use super::{
    Attack, AttackOutput, Batch, BatchRows, BestOf, Common, Mask, Norm, example_rngs, geometry,
    random_start, run_batches, score, success,
};
use crate::classifier::objective::{CrossEntropy, Dlr, DlrTargeted, Negated, Objective, ranked};
use crate::classifier::{Classifier, argmax_rows};
use crate::error::{Error, Result};
use crate::params::Param;
use burn::tensor::Tensor;
use rayon::prelude::*;

/// `apgd`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "apgd",
    about: "Auto-PGD (Croce & Hein 2020): adaptive step, momentum, checkpoints; CE or DLR loss, APGD-T over the top-k classes; norm 1: L1-APGD (Croce & Hein 2021)",
    params: &PARAMS,
    parse: |p| {
        let loss = match p.take_or::<String>("loss", "ce".into())?.as_str() {
            "ce" => ApgdLoss::CrossEntropy,
            "dlr" => ApgdLoss::Dlr,
            other => {
                return Err(Error::invalid(
                    p.display("loss"),
                    format!("expected ce or dlr, got {other:?}"),
                ));
            }
        };
        let stepped = p.has("step") || p.has("eps_step");
        let mut common = CommonSpec::take(p, DEFAULT_STEP)?;
        if common.norm == Norm::L1 && !stepped {
            common.step = StepSize::Fraction(L1_STEP);
        }
        let spec = ApgdSpec {
            common,
            max_iter: p.take_or("max_iter", 100)?,
            loss,
            target_classes: p.take_or("target_classes", 0)?,
        };
        if spec.max_iter == 0 {
            return Err(Error::invalid(p.display("max_iter"), "at least 1"));
        }
        Ok(Box::new(spec))
    },
};

/// The paper's initial step, 2·eps.
const DEFAULT_STEP: f32 = 2.0;
/// Momentum of the update (the paper's α).
const ALPHA: f32 = 0.75;
/// Fraction of steps since the last checkpoint that must raise the loss (the paper's ρ).
const RHO: f32 = 0.75;
/// L1: the initial step, eps (AutoAttack's `alpha = 1` for L1).
const L1_STEP: f32 = 1.0;
/// L1: the initial fraction of coordinates a step moves (AutoAttack's `topk = 0.2`).
const L1_TOPK: f64 = 0.2;
/// L1: a checkpoint every this fraction of the iterations (AutoAttack's `k = max(int(0.04·N), 1)`).
const L1_PERIOD: f64 = 0.04;
/// L1: the factor by which η shrinks at a checkpoint, and the sparsity of the best point is
/// divided by to give the next k.
const L1_SHRINK: f64 = 1.5;
/// L1: η never falls below η(0) divided by this.
const L1_MIN_STEP: f32 = 10.0;
/// L1: a best point sparser than this fraction of the last checkpoint's resets η and the iterate.
const L1_SPARSER: f64 = 0.95;

const PARAMS: [Param; 8] = {
    let [a, b, c, d, e] = common_params("2");
    [
        a,
        Param {
            about: "step size as a fraction of eps (norm 1: default 1, as AutoAttack)",
            ..b
        },
        c,
        d,
        Param {
            about: "project L1 perturbations exactly (ART rescales radially); APGD's L1 always projects exactly onto the L1 ball ∩ the input range",
            ..e
        },
        Param {
            key: "max_iter",
            default: "100",
            about: "iterations (the checkpoints scale with it)",
        },
        Param {
            key: "loss",
            default: "ce",
            about: "ce (cross-entropy) or dlr (difference of logits ratio, needs 3+ classes)",
        },
        Param {
            key: "target_classes",
            default: "0",
            about: "APGD-T: targeted DLR against each of the k most likely other classes (needs 4+ classes; untargeted success)",
        },
    ]
};

/// The loss APGD ascends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApgdLoss {
    #[serde(rename = "ce")]
    CrossEntropy,
    Dlr,
}

/// APGD as configured by a user.
#[derive(Clone, Debug, PartialEq)]
pub struct ApgdSpec {
    pub common: CommonSpec,
    pub max_iter: usize,
    pub loss: ApgdLoss,
    pub target_classes: usize,
}

impl AttackSpec for ApgdSpec {
    fn name(&self) -> &'static str {
        "apgd"
    }

    fn norm(&self) -> Norm {
        self.common.norm
    }

    fn iterative(&self) -> bool {
        true
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        let apgd = Apgd {
            common: self.common.common(run)?,
            max_iter: self.max_iter,
            loss: self.loss,
            target_classes: self.target_classes,
        };
        apgd.validate()?;
        Ok(Box::new(apgd))
    }
}

/// APGD configuration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Apgd {
    #[serde(flatten)]
    pub common: Common,
    pub max_iter: usize,
    pub loss: ApgdLoss,
    /// APGD-T: run targeted DLR against each of this many most likely other classes (0: off).
    pub target_classes: usize,
}

impl Apgd {
    pub fn validate(&self) -> Result<()> {
        self.common.validate()?;
        if !matches!(self.common.norm, Norm::Inf | Norm::P(2.0) | Norm::P(1.0)) {
            return Err(Error::Unsupported(format!(
                "APGD with norm {}: avfoil implements the L-inf, L2 and L1 versions",
                self.common.norm
            )));
        }
        if self.max_iter == 0 {
            return Err(Error::invalid("max_iter", "at least 1"));
        }
        if self.target_classes > 0 && self.common.targeted {
            return Err(Error::invalid(
                "target_classes",
                "APGD-T chooses its own targets; it runs untargeted (drop --targeted)",
            ));
        }
        Ok(())
    }

    /// The checkpoints ⌈p_j · N⌉ of the paper's schedule, past 0.
    pub fn checkpoints(max_iter: usize) -> Vec<usize> {
        let mut p = vec![0.0f64, 0.22];
        while let [.., a, b] = p[..] {
            let next = b + (b - a - 0.03).max(0.06);
            if next > 1.0 {
                break;
            }
            p.push(next);
        }
        let mut w: Vec<usize> = p[1..]
            .iter()
            // Rounded first: 0.41 + 0.16 is 0.5700000000000001 in floating point, whose ceiling
            // at 100 iterations would be 58 (ART's schedule has that artefact).
            .map(|v| ((v * max_iter as f64) - 1e-9).ceil() as usize)
            .filter(|&w| w > 0 && w <= max_iter)
            .collect();
        w.dedup();
        w
    }
}

impl Attack for Apgd {
    fn name(&self) -> &'static str {
        "apgd"
    }

    fn params(&self) -> serde_json::Value {
        let mut p = serde_json::to_value(self).expect("plain data serialises");
        // L1-APGD always projects exactly onto the L1 ball within the input range.
        if self.common.norm == Norm::L1 {
            p["projection"] = serde_json::json!("exact-l1-box");
        }
        p
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
        let k = classifier.num_classes();
        let needed = if self.target_classes > 0 {
            4
        } else if self.loss == ApgdLoss::Dlr {
            3
        } else {
            2
        };
        if k < needed {
            return Err(Error::invalid(
                "loss",
                format!("this DLR loss needs at least {needed} classes; the model has {k}"),
            ));
        }
        let [n, _] = x.dims();
        let labels = c.labels(classifier, x, labels)?;
        let eps = c.eps.per_example(n, "eps")?;
        let eps_step = c.eps_step.per_example(n, "eps_step")?;
        let mut rngs = example_rngs(c, n)?;
        run_batches(
            c.batch_size,
            x,
            &labels,
            mask,
            eps,
            &eps_step,
            &mut rngs,
            |b, rngs| {
                let m = b.labels.len();
                let mut best = BestOf::new(c.targeted);
                if self.target_classes == 0 {
                    for _ in 0..c.num_random_init.max(1) {
                        self.run_unfooled(classifier, b, rngs, None, &mut best)?;
                    }
                } else {
                    // APGD-T: the clean prediction is the class to leave; targets by clean rank.
                    let logits = crate::array::tensor_to_vec(classifier.logits(b.x.clone())?);
                    let order: Vec<Vec<usize>> = logits.chunks(k).map(ranked).collect();
                    for r in 1..=self.target_classes.min(k - 1) {
                        let targets: Vec<usize> = order.iter().map(|o| o[r]).collect();
                        for _ in 0..c.num_random_init.max(1) {
                            self.run_unfooled(classifier, b, rngs, Some(&targets), &mut best)?;
                        }
                    }
                }
                let (adv, _) = best.into_best();
                Ok((adv, vec![None; m]))
            },
        )
    }
}

impl Apgd {
    /// One run (a restart, or a target of APGD-T) on the examples of `b` that no run has fooled
    /// yet, offered to `best`: as AutoAttack's reference and ART, a fooled example is settled.
    /// Each example draws from its own random stream, so which others share its run does not
    /// change it.
    fn run_unfooled(
        &self,
        classifier: &dyn Classifier,
        b: &Batch,
        rngs: &mut [rand_chacha::ChaCha8Rng],
        targets: Option<&[usize]>,
        best: &mut BestOf,
    ) -> Result<()> {
        let m = b.labels.len();
        let rows = best.unfooled(m);
        if rows.len() == m {
            let (adv, s) = self.restart(classifier, b, rngs, targets)?;
            best.offer(adv, s);
            return Ok(());
        }
        if rows.is_empty() {
            return Ok(());
        }
        let sub = BatchRows::of(b, &rows);
        let mut sub_rngs: Vec<_> = rows.iter().map(|&i| rngs[i].clone()).collect();
        let sub_targets: Option<Vec<usize>> = targets.map(|t| rows.iter().map(|&i| t[i]).collect());
        let (adv, s) = self.restart(
            classifier,
            &sub.batch(),
            &mut sub_rngs,
            sub_targets.as_deref(),
        )?;
        for (rng, &i) in sub_rngs.into_iter().zip(&rows) {
            rngs[i] = rng;
        }
        best.offer_rows(&rows, adv, s);
        Ok(())
    }

    /// One run from one start: the first fooling iterate per example, else its highest-loss one.
    fn restart(
        &self,
        classifier: &dyn Classifier,
        b: &Batch,
        rngs: &mut [rand_chacha::ChaCha8Rng],
        targets: Option<&[usize]>,
    ) -> Result<(Tensor<2>, super::Score)> {
        let c = &self.common;
        let k = classifier.num_classes();
        let ce = CrossEntropy(b.labels);
        let negated = Negated(&ce);
        let dlr = Dlr(b.labels);
        let dlr_t;
        // What is ascended, and what counts as success.
        let objective: &dyn Objective = match (targets, self.loss, c.targeted) {
            (Some(t), _, _) => {
                dlr_t = DlrTargeted {
                    labels: b.labels,
                    targets: t,
                };
                &dlr_t
            }
            (None, ApgdLoss::CrossEntropy, false) => &ce,
            (None, ApgdLoss::CrossEntropy, true) => &negated,
            (None, ApgdLoss::Dlr, false) => &dlr,
            (None, ApgdLoss::Dlr, true) => {
                // Targeted DLR needs the class to leave: the clean prediction.
                let clean = argmax_rows(classifier.logits(b.x.clone())?);
                let own = DlrTargeted {
                    labels: &clean,
                    targets: b.labels,
                };
                return self.ascend(classifier, b, rngs, &own, k);
            }
        };
        self.ascend(classifier, b, rngs, objective, k)
    }

    /// The APGD iteration on `objective` (ascended).
    fn ascend(
        &self,
        classifier: &dyn Classifier,
        b: &Batch,
        rngs: &mut [rand_chacha::ChaCha8Rng],
        objective: &dyn Objective,
        k: usize,
    ) -> Result<(Tensor<2>, super::Score)> {
        if self.common.norm == Norm::L1 {
            return self.ascend_l1(classifier, b, rngs, objective, k);
        }
        let c = &self.common;
        let m = b.labels.len();
        let x0 = b.x;
        let [_, d] = x0.dims();
        let bounds = classifier.clip();
        let origin = crate::array::tensor_to_vec(x0.clone());
        let mut eta: Vec<f32> = b.eps_step.to_vec();
        // One row for every example, or one per example.
        let mask = b.mask.map(|mk| crate::array::tensor_to_vec(mk.clone()));
        // Loss values, the steepest direction and which rows fool the model, at host rows `p`.
        // The direction is taken on host rows by the workers (NaN entries to 0, masked), as the
        // steps are.
        let evaluate = |p: &[f32]| -> Result<(Vec<f32>, Vec<f32>, Vec<bool>)> {
            let t = geometry::tensor_like(p.par_iter().copied().collect(), m, d, x0);
            let (g, logits) = classifier.objective_gradient(t, objective)?;
            let host = crate::array::tensor_to_vec(logits.clone());
            let f: Vec<f32> = host
                .chunks(k)
                .enumerate()
                .map(|(i, z)| objective.value(i, z, k))
                .collect();
            let fooled = success(&argmax_rows(logits), b.labels, c.targeted);
            let mut dir = crate::array::tensor_to_vec(g);
            dir.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
                let weights = mask.as_deref().map(|mk| &mk[(i * d) % mk.len()..][..d]);
                for (j, v) in row.iter_mut().enumerate() {
                    let v0 = if v.is_nan() { 0.0 } else { *v };
                    *v = weights.map_or(v0, |w| v0 * w[j]);
                }
                geometry::steepest_direction_row(row, c.norm);
            });
            Ok((f, dir, fooled))
        };
        let start = if c.num_random_init > 0 {
            crate::array::tensor_to_vec(random_start(classifier, x0, b.eps, c.norm, b.mask, rngs))
        } else {
            origin.clone()
        };
        let (mut f, mut dir, fooled) = evaluate(&start)?;
        // The output: the first fooling iterate, else the best point.
        let mut found: Vec<bool> = fooled;
        let mut out = start.clone();
        let mut best_x = start.clone();
        let mut best_f = f.clone();
        let mut best_dir = dir.clone();
        let mut prev = start.clone();
        let mut cur = start;
        let checkpoints = Self::checkpoints(self.max_iter);
        let mut last_checkpoint = 0usize;
        let mut raised = vec![0usize; m];
        let mut eta_at_checkpoint = eta.clone();
        let mut best_at_checkpoint = best_f.clone();
        let row = |i: usize| i * d..(i + 1) * d;
        for it in 0..self.max_iter {
            let step = Step {
                origin: &origin,
                eta: &eta,
                eps: b.eps,
                norm: c.norm,
                bounds,
            };
            let next = step.next(&cur, &prev, &dir, it == 0);
            prev = std::mem::replace(&mut cur, next);
            let (f_next, dir_next, fooled) = evaluate(&cur)?;
            let improved: Vec<bool> = (0..m).map(|i| f_next[i] > best_f[i]).collect();
            let newly_fooled: Vec<bool> = (0..m).map(|i| fooled[i] && !found[i]).collect();
            for i in 0..m {
                if f_next[i] > f[i] {
                    raised[i] += 1;
                }
                if improved[i] {
                    best_f[i] = f_next[i];
                }
                found[i] |= fooled[i];
            }
            copy_rows(&mut best_x, &cur, d, &improved);
            copy_rows(&mut best_dir, &dir_next, d, &improved);
            copy_rows(&mut out, &cur, d, &newly_fooled);
            f = f_next;
            dir = dir_next;
            if checkpoints.contains(&(it + 1)) {
                let span = (it + 1 - last_checkpoint) as f32;
                let halve: Vec<bool> = (0..m)
                    .map(|i| {
                        (raised[i] as f32) < RHO * span
                            || (eta_at_checkpoint[i] == eta[i]
                                && best_at_checkpoint[i] == best_f[i])
                    })
                    .collect();
                for i in (0..m).filter(|&i| halve[i]) {
                    eta[i] /= 2.0;
                }
                copy_rows(&mut cur, &best_x, d, &halve);
                copy_rows(&mut dir, &best_dir, d, &halve);
                raised.iter_mut().for_each(|r| *r = 0);
                eta_at_checkpoint = eta.clone();
                best_at_checkpoint = best_f.clone();
                last_checkpoint = it + 1;
            }
        }
        let adv: Vec<f32> = (0..m)
            .flat_map(|i| {
                let rows = if found[i] { &out } else { &best_x };
                rows[row(i)].iter().copied()
            })
            .collect();
        let adv = geometry::tensor_like(adv, m, d, x0);
        let s = score(classifier, &adv, b.labels, c.targeted)?;
        Ok((adv, s))
    }
}

/// Copies the rows of `src` (each `d` values) marked in `rows` over those of `dst`, the rows in
/// parallel: APGD's best points and restarts move whole examples (megabytes for a video clip).
fn copy_rows(dst: &mut [f32], src: &[f32], d: usize, rows: &[bool]) {
    dst.par_chunks_mut(d.max(1))
        .zip(src.par_chunks(d.max(1)))
        .zip(rows)
        .filter(|(_, copy)| **copy)
        .for_each(|((to, from), _)| to.copy_from_slice(from));
}

/// One APGD iteration of every row on the host (the rows in parallel): what the paper's update
/// needs besides the iterates.
struct Step<'a> {
    origin: &'a [f32],
    eta: &'a [f32],
    eps: &'a [f32],
    norm: Norm,
    bounds: Option<(f32, f32)>,
}

impl Step<'_> {
    /// z = P(x(k) + η·dir); on the first iteration that is x(1), later
    /// x(k+1) = P(x(k) + α(z − x(k)) + (1 − α)(x(k) − x(k−1))).
    fn next(&self, cur: &[f32], prev: &[f32], dir: &[f32], first: bool) -> Vec<f32> {
        let d = self.origin.len() / self.eta.len().max(1);
        let mut next: Vec<f32> = cur.par_iter().copied().collect();
        next.par_chunks_mut(d.max(1))
            .enumerate()
            .for_each(|(i, z)| {
                let r = i * d..(i + 1) * d;
                let project = |z: &mut [f32]| {
                    geometry::project_row(
                        z,
                        &self.origin[r.clone()],
                        self.eps[i],
                        self.norm,
                        self.bounds,
                    )
                };
                for (zj, &dj) in z.iter_mut().zip(&dir[r.clone()]) {
                    *zj += dj * self.eta[i];
                }
                project(z);
                if !first {
                    for ((zj, &c), &p) in z.iter_mut().zip(&cur[r.clone()]).zip(&prev[r.clone()]) {
                        *zj = c + (*zj - c) * ALPHA + (c - p) * (1.0 - ALPHA);
                    }
                    project(z);
                }
            });
        next
    }
}

impl Apgd {
    /// L1-APGD on `objective` (ascended), row by row on the host: sparse steps on the top
    /// fraction of the movable coordinates, the exact projection onto the L1 ball ∩ the range,
    /// and the adaptive sparsity and step size of Croce and Hein (2021) at its checkpoints.
    fn ascend_l1(
        &self,
        classifier: &dyn Classifier,
        b: &Batch,
        rngs: &mut [rand_chacha::ChaCha8Rng],
        objective: &dyn Objective,
        k: usize,
    ) -> Result<(Tensor<2>, super::Score)> {
        let c = &self.common;
        let m = b.labels.len();
        let x0 = b.x;
        let [_, d] = x0.dims();
        let bounds = classifier.clip();
        let origin = crate::array::tensor_to_vec(x0.clone());
        let evaluate = |p: &[f32]| -> Result<(Vec<f32>, Vec<f32>, Vec<bool>)> {
            let t = geometry::tensor_like(p.to_vec(), m, d, x0);
            let (g, logits) = classifier.objective_gradient(t, objective)?;
            let host = crate::array::tensor_to_vec(logits.clone());
            let f: Vec<f32> = host
                .chunks(k)
                .enumerate()
                .map(|(i, z)| objective.value(i, z, k))
                .collect();
            let fooled = success(&argmax_rows(logits), b.labels, c.targeted);
            let g = g.clone().mask_fill(g.is_nan(), 0.0);
            let g = match b.mask {
                Some(mk) => g * mk.clone(),
                None => g,
            };
            Ok((f, crate::array::tensor_to_vec(g), fooled))
        };
        let start = if c.num_random_init > 0 {
            crate::array::tensor_to_vec(random_start(classifier, x0, b.eps, c.norm, b.mask, rngs))
        } else {
            origin.clone()
        };
        let (mut best_f, mut g, fooled) = evaluate(&start)?;
        let mut found = fooled;
        let mut out = start.clone();
        let mut best_x = start.clone();
        let mut best_g = g.clone();
        let mut cur = start;
        let eta0: Vec<f32> = b.eps_step.to_vec();
        let mut eta = eta0.clone();
        let mut topk = vec![L1_TOPK; m];
        let mut sparsity_before = vec![d as f64; m];
        let period = ((L1_PERIOD * self.max_iter as f64) as usize).max(1);
        for it in 0..self.max_iter {
            let mut next = Vec::with_capacity(m * d);
            for i in 0..m {
                let r = i * d..(i + 1) * d;
                next.extend(l1_step(
                    &cur[r.clone()],
                    &origin[r.clone()],
                    &g[r],
                    eta[i],
                    topk[i],
                    b.eps[i],
                    bounds,
                ));
            }
            cur = next;
            let (f, g_next, fooled) = evaluate(&cur)?;
            g = g_next;
            for i in 0..m {
                let r = i * d..(i + 1) * d;
                if f[i] > best_f[i] {
                    best_f[i] = f[i];
                    best_x[r.clone()].copy_from_slice(&cur[r.clone()]);
                    best_g[r.clone()].copy_from_slice(&g[r.clone()]);
                }
                if fooled[i] && !found[i] {
                    found[i] = true;
                    out[r.clone()].copy_from_slice(&cur[r]);
                }
            }
            if (it + 1) % period == 0 {
                for i in 0..m {
                    let r = i * d..(i + 1) * d;
                    let sparsity = best_x[r.clone()]
                        .iter()
                        .zip(&origin[r.clone()])
                        .filter(|(a, o)| a != o)
                        .count() as f64;
                    let sparser = sparsity < L1_SPARSER * sparsity_before[i];
                    topk[i] = sparsity / d as f64 / L1_SHRINK;
                    eta[i] = if sparser {
                        eta0[i]
                    } else {
                        (f64::from(eta[i]) / L1_SHRINK) as f32
                    };
                    eta[i] = eta[i].clamp(eta0[i] / L1_MIN_STEP, eta0[i]);
                    sparsity_before[i] = sparsity;
                    if sparser {
                        cur[r.clone()].copy_from_slice(&best_x[r.clone()]);
                        g[r.clone()].copy_from_slice(&best_g[r]);
                    }
                }
            }
        }
        let adv: Vec<f32> = (0..m)
            .flat_map(|i| {
                let row = if found[i] { &out } else { &best_x };
                row[i * d..(i + 1) * d].iter().copied()
            })
            .collect();
        let adv = geometry::tensor_like(adv, m, d, x0);
        let s = score(classifier, &adv, b.labels, c.targeted)?;
        Ok((adv, s))
    }
}

/// One L1-APGD step of one example from `cur` (around `origin`): the coordinates the range lets
/// move in the direction of their gradient `g`, of them those whose |g| reaches the
/// ⌊(1 − topk)·d⌋-th smallest |g| (the top `topk` fraction, ties included), each moved by
/// `eta / count` in the direction of its gradient (a step of L1 norm `eta`), then the exact
/// projection onto the `eps` L1 ball ∩ the range.
fn l1_step(
    cur: &[f32],
    origin: &[f32],
    g: &[f32],
    eta: f32,
    topk: f64,
    eps: f32,
    bounds: Option<(f32, f32)>,
) -> Vec<f32> {
    let d = cur.len();
    let free: Vec<f32> = cur
        .iter()
        .zip(g)
        .map(|(&x, &gi)| {
            let blocked = match bounds {
                Some((lo, hi)) => (gi > 0.0 && x >= hi) || (gi < 0.0 && x <= lo),
                None => false,
            };
            if blocked { 0.0 } else { gi }
        })
        .collect();
    let mut sorted: Vec<f32> = free.iter().map(|v| v.abs()).collect();
    sorted.sort_by(f32::total_cmp);
    let at = (((1.0 - topk) * d as f64).max(0.0) as usize).min(d.saturating_sub(1));
    let threshold = sorted.get(at).copied().unwrap_or(0.0);
    let chosen = |v: f32| v != 0.0 && v.abs() >= threshold;
    let count = free.iter().filter(|&&v| chosen(v)).count();
    let size = if count > 0 {
        f64::from(eta) / count as f64
    } else {
        0.0
    };
    let v: Vec<f32> = (0..d)
        .map(|j| {
            let s = if chosen(free[j]) {
                size.copysign(f64::from(free[j]))
            } else {
                0.0
            };
            (f64::from(cur[j]) + s - f64::from(origin[j])) as f32
        })
        .collect();
    let delta = geometry::project_l1_box_row(&v, origin, eps, bounds);
    origin
        .iter()
        .zip(delta)
        .map(|(&o, dl)| {
            let p = (f64::from(o) + dl) as f32;
            match bounds {
                // Rounding to f32 must not leave the range (nor move away from an input outside it).
                Some((lo, hi)) => p.clamp(lo.min(o), hi.max(o)),
                None => p,
            }
        })
        .collect()
}
