//! Wong et al. 2020 ("Fast is better than free"): one FGSM step of size 1.25·eps from a uniform
//! random start in the ℓ∞ ball, projected back onto the ball, and the model learns from the result
//! under cross-entropy. As cheap as two plain steps, and the random start is what keeps it from the
//! catastrophic overfitting of FGSM training from the input.
//!
//! This is the registered PGD attack with one step and one random start: exactly the paper's update
//! (`δ ← clamp(δ₀ + α·sign ∇, −eps, eps)`, then the input range). The registered FGM cannot serve:
//! its step from a random start is eps itself, not the paper's α.

use super::pgd::MadryPgd;
use super::{AdversaryEntry, take_step};
use crate::params::Param;

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
        Ok(Box::new(MadryPgd::new("fast", budget, 1, step, true)))
    },
};
