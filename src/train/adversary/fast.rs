//! Wong et al. 2020 ("Fast is better than free"): one FGSM step of size 1.25·eps from a uniform
//! random start in the ℓ∞ ball, projected back onto the ball, and the model learns from the result
//! under cross-entropy. As cheap as two plain steps, and the random start is what keeps it from the
//! catastrophic overfitting of FGSM training from the input.
//!
//! This is the registered PGD attack with one step and one random start: exactly the paper's update
//! (`δ ← clamp(δ₀ + α·sign ∇, −eps, eps)`, then the input range). The registered FGM cannot serve:
//! its step from a random start is eps itself, not the paper's α.

use super::pgd::{attack_batch, pgd_attack};
use super::{Adversary, AdversaryEntry, Budget, take_step};
use crate::attack::Pgd;
use crate::classifier::Classifier;
use crate::error::Result;
use crate::params::Param;
use crate::train::loss::{CrossEntropyLoss, TrainingLoss};

/// `fast`.
pub static ENTRY: AdversaryEntry = AdversaryEntry {
    name: "fast",
    about: "Wong et al. 2020: train on FGSM examples from a random start in the L-inf ball (step 1.25 * eps)",
    params: &[Param {
        key: "step",
        default: "1.25 * eps",
        about: "FGSM step size in input units (the paper's alpha)",
    }],
    parse: |p, budget| {
        let step = take_step(p, 1.25 * budget.eps)?;
        Ok(Box::new(Fast {
            attack: pgd_attack(budget, 1, step, 1),
            budget,
        }))
    },
};

/// Fast adversarial training (Wong et al. 2020).
pub struct Fast {
    attack: Pgd,
    budget: Budget,
}

impl Adversary for Fast {
    fn name(&self) -> &'static str {
        "fast"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "eps": self.budget.eps,
            "step": self.attack.common.eps_step,
            "steps": 1,
            "random_start": true,
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
