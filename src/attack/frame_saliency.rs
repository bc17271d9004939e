//! Frame saliency (Inkawhich et al. 2018, ART's `FrameSaliencyAttack`): perturb only the frames of a
//! video whose loss gradient is largest, adding them one at a time until the attack succeeds.
//!
//! The inner attack (FGM or PGD) is a black box given a mask. ART's refresh method indexes its masks
//! with the whole batch against each example's frame, so examples attack each other's frames, some
//! frames twice (up to k·eps) and some never (spec §3.4); here every mask, disregard set and frame
//! choice is per example, each frame of each example is attacked at most once and stays within eps,
//! and only examples that still fail are attacked again.
//!
//! What it costs, for one clip of F frames whose answer is k frames (the iterative method with FGM,
//! as the video notebook): ART predicts the labels, predicts twice for its first success check, takes
//! the loss gradient for the saliency, lets FGM take the same gradient again, then predicts twice
//! (clean and adversarial, one example at a time) for each of the k frames it tries: 3 + 2k forward
//! passes and 2 gradients. Here one gradient pass does the work of the first five: the labels are
//! read off its logits between forward and backward ([`Classifier::prediction_loss_gradient`]), the
//! same logits say whether the clip is adversarial already, and FGM steps along that very gradient
//! ([`Attack::generate_from_gradient`]). Then each prefix tried is one check: k of them
//! ([`PrefixSearch::Linear`], ART's answer; the F-th is never checked, as the output does not depend
//! on it), or ⌈log₂ F⌉ ([`PrefixSearch::Bisect`], opt-in). Where the classifier has
//! [`ClipSession`](crate::classifier::ClipSession)s (c3d-lite and other plain 3-D CNNs on the CPU, no defence in front), the
//! gradient pass is the session's and each linear check replaces one frame of the session's clip,
//! a fraction of a forward pass (`model/clip_kernel.rs`); otherwise a check is a forward pass,
//! batched across examples. Prefixes of one clip are not checked speculatively in one batch: on the
//! CPU a batch of b clips costs b single passes (docs/benchmarks.md). The refresh method takes one
//! gradient per step, whose logits decide success and whose rows rank the next frames and drive the
//! next FGM step, where ART predicts twice and takes two gradients.

use super::spec::{AttackEntry, AttackSpec, RunSettings, require_modality};
use super::{ATTACKS, Attack, AttackOutput, Mask, Norm, check_attack_labels, success, take_rows};
use crate::array::{frame_index, tensor_to_vec};
use crate::classifier::objective::CrossEntropy;
use crate::classifier::{Classifier, argmax, argmax_rows};
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::params::Param;
use burn::tensor::{Tensor, TensorData};

/// `frame-saliency`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "frame-saliency",
    about: "Perturb only the most salient frames of a video, adding them until the inner attack \
            succeeds (Inkawhich et al. 2018, ART's FrameSaliencyAttack); takes its inner attack's \
            parameters too",
    params: &PARAMS,
    parse: |p| {
        let inner_name: String = p.take_or("inner", "fgm".to_string())?;
        let method = match p.take_or("method", "iterative".to_string())?.as_str() {
            "iterative" => SaliencyMethod::Iterative,
            "iterative-refresh" => SaliencyMethod::IterativeRefresh,
            "one-shot" => SaliencyMethod::OneShot,
            other => {
                return Err(Error::invalid(
                    p.display("method"),
                    format!("{other:?}: expected iterative, iterative-refresh or one-shot"),
                ));
            }
        };
        let search = match p.take_or("search", "linear".to_string())?.as_str() {
            "linear" => PrefixSearch::Linear,
            "bisect" => PrefixSearch::Bisect,
            other => {
                return Err(Error::invalid(
                    p.display("search"),
                    format!("{other:?}: expected linear or bisect"),
                ));
            }
        };
        let frame_axis = p.take_or("frame_axis", 1)?;
        if !INNER.contains(&inner_name.as_str()) {
            return Err(Error::invalid(
                p.display("inner"),
                format!("{inner_name:?}: expected one of {}", INNER.join(", ")),
            ));
        }
        let entry = ATTACKS.find(&inner_name)?;
        let inner = (entry.parse)(p)?;
        let accepted: Vec<Param> = PARAMS.iter().chain(entry.params).copied().collect();
        p.finish(&format!("frame-saliency around {inner_name}"), &accepted)?;
        Ok(Box::new(FrameSaliencySpec {
            inner,
            method,
            search,
            frame_axis,
        }))
    },
};

/// The attacks frame saliency may wrap: those that take a mask and perturb every unmasked frame.
const INNER: [&str; 2] = ["fgm", "pgd"];

const PARAMS: [Param; 4] = [
    Param {
        key: "inner",
        default: "\"fgm\"",
        about: "the attack run on the chosen frames: \"fgm\" or \"pgd\" (its parameters apply)",
    },
    Param {
        key: "method",
        default: "\"iterative\"",
        about: "\"iterative\", \"iterative-refresh\" or \"one-shot\"",
    },
    Param {
        key: "search",
        default: "\"linear\"",
        about: "iterative method: \"linear\" (ART's answer) or \"bisect\" (log2(frames) checks, assumes success is monotone)",
    },
    Param {
        key: "frame_axis",
        default: "1",
        about: "axis of the frames in one example's shape ([C, F, H, W]: 1)",
    },
];

/// Frame saliency as configured by a user.
#[derive(Debug)]
pub struct FrameSaliencySpec {
    pub inner: Box<dyn AttackSpec>,
    pub method: SaliencyMethod,
    pub search: PrefixSearch,
    pub frame_axis: usize,
}

impl AttackSpec for FrameSaliencySpec {
    fn name(&self) -> &'static str {
        "frame-saliency"
    }

    fn norm(&self) -> Norm {
        self.inner.norm()
    }

    fn iterative(&self) -> bool {
        self.inner.iterative()
    }

    /// Video models only: an audio model's samples are not frames.
    fn check_input(&self, input: &InputConfig) -> Result<()> {
        require_modality(
            input,
            Modality::Video,
            "frame-saliency needs a video model (an audio model's samples are not frames)",
        )?;
        frame_index(&input.shape, self.frame_axis).map(|_| ())
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        if run.batch_size == 0 {
            return Err(Error::invalid("batch_size", "has to be a positive integer"));
        }
        Ok(Box::new(FrameSaliency {
            attacker: self.inner.build(run)?,
            method: self.method,
            frame_axis: self.frame_axis,
            batch_size: run.batch_size,
            search: self.search,
        }))
    }
}

/// How frames are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaliencyMethod {
    /// One attack on the whole clip; its frames are kept in order of the clean clip's saliency
    /// until the example is adversarial.
    Iterative,
    /// One frame at a time: attack the most salient frame not yet perturbed, starting from the
    /// current adversarial clip, then recompute the saliency.
    IterativeRefresh,
    /// The inner attack on every frame (no saliency).
    OneShot,
}

/// How the iterative method finds k, the number of most salient frames an example keeps from the
/// full attack. Each probe of a k is one forward pass (batched across examples).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrefixSearch {
    /// ART's: k = 1, 2, … until the clip is adversarial, so the smallest such k. Costs k probes
    /// (F − 1 when no prefix short of all F frames succeeds).
    #[default]
    Linear,
    /// Bisection on k, which assumes that success is monotone in k (adding perturbed frames never
    /// makes an adversarial clip benign again): ⌈log₂ F⌉ probes whatever k. Where success is
    /// monotone it gives ART's k. Where it is not, it still returns a k whose prefix is adversarial
    /// and whose (k − 1)-prefix is not (k = F: the full attack, whether it succeeds or not, as
    /// ART), but possibly a larger k than ART's. Its probes are forward passes: it pays when k is
    /// above log₂ F and the classifier has no clip sessions; linear is cheaper otherwise.
    Bisect,
}

/// Frame saliency around an inner attack.
pub struct FrameSaliency {
    /// FGM or PGD; its norm, eps, targeting and seed apply.
    pub attacker: Box<dyn Attack>,
    pub method: SaliencyMethod,
    /// Axis of the frames in one example's shape (channels first `[C, F, H, W]`: 1).
    pub frame_axis: usize,
    /// Examples per prediction and gradient.
    pub batch_size: usize,
    /// How the iterative method searches k (the refresh method adds frames one by one as ART).
    pub search: PrefixSearch,
}

/// `S[n][f]`: mean |∂loss/∂x| over frame f of each example of the host gradient `g` (`[n, d]`).
fn mean_abs_per_frame(g: &[f32], d: usize, frame_of: &[usize], frames: usize) -> Vec<Vec<f64>> {
    let per_frame = (d / frames) as f64;
    g.chunks(d)
        .map(|row| {
            let mut s = vec![0f64; frames];
            for (v, &f) in row.iter().zip(frame_of) {
                s[f] += v.abs() as f64;
            }
            s.into_iter().map(|v| v / per_frame).collect()
        })
        .collect()
}

/// Frames in descending saliency, ties by index; `skip` frames left out.
fn order(saliency: &[f64], skip: &[bool]) -> Vec<usize> {
    let mut o: Vec<usize> = (0..saliency.len()).filter(|&f| !skip[f]).collect();
    o.sort_by(|&a, &b| saliency[b].total_cmp(&saliency[a]).then(a.cmp(&b)));
    o
}

/// `clean` with the frames `frames` taken from `candidate` (both one example).
fn with_frames(
    clean: &[f32],
    candidate: &[f32],
    frames: &[usize],
    frame_of: &[usize],
    count: usize,
) -> Vec<f32> {
    let mut take = vec![false; count];
    for &f in frames {
        take[f] = true;
    }
    clean
        .iter()
        .zip(candidate)
        .zip(frame_of)
        .map(|((&c, &a), &f)| if take[f] { a } else { c })
        .collect()
}

/// Rows `rows` of the host batch `values` (`[·, d]`) as one `[rows.len(), d]` tensor.
fn upload_rows(classifier: &dyn Classifier, values: &[f32], rows: &[usize], d: usize) -> Tensor<2> {
    let data: Vec<f32> = rows
        .iter()
        .flat_map(|&e| values[e * d..(e + 1) * d].iter().copied())
        .collect();
    Tensor::from_data(TensorData::new(data, [rows.len(), d]), classifier.device())
}

impl FrameSaliency {
    fn check(&self, classifier: &dyn Classifier) -> Result<(Vec<usize>, usize)> {
        if self.batch_size == 0 {
            return Err(Error::invalid("batch_size", "has to be a positive integer"));
        }
        frame_index(classifier.input_shape(), self.frame_axis)
    }

    /// The labels (the given ones, or the predictions at `x` when untargeted), the loss gradient at
    /// `x` against them and the logits at `x`, `batch_size` examples per pass.
    fn gradient(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
    ) -> Result<(Vec<usize>, Tensor<2>, Tensor<2>)> {
        let [n, _] = x.dims();
        check_attack_labels(classifier, labels, n, self.targeted())?;
        let (mut all_labels, mut grads, mut logits) = (Vec::with_capacity(n), vec![], vec![]);
        for start in (0..n).step_by(self.batch_size) {
            let end = (start + self.batch_size).min(n);
            let xb = if end - start == n {
                x.clone()
            } else {
                x.clone().slice(start..end)
            };
            let (l, g, z) = match labels {
                Some(l) => {
                    let (g, z) = classifier.loss_gradient_and_logits(xb, &l[start..end])?;
                    (l[start..end].to_vec(), g, z)
                }
                None => classifier.prediction_loss_gradient(xb)?,
            };
            all_labels.extend(l);
            grads.push(g);
            logits.push(z);
        }
        Ok((all_labels, Tensor::cat(grads, 0), Tensor::cat(logits, 0)))
    }

    /// The inner attack on `x` against `labels`, stepping along `gradient` (the loss gradient at `x`)
    /// where the attacker is a function of it, otherwise on its own.
    fn inner(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: &[usize],
        mask: Option<&Mask>,
        gradient: &Tensor<2>,
    ) -> Result<AttackOutput> {
        match self
            .attacker
            .generate_from_gradient(classifier, x, labels, mask, gradient)?
        {
            Some(out) => Ok(out),
            None => self.attacker.generate(classifier, x, Some(labels), mask),
        }
    }

    /// Whether each of `rows` (flattened examples) is adversarial against `labels`.
    fn succeeds(
        &self,
        classifier: &dyn Classifier,
        rows: Vec<f32>,
        labels: &[usize],
    ) -> Result<Vec<bool>> {
        let n = labels.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let d = rows.len() / n;
        let x = Tensor::<2>::from_data(TensorData::new(rows, [n, d]), classifier.device());
        let predicted = argmax_rows(classifier.predict(&x, self.batch_size)?);
        Ok(success(&predicted, labels, self.attacker.targeted()))
    }

    /// The iterative method through [`ClipSession`](crate::classifier::ClipSession)s, where the classifier has them, the search is
    /// linear and the inner attack is a function of the gradient (FGM); `None` otherwise.
    ///
    /// Each example's session runs one forward and one backward pass on the host: its logits give
    /// the label and the first check, its gradient the saliency and the FGM step. Then each prefix
    /// check replaces one more frame by the candidate's, which costs what that frame reaches
    /// (about a seventh of a forward pass on the benchmark's network) instead of a forward pass.
    /// Sessions hold their clip's activations: up to `batch_size` examples keep theirs from the
    /// gradient to the search; a larger batch evaluates each clip again for its search.
    fn iterative_by_updates(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
        frame_of: &[usize],
        frames: usize,
    ) -> Result<Option<AttackOutput>> {
        if self.search != PrefixSearch::Linear || !self.attacker.is_function_of_gradient() {
            return Ok(None);
        }
        let [n, d] = x.dims();
        if n == 0 {
            return Ok(None);
        }
        check_attack_labels(classifier, labels, n, self.targeted())?;
        let clean = tensor_to_vec(x.clone());
        let row = |v: &[f32], e: usize| -> Vec<f32> { v[e * d..(e + 1) * d].to_vec() };
        let open = |e: usize| classifier.clip_session(&clean[e * d..(e + 1) * d], self.frame_axis);
        let keep = n <= self.batch_size;
        let targeted = self.targeted();
        let (mut sessions, mut all_labels, mut fail) = (Vec::new(), Vec::new(), Vec::new());
        let mut grad = Vec::with_capacity(n * d);
        for e in 0..n {
            let Some(session) = open(e)? else {
                return Ok(None);
            };
            let logits = session.logits();
            let predicted = argmax(&logits);
            let label = labels.map_or(predicted, |l| l[e]);
            fail.push(!success(&[predicted], &[label], targeted)[0]);
            grad.extend(session.gradient(&CrossEntropy(&[label])));
            all_labels.push(label);
            sessions.push(keep.then_some(session));
        }
        let saliency = mean_abs_per_frame(&grad, d, frame_of, frames);
        let grad = Tensor::from_data(TensorData::new(grad, [n, d]), classifier.device());
        let full = self.inner(classifier, x, &all_labels, mask, &grad)?;
        let candidate = tensor_to_vec(full.adversarial);
        let no_skip = vec![false; frames];
        let mut adv = Vec::with_capacity(n * d);
        for (e, session) in sessions.into_iter().enumerate() {
            let order = order(&saliency[e], &no_skip);
            let k = if fail[e] {
                let mut session = match session {
                    Some(s) => s,
                    None => open(e)?.ok_or_else(|| {
                        Error::invalid("classifier", "offered clip sessions for some clips only")
                    })?,
                };
                let target = row(&candidate, e);
                // The F-th prefix is the whole candidate: never checked, as in `prefix_lengths`.
                (1..frames)
                    .find(|&k| {
                        let logits = session.replace(&target, &[order[k - 1]]);
                        success(&[argmax(&logits)], &[all_labels[e]], targeted)[0]
                    })
                    .unwrap_or(frames)
            } else {
                0
            };
            adv.extend(with_frames(
                &row(&clean, e),
                &row(&candidate, e),
                &order[..k],
                frame_of,
                frames,
            ));
        }
        Ok(Some(AttackOutput {
            adversarial: Tensor::from_data(TensorData::new(adv, [n, d]), classifier.device()),
            success_iteration: vec![None; n],
            eps: full.eps,
            components: Vec::new(),
        }))
    }

    /// k per example: how many of its most salient frames (`orders[e]`) it takes from `candidate`.
    /// 0 for examples not failing at the start; otherwise found by `self.search` between 0 (known to
    /// fail) and F (the whole candidate, never checked: the output does not depend on it).
    #[allow(clippy::too_many_arguments)]
    fn prefix_lengths(
        &self,
        classifier: &dyn Classifier,
        clean: &[f32],
        candidate: &[f32],
        orders: &[Vec<usize>],
        labels: &[usize],
        fail: &[bool],
        frame_of: &[usize],
        frames: usize,
    ) -> Result<Vec<usize>> {
        let n = labels.len();
        let d = frame_of.len();
        // Invariant, for the examples searched: the lo-prefix fails, and the hi-prefix succeeds or
        // hi = F.
        let mut lo = vec![0usize; n];
        let mut hi: Vec<usize> = fail.iter().map(|&f| if f { frames } else { 0 }).collect();
        loop {
            let searching: Vec<usize> = (0..n).filter(|&e| hi[e] > lo[e] + 1).collect();
            if searching.is_empty() {
                return Ok(hi);
            }
            let probes: Vec<usize> = searching
                .iter()
                .map(|&e| match self.search {
                    PrefixSearch::Linear => lo[e] + 1,
                    PrefixSearch::Bisect => lo[e] + (hi[e] - lo[e]) / 2,
                })
                .collect();
            let mut rows = Vec::with_capacity(searching.len() * d);
            for (&e, &k) in searching.iter().zip(&probes) {
                let span = e * d..(e + 1) * d;
                rows.extend(with_frames(
                    &clean[span.clone()],
                    &candidate[span],
                    &orders[e][..k],
                    frame_of,
                    frames,
                ));
            }
            let sub_labels: Vec<usize> = searching.iter().map(|&e| labels[e]).collect();
            let ok = self.succeeds(classifier, rows, &sub_labels)?;
            for ((&e, &k), ok) in searching.iter().zip(&probes).zip(ok) {
                if ok {
                    hi[e] = k;
                } else {
                    lo[e] = k;
                }
            }
        }
    }
}

impl Attack for FrameSaliency {
    fn name(&self) -> &'static str {
        "frame-saliency"
    }

    fn params(&self) -> serde_json::Value {
        let mut inner = self.attacker.params();
        inner["name"] = serde_json::json!(self.attacker.name());
        serde_json::json!({
            "method": self.method, "frame_axis": self.frame_axis, "batch_size": self.batch_size,
            "search": self.search, "attacker": inner,
        })
    }

    fn targeted(&self) -> bool {
        self.attacker.targeted()
    }

    fn frame_axis(&self) -> Option<usize> {
        Some(self.frame_axis)
    }

    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
    ) -> Result<AttackOutput> {
        let (frame_of, frames) = self.check(classifier)?;
        match self.method {
            SaliencyMethod::OneShot => return self.attacker.generate(classifier, x, labels, mask),
            SaliencyMethod::Iterative => {
                if let Some(out) =
                    self.iterative_by_updates(classifier, x, labels, mask, &frame_of, frames)?
                {
                    return Ok(out);
                }
            }
            SaliencyMethod::IterativeRefresh => {}
        }
        let [n, d] = x.dims();
        let (labels, grad, logits) = self.gradient(classifier, x, labels)?;
        let targeted = self.targeted();
        let mut fail: Vec<bool> = success(&argmax_rows(logits), &labels, targeted)
            .iter()
            .map(|s| !s)
            .collect();
        let clean = tensor_to_vec(x.clone());
        let mut saliency = mean_abs_per_frame(&tensor_to_vec(grad.clone()), d, &frame_of, frames);
        let (adv, eps) = match self.method {
            SaliencyMethod::Iterative => {
                let full = self.inner(classifier, x, &labels, mask, &grad)?;
                let candidate = tensor_to_vec(full.adversarial);
                let no_skip = vec![false; frames];
                let orders: Vec<Vec<usize>> = saliency.iter().map(|s| order(s, &no_skip)).collect();
                let k = self.prefix_lengths(
                    classifier, &clean, &candidate, &orders, &labels, &fail, &frame_of, frames,
                )?;
                let mut adv = Vec::with_capacity(n * d);
                for e in 0..n {
                    let span = e * d..(e + 1) * d;
                    adv.extend(with_frames(
                        &clean[span.clone()],
                        &candidate[span],
                        &orders[e][..k[e]],
                        &frame_of,
                        frames,
                    ));
                }
                (adv, full.eps)
            }
            SaliencyMethod::IterativeRefresh => {
                let user_mask: Option<Vec<f32>> = mask.map(|m| m.expand(n, d)).transpose()?;
                let mut adv = clean;
                let mut eps = vec![0f32; n];
                let mut done = vec![vec![false; frames]; n];
                let mut failing: Vec<usize> = (0..n).filter(|&e| fail[e]).collect();
                // The loss gradient at `adv` of each failing example, in `failing`'s order.
                let mut grad = grad;
                if failing.len() < n && !failing.is_empty() {
                    grad = take_rows(&grad, &failing);
                }
                for step in 0..frames {
                    if failing.is_empty() {
                        break;
                    }
                    // Each failing example attacks its own most salient frame not yet attacked,
                    // from where it stands.
                    let mut masks = Vec::with_capacity(failing.len() * d);
                    let mut chosen = Vec::with_capacity(failing.len());
                    for &e in &failing {
                        let f = order(&saliency[e], &done[e])[0];
                        done[e][f] = true;
                        chosen.push(f);
                        masks.extend((0..d).map(|j| {
                            let user = user_mask.as_ref().map_or(1.0, |m| m[e * d + j]);
                            if frame_of[j] == f && user != 0.0 {
                                1.0
                            } else {
                                0.0
                            }
                        }));
                    }
                    let start = upload_rows(classifier, &adv, &failing, d);
                    let sub_labels: Vec<usize> = failing.iter().map(|&e| labels[e]).collect();
                    let out = self.inner(
                        classifier,
                        &start,
                        &sub_labels,
                        Some(&Mask::new(masks)?),
                        &grad,
                    )?;
                    let new = tensor_to_vec(out.adversarial);
                    for (k, &e) in failing.iter().enumerate() {
                        eps[e] = out.eps[k];
                        let span = e * d..(e + 1) * d;
                        let row = with_frames(
                            &adv[span.clone()],
                            &new[k * d..(k + 1) * d],
                            &[chosen[k]],
                            &frame_of,
                            frames,
                        );
                        adv[span].copy_from_slice(&row);
                    }
                    if step + 1 == frames {
                        // Every frame attacked: the output no longer depends on success.
                        break;
                    }
                    // One gradient at the new points: its logits say who succeeded, its rows rank
                    // the next frames of those still failing and drive their next step.
                    let at = upload_rows(classifier, &adv, &failing, d);
                    let (_, g, logits) = self.gradient(classifier, &at, Some(&sub_labels))?;
                    let ok = success(&argmax_rows(logits), &sub_labels, targeted);
                    let mut still = Vec::new();
                    for (k, &e) in failing.iter().enumerate() {
                        fail[e] = !ok[k];
                        if fail[e] {
                            still.push(k);
                        }
                    }
                    if still.is_empty() {
                        break;
                    }
                    let fresh = saliency_of_rows(&g, &still, d, &frame_of, frames);
                    for (&k, s) in still.iter().zip(fresh) {
                        saliency[failing[k]] = s;
                    }
                    grad = take_rows(&g, &still);
                    failing = still.into_iter().map(|k| failing[k]).collect();
                }
                (adv, eps)
            }
            SaliencyMethod::OneShot => unreachable!("handled above"),
        };
        Ok(AttackOutput {
            adversarial: Tensor::from_data(TensorData::new(adv, [n, d]), classifier.device()),
            success_iteration: vec![None; n],
            eps,
            components: Vec::new(),
        })
    }
}

/// [`mean_abs_per_frame`] of rows `rows` (not empty) of the gradient tensor `g`.
fn saliency_of_rows(
    g: &Tensor<2>,
    rows: &[usize],
    d: usize,
    frame_of: &[usize],
    frames: usize,
) -> Vec<Vec<f64>> {
    mean_abs_per_frame(&tensor_to_vec(take_rows(g, rows)), d, frame_of, frames)
}
