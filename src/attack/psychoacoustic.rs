//! The imperceptible attack of Qin et al. (ICML 2019, "Imperceptible, Robust, and Targeted
//! Adversarial Examples for Automatic Speech Recognition"), as ART's `ImperceptibleASR` runs it,
//! for any audio classifier.
//!
//! Stage 1 finds an adversarial example under a shrinking L∞ bound: `max_iter_1` signed gradient
//! steps of `learning_rate_1` (descending the loss towards the target, ascending it away from the
//! label when untargeted), the perturbation clipped to ±eps after each; every
//! `num_iter_decrease_eps` steps, an example that is adversarial is kept and its bound becomes
//! `decrease_factor_eps` × min(bound, its current L∞).
//!
//! Stage 2 starts from stage 1's result and makes it quiet where the clip cannot hide it: Adam
//! (`learning_rate_2`, `max_iter_2` steps) on the classification loss plus alpha × the masking
//! loss, the mean over STFT frames and bins of how far the perturbation's power exceeds the clean
//! clip's masking threshold ([`crate::audio::masking`]). Alpha adapts per example: × 1.2
//! (`increase_factor_alpha`) every `num_iter_increase_alpha` steps at which the example is
//! adversarial, × 0.8 (`decrease_factor_alpha`, not below `alpha_min`) every
//! `num_iter_decrease_alpha` steps at which it is not. The output is, per example, the adversarial
//! iterate (of either stage) with the smallest masking loss; if none was adversarial, the last
//! iterate, as ART.
//!
//! Where avfoil differs from ART, and why:
//! - Stage 2 uses Adam, as Qin et al. did, where ART takes plain gradient steps: the loss
//!   gradient of a classifier's cross-entropy and that of the masking loss differ by orders of
//!   magnitude from model to model and with the input units, and Adam's per-sample steps of about
//!   `learning_rate_2` keep one setting meaningful across models.
//! - Stage 2 stays within the run's eps around the input and the model's input range, so eps is a
//!   bound on the whole attack (ART leaves stage 2 unbounded and never clips to the range).
//! - Every stage-2 iterate is a candidate: its success is read off the logits of the gradient pass
//!   and its masking loss off the masking gradient, both at that iterate (ART looks every 20 steps,
//!   and pairs the prediction after a step with the masking loss before it). Stage 1's result is
//!   the first candidate, so stage 2 never makes an example worse.
//! - The masking threshold's 0.5-Bark filter compares the maskers' frequencies (see
//!   [`crate::audio::masking`]); untargeted attacks are allowed (ART's is targeted only).
//! - The masking loss is in ART's units (the clip's loudest bin at 96 dB, the `10·log10` undone),
//!   so ART's initial alpha of 0.05 carries over: on the shipped spoken-digits model it balances
//!   the cross-entropy's gradient within a few dozen steps (docs/psychoacoustic.md).
//! - `loss_theta_min` (ART 1.20: 0.05, stopping the whole batch once every example is below it)
//!   defaults to 0 here and freezes each example on its own.
//!
//! There are no random choices: the seed is recorded but changes nothing.

use super::spec::{AttackEntry, AttackSpec, RunSettings, require_modality, stepless_common};
use super::{
    Attack, AttackOutput, Common, Mask, Norm, example_rngs, geometry, run_batches, success,
};
use crate::array::tensor_to_vec;
use crate::audio::masking::{Masker, Threshold, default_window};
use crate::classifier::{Classifier, argmax_rows};
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::params::{Param, Params};
use burn::tensor::{Tensor, TensorData};

/// `psychoacoustic`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "psychoacoustic",
    about: "Qin et al. (2019) imperceptible attack: L-inf steps under a shrinking bound, then Adam on the loss plus alpha x the excess over the clip's masking threshold (audio)",
    params: &PARAMS,
    parse: |p| {
        let spec = PsychoacousticSpec::take(p)?;
        spec.check()?;
        Ok(Box::new(spec))
    },
};

const PARAMS: [Param; 17] = [
    Param {
        key: "max_iter_1",
        default: "1000",
        about: "stage 1: signed gradient steps under the shrinking L-inf bound",
    },
    Param {
        key: "learning_rate_1",
        default: "eps / 20",
        about: "stage 1: step size in input units",
    },
    Param {
        key: "decrease_factor_eps",
        default: "0.8",
        about: "stage 1: the bound shrinks by this factor, in (0, 1), whenever the example is adversarial",
    },
    Param {
        key: "num_iter_decrease_eps",
        default: "10",
        about: "stage 1: steps between checks of success (and shrinks of the bound)",
    },
    Param {
        key: "max_iter_2",
        default: "4000",
        about: "stage 2: Adam steps on loss + alpha x masking loss (0: stage 1 only)",
    },
    Param {
        key: "learning_rate_2",
        default: "eps / 100",
        about: "stage 2: Adam's step size in input units",
    },
    Param {
        key: "alpha",
        default: "0.05",
        about: "stage 2: initial weight of the masking loss",
    },
    Param {
        key: "alpha_min",
        default: "alpha / 100",
        about: "stage 2: alpha never decreases below this",
    },
    Param {
        key: "increase_factor_alpha",
        default: "1.2",
        about: "stage 2: alpha grows by this factor (above 1) every num_iter_increase_alpha steps at which the example is adversarial",
    },
    Param {
        key: "num_iter_increase_alpha",
        default: "20",
        about: "stage 2: steps between increases of alpha",
    },
    Param {
        key: "decrease_factor_alpha",
        default: "0.8",
        about: "stage 2: alpha shrinks by this factor, in (0, 1), every num_iter_decrease_alpha steps at which it is not",
    },
    Param {
        key: "num_iter_decrease_alpha",
        default: "50",
        about: "stage 2: steps between decreases of alpha",
    },
    Param {
        key: "loss_theta_min",
        default: "0",
        about: "stage 2: stop moving an example once its masking loss is below this (ART: 0.05)",
    },
    Param {
        key: "window",
        default: "64 ms",
        about: "masking threshold: STFT window in samples (the power of two nearest 64 ms: 512 at 8 kHz)",
    },
    Param {
        key: "hop",
        default: "window / 4",
        about: "masking threshold: samples between STFT frames",
    },
    Param {
        key: "sample_rate",
        default: "the model's",
        about: "sample rate in Hz, for models that do not give one",
    },
    Param {
        key: "norm",
        default: "inf",
        about: "the budget's geometry: inf only",
    },
];

/// The psychoacoustic attack as a user configured it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PsychoacousticSpec {
    pub max_iter_1: usize,
    /// `None`: eps / 20 per example.
    pub learning_rate_1: Option<f32>,
    pub decrease_factor_eps: f32,
    pub num_iter_decrease_eps: usize,
    pub max_iter_2: usize,
    /// `None`: eps / 100 per example.
    pub learning_rate_2: Option<f32>,
    pub alpha: f64,
    /// `None`: alpha / 100.
    pub alpha_min: Option<f64>,
    pub increase_factor_alpha: f64,
    pub num_iter_increase_alpha: usize,
    pub decrease_factor_alpha: f64,
    pub num_iter_decrease_alpha: usize,
    pub loss_theta_min: f64,
    /// `None`: [`default_window`] of the sample rate.
    pub window: Option<usize>,
    /// `None`: window / 4.
    pub hop: Option<usize>,
    /// `None`: the classifier's.
    pub sample_rate: Option<u32>,
}

impl Default for PsychoacousticSpec {
    fn default() -> Self {
        Self {
            max_iter_1: 1000,
            learning_rate_1: None,
            decrease_factor_eps: 0.8,
            num_iter_decrease_eps: 10,
            max_iter_2: 4000,
            learning_rate_2: None,
            alpha: 0.05,
            alpha_min: None,
            increase_factor_alpha: 1.2,
            num_iter_increase_alpha: 20,
            decrease_factor_alpha: 0.8,
            num_iter_decrease_alpha: 50,
            loss_theta_min: 0.0,
            window: None,
            hop: None,
            sample_rate: None,
        }
    }
}

impl PsychoacousticSpec {
    /// Reads the parameters (defaults as [`Default`]).
    pub fn take(p: &mut Params) -> Result<Self> {
        let d = Self::default();
        let norm = p.take_or::<toml::Value>("norm", toml::Value::String("inf".into()))?;
        if norm.as_str() != Some("inf") {
            return Err(Error::invalid(
                p.display("norm"),
                format!("psychoacoustic bounds its perturbation in L-inf only, got {norm}"),
            ));
        }
        Ok(Self {
            max_iter_1: p.take_or("max_iter_1", d.max_iter_1)?,
            learning_rate_1: p.take("learning_rate_1")?,
            decrease_factor_eps: p.take_or("decrease_factor_eps", d.decrease_factor_eps)?,
            num_iter_decrease_eps: p.take_or("num_iter_decrease_eps", d.num_iter_decrease_eps)?,
            max_iter_2: p.take_or("max_iter_2", d.max_iter_2)?,
            learning_rate_2: p.take("learning_rate_2")?,
            alpha: p.take_or("alpha", d.alpha)?,
            alpha_min: p.take("alpha_min")?,
            increase_factor_alpha: p.take_or("increase_factor_alpha", d.increase_factor_alpha)?,
            num_iter_increase_alpha: p
                .take_or("num_iter_increase_alpha", d.num_iter_increase_alpha)?,
            decrease_factor_alpha: p.take_or("decrease_factor_alpha", d.decrease_factor_alpha)?,
            num_iter_decrease_alpha: p
                .take_or("num_iter_decrease_alpha", d.num_iter_decrease_alpha)?,
            loss_theta_min: p.take_or("loss_theta_min", d.loss_theta_min)?,
            window: p.take("window")?,
            hop: p.take("hop")?,
            sample_rate: p.take("sample_rate")?,
        })
    }

    /// Checks every parameter, naming the first one out of range.
    pub fn check(&self) -> Result<()> {
        let positive = |v: f64, name: &str| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("a positive number, got {v}")))
            }
        };
        let fraction = |v: f64, name: &str| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("a number in (0, 1), got {v}")))
            }
        };
        let at_least_one = |v: usize, name: &str| {
            if v >= 1 {
                Ok(())
            } else {
                Err(Error::invalid(name, "at least 1"))
            }
        };
        at_least_one(self.max_iter_1, "max_iter_1")?;
        at_least_one(self.num_iter_decrease_eps, "num_iter_decrease_eps")?;
        at_least_one(self.num_iter_increase_alpha, "num_iter_increase_alpha")?;
        at_least_one(self.num_iter_decrease_alpha, "num_iter_decrease_alpha")?;
        if let Some(lr) = self.learning_rate_1 {
            positive(f64::from(lr), "learning_rate_1")?;
        }
        if let Some(lr) = self.learning_rate_2 {
            positive(f64::from(lr), "learning_rate_2")?;
        }
        fraction(f64::from(self.decrease_factor_eps), "decrease_factor_eps")?;
        fraction(self.decrease_factor_alpha, "decrease_factor_alpha")?;
        positive(self.alpha, "alpha")?;
        if let Some(min) = self.alpha_min {
            positive(min, "alpha_min")?;
        }
        if !(self.increase_factor_alpha > 1.0 && self.increase_factor_alpha.is_finite()) {
            return Err(Error::invalid(
                "increase_factor_alpha",
                format!("a number above 1, got {}", self.increase_factor_alpha),
            ));
        }
        if !(self.loss_theta_min >= 0.0 && self.loss_theta_min.is_finite()) {
            return Err(Error::invalid(
                "loss_theta_min",
                format!("a non-negative number, got {}", self.loss_theta_min),
            ));
        }
        if let Some(rate) = self.sample_rate {
            crate::audio::check_sample_rate(rate).map_err(|e| Error::invalid("sample_rate", e))?;
        }
        // The window alone can be checked before the sample rate is known; with its default, the
        // hop is checked against it once it is (`masker`).
        match (self.window, self.hop) {
            (Some(window), hop) => {
                Masker::new(window, hop.unwrap_or(window / 4), 8000)?;
            }
            (None, Some(0)) => return Err(Error::invalid("hop", "at least 1 sample")),
            (None, _) => {}
        }
        Ok(())
    }

    /// The psychoacoustic model for a clip at `sample_rate` Hz (this spec's, else the given one).
    pub fn masker(&self, sample_rate: Option<u32>) -> Result<Masker> {
        let rate = self.sample_rate.or(sample_rate).ok_or_else(|| {
            Error::invalid(
                "sample_rate",
                "the model does not give its sample rate (input.sample_rate); give one",
            )
        })?;
        let window = self.window.unwrap_or_else(|| default_window(rate));
        Masker::new(window, self.hop.unwrap_or(window / 4), rate)
    }
}

impl AttackSpec for PsychoacousticSpec {
    fn name(&self) -> &'static str {
        "psychoacoustic"
    }

    fn norm(&self) -> Norm {
        Norm::Inf
    }

    fn iterative(&self) -> bool {
        true
    }

    fn check_input(&self, input: &InputConfig) -> Result<()> {
        require_modality(
            input,
            Modality::Audio,
            "psychoacoustic hides its perturbation under an audio clip's masking threshold; \
             this is a video model",
        )?;
        let length = input.shape.last().copied().unwrap_or(0);
        let masker = self.masker(input.sample_rate)?;
        if length < masker.window() {
            return Err(Error::invalid(
                "window",
                format!(
                    "{} samples is longer than the model's clips ({length} samples)",
                    masker.window()
                ),
            ));
        }
        Ok(())
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        let attack = Psychoacoustic {
            common: stepless_common(Norm::Inf, run),
            spec: self.clone(),
        };
        attack.common.eps.validate("eps", true)?;
        Ok(Box::new(attack))
    }
}

/// The psychoacoustic attack for one run: `common.eps` is the initial L∞ bound.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Psychoacoustic {
    #[serde(flatten)]
    pub common: Common,
    #[serde(flatten)]
    pub spec: PsychoacousticSpec,
}

impl Attack for Psychoacoustic {
    fn name(&self) -> &'static str {
        "psychoacoustic"
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
        self.spec.check()?;
        let c = &self.common;
        c.eps.validate("eps", true)?;
        if c.batch_size == 0 {
            return Err(Error::invalid("batch_size", "has to be a positive integer"));
        }
        let masker = self.spec.masker(classifier.sample_rate())?;
        let channels = match classifier.input_shape() {
            [channels, _] => *channels,
            shape => {
                return Err(Error::invalid(
                    "attack",
                    format!("psychoacoustic needs waveforms [C, L], the model takes {shape:?}"),
                ));
            }
        };
        let [n, _] = x.dims();
        let labels = c.labels(classifier, x, labels)?;
        let eps = c.eps.per_example(n, "eps")?;
        let mut rngs = example_rngs(c, n)?;
        run_batches(
            c.batch_size,
            x,
            &labels,
            mask,
            eps.clone(),
            &eps,
            &mut rngs,
            |b, _| {
                let adv =
                    self.batch(classifier, &masker, channels, b.x, b.labels, b.mask, b.eps)?;
                Ok((adv, vec![None; b.labels.len()]))
            },
        )
    }
}

/// One batch on the host: the clean rows, the feature mask and the thresholds of every channel.
struct Rows {
    m: usize,
    d: usize,
    channels: usize,
    x0: Vec<f32>,
    /// 1 where a feature may change, per example and feature.
    mask: Vec<f32>,
    thresholds: Vec<Threshold>,
}

impl Rows {
    /// The masking loss of each example (the mean over its channels) and its gradient.
    fn masking(&self, masker: &Masker, cur: &[f32]) -> Result<(Vec<f64>, Vec<f64>)> {
        let length = self.d / self.channels;
        let mut losses = vec![0.0; self.m];
        let mut grad = vec![0.0; self.m * self.d];
        for (i, loss) in losses.iter_mut().enumerate() {
            for ch in 0..self.channels {
                let start = i * self.d + ch * length;
                let delta: Vec<f32> = (start..start + length)
                    .map(|j| cur[j] - self.x0[j])
                    .collect();
                let t = &self.thresholds[i * self.channels + ch];
                let (l, g) = t.loss_and_gradient(masker, &delta)?;
                *loss += l / self.channels as f64;
                for (k, v) in g.into_iter().enumerate() {
                    grad[start + k] = v / self.channels as f64;
                }
            }
        }
        Ok((losses, grad))
    }
}

impl Psychoacoustic {
    #[allow(clippy::too_many_arguments)]
    fn batch(
        &self,
        classifier: &dyn Classifier,
        masker: &Masker,
        channels: usize,
        xb: &Tensor<2>,
        labels: &[usize],
        mask: Option<&Tensor<2>>,
        eps: &[f32],
    ) -> Result<Tensor<2>> {
        let [m, d] = xb.dims();
        let x0 = tensor_to_vec(xb.clone());
        let mask = match mask {
            None => vec![1.0; m * d],
            Some(t) => {
                let v = tensor_to_vec(t.clone());
                if v.len() == d { v.repeat(m) } else { v }
            }
        };
        let length = d / channels.max(1);
        let thresholds = (0..m * channels)
            .map(|r| masker.threshold(&x0[r * length..(r + 1) * length]))
            .collect::<Result<Vec<_>>>()?;
        let rows = Rows {
            m,
            d,
            channels,
            x0,
            mask,
            thresholds,
        };
        let start = self.stage_1(classifier, &rows, labels, eps, xb)?;
        let adv = if self.spec.max_iter_2 == 0 {
            start
        } else {
            self.stage_2(classifier, masker, &rows, labels, eps, start, xb)?
        };
        Ok(Tensor::from_data(
            TensorData::new(adv, [m, d]),
            &xb.device(),
        ))
    }

    /// Whether each example of `logits` is adversarial.
    fn successes(&self, logits: Tensor<2>, labels: &[usize]) -> Vec<bool> {
        success(&argmax_rows(logits), labels, self.common.targeted)
    }

    /// `cur + delta` clipped to the range and to ±`bound[i]` around the input, masked features
    /// left at the input.
    fn place(
        classifier: &dyn Classifier,
        rows: &Rows,
        bound: &[f32],
        i: usize,
        j: usize,
        v: f32,
    ) -> f32 {
        let k = i * rows.d + j;
        if rows.mask[k] == 0.0 {
            return rows.x0[k];
        }
        let delta = (v - rows.x0[k]).clamp(-bound[i], bound[i]);
        let out = rows.x0[k] + delta;
        match classifier.clip() {
            Some((lo, hi)) => out.clamp(lo, hi),
            None => out,
        }
    }

    /// Stage 1: signed steps under a bound that shrinks each time the example is adversarial.
    /// Returns, per example, its last adversarial iterate at a check, else its last iterate.
    fn stage_1(
        &self,
        classifier: &dyn Classifier,
        rows: &Rows,
        labels: &[usize],
        eps: &[f32],
        like: &Tensor<2>,
    ) -> Result<Vec<f32>> {
        let s = &self.spec;
        let (m, d) = (rows.m, rows.d);
        let step: Vec<f32> = eps
            .iter()
            .map(|&e| s.learning_rate_1.unwrap_or(e / 20.0))
            .collect();
        let sign = if self.common.targeted { -1.0 } else { 1.0 };
        let mut bound = eps.to_vec();
        let mut cur = rows.x0.clone();
        let mut found: Vec<Option<Vec<f32>>> = vec![None; m];
        let mut check = |cur: &[f32], ok: &[bool], bound: &mut [f32]| {
            for i in 0..m {
                if !ok[i] {
                    continue;
                }
                let row = &cur[i * d..(i + 1) * d];
                let linf = row
                    .iter()
                    .zip(&rows.x0[i * d..(i + 1) * d])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                bound[i] = bound[i].min(linf) * s.decrease_factor_eps;
                found[i] = Some(row.to_vec());
            }
        };
        for it in 1..=s.max_iter_1 {
            let (g, logits) =
                classifier.loss_gradient_and_logits(upload(&cur, m, d, like), labels)?;
            // The logits are those of the iterate after it − 1 steps.
            if it > 1 && (it - 1) % s.num_iter_decrease_eps == 0 {
                check(&cur, &self.successes(logits, labels), &mut bound);
            }
            let g = tensor_to_vec(g);
            for (i, &step) in step.iter().enumerate() {
                for j in 0..d {
                    let k = i * d + j;
                    let gk = if g[k].is_nan() { 0.0 } else { g[k] };
                    let v = cur[k] + sign * step * geometry::sign(gk);
                    cur[k] = Self::place(classifier, rows, &bound, i, j, v);
                }
            }
        }
        if s.max_iter_1.is_multiple_of(s.num_iter_decrease_eps) {
            let logits = classifier.logits(upload(&cur, m, d, like))?;
            check(&cur, &self.successes(logits, labels), &mut bound);
        }
        Ok((0..m)
            .flat_map(|i| {
                found[i]
                    .clone()
                    .unwrap_or_else(|| cur[i * d..(i + 1) * d].to_vec())
            })
            .collect())
    }

    /// Stage 2: Adam on the classification loss plus alpha × the masking loss, within eps; the
    /// adversarial iterate with the smallest masking loss per example.
    #[allow(clippy::too_many_arguments)]
    fn stage_2(
        &self,
        classifier: &dyn Classifier,
        masker: &Masker,
        rows: &Rows,
        labels: &[usize],
        eps: &[f32],
        start: Vec<f32>,
        like: &Tensor<2>,
    ) -> Result<Vec<f32>> {
        let s = &self.spec;
        let (m, d) = (rows.m, rows.d);
        let rate: Vec<f64> = eps
            .iter()
            .map(|&e| f64::from(s.learning_rate_2.unwrap_or(e / 100.0)))
            .collect();
        let alpha_min = s.alpha_min.unwrap_or(s.alpha / 100.0);
        let direction = if self.common.targeted { 1.0 } else { -1.0 };
        let mut alpha = vec![s.alpha; m];
        let mut best: Vec<Option<(f64, Vec<f32>)>> = vec![None; m];
        let mut frozen = vec![false; m];
        let mut adam = AdamState::new(m * d);
        let mut cur = start;
        for it in 0..=s.max_iter_2 {
            let last = it == s.max_iter_2;
            let x = upload(&cur, m, d, like);
            let (g, logits) = if last {
                (None, classifier.logits(x)?)
            } else {
                let (g, logits) = classifier.loss_gradient_and_logits(x, labels)?;
                (Some(g), logits)
            };
            let ok = self.successes(logits, labels);
            let (loss, g_mask) = rows.masking(masker, &cur)?;
            for i in 0..m {
                if ok[i] && best[i].as_ref().is_none_or(|(l, _)| loss[i] < *l) {
                    best[i] = Some((loss[i], cur[i * d..(i + 1) * d].to_vec()));
                }
                if it > 0 {
                    if ok[i] && it % s.num_iter_increase_alpha == 0 {
                        alpha[i] *= s.increase_factor_alpha;
                    }
                    if !ok[i] && it % s.num_iter_decrease_alpha == 0 {
                        alpha[i] = (alpha[i] * s.decrease_factor_alpha).max(alpha_min);
                    }
                }
                if loss[i] < s.loss_theta_min {
                    frozen[i] = true;
                }
            }
            let Some(g) = g else { break };
            if frozen.iter().all(|&f| f) {
                break;
            }
            let g = tensor_to_vec(g);
            let total: Vec<f64> = (0..m * d)
                .map(|k| {
                    let i = k / d;
                    let net = if g[k].is_nan() { 0.0 } else { f64::from(g[k]) };
                    (direction * net + alpha[i] * g_mask[k]) * f64::from(rows.mask[k])
                })
                .collect();
            let update = adam.step(&total);
            for i in (0..m).filter(|&i| !frozen[i]) {
                for j in 0..d {
                    let k = i * d + j;
                    let v = (f64::from(cur[k]) - rate[i] * update[k]) as f32;
                    cur[k] = Self::place(classifier, rows, eps, i, j, v);
                }
            }
        }
        Ok((0..m)
            .flat_map(|i| match &best[i] {
                Some((_, row)) => row.clone(),
                None => cur[i * d..(i + 1) * d].to_vec(),
            })
            .collect())
    }
}

fn upload(values: &[f32], m: usize, d: usize, like: &Tensor<2>) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [m, d]), &like.device())
}

/// Adam (Kingma and Ba 2015) with the paper's defaults, on the host: each step gives the update
/// direction `m̂ / (√v̂ + ε)` (about ±1 per sample), scaled by the caller's learning rate.
struct AdamState {
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl AdamState {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPSILON: f64 = 1e-8;

    fn new(len: usize) -> Self {
        Self {
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
        }
    }

    fn step(&mut self, g: &[f64]) -> Vec<f64> {
        self.t += 1;
        let c1 = 1.0 - Self::BETA1.powi(self.t);
        let c2 = 1.0 - Self::BETA2.powi(self.t);
        g.iter()
            .enumerate()
            .map(|(k, &gk)| {
                self.m[k] = Self::BETA1 * self.m[k] + (1.0 - Self::BETA1) * gk;
                self.v[k] = Self::BETA2 * self.v[k] + (1.0 - Self::BETA2) * gk * gk;
                (self.m[k] / c1) / ((self.v[k] / c2).sqrt() + Self::EPSILON)
            })
            .collect()
    }
}
