//! Projected Gradient Descent (Madry et al. 2017), with momentum (MIM) and early stopping.
//!
//! As ART's `ProjectedGradientDescent`: `max_iter` steps of size eps_step from the input (or a random
//! start), each clipped to the valid range and projected onto the eps-ball around the *original*
//! input. Fixed: per-example eps works at any batch size (ART #16), random starts work with
//! per-example eps (#17), `random_eps` draws into locals instead of overwriting the configuration
//! (#19), and restarts are chosen per example by success, then loss (#21).
//!
//! `early_stop` (not in ART) freezes each example at the first iterate that succeeds and stops
//! computing its gradient; the iteration is reported.

use super::spec::{AttackEntry, AttackSpec, CommonSpec, RunSettings, common_params};
use super::{
    Attack, AttackOutput, Batch, BatchRows, BestOf, Common, Mask, Score, example_rngs,
    gradient_step, put_rows, random_start, run_batches, score, success, take_rows,
};
use crate::classifier::{Classifier, argmax_rows};
use crate::error::{Error, Result};
use crate::params::Param;
use burn::tensor::Tensor;
use rand::Rng;
use rand_distr::StandardNormal;

/// `pgd`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "pgd",
    about: "Projected Gradient Descent (Madry et al. 2017), with momentum (MIM), random eps and early stopping",
    params: &PARAMS,
    parse: |p| {
        let spec = PgdSpec {
            common: CommonSpec::take(p, DEFAULT_STEP)?,
            max_iter: p.take_or("max_iter", 100)?,
            decay: p.take("decay")?,
            random_eps: p.take_or("random_eps", false)?,
            early_stop: p.take_or("early_stop", false)?,
        };
        if spec.max_iter == 0 {
            return Err(Error::invalid(p.display("max_iter"), "at least 1"));
        }
        Ok(Box::new(spec))
    },
};

/// PGD's default step: a quarter of eps (ART's fixed 0.1 suits [0, 1] only).
const DEFAULT_STEP: f32 = 0.25;

const PARAMS: [Param; 9] = {
    let [a, b, c, d, e] = common_params("0.25");
    [
        a,
        b,
        c,
        d,
        e,
        Param {
            key: "max_iter",
            default: "100",
            about: "iterations",
        },
        Param {
            key: "decay",
            default: "none",
            about: "momentum decay factor (Momentum Iterative Method)",
        },
        Param {
            key: "random_eps",
            default: "false",
            about: "draw each example's eps from a half-normal truncated to [0, eps]",
        },
        Param {
            key: "early_stop",
            default: "false",
            about: "stop iterating an example as soon as it is adversarial",
        },
    ]
};

/// PGD as configured by a user.
#[derive(Clone, Debug, PartialEq)]
pub struct PgdSpec {
    pub common: CommonSpec,
    pub max_iter: usize,
    pub decay: Option<f32>,
    pub random_eps: bool,
    pub early_stop: bool,
}

impl AttackSpec for PgdSpec {
    fn name(&self) -> &'static str {
        "pgd"
    }

    fn norm(&self) -> super::Norm {
        self.common.norm
    }

    fn iterative(&self) -> bool {
        true
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        let pgd = Pgd {
            common: self.common.common(run)?,
            max_iter: self.max_iter,
            decay: self.decay,
            random_eps: self.random_eps,
            early_stop: self.early_stop,
        };
        pgd.validate()?;
        Ok(Box::new(pgd))
    }
}

/// PGD configuration. `Pgd::default()` has ART's defaults.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Pgd {
    /// Norm, eps, eps_step, targeting, restarts, batch size, seed.
    #[serde(flatten)]
    pub common: Common,
    /// Number of steps.
    pub max_iter: usize,
    /// Momentum decay factor (Momentum Iterative Method); `None` for plain PGD.
    pub decay: Option<f32>,
    /// Draw each example's eps from a half-normal N(0, eps/2) truncated to [0, eps], scaling
    /// eps_step by the same ratio.
    pub random_eps: bool,
    /// Stop iterating each example once it succeeds.
    pub early_stop: bool,
}

impl Default for Pgd {
    fn default() -> Self {
        Self {
            common: Common::default(),
            max_iter: 100,
            decay: None,
            random_eps: false,
            early_stop: false,
        }
    }
}

impl Pgd {
    /// ART's validation (spec §2.1) with errors naming the parameter.
    pub fn validate(&self) -> Result<()> {
        self.common.validate()?;
        if let Some(decay) = self.decay
            && !(decay >= 0.0 && decay.is_finite())
        {
            return Err(Error::invalid(
                "decay",
                format!("the decay factor has to be a nonnegative float, got {decay}"),
            ));
        }
        Ok(())
    }
}

impl Attack for Pgd {
    fn name(&self) -> &'static str {
        "pgd"
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
        let mut eps = c.eps.per_example(n, "eps")?;
        let mut eps_step = c.eps_step.per_example(n, "eps_step")?;
        let mut rngs = example_rngs(c, n)?;
        if self.random_eps {
            draw_random_eps(&mut eps, &mut eps_step, &mut rngs);
        }
        run_batches(
            c.batch_size,
            x,
            &labels,
            mask,
            eps,
            &eps_step,
            &mut rngs,
            |b, rngs| {
                let (adv, score) = self.batch(classifier, b, rngs)?;
                Ok((adv, score.iteration))
            },
        )
    }
}

impl Pgd {
    fn batch(
        &self,
        classifier: &dyn Classifier,
        b: &Batch,
        rngs: &mut [rand_chacha::ChaCha8Rng],
    ) -> Result<(Tensor<2>, Score)> {
        let c = &self.common;
        let restarts = c.num_random_init.max(1);
        let mut best = BestOf::new(c.targeted);
        for _ in 0..restarts {
            let start = if c.num_random_init > 0 && self.max_iter > 0 {
                random_start(classifier, b.x, b.eps, c.norm, b.mask, rngs)
            } else {
                b.x.clone()
            };
            let (adv, iteration) = if self.early_stop {
                self.iterate_early_stop(classifier, b, start)?
            } else {
                (
                    self.iterate(classifier, b, start)?,
                    vec![None; b.labels.len()],
                )
            };
            if restarts == 1 {
                return Ok((
                    adv,
                    Score {
                        success: vec![],
                        loss: vec![],
                        iteration,
                    },
                ));
            }
            let mut s = score(classifier, &adv, b.labels, c.targeted)?;
            s.iteration = iteration;
            best.offer(adv, s);
        }
        Ok(best.into_best())
    }

    /// `max_iter` steps for every example of the batch (ART's behaviour).
    fn iterate(
        &self,
        classifier: &dyn Classifier,
        b: &Batch,
        start: Tensor<2>,
    ) -> Result<Tensor<2>> {
        let c = &self.common;
        let eps = Common::column(b.eps, b.x);
        let step = Common::column(b.eps_step, b.x);
        let mut velocity = self.decay.map(|_| b.x.zeros_like());
        let mut cur = start;
        for _ in 0..self.max_iter {
            let momentum = velocity.as_mut().zip(self.decay);
            cur = gradient_step(
                classifier, c, cur, b.x, b.labels, b.mask, &eps, &step, momentum,
            )?
            .0;
        }
        Ok(cur)
    }

    /// Like [`iterate`](Self::iterate), but each step runs on the examples that have not succeeded
    /// yet. Success at the current iterate is read off the logits the gradient computation produces
    /// anyway, so checking costs one extra forward pass at the very end only.
    fn iterate_early_stop(
        &self,
        classifier: &dyn Classifier,
        b: &Batch,
        start: Tensor<2>,
    ) -> Result<(Tensor<2>, Vec<Option<usize>>)> {
        let c = &self.common;
        let m = b.labels.len();
        let mut velocity = self.decay.map(|_| b.x.zeros_like());
        let mut cur = start;
        let mut active: Vec<usize> = (0..m).collect();
        let mut done: Vec<Option<usize>> = vec![None; m];
        for it in 0..self.max_iter {
            if active.is_empty() {
                break;
            }
            let sub = BatchRows::of(b, &active);
            let mut v = velocity.as_ref().map(|v| take_rows(v, &active));
            let momentum = v.as_mut().zip(self.decay);
            let (next, logits) = gradient_step(
                classifier,
                c,
                take_rows(&cur, &active),
                &sub.x,
                &sub.labels,
                sub.mask.as_ref(),
                &Common::column(&sub.eps, b.x),
                &Common::column(&sub.eps_step, b.x),
                momentum,
            )?;
            let ok = success(&argmax_rows(logits), &sub.labels, c.targeted);
            let still: Vec<usize> = (0..active.len()).filter(|&j| !ok[j]).collect();
            for (j, &i) in active.iter().enumerate() {
                if ok[j] {
                    done[i] = Some(it);
                }
            }
            if !still.is_empty() {
                let rows: Vec<usize> = still.iter().map(|&j| active[j]).collect();
                cur = put_rows(cur, &rows, take_rows(&next, &still));
                if let (Some(vel), Some(v)) = (velocity.take(), v) {
                    velocity = Some(put_rows(vel, &rows, take_rows(&v, &still)));
                }
                active = rows;
            } else {
                active.clear();
            }
        }
        if !active.is_empty() {
            let labels: Vec<usize> = active.iter().map(|&i| b.labels[i]).collect();
            let logits = classifier.logits(take_rows(&cur, &active))?;
            let ok = success(&argmax_rows(logits), &labels, c.targeted);
            for (j, &i) in active.iter().enumerate() {
                if ok[j] {
                    done[i] = Some(self.max_iter);
                }
            }
        }
        Ok((cur, done))
    }
}

/// Draws each example's eps from N(0, eps/2) truncated to [0, eps] and scales its step by the same
/// ratio. The configuration is left as it was (ART overwrites it, its bug #19).
fn draw_random_eps(eps: &mut [f32], eps_step: &mut [f32], rngs: &mut [rand_chacha::ChaCha8Rng]) {
    for ((e, s), rng) in eps.iter_mut().zip(eps_step.iter_mut()).zip(rngs.iter_mut()) {
        if *e <= 0.0 {
            continue;
        }
        let sigma = *e as f64 / 2.0;
        let drawn = loop {
            let v: f64 = rng.sample::<f64, _>(StandardNormal).abs() * sigma;
            if v <= *e as f64 {
                break v as f32;
            }
        };
        *s *= drawn / *e;
        *e = drawn;
    }
}
