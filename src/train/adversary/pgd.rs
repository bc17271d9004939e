//! Madry et al. 2018: each batch is replaced by its PGD adversarial examples, `steps` signed steps
//! of size `step` from a uniform random start in the ℓ∞ ball of radius eps, and the model learns
//! from those under cross-entropy.
//!
//! The examples come from the registered PGD attack ([`crate::attack::Pgd`]), run on the model as
//! it stands, so training attacks exactly what `avfoil attack --attack pgd` attacks.

use super::{Adversary, AdversaryEntry, Budget, take_step, take_steps, upload};
use crate::attack::{Attack, Common, Eps, Norm, Pgd};
use crate::classifier::Classifier;
use crate::error::Result;
use crate::params::Param;
use crate::train::loss::{CrossEntropyLoss, TrainingLoss};

/// `pgd`.
pub static ENTRY: AdversaryEntry = AdversaryEntry {
    name: "pgd",
    about: "Madry et al. 2018: train on PGD examples (steps signed steps from a random start in the L-inf ball)",
    params: &[
        Param {
            key: "steps",
            default: "10",
            about: "PGD steps per batch (k)",
        },
        Param {
            key: "step",
            default: "2.5 * eps / steps",
            about: "step size in input units",
        },
        Param {
            key: "random_start",
            default: "true",
            about: "start from a uniform point of the eps-ball (Madry et al.) instead of the input",
        },
    ],
    parse: |p, budget| {
        let steps = take_steps(p, 10)?;
        let step = take_step(p, 2.5 * budget.eps / steps as f32)?;
        let random_start: bool = p.take_or("random_start", true)?;
        Ok(Box::new(MadryPgd::new(
            "pgd",
            budget,
            steps,
            step,
            random_start,
        )))
    },
};

/// PGD adversarial training (Madry et al. 2018), and with one step from a random start Wong et
/// al.'s fast training (`fast`), which is the same update.
pub struct MadryPgd {
    /// The registered name (`pgd` or `fast`).
    name: &'static str,
    attack: Pgd,
    budget: Budget,
}

impl MadryPgd {
    /// `steps` steps of `step` at `budget`, from a random start if `random_start`, registered as
    /// `name`.
    pub fn new(
        name: &'static str,
        budget: Budget,
        steps: usize,
        step: f32,
        random_start: bool,
    ) -> Self {
        Self {
            name,
            attack: pgd_attack(budget, steps, step, usize::from(random_start)),
            budget,
        }
    }
}

/// The registered PGD attack, ℓ∞, untargeted against the true labels, at `budget`.
fn pgd_attack(budget: Budget, steps: usize, step: f32, random_init: usize) -> Pgd {
    Pgd {
        common: Common {
            norm: Norm::Inf,
            eps: Eps::Scalar(budget.eps),
            eps_step: Eps::Scalar(step),
            num_random_init: random_init,
            // The whole training batch at once ([`attack_batch`] sets its size).
            batch_size: 1,
            seed: budget.seed,
            ..Default::default()
        },
        max_iter: steps,
        ..Default::default()
    }
}

/// Runs `attack` on `x` against `labels`, each example on its own random stream.
fn attack_batch(
    attack: &Pgd,
    model: &dyn Classifier,
    x: &[f32],
    labels: &[usize],
    streams: Vec<u64>,
) -> Result<Vec<f32>> {
    let attack = Pgd {
        common: Common {
            streams: Some(streams),
            batch_size: labels.len().max(1),
            ..attack.common.clone()
        },
        ..attack.clone()
    };
    let out = attack.generate(model, &upload(model, x, labels.len()), Some(labels), None)?;
    Ok(crate::array::tensor_to_vec(out.adversarial))
}

impl Adversary for MadryPgd {
    fn name(&self) -> &'static str {
        self.name
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "eps": self.budget.eps,
            "step": self.attack.common.eps_step,
            "steps": self.attack.max_iter,
            "random_start": self.attack.common.num_random_init > 0,
            "norm": "inf",
            "seed": self.budget.seed,
        })
    }

    fn loss(&self) -> &dyn TrainingLoss {
        &CrossEntropyLoss
    }

    fn adversarial_passes(&self) -> &'static [bool] {
        &[true]
    }

    fn passes(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        labels: &[usize],
        streams: Vec<u64>,
    ) -> Result<Vec<Vec<f32>>> {
        Ok(vec![attack_batch(&self.attack, model, x, labels, streams)?])
    }
}
