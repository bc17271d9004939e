//! Frame saliency (Inkawhich et al. 2018, ART's `FrameSaliencyAttack`): perturb only the frames of a
//! video whose loss gradient is largest, adding them one at a time until the attack succeeds.
//!
//! The inner attack (FGM or PGD) is a black box given a mask. ART's refresh method indexes its masks
//! with the whole batch against each example's frame, so examples attack each other's frames, some
//! frames twice (up to k·eps) and some never (spec §3.4); here every mask, disregard set and frame
//! choice is per example, each frame of each example is attacked at most once and stays within eps,
//! and only examples that still fail are attacked again. Success is checked with one batched
//! prediction per step over the examples still failing, instead of ART's two single-example
//! predictions per example and frame.

use super::{Attack, AttackOutput, Mask, success};
use crate::array::tensor_to_vec;
use crate::classifier::{Classifier, argmax_rows, check_labels};
use crate::error::{Error, Result};
use burn::tensor::{Tensor, TensorData};

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

/// Frame saliency around an inner attack.
pub struct FrameSaliency {
    /// FGM or PGD; its norm, eps, targeting and seed apply.
    pub attacker: Box<dyn Attack>,
    pub method: SaliencyMethod,
    /// Axis of the frames in one example's shape (channels first `[C, F, H, W]`: 1).
    pub frame_axis: usize,
    /// Examples per prediction and gradient.
    pub batch_size: usize,
}

/// Which frame each feature of a flattened example belongs to, and the number of frames.
pub fn frame_index(shape: &[usize], axis: usize) -> Result<(Vec<usize>, usize)> {
    if shape.len() < 2 || axis >= shape.len() {
        return Err(Error::invalid(
            "frame_axis",
            format!("axis {axis} does not exist in examples of shape {shape:?}"),
        ));
    }
    let inner: usize = shape[axis + 1..].iter().product();
    let frames = shape[axis];
    let d: usize = shape.iter().product();
    Ok(((0..d).map(|i| (i / inner) % frames).collect(), frames))
}

impl FrameSaliency {
    fn check(&self, classifier: &dyn Classifier) -> Result<(Vec<usize>, usize)> {
        if self.batch_size == 0 {
            return Err(Error::invalid("batch_size", "has to be a positive integer"));
        }
        frame_index(classifier.input_shape(), self.frame_axis)
    }

    /// `S[n][f]`: mean |∂loss/∂x| over frame f of example n.
    fn saliency(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: &[usize],
        frame_of: &[usize],
        frames: usize,
    ) -> Result<Vec<Vec<f64>>> {
        let [n, d] = x.dims();
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(self.batch_size) {
            let end = (start + self.batch_size).min(n);
            let g = tensor_to_vec(
                classifier.loss_gradient(x.clone().slice(start..end), &labels[start..end])?,
            );
            for row in g.chunks(d) {
                let mut s = vec![0f64; frames];
                for (v, &f) in row.iter().zip(frame_of) {
                    s[f] += v.abs() as f64;
                }
                let per_frame = (d / frames) as f64;
                out.push(s.into_iter().map(|v| v / per_frame).collect());
            }
        }
        Ok(out)
    }

    /// Whether each of `rows` (flattened examples) is adversarial against `labels`.
    fn succeeds(
        &self,
        classifier: &dyn Classifier,
        rows: &[f32],
        labels: &[usize],
    ) -> Result<Vec<bool>> {
        let n = labels.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let x = Tensor::<2>::from_data(
            TensorData::new(rows.to_vec(), [n, rows.len() / n]),
            classifier.device(),
        );
        let predicted = argmax_rows(classifier.predict(&x, self.batch_size)?);
        Ok(success(&predicted, labels, self.attacker.targeted()))
    }
}

/// Frames in descending saliency, ties by index; `skip` frames left out.
fn order(saliency: &[f64], skip: &[bool]) -> Vec<usize> {
    let mut o: Vec<usize> = (0..saliency.len()).filter(|&f| !skip[f]).collect();
    o.sort_by(|&a, &b| saliency[b].total_cmp(&saliency[a]).then(a.cmp(&b)));
    o
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
            "attacker": inner,
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
        let [n, d] = x.dims();
        let labels = match labels {
            Some(l) => {
                check_labels(l, n, classifier.num_classes())?;
                l.to_vec()
            }
            None if self.targeted() => {
                return Err(Error::invalid(
                    "labels",
                    "target labels need to be provided for a targeted attack",
                ));
            }
            None => classifier.predict_labels(x, self.batch_size)?,
        };
        if self.method == SaliencyMethod::OneShot {
            return self.attacker.generate(classifier, x, Some(&labels), mask);
        }
        let user_mask: Option<Vec<f32>> = mask.map(|m| m.expand(n, d)).transpose()?;
        let clean = tensor_to_vec(x.clone());
        let mut adv = clean.clone();
        let mut fail: Vec<bool> = self
            .succeeds(classifier, &adv, &labels)?
            .iter()
            .map(|s| !s)
            .collect();
        let saliency = self.saliency(classifier, x, &labels, &frame_of, frames)?;
        let no_skip = vec![false; frames];
        let mut eps = vec![0f32; n];
        match self.method {
            SaliencyMethod::Iterative => {
                let full = self.attacker.generate(classifier, x, Some(&labels), mask)?;
                eps = full.eps;
                let candidate = tensor_to_vec(full.adversarial);
                let orders: Vec<Vec<usize>> = saliency.iter().map(|s| order(s, &no_skip)).collect();
                let mut taken = vec![0usize; n];
                for _ in 0..frames {
                    let failing: Vec<usize> = (0..n).filter(|&e| fail[e]).collect();
                    if failing.is_empty() {
                        break;
                    }
                    for &e in &failing {
                        let f = orders[e][taken[e]];
                        taken[e] += 1;
                        copy_frame(&mut adv, &candidate, e, d, f, &frame_of);
                    }
                    self.update(classifier, &adv, &labels, &failing, d, &mut fail)?;
                }
            }
            SaliencyMethod::IterativeRefresh => {
                let mut done = vec![vec![false; frames]; n];
                let mut saliency = saliency;
                for _ in 0..frames {
                    let failing: Vec<usize> = (0..n).filter(|&e| fail[e]).collect();
                    if failing.is_empty() {
                        break;
                    }
                    // Each failing example attacks its own most salient frame not yet attacked,
                    // from where it stands.
                    let mut start = Vec::with_capacity(failing.len() * d);
                    let mut masks = Vec::with_capacity(failing.len() * d);
                    let mut chosen = Vec::with_capacity(failing.len());
                    for &e in &failing {
                        let f = order(&saliency[e], &done[e])[0];
                        done[e][f] = true;
                        chosen.push(f);
                        start.extend_from_slice(&adv[e * d..(e + 1) * d]);
                        masks.extend((0..d).map(|j| {
                            let user = user_mask.as_ref().map_or(1.0, |m| m[e * d + j]);
                            if frame_of[j] == f && user != 0.0 {
                                1.0
                            } else {
                                0.0
                            }
                        }));
                    }
                    let m = failing.len();
                    let start_t =
                        Tensor::<2>::from_data(TensorData::new(start, [m, d]), classifier.device());
                    let sub_labels: Vec<usize> = failing.iter().map(|&e| labels[e]).collect();
                    let out = self.attacker.generate(
                        classifier,
                        &start_t,
                        Some(&sub_labels),
                        Some(&Mask::new(masks)?),
                    )?;
                    let new = tensor_to_vec(out.adversarial);
                    for (k, &e) in failing.iter().enumerate() {
                        eps[e] = out.eps[k];
                        copy_frame(
                            &mut adv,
                            &new[k * d..(k + 1) * d],
                            e,
                            d,
                            chosen[k],
                            &frame_of,
                        );
                    }
                    self.update(classifier, &adv, &labels, &failing, d, &mut fail)?;
                    let still: Vec<usize> = failing.into_iter().filter(|&e| fail[e]).collect();
                    if still.is_empty() {
                        break;
                    }
                    let sub: Vec<f32> = still
                        .iter()
                        .flat_map(|&e| adv[e * d..(e + 1) * d].to_vec())
                        .collect();
                    let sub_t = Tensor::<2>::from_data(
                        TensorData::new(sub, [still.len(), d]),
                        classifier.device(),
                    );
                    let sub_labels: Vec<usize> = still.iter().map(|&e| labels[e]).collect();
                    let fresh =
                        self.saliency(classifier, &sub_t, &sub_labels, &frame_of, frames)?;
                    for (k, &e) in still.iter().enumerate() {
                        saliency[e] = fresh[k].clone();
                    }
                }
            }
            SaliencyMethod::OneShot => unreachable!("handled above"),
        }
        Ok(AttackOutput {
            adversarial: Tensor::from_data(TensorData::new(adv, [n, d]), classifier.device()),
            success_iteration: vec![None; n],
            eps,
        })
    }
}

impl FrameSaliency {
    /// Re-checks the `failing` examples of `adv` and clears their `fail` flag where they succeed.
    fn update(
        &self,
        classifier: &dyn Classifier,
        adv: &[f32],
        labels: &[usize],
        failing: &[usize],
        d: usize,
        fail: &mut [bool],
    ) -> Result<()> {
        let rows: Vec<f32> = failing
            .iter()
            .flat_map(|&e| adv[e * d..(e + 1) * d].to_vec())
            .collect();
        let sub_labels: Vec<usize> = failing.iter().map(|&e| labels[e]).collect();
        for (k, ok) in self
            .succeeds(classifier, &rows, &sub_labels)?
            .into_iter()
            .enumerate()
        {
            fail[failing[k]] = !ok;
        }
        Ok(())
    }
}

/// Copies frame `f` of example `e` from `from` (a batch, or one example) into `to`.
fn copy_frame(to: &mut [f32], from: &[f32], e: usize, d: usize, f: usize, frame_of: &[usize]) {
    let src = if from.len() == d {
        from
    } else {
        &from[e * d..(e + 1) * d]
    };
    for (j, (&fr, v)) in frame_of.iter().zip(src).enumerate() {
        if fr == f {
            to[e * d + j] = *v;
        }
    }
}
