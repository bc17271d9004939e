//! Training RawAudioCNN from scratch: Adam with a one-cycle learning rate, batch norm in training
//! mode, random time-shift and gain augmentation, everything drawn from one seed.
//!
//! The recipe is the one `tools/train_reference.py` uses in PyTorch, including its last step: batch
//! norm's running statistics are re-estimated over the training set at the end (PyTorch's momentum
//! 0.1 leaves them lagging the final weights on int16-scale inputs, which costs accuracy in
//! evaluation mode).

pub mod host_step;

use super::loss::{TrainingLoss, surrogate};
use super::{
    Engine, EpochLog, HeldOut, Progress, Regime, RobustEval, Schedule, StepOutput, TrainSet, fit,
};
use crate::classifier::{Classifier, NeuralClassifier};
use crate::error::{Error, Result};
use crate::model::batch_stats::BatchStats;
use crate::model::raw_audio_cnn::{INPUT_LEN, RawAudioCnn};
use crate::model::weights::{HostTensor, Weights};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use host_step::{Adam, batch_stats, train_step};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;

/// Labelled examples `[n, d]` in the model's units.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub x: Vec<f32>,
    pub labels: Vec<usize>,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether it holds no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.x[i * INPUT_LEN..(i + 1) * INPUT_LEN]
    }
}

/// Hyper-parameters; every random choice comes from `seed`.
#[derive(Clone, Debug, Serialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate of the one-cycle schedule.
    pub lr: f64,
    pub seed: u64,
    /// Each training example is rolled by up to this many samples either way.
    pub max_shift: usize,
    /// Each training example is scaled by a gain drawn uniformly in ±this many dB.
    pub gain_db: f32,
    /// Probability that a training example is replaced by its MP3 round trip (LAME's default
    /// bitrate, 8 kb/s at 8 kHz): a model that has seen codec noise keeps its accuracy behind the
    /// MP3 defence, so the defence can be judged on attacks rather than on its own damage.
    pub mp3_prob: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 12,
            batch_size: 32,
            lr: 1e-3,
            seed: 0,
            max_shift: 800,
            gain_db: 0.0,
            mp3_prob: 0.0,
        }
    }
}

/// Where the training steps run: the hand-written CPU step on the flex device (10x faster there),
/// burn's autodiff elsewhere (CUDA, wgpu). Both compute the same gradients (tested).
enum RawAudioEngine {
    Host {
        params: BTreeMap<String, HostTensor>,
        adam: Adam,
    },
    Burn {
        model: Box<RawAudioCnn>,
        optim: ModuleOptimizer,
        device: Device,
    },
}

impl RawAudioEngine {
    fn new(classes: usize, device: &Device, seed: u64) -> Self {
        if *device == Device::flex() {
            Self::Host {
                params: RawAudioCnn::init(classes, device, seed).host_tensors(),
                adam: Adam::default(),
            }
        } else {
            let ad = device.clone().autodiff();
            Self::Burn {
                model: Box::new(RawAudioCnn::init(classes, &ad, seed)),
                optim: AdamConfig::new().with_epsilon(1e-8).init(),
                device: ad,
            }
        }
    }

    fn classes(&self) -> usize {
        match self {
            Self::Host { params, .. } => params["fc.bias"].data.len(),
            Self::Burn { model, .. } => model.classes(),
        }
    }
}

impl Engine for RawAudioEngine {
    fn step(
        &mut self,
        passes: Vec<Vec<f32>>,
        labels: &[usize],
        loss: &dyn TrainingLoss,
        lr: f64,
    ) -> Result<StepOutput> {
        let classes = self.classes();
        Ok(match self {
            Self::Host { params, adam } => {
                let step = train_step(params, &passes, labels, loss);
                adam.step(lr, params, &step.grads);
                StepOutput {
                    loss: step.loss,
                    logits: step.logits,
                    stats: step.stats,
                }
            }
            Self::Burn {
                model,
                optim,
                device,
            } => {
                let n = labels.len();
                let (logits, stats): (Vec<_>, Vec<_>) = passes
                    .into_iter()
                    .map(|x| {
                        let x =
                            Tensor::<3>::from_data(TensorData::new(x, [n, 1, INPUT_LEN]), &*device);
                        model.forward_train(x)
                    })
                    .unzip();
                let (value, logits, scalar) = surrogate(logits, loss, labels, classes);
                let grads = GradientsParams::from_grads(scalar.backward(), &**model);
                **model = optim.step(lr, (**model).clone(), grads);
                StepOutput {
                    loss: value,
                    logits,
                    stats,
                }
            }
        })
    }

    fn batch_stats(&self, x: &[f32], n: usize) -> Result<Vec<BatchStats>> {
        Ok(match self {
            Self::Host { params, .. } => batch_stats(params, x),
            Self::Burn { model, device, .. } => {
                let plain = model.valid();
                let x = Tensor::<3>::from_data(
                    TensorData::new(x.to_vec(), [n, 1, INPUT_LEN]),
                    &device.clone().inner(),
                );
                plain.forward_train(x).1
            }
        })
    }

    fn set_running_stats(&mut self, stats: &[BatchStats]) {
        match self {
            Self::Host { params, .. } => {
                for (i, s) in stats.iter().enumerate() {
                    let p = format!("conv{}.1", i + 1);
                    params.get_mut(&format!("{p}.running_mean")).unwrap().data = s.mean.clone();
                    params.get_mut(&format!("{p}.running_var")).unwrap().data = s.var.clone();
                }
            }
            Self::Burn { model, .. } => model.set_running_stats(stats),
        }
    }

    fn weights(&self) -> BTreeMap<String, HostTensor> {
        match self {
            Self::Host { params, .. } => params.clone(),
            Self::Burn { model, .. } => model.host_tensors(),
        }
    }
}

/// Trains a RawAudioCNN with `classes` outputs on `train` under `regime` and evaluates it on each
/// `heldout` set after every epoch. `clip` is the model's input range (for the evaluation
/// classifier, the adversary's and the noise's clipping). Returns the weights under PyTorch's names
/// and the epoch logs.
#[allow(clippy::too_many_arguments)]
pub fn train_raw_audio_cnn(
    train: &Dataset,
    heldout: &[(String, Dataset)],
    classes: usize,
    clip: Option<(f32, f32)>,
    config: &TrainConfig,
    regime: Regime,
    device: &Device,
    mut on_progress: impl FnMut(&Progress),
    mut on_epoch: impl FnMut(&EpochLog),
) -> Result<(BTreeMap<String, HostTensor>, Vec<EpochLog>)> {
    validate(train, heldout, classes, config)?;
    let mut engine = RawAudioEngine::new(classes, device, config.seed);
    let mp3 = if config.mp3_prob > 0.0 {
        Some(mp3_copy(train, clip)?)
    } else {
        None
    };
    let set = Augmented {
        data: train,
        mp3: mp3.as_ref(),
        config,
    };
    let schedule = Schedule {
        epochs: config.epochs,
        batch_size: config.batch_size,
        lr: config.lr,
        seed: config.seed,
        recalibration_batch: 100,
    };
    let model_of = |weights: &BTreeMap<String, HostTensor>| -> Result<Box<dyn Classifier>> {
        Ok(Box::new(classifier_of(weights, classes, clip, device)?))
    };
    fit(
        &mut engine,
        &set,
        classes,
        schedule,
        regime,
        &model_of,
        &mut |weights| evaluate(weights, heldout, classes, clip, regime.robust, device),
        &mut on_progress,
        &mut on_epoch,
    )
}

/// The training set with RawAudioCNN's augmentation: a random roll and gain, and the MP3 round
/// trip of an example in place of it with probability `mp3_prob`.
struct Augmented<'a> {
    data: &'a Dataset,
    mp3: Option<&'a Dataset>,
    config: &'a TrainConfig,
}

impl TrainSet for Augmented<'_> {
    fn len(&self) -> usize {
        self.data.len()
    }

    fn batch(&self, idx: &[usize], rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<usize>) {
        augmented_batch(self.data, self.mp3, idx, self.config, rng)
    }

    fn plain(&self, idx: &[usize]) -> Vec<f32> {
        idx.iter()
            .flat_map(|&i| self.data.row(i).iter().copied())
            .collect()
    }
}

/// Every training example after an MP3 round trip at LAME's default bitrate.
fn mp3_copy(train: &Dataset, clip: Option<(f32, f32)>) -> Result<Dataset> {
    use rayon::prelude::*;
    let scale = crate::scale::AudioScale::from_clip(clip);
    let codec = crate::defence::Mp3Compression::new(8000, &[1, INPUT_LEN], scale, None)?;
    let rows: Vec<Vec<f32>> = (0..train.len())
        .into_par_iter()
        .map(|i| codec.compress(train.row(i)))
        .collect::<Result<_>>()?;
    Ok(Dataset {
        x: rows.concat(),
        labels: train.labels.clone(),
    })
}

fn validate(
    train: &Dataset,
    heldout: &[(String, Dataset)],
    classes: usize,
    config: &TrainConfig,
) -> Result<()> {
    if train.is_empty() {
        return Err(Error::invalid("data", "no training examples"));
    }
    for (name, set) in
        std::iter::once(("training", train)).chain(heldout.iter().map(|(n, s)| (n.as_str(), s)))
    {
        if set.x.len() != set.len() * INPUT_LEN {
            return Err(Error::invalid(
                "data",
                format!("{name}: examples must be {INPUT_LEN} samples"),
            ));
        }
        if let Some(&l) = set.labels.iter().find(|&&l| l >= classes) {
            return Err(Error::invalid(
                "data",
                format!("{name}: label {l} but only {classes} classes"),
            ));
        }
    }
    if config.epochs == 0 || config.batch_size < 2 {
        return Err(Error::invalid(
            "epochs/batch-size",
            "need at least 1 epoch and batches of at least 2 (batch norm needs a batch)",
        ));
    }
    if !(config.lr > 0.0 && config.lr.is_finite()) {
        return Err(Error::invalid(
            "lr",
            format!("{} is not a positive learning rate", config.lr),
        ));
    }
    if !(0.0..=1.0).contains(&config.mp3_prob) {
        return Err(Error::invalid(
            "mp3-augment",
            "must be a probability in [0, 1]",
        ));
    }
    if !(config.gain_db >= 0.0 && config.gain_db.is_finite()) {
        return Err(Error::invalid(
            "gain-db",
            "must be a non-negative number of dB",
        ));
    }
    Ok(())
}

/// The batch `idx`, each example rolled by a random shift and scaled by a random gain.
fn augmented_batch(
    data: &Dataset,
    mp3: Option<&Dataset>,
    idx: &[usize],
    config: &TrainConfig,
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, Vec<usize>) {
    let mut x = Vec::with_capacity(idx.len() * INPUT_LEN);
    let s = config.max_shift.min(INPUT_LEN - 1) as i64;
    for &i in idx {
        let shift = rng.random_range(-s..=s).rem_euclid(INPUT_LEN as i64) as usize;
        let gain = if config.gain_db > 0.0 {
            10f32.powf(rng.random_range(-config.gain_db..=config.gain_db) / 20.0)
        } else {
            1.0
        };
        let row = match mp3 {
            Some(coded) if rng.random::<f32>() < config.mp3_prob => coded.row(i),
            _ => data.row(i),
        };
        // torch.roll: out[t] = row[t - shift].
        x.extend((0..INPUT_LEN).map(|t| row[(t + INPUT_LEN - shift) % INPUT_LEN] * gain));
    }
    (x, idx.iter().map(|&i| data.labels[i]).collect())
}

/// The trained weights as an evaluation-mode classifier on `device`.
pub fn classifier_of(
    weights: &BTreeMap<String, HostTensor>,
    classes: usize,
    clip: Option<(f32, f32)>,
    device: &Device,
) -> Result<NeuralClassifier> {
    let mut weights = Weights::from_tensors("trained", weights.clone());
    let net = RawAudioCnn::from_weights(&mut weights, classes, device)?;
    NeuralClassifier::new(net, device, vec![1, INPUT_LEN], classes, clip)
}

/// Accuracy on each held-out set in evaluation mode, and under `robust`'s attack on its subset.
fn evaluate(
    weights: &BTreeMap<String, HostTensor>,
    heldout: &[(String, Dataset)],
    classes: usize,
    clip: Option<(f32, f32)>,
    robust: Option<&RobustEval>,
    device: &Device,
) -> Result<HeldOut> {
    if heldout.is_empty() {
        return Ok(HeldOut::default());
    }
    let clf = classifier_of(weights, classes, clip, device)?;
    let mut held = HeldOut::default();
    for (name, set) in heldout {
        let x = Tensor::<2>::from_data(
            TensorData::new(set.x.clone(), [set.len(), INPUT_LEN]),
            device,
        );
        let predicted = clf.predict_labels(&x, 64)?;
        let correct = predicted
            .iter()
            .zip(&set.labels)
            .filter(|(p, y)| p == y)
            .count();
        held.clean
            .push((name.clone(), correct as f64 / set.len().max(1) as f64));
        if let Some(robust) = robust {
            let pick = robust.pick(set.len());
            let x: Vec<f32> = pick
                .iter()
                .flat_map(|&i| set.row(i).iter().copied())
                .collect();
            let labels: Vec<usize> = pick.iter().map(|&i| set.labels[i]).collect();
            held.robust
                .push((name.clone(), robust.accuracy(&clf, &x, &labels)?));
        }
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn augmentation_rolls_and_is_seeded() {
        let data = Dataset {
            x: (0..INPUT_LEN).map(|i| i as f32).collect(),
            labels: vec![3],
        };
        let config = TrainConfig {
            max_shift: 10,
            ..Default::default()
        };
        let rng = |s| ChaCha8Rng::seed_from_u64(s);
        let (a, y) = augmented_batch(&data, None, &[0], &config, &mut rng(1));
        let (b, _) = augmented_batch(&data, None, &[0], &config, &mut rng(1));
        assert_eq!((a.clone(), y), (b, vec![3]));
        let shift = (INPUT_LEN as f32 - a[0]) as usize % INPUT_LEN;
        assert!(shift <= 10 || shift >= INPUT_LEN - 10);
        assert_eq!(a[(shift + 1) % INPUT_LEN], 1.0);
    }

    #[test]
    fn host_and_burn_engines_take_the_same_step() {
        let device = Device::flex();
        let ad = device.clone().autodiff();
        let mut host = RawAudioEngine::Host {
            params: RawAudioCnn::init(10, &device, 1).host_tensors(),
            adam: Adam::default(),
        };
        let mut burn = RawAudioEngine::Burn {
            model: Box::new(RawAudioCnn::init(10, &ad, 1)),
            optim: AdamConfig::new().with_epsilon(1e-8).init(),
            device: ad,
        };
        let x: Vec<f32> = (0..4 * INPUT_LEN)
            .map(|i| (((i * 7919) % 4001) as f32 - 2000.0) * 0.5)
            .collect();
        let labels = [0usize, 3, 3, 9];
        let lr = 1e-3;
        let ce = super::super::loss::CrossEntropyLoss;
        let one = host.step(vec![x.clone()], &labels, &ce, lr).unwrap();
        let two = burn.step(vec![x], &labels, &ce, lr).unwrap();
        let (l1, s1, l2, s2) = (one.loss, &one.stats[0], two.loss, &two.stats[0]);
        assert!((l1 - l2).abs() < 1e-4 * l1.abs(), "loss {l1} vs {l2}");
        assert!((s1[3].var[5] - s2[3].var[5]).abs() < 1e-3 * s1[3].var[5]);
        let (a, b) = (host.weights(), burn.weights());
        for (key, t) in &a {
            // Adam's first step is ±lr wherever the gradient is not rounding noise.
            let diff: Vec<f32> = t
                .data
                .iter()
                .zip(&b[key].data)
                .map(|(x, y)| (x - y).abs())
                .collect();
            let max = diff.iter().cloned().fold(0f32, f32::max);
            let mean = diff.iter().sum::<f32>() / diff.len() as f32;
            assert!(max <= 2.0 * lr as f32 + 1e-6, "{key}: max difference {max}");
            if !key.ends_with(".0.bias") {
                assert!(mean < 0.05 * lr as f32, "{key}: mean difference {mean}");
            }
        }
    }

    #[test]
    fn noise_and_adversaries_are_seeded_and_change_training() {
        use crate::params::{KeyStyle, Params};
        use crate::train::{Budget, GaussianNoise, adversary};
        let data = Dataset {
            x: (0..4 * INPUT_LEN)
                .map(|i| (((i * 104729) % 3001) as f32 - 1500.0) * 3.0)
                .collect(),
            labels: vec![0, 1, 2, 1],
        };
        let original = data.x.clone();
        let clip = Some((-32768.0, 32767.0));
        let config = TrainConfig {
            epochs: 1,
            batch_size: 2,
            seed: 7,
            ..Default::default()
        };
        let run = |regime: Regime| {
            train_raw_audio_cnn(
                &data,
                &[],
                3,
                clip,
                &config,
                regime,
                &Device::flex(),
                |_| {},
                |_| {},
            )
            .unwrap()
        };
        let (plain, _) = run(Regime::default());
        let noise = GaussianNoise::new(300.0, clip).unwrap();
        let (a, logs) = run(Regime {
            noise: Some(noise),
            ..Default::default()
        });
        assert!(logs[0].train_accuracy.is_some() && logs[0].train_robust_accuracy.is_none());
        assert_eq!(
            a["fc.weight"].data,
            run(Regime {
                noise: Some(noise),
                ..Default::default()
            })
            .0["fc.weight"]
                .data
        );
        assert_ne!(a["fc.weight"].data, plain["fc.weight"].data);
        for name in ["pgd", "trades"] {
            let mut p = Params::new(KeyStyle::Flag);
            p.insert("steps", toml::Value::Integer(1));
            let adversary = adversary::parse(
                name,
                &mut p,
                Budget {
                    eps: 200.0,
                    seed: 7,
                },
            )
            .unwrap();
            let regime = Regime {
                adversary: Some(&*adversary),
                ..Default::default()
            };
            let (a, logs) = run(regime);
            assert!(logs[0].train_robust_accuracy.is_some(), "{name}");
            assert_eq!(logs[0].train_accuracy.is_some(), name == "trades", "{name}");
            assert_eq!(
                a["fc.weight"].data,
                run(regime).0["fc.weight"].data,
                "{name}"
            );
            assert_ne!(a["fc.weight"].data, plain["fc.weight"].data, "{name}");
        }
        assert_eq!(data.x, original);
        let both = Regime {
            noise: Some(noise),
            adversary: Some(
                &*adversary::parse(
                    "fast",
                    &mut Params::new(KeyStyle::Flag),
                    Budget { eps: 1.0, seed: 0 },
                )
                .unwrap(),
            ),
            ..Default::default()
        };
        let err = train_raw_audio_cnn(
            &data,
            &[],
            3,
            clip,
            &config,
            both,
            &Device::flex(),
            |_| {},
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("gaussian-noise") && err.contains("--adversarial"),
            "{err}"
        );
    }

    /// The final batch-norm statistics of a model trained under noise are those of noisy inputs
    /// (what a smoothed classifier queries it with), not of clean ones.
    #[test]
    fn recalibration_under_noise_sees_the_noise() {
        use crate::train::GaussianNoise;
        let data = Dataset {
            x: (0..4 * INPUT_LEN)
                .map(|i| (((i * 104729) % 3001) as f32 - 1500.0) * 0.5)
                .collect(),
            labels: vec![0, 1, 2, 1],
        };
        let clip = Some((-32768.0, 32767.0));
        // A negligible learning rate: both runs end with the same weights, so the statistics
        // differ only by what recalibration fed the network.
        let config = TrainConfig {
            epochs: 1,
            batch_size: 2,
            lr: 1e-12,
            seed: 3,
            ..Default::default()
        };
        let run = |noise: Option<GaussianNoise>| {
            let regime = Regime {
                noise,
                ..Default::default()
            };
            let (w, _) = train_raw_audio_cnn(
                &data,
                &[],
                3,
                clip,
                &config,
                regime,
                &Device::flex(),
                |_| {},
                |_| {},
            )
            .unwrap();
            let var = &w["conv1.1.running_var"].data;
            var.iter().sum::<f32>() / var.len() as f32
        };
        let clean = run(None);
        // Inputs of standard deviation about 430 plus noise of 2000: the first layer's variance
        // grows by (430² + 2000²) / 430², about 22 times; well over 5 times is asked.
        let noisy = run(Some(GaussianNoise::new(2000.0, clip).unwrap()));
        assert!(noisy > 5.0 * clean, "clean {clean}, noisy {noisy}");
    }

    #[test]
    fn same_seed_same_weights() {
        let data = Dataset {
            x: (0..4 * INPUT_LEN)
                .map(|i| (((i * 104729) % 3001) as f32 - 1500.0) * 0.3)
                .collect(),
            labels: vec![0, 1, 2, 1],
        };
        let run = |seed| {
            let config = TrainConfig {
                epochs: 1,
                batch_size: 2,
                seed,
                gain_db: 3.0,
                mp3_prob: 0.5,
                ..Default::default()
            };
            let device = Device::flex();
            train_raw_audio_cnn(
                &data,
                &[],
                3,
                None,
                &config,
                Regime::default(),
                &device,
                |_| {},
                |_| {},
            )
            .unwrap()
            .0
        };
        let (a, b, c) = (run(7), run(7), run(8));
        for (key, t) in &a {
            assert_eq!(t.data, b[key].data, "{key}");
        }
        assert_ne!(a["fc.weight"].data, c["fc.weight"].data);
    }
}
