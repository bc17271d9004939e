//! Adversarial training: what turns a training batch into the batch a step learns from.
//!
//! An [`Adversary`] sees the batch and the model as it stands (the current weights, batch norm in
//! evaluation mode on the running statistics, as ART's `AdversarialTrainer` attacks it) and returns
//! the inputs of the step's forward passes together with the loss over them
//! ([`TrainingLoss`]). Madry's PGD training and Wong's fast training return one adversarial pass
//! under cross-entropy; TRADES returns the clean batch and its adversarial twin under its own loss.
//! The training loop ([`super::fit`]) and the engines know nothing else about them, so both
//! architectures get every adversary, and a new one is one file and one line in [`BUILTIN`].
//!
//! The threat is ℓ∞ at `eps` in the model's input units (int16-scale samples, [0, 1] pixels), the
//! norm of all three papers. Every random choice comes from the run's seed, one stream per example
//! drawn (see [`Adversary::passes`]).

pub mod fast;
pub mod pgd;
pub mod trades;

use super::loss::TrainingLoss;
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::params::{Param, Params};
use crate::registry::{Entry, Registry};

/// Turns training batches into the passes a step learns from.
pub trait Adversary: Send + Sync {
    /// The registered name (`pgd`).
    fn name(&self) -> &'static str;
    /// Every parameter (eps, step, steps, random start, beta, seed), for `training.json`.
    fn params(&self) -> serde_json::Value;
    /// The loss over the passes, and how many there are.
    fn loss(&self) -> &dyn TrainingLoss;
    /// Which passes are adversarial (the others are the clean batch): training accuracy is reported
    /// separately for each kind.
    fn adversarial_passes(&self) -> &'static [bool];
    /// The inputs of each forward pass (`[n·d]` each) for the batch `x` (`[n·d]`, not modified)
    /// with true labels `labels`, attacking `model` (evaluation mode, current weights). `streams`
    /// holds one random stream per example, unique over the whole run, so that every random start
    /// is drawn once from the seed whatever the batch size.
    fn passes(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        labels: &[usize],
        streams: Vec<u64>,
    ) -> Result<Vec<Vec<f32>>>;
}

/// The budget every adversary shares, set by the run.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// ℓ∞ radius in input units.
    pub eps: f32,
    /// Seed of every random choice.
    pub seed: u64,
}

/// An adversary in the registry.
pub struct AdversaryEntry {
    pub name: &'static str,
    /// One line for listings and docs.
    pub about: &'static str,
    /// What [`parse`](Self::parse) reads, for listings and docs.
    pub params: &'static [Param],
    /// Reads the adversary's parameters from `params` (unread keys are refused afterwards).
    pub parse: fn(&mut Params, Budget) -> Result<Box<dyn Adversary>>,
}

impl Entry for AdversaryEntry {
    fn name(&self) -> &'static str {
        self.name
    }
}

/// The built-in adversaries, one line each.
const BUILTIN: &[&AdversaryEntry] = &[&pgd::ENTRY, &fast::ENTRY, &trades::ENTRY];

/// Every adversary: the built-in ones and those registered at run time.
pub static ADVERSARIES: Registry<AdversaryEntry> = Registry::new("adversary", BUILTIN);

/// The adversary called `name` configured by `params` (every key of which it must read) at `budget`.
pub fn parse(name: &str, params: &mut Params, budget: Budget) -> Result<Box<dyn Adversary>> {
    let entry = ADVERSARIES.find(name)?;
    if !(budget.eps.is_finite() && budget.eps > 0.0) {
        return Err(Error::invalid(
            "eps",
            format!(
                "adversarial training needs a positive, finite eps in input units, got {}",
                budget.eps
            ),
        ));
    }
    let adversary = (entry.parse)(params, budget)?;
    params.finish(entry.name, entry.params)?;
    Ok(adversary)
}

/// Reads `steps` (at least 1, `default` when not given).
fn take_steps(p: &mut Params, default: usize) -> Result<usize> {
    let steps: usize = p.take_or("steps", default)?;
    if steps == 0 {
        return Err(Error::invalid(p.display("steps"), "at least 1 step"));
    }
    Ok(steps)
}

/// Reads `step` (a positive size in input units), `default` when not given.
fn take_step(p: &mut Params, default: f32) -> Result<f32> {
    let step: f32 = p.take_or("step", default)?;
    if !(step.is_finite() && step > 0.0) {
        return Err(Error::invalid(
            p.display("step"),
            format!("a positive step size in input units, got {step}"),
        ));
    }
    Ok(step)
}

/// The examples of `x` (`[n·d]` on the host) as a tensor on `model`'s device.
fn upload(model: &dyn Classifier, x: &[f32], n: usize) -> burn::tensor::Tensor<2> {
    let d = x.len() / n.max(1);
    burn::tensor::Tensor::<2>::from_data(
        burn::tensor::TensorData::new(x.to_vec(), [n, d]),
        model.device(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::NeuralClassifier;
    use crate::model::linear::LinearSoftmax;
    use crate::model::weights::{HostTensor, Weights};
    use crate::params::KeyStyle;
    use burn::tensor::Device;

    /// A 3-class linear model on 6 features in [-1, 1], with weights that make the input gradient
    /// differ from feature to feature.
    fn linear() -> NeuralClassifier {
        let weight: Vec<f32> = (0..18).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
        let tensors = [
            (
                "weight".to_string(),
                HostTensor {
                    shape: vec![3, 6],
                    data: weight,
                },
            ),
            (
                "bias".to_string(),
                HostTensor {
                    shape: vec![3],
                    data: vec![0.1, -0.2, 0.0],
                },
            ),
        ];
        let device = Device::flex();
        let mut w = Weights::from_tensors("test", tensors.into_iter().collect());
        let net = LinearSoftmax::from_weights(&mut w, 3, 6, &device).unwrap();
        NeuralClassifier::new(net, &device, vec![6], 3, Some((-1.0, 1.0))).unwrap()
    }

    #[test]
    fn every_adversary_stays_in_the_ball_and_range_moves_and_is_seeded() {
        let model = linear();
        let x: Vec<f32> = vec![
            0.2, -0.9, 0.95, 0.0, 0.5, -0.3, -0.1, 0.99, -1.0, 0.4, 0.3, 0.7,
        ];
        let original = x.clone();
        let labels = [0usize, 2];
        let eps = 0.25;
        for entry in ADVERSARIES.all() {
            let name = entry.name;
            // `short`: one step of eps / 2, so that the random start shows in the result (many
            // steps along a linear model's constant gradient reach the same corner of the ball
            // from anywhere).
            let configured = |seed, short: bool| {
                let mut p = Params::new(KeyStyle::Flag);
                for (key, value) in [
                    ("steps", toml::Value::Integer(1)),
                    ("step", toml::Value::Float(0.125)),
                ] {
                    if short && entry.params.iter().any(|q| q.key == key) {
                        p.insert(key, value);
                    }
                }
                parse(name, &mut p, Budget { eps, seed }).unwrap()
            };
            let adversary = configured(4, false);
            let passes = adversary.passes(&model, &x, &labels, vec![10, 11]).unwrap();
            assert_eq!(x, original, "{name} modified its input");
            assert_eq!(passes.len(), adversary.loss().passes(), "{name}");
            assert_eq!(passes.len(), adversary.adversarial_passes().len(), "{name}");
            for (pass, &adv) in passes.iter().zip(adversary.adversarial_passes()) {
                assert_eq!(pass.len(), x.len());
                if !adv {
                    assert_eq!(pass, &x, "{name}: a clean pass is the batch");
                    continue;
                }
                for (a, x0) in pass.iter().zip(&x) {
                    assert!((a - x0).abs() <= eps + 1e-6, "{name}: {a} from {x0}");
                    assert!((-1.0..=1.0).contains(a), "{name}: {a} outside the range");
                }
                let moved = pass
                    .iter()
                    .zip(&x)
                    .filter(|(a, x0)| (*a - *x0).abs() > 0.1)
                    .count();
                assert!(moved >= 6, "{name} moved {moved} features by more than 0.1");
            }
            let again = configured(4, false).passes(&model, &x, &labels, vec![10, 11]);
            assert_eq!(passes, again.unwrap(), "{name} is not deterministic");
            let short = |seed, streams| {
                let passes = configured(seed, true).passes(&model, &x, &labels, streams);
                passes.unwrap().pop().unwrap()
            };
            let base = short(4, vec![10, 11]);
            assert_eq!(base, short(4, vec![10, 11]), "{name} is not deterministic");
            assert_ne!(base, short(5, vec![10, 11]), "{name} ignores the seed");
            // Each example's draw depends on its own stream only.
            let moved = short(4, vec![12, 11]);
            let d = 6;
            assert_ne!(base[..d], moved[..d], "{name}");
            assert_eq!(base[d..], moved[d..], "{name}");
        }
    }

    #[test]
    fn adversaries_raise_their_loss() {
        // PGD and fast lower the probability of the true class; TRADES moves the prediction away
        // from the clean one (its KL term), which may go either way for the true class.
        let model = linear();
        let x: Vec<f32> = vec![0.2, -0.5, 0.5, 0.0, 0.5, -0.3];
        let labels = [1usize];
        let probs = |v: &[f32]| {
            let logits = model.logits(upload(&model, v, 1)).unwrap();
            crate::array::tensor_to_vec(crate::classifier::probabilities(logits))
        };
        let p = probs(&x);
        for name in ADVERSARIES.names() {
            let adversary = parse(
                name,
                &mut Params::new(KeyStyle::Flag),
                Budget { eps: 0.2, seed: 1 },
            )
            .unwrap();
            let passes = adversary.passes(&model, &x, &labels, vec![0]).unwrap();
            let q = probs(passes.last().unwrap());
            if adversary.loss().passes() == 1 {
                assert!(q[1] < p[1] - 0.05, "{name}: {} vs {}", q[1], p[1]);
            } else {
                let kl: f32 = p.iter().zip(&q).map(|(p, q)| p * (p / q).ln()).sum();
                assert!(kl > 0.02, "{name}: KL {kl}");
            }
        }
    }
}
