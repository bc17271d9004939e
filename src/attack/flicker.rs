//! Over-the-air flickering (Pony et al., CVPR 2021; ART's `OverTheAirFlickeringPyTorch`): one RGB
//! offset per frame, the same on every pixel of that frame, as a light source that flickers over
//! the scene would add. A perturbation of `F × C` numbers instead of `C × F × H × W` is what makes
//! it physically realisable (a smart bulb, a screen in the room) and cheap to transmit.
//!
//! Each of `max_iter` iterations descends the signed gradient (step `eps_step`) of
//!
//! ```text
//! beta_0 · margin loss + beta_1 · thickness + beta_2 · roughness
//! ```
//!
//! with respect to the offsets δ (`[C, F]` per example):
//!
//! - margin loss (ART's): with p the softmax of the logits and `l = s·(p_y − max_{j≠y} p_j) + m`
//!   (`s` = 1 untargeted, −1 targeted, `m` = `loss_margin`), `max(0, min(l²/m, l))`: zero once the
//!   label is beaten (or the target wins) by the margin, quadratic near it, linear far from it;
//! - thickness: the mean over frames and channels of δ², how strong the flicker is;
//! - roughness: the mean of the squared first temporal difference `δ_f − δ_{f−1}` plus the mean of
//!   the squared second one `δ_{f−1} − 2δ_f + δ_{f+1}`, circular in time as in the paper (the
//!   flicker is meant to loop), how abruptly it changes.
//!
//! The gradient with respect to one offset is, by the chain rule, the sum over its frame's pixels
//! (one channel) of the classifier's input gradient, pixels clipped to the valid range excepted
//! (their derivative is zero, as through ART's clamp). It is taken on the host: one input gradient
//! per iteration, the rest is sums.
//!
//! Differences from ART, each on purpose:
//! - ART has no budget: its offsets grow by up to `eps_step` per iteration without bound. Here each
//!   offset is clipped to `[−eps, eps]` after every step (an L∞ budget on the flicker), so "a
//!   per-frame offset ≤ 4/255" is `eps = 4/255`.
//! - ART weights the loss as `adv + beta_0·(beta_1·thickness + beta_2·(diff + laplacian))`; here it
//!   is the paper's `beta_0·adv + beta_1·thickness + beta_2·roughness`. At ART's defaults
//!   (`beta_0 = 1`) both are the same function.
//! - ART keeps `x_adv` and clips it to the pixel range after every step, so a clipped pixel's
//!   offset is lost for later iterations and the perturbation stops being one offset per frame;
//!   here the offsets are the state and the output is `clip(x + δ)`: the offset is flat over each
//!   frame except where the pixel range cuts it (a saturated pixel stays saturated, as under a
//!   real light).
//! - ART returns the last iterate. Once the margin is reached the margin loss is zero and the
//!   regularisers alone pull the offsets back, which can undo the success; here each example
//!   returns, among the iterates that fooled the model, the one with the smallest regulariser
//!   (the least visible flicker), and the last iterate when none did.
//! - `round_samples` (ART: rounds the model's input to that granularity, which through
//!   `torch.round` zeroes every gradient) rounds the input the model sees and the output, with the
//!   gradient passed straight through the rounding. The output may then lie up to
//!   `round_samples / 2` beyond eps.
//!
//! No random choice is made: the offsets start at zero. The seed is kept for reports only.

use super::spec::{AttackEntry, AttackSpec, RunSettings, require_modality, stepless_common};
use super::{Attack, AttackOutput, Batch, Common, Eps, Mask, Norm, run_batches, success};
use crate::array::tensor_to_vec;
use crate::classifier::objective::{Objective, pooled};
use crate::classifier::{Classifier, argmax};
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::params::Param;
use burn::tensor::{Tensor, TensorData};

/// `flicker`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "flicker",
    about: "Over-the-air flickering (Pony et al. 2021, ART's OverTheAirFlickeringPyTorch): one RGB \
            offset per frame, flat over the frame, with thickness and temporal roughness \
            regularisers; eps bounds each offset",
    params: &PARAMS,
    parse: |p| {
        let step: Option<f32> = p.take("step")?;
        let eps_step: Option<f32> = p.take("eps_step")?;
        if step.is_some() && eps_step.is_some() {
            return Err(Error::invalid(
                p.display("eps_step"),
                format!("give {} or eps_step, not both", p.display("step")),
            ));
        }
        let spec = FlickerSpec {
            step: step.unwrap_or(DEFAULT_STEP),
            eps_step,
            max_iter: p.take_or("max_iter", 30)?,
            beta_0: p.take_or("beta_0", 1.0)?,
            beta_1: p.take_or("beta_1", 0.5)?,
            beta_2: p.take_or("beta_2", 0.5)?,
            loss_margin: p.take_or("loss_margin", 0.05)?,
            start_frame_index: p.take_or("start_frame_index", 0)?,
            num_frames: p.take("num_frames")?,
            round_samples: p.take_or("round_samples", 0.0)?,
        };
        spec.validate(p)?;
        Ok(Box::new(spec))
    },
};

/// The default step, a quarter of eps. ART's default is an absolute 0.01, made for an attack
/// without a budget: against eps = 4/255 it is 0.64·eps, and the signed steps bounce between the
/// bounds (on 17 stand-in clips it fooled 15, a quarter of eps 17; docs/video-attacks.md).
const DEFAULT_STEP: f32 = 0.25;

const PARAMS: [Param; 10] = [
    Param {
        key: "step",
        default: "0.25",
        about: "signed step of every offset per iteration, as a fraction of eps",
    },
    Param {
        key: "eps_step",
        default: "none",
        about: "the step in input units instead (ART's default: 0.01)",
    },
    Param {
        key: "max_iter",
        default: "30",
        about: "iterations",
    },
    Param {
        key: "beta_0",
        default: "1.0",
        about: "weight of the margin loss",
    },
    Param {
        key: "beta_1",
        default: "0.5",
        about: "weight of the thickness (mean squared offset)",
    },
    Param {
        key: "beta_2",
        default: "0.5",
        about: "weight of the roughness (circular first and second temporal differences)",
    },
    Param {
        key: "loss_margin",
        default: "0.05",
        about: "probability margin by which the label must be beaten (the target must win)",
    },
    Param {
        key: "start_frame_index",
        default: "0",
        about: "first frame that flickers",
    },
    Param {
        key: "num_frames",
        default: "none",
        about: "frames that flicker from start_frame_index (none: to the end)",
    },
    Param {
        key: "round_samples",
        default: "0.0",
        about: "round the model's input and the output to multiples of this (0: no rounding)",
    },
];

/// The flicker attack as configured by a user.
#[derive(Clone, Debug, PartialEq)]
pub struct FlickerSpec {
    /// The step as a fraction of eps, unless `eps_step` gives it in input units.
    pub step: f32,
    pub eps_step: Option<f32>,
    pub max_iter: usize,
    pub beta_0: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub loss_margin: f32,
    pub start_frame_index: usize,
    pub num_frames: Option<usize>,
    pub round_samples: f32,
}

impl FlickerSpec {
    /// ART's checks, each error naming its parameter.
    fn validate(&self, p: &crate::params::Params) -> Result<()> {
        let positive = |v: f32| v.is_finite() && v > 0.0;
        let nonnegative = |v: f32| v.is_finite() && v >= 0.0;
        if !positive(self.step) {
            return Err(Error::invalid(
                p.display("step"),
                format!("a positive fraction of eps, got {}", self.step),
            ));
        }
        if let Some(v) = self.eps_step
            && !positive(v)
        {
            return Err(Error::invalid(
                p.display("eps_step"),
                format!("has to be positive, got {v}"),
            ));
        }
        if self.max_iter == 0 {
            return Err(Error::invalid(p.display("max_iter"), "at least 1"));
        }
        for (key, v) in [
            ("beta_0", self.beta_0),
            ("beta_1", self.beta_1),
            ("beta_2", self.beta_2),
            ("round_samples", self.round_samples),
        ] {
            if !nonnegative(v) {
                return Err(Error::invalid(
                    p.display(key),
                    format!("has to be 0 or positive, got {v}"),
                ));
            }
        }
        if !positive(self.loss_margin) {
            return Err(Error::invalid(
                p.display("loss_margin"),
                format!("has to be positive, got {}", self.loss_margin),
            ));
        }
        if self.num_frames == Some(0) {
            return Err(Error::invalid(p.display("num_frames"), "at least 1"));
        }
        Ok(())
    }
}

impl AttackSpec for FlickerSpec {
    fn name(&self) -> &'static str {
        "flicker"
    }

    fn norm(&self) -> Norm {
        Norm::Inf
    }

    fn iterative(&self) -> bool {
        true
    }

    /// Video models of `[C, F, H, W]` clips only: an audio model has no frames to flicker.
    fn check_input(&self, input: &InputConfig) -> Result<()> {
        require_modality(
            input,
            Modality::Video,
            "flicker needs a video model (an audio model has no frames to flicker)",
        )?;
        clip_shape(&input.shape)?;
        check_frames(self.start_frame_index, input.shape[1])
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        let mut common = stepless_common(Norm::Inf, run);
        // A zero eps steps by 1: nothing moves either way.
        let step = |e: f32| match self.eps_step {
            Some(v) => v,
            None if e > 0.0 => self.step * e,
            None => 1.0,
        };
        common.eps_step = match &run.eps {
            Eps::Scalar(e) => Eps::Scalar(step(*e)),
            Eps::PerExample(v) => Eps::PerExample(v.iter().map(|&e| step(e)).collect()),
        };
        let flicker = Flicker {
            common,
            max_iter: self.max_iter,
            beta_0: self.beta_0,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            loss_margin: self.loss_margin,
            start_frame_index: self.start_frame_index,
            num_frames: self.num_frames,
            round_samples: self.round_samples,
        };
        flicker.validate()?;
        Ok(Box::new(flicker))
    }
}

/// `(C, F, H·W)` of a clip shape `[C, F, H, W]`.
fn clip_shape(shape: &[usize]) -> Result<(usize, usize, usize)> {
    match *shape {
        [c, f, h, w] if c > 0 && f > 0 && h * w > 0 => Ok((c, f, h * w)),
        _ => Err(Error::invalid(
            "attack",
            format!("flicker needs clips [C, F, H, W], the model takes {shape:?}"),
        )),
    }
}

fn check_frames(start: usize, frames: usize) -> Result<()> {
    if start >= frames {
        return Err(Error::invalid(
            "start_frame_index",
            format!("{start} is past the last frame of a {frames}-frame clip"),
        ));
    }
    Ok(())
}

/// The flicker attack. Its `common` carries eps (the bound on every offset), `eps_step`, targeting,
/// the batch size and the seed (unused: nothing is random).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Flicker {
    #[serde(flatten)]
    pub common: Common,
    pub max_iter: usize,
    pub beta_0: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub loss_margin: f32,
    pub start_frame_index: usize,
    /// Frames that flicker from `start_frame_index`; `None`: to the last. A range past the end of
    /// the clip stops at its end (as ART's slicing).
    pub num_frames: Option<usize>,
    pub round_samples: f32,
}

impl Default for Flicker {
    /// ART's defaults, with an eps of 4/255 (ART has none).
    fn default() -> Self {
        Self {
            common: Common {
                eps: Eps::Scalar(4.0 / 255.0),
                eps_step: Eps::Scalar(0.01),
                ..Common::default()
            },
            max_iter: 30,
            beta_0: 1.0,
            beta_1: 0.5,
            beta_2: 0.5,
            loss_margin: 0.05,
            start_frame_index: 0,
            num_frames: None,
            round_samples: 0.0,
        }
    }
}

/// ART's margin loss on the softmax of each example's decision against `labels[i]` (see the module
/// documentation), to be minimised.
pub struct FlickerMargin<'a> {
    pub labels: &'a [usize],
    pub targeted: bool,
    pub margin: f32,
}

impl FlickerMargin<'_> {
    /// `l`, the softmax, the label and the strongest other class, for example `i`.
    fn parts(&self, i: usize, scores: &[f32], classes: usize) -> (f32, Vec<f32>, usize, usize) {
        let p = softmax(&pooled(scores, classes));
        let y = self.labels[i];
        let other = (0..classes)
            .filter(|&j| j != y)
            .max_by(|&a, &b| p[a].total_cmp(&p[b]).then(b.cmp(&a)))
            .unwrap_or(y);
        let sign = if self.targeted { -1.0 } else { 1.0 };
        let l = sign * (p[y] - p[other]) + self.margin;
        (l, p, y, other)
    }
}

impl Objective for FlickerMargin<'_> {
    fn value(&self, i: usize, scores: &[f32], classes: usize) -> f32 {
        let (l, ..) = self.parts(i, scores, classes);
        (l * l / self.margin).min(l).max(0.0)
    }

    fn gradient(&self, i: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        let (l, p, y, other) = self.parts(i, scores, classes);
        let dl = if l <= 0.0 {
            0.0
        } else if l < self.margin {
            2.0 * l / self.margin
        } else {
            1.0
        };
        let sign = if self.targeted { -1.0 } else { 1.0 };
        // ∂p_i/∂z_k = p_i (δ_ik − p_k).
        let dpooled: Vec<f32> = (0..classes)
            .map(|k| {
                let dy = p[y] * (f32::from(u8::from(k == y)) - p[k]);
                let dother = p[other] * (f32::from(u8::from(k == other)) - p[k]);
                dl * sign * (dy - dother)
            })
            .collect();
        let frames = scores.len() / classes.max(1);
        if frames <= 1 {
            return dpooled;
        }
        (0..scores.len())
            .map(|j| dpooled[j % classes] / frames as f32)
            .collect()
    }
}

fn softmax(z: &[f32]) -> Vec<f32> {
    let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

impl Flicker {
    /// The checks of ART's `_check_params`, with an L∞ eps, each error naming its parameter.
    pub fn validate(&self) -> Result<()> {
        let c = &self.common;
        c.validate()?;
        if c.norm != Norm::Inf {
            return Err(Error::invalid(
                "norm",
                "flicker bounds each offset: its budget is L-inf",
            ));
        }
        if self.max_iter == 0 {
            return Err(Error::invalid("max_iter", "at least 1"));
        }
        for (key, v) in [
            ("beta_0", self.beta_0),
            ("beta_1", self.beta_1),
            ("beta_2", self.beta_2),
            ("round_samples", self.round_samples),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(
                    key,
                    format!("has to be 0 or positive, got {v}"),
                ));
            }
        }
        if !(self.loss_margin.is_finite() && self.loss_margin > 0.0) {
            return Err(Error::invalid(
                "loss_margin",
                format!("has to be positive, got {}", self.loss_margin),
            ));
        }
        if self.num_frames == Some(0) {
            return Err(Error::invalid("num_frames", "at least 1"));
        }
        Ok(())
    }

    /// The frames that flicker, `start..end`, of a clip of `frames`.
    fn frame_range(&self, frames: usize) -> Result<std::ops::Range<usize>> {
        check_frames(self.start_frame_index, frames)?;
        let end = match self.num_frames {
            Some(k) => (self.start_frame_index + k).min(frames),
            None => frames,
        };
        Ok(self.start_frame_index..end)
    }

    /// `beta_1 · thickness + beta_2 · roughness` of one example's offsets (`[C, F]`, channel-major).
    pub fn regulariser(&self, offsets: &[f32], channels: usize) -> f64 {
        let frames = offsets.len() / channels.max(1);
        let n = offsets.len().max(1) as f64;
        let (mut thick, mut diff, mut lap) = (0f64, 0f64, 0f64);
        for row in offsets.chunks(frames.max(1)) {
            for f in 0..frames {
                let (prev, next) = ((f + frames - 1) % frames, (f + 1) % frames);
                let v = f64::from(row[f]);
                thick += v * v;
                let d = v - f64::from(row[prev]);
                diff += d * d;
                let l = f64::from(row[prev]) - 2.0 * v + f64::from(row[next]);
                lap += l * l;
            }
        }
        (f64::from(self.beta_1) * thick + f64::from(self.beta_2) * (diff + lap)) / n
    }

    /// ∂[`regulariser`](Self::regulariser)/∂offsets.
    pub fn regulariser_gradient(&self, offsets: &[f32], channels: usize) -> Vec<f32> {
        let frames = offsets.len() / channels.max(1);
        let n = offsets.len().max(1) as f64;
        let (b1, b2) = (f64::from(self.beta_1), f64::from(self.beta_2));
        let mut grad = vec![0f64; offsets.len()];
        for (row, g) in offsets
            .chunks(frames.max(1))
            .zip(grad.chunks_mut(frames.max(1)))
        {
            // Each term's derivative added to every offset it involves (F = 1 and 2 included,
            // where the circular neighbours coincide).
            for f in 0..frames {
                let (prev, next) = ((f + frames - 1) % frames, (f + 1) % frames);
                let v = f64::from(row[f]);
                g[f] += 2.0 * b1 * v;
                let d = v - f64::from(row[prev]);
                g[f] += 2.0 * b2 * d;
                g[prev] -= 2.0 * b2 * d;
                let l = f64::from(row[prev]) - 2.0 * v + f64::from(row[next]);
                g[prev] += 2.0 * b2 * l;
                g[f] -= 4.0 * b2 * l;
                g[next] += 2.0 * b2 * l;
            }
        }
        grad.into_iter().map(|v| (v / n) as f32).collect()
    }

    /// `clip(x + δ)` (rounded with `round_samples`) of host examples `x` (`[m, d]`) and offsets
    /// `delta` (`[m, C, F]`), and whether each pixel lies inside the valid range (passes gradient).
    fn apply(
        &self,
        classifier: &dyn Classifier,
        x: &[f32],
        delta: &[f32],
        (c, f, plane): (usize, usize, usize),
    ) -> (Vec<f32>, Vec<bool>) {
        let range = classifier.clip();
        let mut out = Vec::with_capacity(x.len());
        let mut inside = Vec::with_capacity(x.len());
        for (i, &v) in x.iter().enumerate() {
            let offset = delta[i / plane % (c * f) + i / (c * f * plane) * (c * f)];
            let mut y = v + offset;
            let mut ok = true;
            if let Some((lo, hi)) = range {
                ok = (lo..=hi).contains(&y);
                y = y.clamp(lo, hi);
            }
            if self.round_samples > 0.0 {
                y = (y / self.round_samples).round() * self.round_samples;
                if let Some((lo, hi)) = range {
                    y = y.clamp(lo, hi);
                }
            }
            out.push(y);
            inside.push(ok);
        }
        (out, inside)
    }

    fn batch(
        &self,
        classifier: &dyn Classifier,
        b: &Batch,
        dims: (usize, usize, usize),
    ) -> Result<(Tensor<2>, Vec<Option<usize>>)> {
        let (c, f, plane) = dims;
        let cf = c * f;
        let m = b.labels.len();
        let d = cf * plane;
        let frames = self.frame_range(f)?;
        let x = tensor_to_vec(b.x.clone());
        let k = classifier.num_classes();
        let step = b.eps_step;
        let objective = FlickerMargin {
            labels: b.labels,
            targeted: self.common.targeted,
            margin: self.loss_margin,
        };
        let upload =
            |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [m, d]), classifier.device());
        let mut delta = vec![0f32; m * cf];
        // Per example: the successful offsets with the smallest regulariser, and the first
        // iteration that succeeded.
        let mut best: Vec<Option<(f64, Vec<f32>)>> = vec![None; m];
        let mut first: Vec<Option<usize>> = vec![None; m];
        let mut record = |delta: &[f32], logits: Tensor<2>, it: usize| {
            let logits = tensor_to_vec(logits);
            let predicted: Vec<usize> = logits.chunks(k).map(argmax).collect();
            let ok = success(&predicted, b.labels, self.common.targeted);
            for e in (0..m).filter(|&e| ok[e]) {
                first[e].get_or_insert(it);
                let offsets = &delta[e * cf..(e + 1) * cf];
                let r = self.regulariser(offsets, c);
                if best[e].as_ref().is_none_or(|(rb, _)| r < *rb) {
                    best[e] = Some((r, offsets.to_vec()));
                }
            }
        };
        for it in 0..self.max_iter {
            let (xin, inside) = self.apply(classifier, &x, &delta, dims);
            let (g, logits) = classifier.objective_gradient(upload(xin), &objective)?;
            record(&delta, logits, it);
            let g = tensor_to_vec(g);
            for e in 0..m {
                let offsets = &mut delta[e * cf..(e + 1) * cf];
                let reg = self.regulariser_gradient(offsets, c);
                for ch in 0..c {
                    for fr in frames.clone() {
                        let j = ch * f + fr;
                        let start = e * d + j * plane;
                        let pixels: f64 = (start..start + plane)
                            .filter(|&i| inside[i])
                            .map(|i| f64::from(g[i]))
                            .sum();
                        let grad = f64::from(self.beta_0)
                            * if pixels.is_nan() { 0.0 } else { pixels }
                            + f64::from(reg[j]);
                        let sign = if grad > 0.0 {
                            1.0
                        } else if grad < 0.0 {
                            -1.0
                        } else {
                            0.0
                        };
                        offsets[j] = (offsets[j] - step[e] * sign).clamp(-b.eps[e], b.eps[e]);
                    }
                }
            }
        }
        let (xin, _) = self.apply(classifier, &x, &delta, dims);
        let logits = classifier.logits(upload(xin))?;
        record(&delta, logits, self.max_iter);
        for (e, chosen) in best.into_iter().enumerate() {
            if let Some((_, offsets)) = chosen {
                delta[e * cf..(e + 1) * cf].copy_from_slice(&offsets);
            }
        }
        let (adv, _) = self.apply(classifier, &x, &delta, dims);
        Ok((upload(adv), first))
    }
}

impl Attack for Flicker {
    fn name(&self) -> &'static str {
        "flicker"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data serialises")
    }

    fn targeted(&self) -> bool {
        self.common.targeted
    }

    fn frame_axis(&self) -> Option<usize> {
        Some(1)
    }

    /// A mask is refused: the perturbation is one offset per frame, so the frames that flicker are
    /// chosen by `start_frame_index` and `num_frames`.
    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
    ) -> Result<AttackOutput> {
        self.validate()?;
        if mask.is_some() {
            return Err(Error::invalid(
                "mask",
                "flicker perturbs whole frames; choose them with start_frame_index and num_frames",
            ));
        }
        let dims = clip_shape(classifier.input_shape())?;
        self.frame_range(dims.1)?;
        let c = &self.common;
        let [n, _] = x.dims();
        let labels = c.labels(classifier, x, labels)?;
        let eps = c.eps.per_example(n, "eps")?;
        let eps_step = c.eps_step.per_example(n, "eps_step")?;
        let mut rngs = super::example_rngs(c, n)?;
        run_batches(
            c.batch_size,
            x,
            &labels,
            None,
            eps,
            &eps_step,
            &mut rngs,
            |b, _| self.batch(classifier, b, dims),
        )
    }
}
