//! `universal`: one perturbation for a whole data set (universal adversarial perturbations).
//!
//! Two ways to fit the perturbation `v`, both constrained to the eps-ball (ART's `projection`
//! after every update) and to the features every example's mask lets move:
//!
//! * `iterative` (Moosavi-Dezfooli et al., CVPR 2017; ART's `UniversalPerturbation`): passes over
//!   the set in a random order; for each example that `x + v` does not fool yet, an inner attack
//!   (a registered one, DeepFool by default) is run at `x + v`, and when it changes the label its
//!   perturbation is added to `v`, which is projected back onto the ball. The passes stop once the
//!   fooling rate reaches `1 − delta`, or after `max_iter` of them.
//! * `sgd` (Shafahi et al., AAAI 2020): projected mini-batch gradient ascent on the mean
//!   cross-entropy of the set at `x + v`, steps of `step · eps` along the steepest ascent
//!   direction of the norm, the same stopping rule.
//!
//! `shift_invariant` (audio): every update and every evaluation applies `v` circularly shifted
//! along time (the last axis of an example) by an amount drawn from the example's random stream,
//! so that the fitted `v` fools wherever the clip starts; the fooling rate is then the mean over
//! `eval_shifts` fixed shifts per example. For video, `v` has the clip's shape: one perturbation
//! per clip position.
//!
//! [`Attack::generate`] fits `v` on the batch and returns `x + v` (masked per example, clipped to
//! the model's range) for every example, so every consumer of attacks works unchanged; the fit
//! itself (the perturbation, its fooling rate, the passes) is kept for [`Universal::last_fit`] and
//! appears in [`Attack::params`] (hence in reports). [`apply`] puts a fitted `v` on other
//! examples (a held-out split).

use super::spec::{AttackEntry, AttackSpec, RunSettings, stepless_common, take_norm_among};
use super::{ATTACKS, Attack, AttackOutput, Common, Eps, Mask, Norm, example_rngs, progress};
use crate::array::tensor_to_vec;
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::params::{Param, Params};
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use std::sync::{Arc, Mutex};

/// `universal`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "universal",
    about: "Universal perturbation (Moosavi-Dezfooli et al. 2017; SGD variant of Shafahi et al. 2020): one perturbation for the whole set, optionally shift-invariant for audio",
    params: &PARAMS,
    parse: |p| Ok(Box::new(UniversalSpec::take(p)?)),
};

const PARAMS: [Param; 10] = [
    Param {
        key: "variant",
        default: "iterative",
        about: "iterative (Moosavi-Dezfooli: an inner attack on each example not yet fooled) or sgd (projected mini-batch gradient ascent on the mean loss)",
    },
    Param {
        key: "attacker",
        default: "deepfool",
        about: "iterative: the inner attack, any registered attack but universal (deepfool, pgd, fgm, ...)",
    },
    Param {
        key: "attacker_params",
        default: "{}",
        about: "iterative: the inner attack's parameters as a table (its norm defaults to this attack's)",
    },
    Param {
        key: "delta",
        default: "0.2",
        about: "stop once the fooling rate reaches 1 - delta",
    },
    Param {
        key: "max_iter",
        default: "20",
        about: "passes over the set at most",
    },
    Param {
        key: "norm",
        default: "inf",
        about: "inf or 2: the ball of radius eps the perturbation is projected onto",
    },
    Param {
        key: "step",
        default: "0.1",
        about: "sgd: step size as a fraction of eps",
    },
    Param {
        key: "batch",
        default: "32",
        about: "sgd: examples per gradient step",
    },
    Param {
        key: "shift_invariant",
        default: "false",
        about: "audio: apply the perturbation at a random circular shift in time at every update and evaluation",
    },
    Param {
        key: "eval_shifts",
        default: "8",
        about: "shift_invariant: shifts per example the fooling rate is averaged over",
    },
];

/// How the perturbation is fitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Moosavi-Dezfooli et al.: an inner attack per example not yet fooled.
    Iterative,
    /// Shafahi et al.: projected mini-batch gradient ascent on the mean loss.
    Sgd,
}

/// The attack as a user configured it.
#[derive(Clone, Debug)]
pub struct UniversalSpec {
    pub variant: Variant,
    /// The inner attack's name and spec (iterative variant).
    pub attacker: String,
    inner: Arc<dyn AttackSpec>,
    attacker_params: toml::Table,
    pub delta: f64,
    pub max_iter: usize,
    pub norm: Norm,
    pub step: f32,
    pub batch: usize,
    pub shift_invariant: bool,
    pub eval_shifts: usize,
}

impl UniversalSpec {
    /// Reads the parameters and configures the inner attack through the registry.
    pub fn take(p: &mut Params) -> Result<Self> {
        let norm = take_norm_among(p, Norm::Inf, &[Norm::Inf, Norm::L2], "universal")?;
        let variant = match p.take_or::<String>("variant", "iterative".into())?.as_str() {
            "iterative" => Variant::Iterative,
            "sgd" => Variant::Sgd,
            other => {
                return Err(Error::invalid(
                    p.display("variant"),
                    format!("iterative or sgd, got {other:?}"),
                ));
            }
        };
        let only = |p: &Params, key: &str, wanted: Variant| -> Result<()> {
            if p.has(key) && variant != wanted {
                let name = match wanted {
                    Variant::Iterative => "iterative",
                    Variant::Sgd => "sgd",
                };
                return Err(Error::invalid(
                    p.display(key),
                    format!("applies to variant = \"{name}\" only"),
                ));
            }
            Ok(())
        };
        only(p, "attacker", Variant::Iterative)?;
        only(p, "attacker_params", Variant::Iterative)?;
        only(p, "step", Variant::Sgd)?;
        only(p, "batch", Variant::Sgd)?;
        let shift_invariant: bool = p.take_or("shift_invariant", false)?;
        if p.has("eval_shifts") && !shift_invariant {
            return Err(Error::invalid(
                p.display("eval_shifts"),
                "applies with shift_invariant = true only",
            ));
        }
        let attacker: String = p.take_or("attacker", "deepfool".to_string())?;
        let mut table: toml::Table = p.take_or("attacker_params", toml::Table::new())?;
        if attacker == "universal" {
            return Err(Error::invalid(
                p.display("attacker"),
                "the inner attack cannot be universal itself",
            ));
        }
        let entry = ATTACKS
            .find(&attacker)
            .map_err(|e| Error::invalid(p.display("attacker"), e.to_string()))?;
        let attacker_params = table.clone();
        if !table.contains_key("norm") && entry.params.iter().any(|q| q.key == "norm") {
            table.insert("norm".into(), toml::Value::String(norm.to_string()));
        }
        let inner =
            super::spec::parse(&attacker, &mut Params::from_inline(table)).map_err(|e| {
                Error::invalid(p.display("attacker_params"), format!("{attacker}: {e}"))
            })?;
        let spec = Self {
            variant,
            attacker,
            inner: Arc::from(inner),
            attacker_params,
            delta: p.take_or("delta", 0.2)?,
            max_iter: p.take_or("max_iter", 20)?,
            norm,
            step: p.take_or("step", 0.1)?,
            batch: p.take_or("batch", 32)?,
            shift_invariant,
            eval_shifts: p.take_or("eval_shifts", 8)?,
        };
        if !(0.0..=1.0).contains(&spec.delta) {
            return Err(Error::invalid(
                p.display("delta"),
                format!("a fraction in [0, 1], got {}", spec.delta),
            ));
        }
        for (key, v) in [
            ("max_iter", spec.max_iter),
            ("batch", spec.batch),
            ("eval_shifts", spec.eval_shifts),
        ] {
            if v == 0 {
                return Err(Error::invalid(p.display(key), "at least 1"));
            }
        }
        if !(spec.step.is_finite() && spec.step > 0.0) {
            return Err(Error::invalid(
                p.display("step"),
                format!("a positive fraction of eps, got {}", spec.step),
            ));
        }
        Ok(spec)
    }

    /// The universal attack for `run`, with its concrete type (the command line and evaluations
    /// read its fit).
    pub fn build_universal(&self, run: &RunSettings) -> Result<Universal> {
        if run.targeted {
            return Err(Error::invalid(
                "targeted",
                "the universal perturbation is untargeted",
            ));
        }
        run.eps.validate("eps", true)?;
        let eps = match &run.eps {
            Eps::Scalar(e) => *e,
            Eps::PerExample(v) if v.iter().all(|e| *e == v[0]) => v[0],
            Eps::PerExample(_) => {
                return Err(Error::invalid(
                    "eps",
                    "one budget for the whole set: a universal perturbation cannot have one per example",
                ));
            }
        };
        if run.batch_size == 0 {
            return Err(Error::invalid("batch_size", "has to be a positive integer"));
        }
        let universal = Universal {
            spec: self.clone(),
            common: stepless_common(self.norm, run),
            eps,
            last: Mutex::new(None),
        };
        // Validates the inner attack's settings for this run.
        if self.variant == Variant::Iterative {
            self.inner.build(&universal.inner_run(1, 0))?;
        }
        Ok(universal)
    }
}

impl AttackSpec for UniversalSpec {
    fn name(&self) -> &'static str {
        "universal"
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn iterative(&self) -> bool {
        true
    }

    fn fits_one_perturbation(&self) -> bool {
        true
    }

    fn check_input(&self, input: &InputConfig) -> Result<()> {
        if self.shift_invariant && input.modality != Modality::Audio {
            return Err(Error::invalid(
                "shift_invariant",
                "applies to audio models (a video perturbation is per clip position)",
            ));
        }
        if self.variant == Variant::Iterative {
            self.inner.check_input(input)?;
        }
        Ok(())
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        Ok(Box::new(self.build_universal(run)?))
    }
}

/// A fitted universal perturbation.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Fit {
    /// `v`, one example's `d` features.
    #[serde(skip)]
    pub perturbation: Vec<f32>,
    /// Fraction of the fitting set whose prediction differs from its label under `x + v`
    /// (averaged over the evaluation shifts when shift-invariant).
    pub fooling_rate: f64,
    /// Passes over the set made.
    pub passes: usize,
    /// Whether the fooling rate reached `1 − delta`.
    pub converged: bool,
    /// Examples fitted on.
    pub examples: usize,
}

/// The attack for one run.
pub struct Universal {
    spec: UniversalSpec,
    common: Common,
    eps: f32,
    last: Mutex<Option<Fit>>,
}

impl Attack for Universal {
    fn name(&self) -> &'static str {
        "universal"
    }

    fn params(&self) -> serde_json::Value {
        let s = &self.spec;
        let mut p = serde_json::json!({
            "variant": s.variant,
            "delta": s.delta,
            "max_iter": s.max_iter,
            "norm": s.norm.to_string(),
            "eps": self.eps,
            "shift_invariant": s.shift_invariant,
            "seed": self.common.seed,
            "batch_size": self.common.batch_size,
        });
        match s.variant {
            Variant::Iterative => {
                p["attacker"] = serde_json::json!(s.attacker);
                p["attacker_params"] = serde_json::to_value(&s.attacker_params).unwrap_or_default();
            }
            Variant::Sgd => {
                p["step"] = serde_json::json!(s.step);
                p["batch"] = serde_json::json!(s.batch);
            }
        }
        if s.shift_invariant {
            p["eval_shifts"] = serde_json::json!(s.eval_shifts);
        }
        if let Some(fit) = self.last_fit() {
            p["fit"] = serde_json::to_value(&fit).unwrap_or_default();
        }
        p
    }

    fn fitted(&self) -> Option<super::Fitted> {
        self.last_fit().map(|fit| super::Fitted {
            report: serde_json::to_value(&fit).unwrap_or_default(),
            perturbation: fit.perturbation,
        })
    }

    fn targeted(&self) -> bool {
        false
    }

    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
    ) -> Result<AttackOutput> {
        let [n, _] = x.dims();
        let labels = self.labels(classifier, x, labels)?;
        let fit = self.fit(classifier, x, &labels, mask)?;
        let adversarial = apply(classifier, x, &fit.perturbation, mask)?;
        let predicted = classifier.predict_labels(&adversarial, self.common.batch_size)?;
        let last_pass = fit.passes.saturating_sub(1);
        let success_iteration = (0..n)
            .map(|i| (predicted[i] != labels[i]).then_some(last_pass))
            .collect();
        *self.last.lock().expect("not poisoned") = Some(fit);
        progress::report(n, n);
        Ok(AttackOutput {
            adversarial,
            success_iteration,
            eps: vec![self.eps; n],
            components: Vec::new(),
        })
    }
}

/// `x + v` for every row of `x`, `v` masked by each row's mask and the sum clipped to the model's
/// range: a fitted perturbation put on (held-out) examples.
pub fn apply(
    classifier: &dyn Classifier,
    x: &Tensor<2>,
    v: &[f32],
    mask: Option<&Mask>,
) -> Result<Tensor<2>> {
    let [n, d] = x.dims();
    if v.len() != d {
        return Err(Error::invalid(
            "perturbation",
            format!("has {} values; examples have {d}", v.len()),
        ));
    }
    let masks = mask.map(|m| m.expand(n, d)).transpose()?;
    let mut delta = Vec::with_capacity(n * d);
    for i in 0..n {
        match &masks {
            Some(m) => delta.extend(v.iter().zip(&m[i * d..(i + 1) * d]).map(|(a, b)| a * b)),
            None => delta.extend_from_slice(v),
        }
    }
    let delta = Tensor::<2>::from_data(TensorData::new(delta, [n, d]), &x.device());
    Ok(Common::clip(classifier, x.clone() + delta))
}

/// `v` circularly shifted by `s` along the last axis of an example (`t` samples long).
fn shift(v: &[f32], s: usize, t: usize) -> Vec<f32> {
    if s.is_multiple_of(t) {
        return v.to_vec();
    }
    let mut out = vec![0.0; v.len()];
    for (row, src) in out.chunks_mut(t).zip(v.chunks(t)) {
        for (j, &value) in src.iter().enumerate() {
            row[(j + s) % t] = value;
        }
    }
    out
}

/// Projects `v` onto the `norm`-ball of radius `eps` (ART's `projection`: clipping for ℓ∞, radial
/// rescaling for ℓ2).
fn project(v: &mut [f32], eps: f32, norm: Norm) {
    match norm {
        Norm::Inf => v.iter_mut().for_each(|x| *x = x.clamp(-eps, eps)),
        _ => {
            let size = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            if size > eps as f64 {
                let factor = (eps as f64 / size) as f32;
                v.iter_mut().for_each(|x| *x *= factor);
            }
        }
    }
}

impl Universal {
    /// The last fit [`Attack::generate`] made.
    pub fn last_fit(&self) -> Option<Fit> {
        self.last.lock().expect("not poisoned").clone()
    }

    /// The labels the fooling rate is counted against: the given ones or the predictions.
    pub fn labels(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
    ) -> Result<Vec<usize>> {
        let [n, _] = x.dims();
        super::check_attack_labels(classifier, labels, n, false)?;
        match labels {
            Some(l) => Ok(l.to_vec()),
            None => classifier.predict_labels(x, self.common.batch_size),
        }
    }

    /// The run of the inner attack on one example of random stream `stream`, for examples of `d`
    /// features: its ball around `x + v` holds the whole universal ball around `x` (twice the
    /// radius, in the inner attack's norm).
    fn inner_run(&self, d: usize, stream: u64) -> RunSettings {
        let radius = match (self.spec.norm, self.spec.inner.norm()) {
            (Norm::Inf, Norm::P(p)) => self.eps * (d as f64).powf(1.0 / p) as f32,
            _ => self.eps,
        };
        RunSettings {
            eps: Eps::Scalar(2.0 * radius),
            targeted: false,
            seed: self.common.seed,
            batch_size: 1,
            streams: Some(vec![stream]),
        }
    }

    /// Fits one perturbation on `x` (`[N, d]`, untouched) against `labels`.
    pub fn fit(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: &[usize],
        mask: Option<&Mask>,
    ) -> Result<Fit> {
        let [n, d] = x.dims();
        crate::classifier::check_labels(labels, n, classifier.num_classes())?;
        let s = &self.spec;
        let t = if s.shift_invariant {
            match classifier.input_shape().last() {
                Some(&t) if t > 0 && d % t == 0 => t,
                _ => {
                    return Err(Error::invalid(
                        "shift_invariant",
                        "the model's input has no time axis to shift along",
                    ));
                }
            }
        } else {
            d.max(1)
        };
        let streams: Vec<u64> = match &self.common.streams {
            Some(v) => v.clone(),
            None => (0..n as u64).collect(),
        };
        let mut rngs = example_rngs(&self.common, n)?;
        let host = tensor_to_vec(x.clone());
        let masks = mask.map(|m| m.expand(n, d)).transpose()?;
        // v may only move where every example's mask lets it.
        let shared: Option<Vec<f32>> = masks.as_ref().map(|m| {
            (0..d)
                .map(|j| f32::from((0..n).all(|i| m[i * d + j] != 0.0)))
                .collect()
        });
        // The fixed shifts the fooling rate is averaged over, drawn first from each stream.
        let eval_shifts: Vec<Vec<usize>> = rngs
            .iter_mut()
            .map(|rng| {
                if s.shift_invariant {
                    (0..s.eval_shifts).map(|_| rng.random_range(0..t)).collect()
                } else {
                    vec![0]
                }
            })
            .collect();
        let mut v = vec![0f32; d];
        let mut fooling_rate = 0.0;
        let mut passes = 0;
        if n == 0 {
            return Ok(Fit {
                perturbation: v,
                fooling_rate,
                passes,
                converged: false,
                examples: 0,
            });
        }
        let target = 1.0 - s.delta;
        // As ART: at least one pass, then until the target rate or max_iter passes.
        while (passes == 0 || fooling_rate < target) && passes < s.max_iter {
            // This pass's order and shifts, from each example's stream.
            let mut keyed: Vec<(u64, usize, usize)> = rngs
                .iter_mut()
                .enumerate()
                .map(|(i, rng)| {
                    let key = rng.random::<u64>();
                    let sh = if s.shift_invariant {
                        rng.random_range(0..t)
                    } else {
                        0
                    };
                    (key, i, sh)
                })
                .collect();
            keyed.sort();
            let ctx = Context {
                classifier,
                host: &host,
                masks: masks.as_deref(),
                shared: shared.as_deref(),
                labels,
                d,
                t,
            };
            match s.variant {
                Variant::Iterative => self.iterative_pass(&ctx, &keyed, &streams, &mut v)?,
                Variant::Sgd => self.sgd_pass(&ctx, &keyed, &mut v)?,
            }
            passes += 1;
            fooling_rate = self.fooling_rate(&ctx, &eval_shifts, &v)?;
            progress::report(passes, s.max_iter);
        }
        Ok(Fit {
            perturbation: v,
            fooling_rate,
            passes,
            converged: fooling_rate >= target,
            examples: n,
        })
    }

    /// One pass of Moosavi-Dezfooli et al.'s algorithm over the examples in `order`.
    fn iterative_pass(
        &self,
        ctx: &Context,
        order: &[(u64, usize, usize)],
        streams: &[u64],
        v: &mut [f32],
    ) -> Result<()> {
        let d = ctx.d;
        for &(_, i, sh) in order {
            let xa = ctx.perturbed(i, v, sh);
            let xa = Common::clip(ctx.classifier, ctx.tensor(xa, 1));
            let current = ctx.classifier.predict_labels(&xa, 1)?[0];
            if current != ctx.labels[i] {
                continue;
            }
            let inner = self.spec.inner.build(&self.inner_run(d, streams[i]))?;
            let row_mask = ctx
                .masks
                .map(|m| Mask::new(m[i * d..(i + 1) * d].to_vec()))
                .transpose()?;
            let out = inner.generate(
                ctx.classifier,
                &xa,
                Some(&ctx.labels[i..=i]),
                row_mask.as_ref(),
            )?;
            let new = ctx.classifier.predict_labels(&out.adversarial, 1)?[0];
            // As ART: v changes only when the inner attack changed the label.
            if new == current {
                continue;
            }
            let r: Vec<f32> = tensor_to_vec(out.adversarial - xa)
                .into_iter()
                .map(|r| if r.is_finite() { r } else { 0.0 })
                .collect();
            let r = shift(&r, (ctx.t - sh % ctx.t) % ctx.t, ctx.t);
            v.iter_mut().zip(&r).for_each(|(a, b)| *a += b);
            self.constrain(ctx, v);
        }
        Ok(())
    }

    /// One pass of projected mini-batch gradient ascent on the mean loss (Shafahi et al.).
    fn sgd_pass(&self, ctx: &Context, order: &[(u64, usize, usize)], v: &mut [f32]) -> Result<()> {
        let d = ctx.d;
        for chunk in order.chunks(self.spec.batch) {
            let mut rows = Vec::with_capacity(chunk.len() * d);
            for &(_, i, sh) in chunk {
                rows.extend(ctx.perturbed(i, v, sh));
            }
            let xb = Common::clip(ctx.classifier, ctx.tensor(rows, chunk.len()));
            let ys: Vec<usize> = chunk.iter().map(|&(_, i, _)| ctx.labels[i]).collect();
            let g = tensor_to_vec(ctx.classifier.loss_gradient(xb, &ys)?);
            let mut total = vec![0f64; d];
            for (k, &(_, i, sh)) in chunk.iter().enumerate() {
                let mut gi: Vec<f32> = g[k * d..(k + 1) * d]
                    .iter()
                    .map(|x| if x.is_finite() { *x } else { 0.0 })
                    .collect();
                if let Some(m) = ctx.masks {
                    gi.iter_mut()
                        .zip(&m[i * d..(i + 1) * d])
                        .for_each(|(a, b)| *a *= b);
                }
                let gi = shift(&gi, (ctx.t - sh % ctx.t) % ctx.t, ctx.t);
                total.iter_mut().zip(&gi).for_each(|(a, b)| *a += *b as f64);
            }
            if let Some(m) = ctx.shared {
                total.iter_mut().zip(m).for_each(|(a, b)| *a *= *b as f64);
            }
            let size = self.eps as f64 * self.spec.step as f64;
            match self.spec.norm {
                Norm::Inf => {
                    for (a, g) in v.iter_mut().zip(&total) {
                        if *g != 0.0 {
                            *a += (size * g.signum()) as f32;
                        }
                    }
                }
                _ => {
                    let length = total.iter().map(|g| g * g).sum::<f64>().sqrt();
                    if length > 0.0 {
                        for (a, g) in v.iter_mut().zip(&total) {
                            *a += (size * g / length) as f32;
                        }
                    }
                }
            }
            self.constrain(ctx, v);
        }
        Ok(())
    }

    /// Projects `v` onto the ball and zeroes what the masks keep.
    fn constrain(&self, ctx: &Context, v: &mut [f32]) {
        project(v, self.eps, self.spec.norm);
        if let Some(m) = ctx.shared {
            v.iter_mut().zip(m).for_each(|(a, b)| *a *= b);
        }
    }

    /// The fraction of (example, shift) pairs whose prediction under `v` differs from the label.
    fn fooling_rate(&self, ctx: &Context, shifts: &[Vec<usize>], v: &[f32]) -> Result<f64> {
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for (i, list) in shifts.iter().enumerate() {
            for &sh in list {
                rows.extend(ctx.perturbed(i, v, sh));
                labels.push(ctx.labels[i]);
            }
        }
        let m = labels.len();
        let xs = Common::clip(ctx.classifier, ctx.tensor(rows, m));
        let predicted = ctx.classifier.predict_labels(&xs, self.common.batch_size)?;
        let fooled = predicted
            .iter()
            .zip(&labels)
            .filter(|(p, l)| p != l)
            .count();
        Ok(fooled as f64 / m.max(1) as f64)
    }
}

/// What a pass works on.
struct Context<'a> {
    classifier: &'a dyn Classifier,
    /// The set, `[N·d]` on the host.
    host: &'a [f32],
    /// Each example's 0/1 mask, `[N·d]`.
    masks: Option<&'a [f32]>,
    /// Where every mask lets `v` move, `[d]`.
    shared: Option<&'a [f32]>,
    labels: &'a [usize],
    d: usize,
    /// Samples along time (the shift axis).
    t: usize,
}

impl Context<'_> {
    /// Example `i` plus `v` shifted by `sh`, masked by the example's mask (not clipped).
    fn perturbed(&self, i: usize, v: &[f32], sh: usize) -> Vec<f32> {
        let d = self.d;
        let vs = shift(v, sh, self.t);
        let x = &self.host[i * d..(i + 1) * d];
        match self.masks {
            Some(m) => x
                .iter()
                .zip(&vs)
                .zip(&m[i * d..(i + 1) * d])
                .map(|((a, b), k)| a + b * k)
                .collect(),
            None => x.iter().zip(&vs).map(|(a, b)| a + b).collect(),
        }
    }

    fn tensor(&self, values: Vec<f32>, rows: usize) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(values, [rows, self.d]),
            self.classifier.device(),
        )
    }
}
