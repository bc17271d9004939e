//! Fast Gradient Method (Goodfellow et al. 2014): one normalised gradient step of size eps.
//!
//! As ART's `FastGradientMethod`, with its bugs fixed: restarts are chosen per example and never fall
//! back to the clean input (ART #8); the minimal mode's schedule is `k·eps_step` for integer k, so eps
//! itself is tried (ART #10); each example stops at its own eps.

use super::spec::{AttackEntry, AttackSpec, CommonSpec, RunSettings, common_params};
use super::{
    Attack, AttackOutput, Batch, BestOf, Common, Mask, attack_direction, attack_gradient,
    choose_rows, example_rngs, gradient_step, random_start, run_batches, score, step_along,
    success,
};
use crate::classifier::{Classifier, argmax_rows, check_labels};
use crate::error::{Error, Result};
use crate::params::Param;
use burn::tensor::Tensor;

/// `fgm`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "fgm",
    about: "Fast Gradient Method: one normalised gradient step of size eps (Goodfellow et al. 2014)",
    params: &PARAMS,
    parse: |p| {
        Ok(Box::new(FgmSpec {
            common: CommonSpec::take(p, DEFAULT_STEP)?,
            minimal: p.take_or("minimal", false)?,
        }))
    },
};

/// FGM's default step for the minimal search: a tenth of eps (ART's fixed 0.1 suits [0, 1] only).
const DEFAULT_STEP: f32 = 0.1;

const PARAMS: [Param; 6] = {
    let [a, b, c, d, e] = common_params("0.1 (minimal search only)");
    [
        a,
        b,
        c,
        d,
        e,
        Param {
            key: "minimal",
            default: "false",
            about: "search the smallest successful multiple of the step up to eps",
        },
    ]
};

/// FGM as configured by a user.
#[derive(Clone, Debug, PartialEq)]
pub struct FgmSpec {
    pub common: CommonSpec,
    pub minimal: bool,
}

impl AttackSpec for FgmSpec {
    fn name(&self) -> &'static str {
        "fgm"
    }

    fn norm(&self) -> super::Norm {
        self.common.norm
    }

    fn iterative(&self) -> bool {
        false
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        Ok(Box::new(Fgm {
            common: self.common.common(run)?,
            minimal: self.minimal,
        }))
    }
}

/// FGM configuration. `Fgm::default()` has ART's defaults.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Fgm {
    /// Norm, eps, targeting, restarts, batch size, seed.
    #[serde(flatten)]
    pub common: Common,
    /// Search for the smallest successful multiple of `eps_step` up to eps, along the gradient
    /// direction at the clean input (a line search, as ART).
    pub minimal: bool,
}

impl Fgm {
    /// One untargeted step of `eps` in ℓ∞ (eps_step = eps), no restarts: the video notebook's FGM.
    pub fn linf(eps: f32) -> Self {
        Self {
            common: Common {
                eps: super::Eps::Scalar(eps),
                eps_step: super::Eps::Scalar(eps),
                ..Default::default()
            },
            minimal: false,
        }
    }
}

impl Attack for Fgm {
    fn name(&self) -> &'static str {
        "fgm"
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
        let c = &self.common;
        c.validate()?;
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
                let adv = if self.minimal {
                    self.minimal_batch(classifier, b)?
                } else {
                    self.restart_batch(classifier, b, rngs)?
                };
                Ok((adv, vec![None; b.labels.len()]))
            },
        )
    }

    fn is_function_of_gradient(&self) -> bool {
        !self.minimal && self.common.num_random_init == 0
    }

    /// Without random starts or minimal search, FGM is one step along the sign (or ℓp direction) of
    /// the loss gradient at `x`: exactly what [`generate`](Attack::generate) computes, from the given
    /// gradient instead of its own.
    fn generate_from_gradient(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: &[usize],
        mask: Option<&Mask>,
        gradient: &Tensor<2>,
    ) -> Result<Option<AttackOutput>> {
        let c = &self.common;
        if !self.is_function_of_gradient() {
            return Ok(None);
        }
        c.validate()?;
        let [n, d] = x.dims();
        check_labels(labels, n, classifier.num_classes())?;
        if gradient.dims() != [n, d] {
            return Err(Error::invalid(
                "gradient",
                format!("has shape {:?}, the input {:?}", gradient.dims(), [n, d]),
            ));
        }
        let eps = c.eps.per_example(n, "eps")?;
        c.eps_step.per_example(n, "eps_step")?;
        let mask = mask.map(|m| m.rows(n, d, 0, n, x)).transpose()?;
        let g = attack_direction(c, gradient.clone(), mask.as_ref());
        let eps_t = Common::column(&eps, x);
        let adversarial = step_along(classifier, c, g, x.clone(), x, &eps_t, &eps_t);
        Ok(Some(AttackOutput {
            adversarial,
            success_iteration: vec![None; n],
            eps,
            components: Vec::new(),
        }))
    }
}

impl Fgm {
    /// One step of size eps from the input (or from each random start), best restart per example.
    fn restart_batch(
        &self,
        classifier: &dyn Classifier,
        b: &Batch,
        rngs: &mut [rand_chacha::ChaCha8Rng],
    ) -> Result<Tensor<2>> {
        let c = &self.common;
        let eps = Common::column(b.eps, b.x);
        let mut best = BestOf::new(c.targeted);
        for _ in 0..c.num_random_init.max(1) {
            let start = if c.num_random_init > 0 {
                random_start(classifier, b.x, b.eps, c.norm, b.mask, rngs)
            } else {
                b.x.clone()
            };
            let (adv, _) = gradient_step(
                classifier, c, start, b.x, b.labels, b.mask, &eps, &eps, None,
            )?;
            if c.num_random_init <= 1 {
                return Ok(adv);
            }
            let s = score(classifier, &adv, b.labels, c.targeted)?;
            best.offer(adv, s);
        }
        Ok(best.into_best().0)
    }

    /// Line search along the clean-input gradient direction: `x + k·eps_step·d` for k = 1, 2, … up to
    /// eps, stopping per example at its first success. Failures keep the largest step tried.
    fn minimal_batch(&self, classifier: &dyn Classifier, b: &Batch) -> Result<Tensor<2>> {
        let (c, eps_step) = (&self.common, b.eps_step);
        let m = b.eps.len();
        let (g, _) = attack_gradient(classifier, c, b.x.clone(), b.labels, b.mask)?;
        let direction = super::geometry::steepest_direction(g, c.norm);
        let steps: Vec<usize> = (0..m)
            .map(|i| max_multiple(b.eps[i], eps_step[i]))
            .collect();
        let mut adv = b.x.clone();
        let mut active = vec![true; m];
        for k in 1..=steps.iter().copied().max().unwrap_or(0) {
            let pick: Vec<bool> = (0..m).map(|i| active[i] && k <= steps[i]).collect();
            if !pick.iter().any(|&p| p) {
                break;
            }
            let size: Vec<f32> = (0..m).map(|i| k as f32 * eps_step[i]).collect();
            let candidate = Common::clip(
                classifier,
                b.x.clone() + direction.clone() * Common::column(&size, b.x),
            );
            adv = choose_rows(&pick, candidate, adv);
            let predicted = argmax_rows(classifier.logits(adv.clone())?);
            let ok = success(&predicted, b.labels, c.targeted);
            for i in 0..m {
                active[i] = active[i] && !ok[i];
            }
        }
        Ok(adv)
    }
}

/// The largest integer k with `k·step ≤ eps`, tolerating float error so that 0.3/0.1 gives 3.
fn max_multiple(eps: f32, step: f32) -> usize {
    let ratio = eps as f64 / step as f64;
    (ratio + 1e-6 * ratio.max(1.0)).floor() as usize
}

#[cfg(test)]
mod tests {
    use super::max_multiple;

    #[test]
    fn schedule_includes_eps_itself() {
        assert_eq!(max_multiple(0.3, 0.1), 3);
        assert_eq!(max_multiple(0.6, 0.2), 3);
        assert_eq!(max_multiple(1.0, 0.1), 10);
        assert_eq!(max_multiple(0.25, 0.1), 2);
        assert_eq!(max_multiple(0.0, 0.1), 0);
    }
}
