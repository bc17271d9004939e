//! Held-out robustness during training: after every epoch, the registered PGD attack on a fixed,
//! seeded subset of each held-out set, against the model as evaluation sees it.
//!
//! A subset because the attack costs `steps` gradient passes per example where accuracy costs one
//! forward pass; fixed (drawn once from the seed, the same examples and random starts every epoch)
//! so that the epochs' numbers differ only by the model. This is a training-time gauge, not an
//! evaluation to quote: that is `avfoil eval` with the `auto` ensemble.

use crate::attack::{Attack, Common, Eps, Norm, Pgd};
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// PGD at `eps` (ℓ∞, input units) with `steps` steps of `2.5·eps/steps` from one uniform random
/// start, on at most `subset` examples of each held-out set.
#[derive(Clone, Debug, Serialize)]
pub struct RobustEval {
    pub attack: &'static str,
    pub norm: &'static str,
    pub eps: f32,
    pub steps: usize,
    pub step: f32,
    pub random_start: bool,
    /// Examples attacked per held-out set: the first ones of a permutation drawn from `seed`.
    pub subset: usize,
    /// The run's seed (the subset and the random starts come from a part of it of their own).
    pub seed: u64,
}

impl RobustEval {
    /// Checks the flags: `--eps` positive and finite, `--robust-steps` and `--robust-subset` at
    /// least 1.
    pub fn new(eps: f32, steps: usize, subset: usize, seed: u64) -> Result<Self> {
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::invalid(
                "eps",
                format!("a positive, finite budget in input units, got {eps}"),
            ));
        }
        if steps == 0 {
            return Err(Error::invalid("robust-steps", "at least 1 PGD step"));
        }
        if subset == 0 {
            return Err(Error::invalid("robust-subset", "at least 1 example"));
        }
        Ok(Self {
            attack: "pgd",
            norm: "inf",
            eps,
            steps,
            step: 2.5 * eps / steps as f32,
            random_start: true,
            subset,
            seed,
        })
    }

    /// The part of the run's seed that picks the subset and draws the attack's random starts.
    fn derived_seed(&self) -> u64 {
        crate::seed::mix(self.seed, &[ROBUST_EVAL])
    }

    /// The examples of a held-out set of `n` that are attacked, in increasing order.
    pub fn pick(&self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(self.derived_seed()));
        order.truncate(self.subset);
        order.sort_unstable();
        order
    }

    /// The fraction of the examples `x` (`[m·d]`) that `model` still classifies as `labels` after
    /// the attack (an example it gets wrong when clean counts as wrong).
    pub fn accuracy(&self, model: &dyn Classifier, x: &[f32], labels: &[usize]) -> Result<f64> {
        let m = labels.len();
        if m == 0 {
            return Ok(f64::NAN);
        }
        let pgd = Pgd {
            common: Common {
                norm: Norm::Inf,
                eps: Eps::Scalar(self.eps),
                eps_step: Eps::Scalar(self.step),
                num_random_init: usize::from(self.random_start),
                batch_size: 32,
                seed: self.derived_seed(),
                ..Default::default()
            },
            max_iter: self.steps,
            ..Default::default()
        };
        let x = Tensor::<2>::from_data(
            TensorData::new(x.to_vec(), [m, x.len() / m]),
            model.device(),
        );
        let adv = pgd.generate(model, &x, Some(labels), None)?.adversarial;
        let predicted = model.predict_labels(&adv, 64)?;
        let correct = predicted.iter().zip(labels).filter(|(p, y)| p == y).count();
        Ok(correct as f64 / m as f64)
    }
}

/// The part of the run's seed that picks the subset and draws the attack's random starts.
const ROBUST_EVAL: u64 = 3;
