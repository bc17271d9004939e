//! TRADES (Zhang et al. 2019): the step learns from the clean batch and an adversarial twin under
//! `CE(f(x), y) + β·KL(p(x) ‖ p(x'))` ([`TradesLoss`]), where `x'` maximises that KL term inside
//! the ℓ∞ ball: `steps` signed steps of size `step` from `x + 0.001·range·N(0, 1)`, each projected
//! onto the ball and the input range (the authors' `trades_loss`, their 0.001 being of [0, 1]
//! pixels, here of the model's input range).
//!
//! The inner maximisation differentiates a KL divergence, not the cross-entropy the registered
//! attacks ascend, so it is written here as an [`Objective`] driven through the classifier's input
//! gradient; the step and projection are the attacks' own ℓ∞ geometry.

use super::{Adversary, AdversaryEntry, Budget, take_step, take_steps, upload};
use crate::attack::Norm;
use crate::attack::geometry::{Projection, project, steepest_direction};
use crate::classifier::{Classifier, Objective};
use crate::error::{Error, Result};
use crate::params::Param;
use crate::train::loss::{TradesLoss, TrainingLoss};
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// `trades`.
pub static ENTRY: AdversaryEntry = AdversaryEntry {
    name: "trades",
    about: "Zhang et al. 2019 (TRADES): CE on the clean batch + beta * KL(clean || adversarial), the adversarial twin maximising the KL",
    params: &[
        Param {
            key: "steps",
            default: "10",
            about: "steps of the inner KL maximisation",
        },
        Param {
            key: "step",
            default: "2.5 * eps / steps",
            about: "step size in input units",
        },
        Param {
            key: "beta",
            default: "6",
            about: "weight of the KL term (the paper's 1/lambda: 6 on CIFAR-10, 1 on MNIST)",
        },
    ],
    parse: |p, budget| {
        let steps = take_steps(p, 10)?;
        let step = take_step(p, 2.5 * budget.eps / steps as f32)?;
        let beta: f32 = p.take_or("beta", 6.0)?;
        if !(beta.is_finite() && beta >= 0.0) {
            return Err(Error::invalid(
                p.display("beta"),
                format!("a non-negative weight, got {beta}"),
            ));
        }
        Ok(Box::new(Trades {
            budget,
            steps,
            step,
            loss: TradesLoss { beta },
        }))
    },
};

/// The start's standard deviation as a fraction of the input range (the authors' 0.001 on [0, 1]).
const START_SCALE: f32 = 0.001;

/// TRADES adversarial training.
pub struct Trades {
    budget: Budget,
    steps: usize,
    step: f32,
    loss: TradesLoss,
}

impl Adversary for Trades {
    fn name(&self) -> &'static str {
        "trades"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "eps": self.budget.eps,
            "step": self.step,
            "steps": self.steps,
            "beta": self.loss.beta,
            "random_start": format!("normal, sd {START_SCALE} of the input range"),
            "norm": "inf",
            "seed": self.budget.seed,
        })
    }

    fn loss(&self) -> &dyn TrainingLoss {
        &self.loss
    }

    fn adversarial_passes(&self) -> &'static [bool] {
        &[false, true]
    }

    fn passes(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        labels: &[usize],
        streams: Vec<u64>,
    ) -> Result<Vec<Vec<f32>>> {
        let n = labels.len();
        let d = x.len() / n.max(1);
        let k = model.num_classes();
        let clean = upload(model, x, n);
        let p = crate::classifier::probabilities(model.logits(clean.clone())?);
        let objective = KlFrom {
            p: crate::array::tensor_to_vec(p),
            classes: k,
        };
        let range = model.clip().map_or(1.0, |(lo, hi)| hi - lo);
        let mut start = Vec::with_capacity(n * d);
        for (row, stream) in x.chunks(d).zip(streams) {
            let mut rng = ChaCha8Rng::seed_from_u64(self.budget.seed);
            rng.set_stream(stream);
            start.extend(
                row.iter()
                    .map(|v| v + START_SCALE * range * rng.sample::<f32, _>(StandardNormal)),
            );
        }
        let eps = Tensor::<2>::from_data(
            TensorData::new(vec![self.budget.eps; n], [n, 1]),
            model.device(),
        );
        let within = |adv: Tensor<2>| {
            let delta = project(
                adv - clean.clone(),
                eps.clone(),
                Norm::Inf,
                Projection::Radial,
            );
            let adv = clean.clone() + delta;
            match model.clip() {
                Some((lo, hi)) => adv.clamp(lo, hi),
                None => adv,
            }
        };
        let mut adv = within(upload(model, &start, n));
        for _ in 0..self.steps {
            let (g, _) = model.objective_gradient(adv.clone(), &objective)?;
            adv = within(adv + steepest_direction(g, Norm::Inf) * self.step);
        }
        Ok(vec![x.to_vec(), crate::array::tensor_to_vec(adv)])
    }
}

/// `KL(p_i ‖ softmax(z))` of each example `i` against its clean probabilities `p_i`: what TRADES's
/// inner maximisation ascends. Its gradient with respect to the logits is `softmax(z) − p_i`.
struct KlFrom {
    p: Vec<f32>,
    classes: usize,
}

impl KlFrom {
    fn clean(&self, i: usize) -> &[f32] {
        &self.p[i * self.classes..(i + 1) * self.classes]
    }
}

impl Objective for KlFrom {
    fn value(&self, i: usize, scores: &[f32], classes: usize) -> f32 {
        let z = crate::classifier::objective::pooled(scores, classes);
        let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let log_z = m + z.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
        self.clean(i)
            .iter()
            .zip(&z)
            .filter(|(p, _)| **p > 0.0)
            .map(|(p, v)| p * (p.ln() - (v - log_z)))
            .sum()
    }

    fn gradient(&self, i: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        let z = crate::classifier::objective::pooled(scores, classes);
        let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f32 = e.iter().sum();
        let frames = scores.len() / classes.max(1);
        let dpooled: Vec<f32> = e
            .iter()
            .zip(self.clean(i))
            .map(|(e, p)| e / s - p)
            .collect();
        (0..scores.len())
            .map(|j| dpooled[j % classes] / frames.max(1) as f32)
            .collect()
    }
}
