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

use super::spec::{AttackEntry, AttackSpec, CommonSpec, RunSettings, common_params};
use super::{
    Attack, AttackOutput, Batch, BestOf, Common, Mask, Norm, example_rngs, geometry, random_start,
    run_batches, score, success,
};
use crate::classifier::objective::{CrossEntropy, Dlr, DlrTargeted, Negated, Objective, ranked};
use crate::classifier::{Classifier, argmax_rows};
use crate::error::{Error, Result};
use crate::params::Param;
use burn::tensor::Tensor;

/// `apgd`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "apgd",
    about: "Auto-PGD (Croce & Hein 2020): adaptive step, momentum, checkpoints; CE or DLR loss, APGD-T over the top-k classes",
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
        let spec = ApgdSpec {
            common: CommonSpec::take(p, DEFAULT_STEP)?,
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

const PARAMS: [Param; 8] = {
    let [a, b, c, d, e] = common_params("2");
    [
        a,
        b,
        c,
        d,
        e,
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
        if !matches!(self.common.norm, Norm::Inf | Norm::P(2.0)) {
            return Err(Error::Unsupported(format!(
                "APGD with norm {}: avfoil implements the L-inf and L2 versions (the L1 version of \
                 Croce and Hein 2021 is not there yet)",
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
                        let (adv, s) = self.restart(classifier, b, rngs, None)?;
                        best.offer(adv, s);
                    }
                } else {
                    // APGD-T: the clean prediction is the class to leave; targets by clean rank.
                    let logits = crate::array::tensor_to_vec(classifier.logits(b.x.clone())?);
                    let order: Vec<Vec<usize>> = logits.chunks(k).map(ranked).collect();
                    for r in 1..=self.target_classes.min(k - 1) {
                        let targets: Vec<usize> = order.iter().map(|o| o[r]).collect();
                        for _ in 0..c.num_random_init.max(1) {
                            let (adv, s) = self.restart(classifier, b, rngs, Some(&targets))?;
                            best.offer(adv, s);
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
        let c = &self.common;
        let m = b.labels.len();
        let x0 = b.x;
        let eps = Common::column(b.eps, x0);
        let mut eta: Vec<f32> = b.eps_step.to_vec();
        let project = |p: Tensor<2>| {
            let p = Common::clip(classifier, p);
            x0.clone() + geometry::project(p - x0.clone(), eps.clone(), c.norm, c.projection)
        };
        let evaluate = |p: &Tensor<2>| -> Result<(Vec<f32>, Tensor<2>, Vec<bool>)> {
            let (g, logits) = classifier.objective_gradient(p.clone(), objective)?;
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
            Ok((f, geometry::steepest_direction(g, c.norm), fooled))
        };
        let start = if c.num_random_init > 0 {
            random_start(classifier, x0, b.eps, c.norm, b.mask, rngs)
        } else {
            x0.clone()
        };
        let (mut f, mut dir, fooled) = evaluate(&start)?;
        // The output: the first fooling iterate, else the best point.
        let mut found: Vec<bool> = fooled.clone();
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
        for it in 0..self.max_iter {
            let step = Common::column(&eta, x0);
            let z = project(cur.clone() + dir.clone() * step);
            let next = if it == 0 {
                z
            } else {
                project(
                    cur.clone()
                        + (z - cur.clone()) * ALPHA
                        + (cur.clone() - prev.clone()) * (1.0 - ALPHA),
                )
            };
            prev = cur;
            cur = next;
            let (f_next, dir_next, fooled) = evaluate(&cur)?;
            let mut take_best = vec![false; m];
            let mut take_out = vec![false; m];
            for i in 0..m {
                if f_next[i] > f[i] {
                    raised[i] += 1;
                }
                if f_next[i] > best_f[i] {
                    best_f[i] = f_next[i];
                    take_best[i] = true;
                }
                if fooled[i] && !found[i] {
                    found[i] = true;
                    take_out[i] = true;
                }
            }
            best_x = pick(&take_best, &cur, best_x);
            best_dir = pick(&take_best, &dir_next, best_dir);
            out = pick(&take_out, &cur, out);
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
                for i in 0..m {
                    if halve[i] {
                        eta[i] /= 2.0;
                    }
                }
                cur = pick(&halve, &best_x, cur);
                dir = pick(&halve, &best_dir, dir);
                raised.iter_mut().for_each(|r| *r = 0);
                eta_at_checkpoint = eta.clone();
                best_at_checkpoint = best_f.clone();
                last_checkpoint = it + 1;
            }
        }
        let adv = pick(&found, &out, best_x);
        let s = score(classifier, &adv, b.labels, c.targeted)?;
        Ok((adv, s))
    }
}

/// Rows of `a` where `rows[i]`, of `b` elsewhere.
fn pick(rows: &[bool], a: &Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    if !rows.iter().any(|&r| r) {
        return b;
    }
    super::choose_rows(rows, a.clone(), b)
}
