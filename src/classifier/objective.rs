//! What an input gradient is the gradient of: any differentiable function of a model's scores.
//!
//! Attacks differentiate more than the cross-entropy: C&W minimises a logit margin, APGD's DLR loss
//! is a ratio of logit differences, a detector's attack may target every window at once. An
//! [`Objective`] gives, per example, its value and its derivative with respect to that example's
//! scores; the classifier chains it through the network (autodiff or a host kernel), the
//! standardisation and the defences. The built-in objectives are plain structs here; an attack may
//! define its own.
//!
//! Scores: a network gives `F` score vectors of `K` classes per example (`F = 1` for a classifier of
//! whole examples, one per window or frame for a detector), frame-major, `F·K` values. The built-in
//! objectives take the example's decision to be the mean of its frames' logits, which for `F = 1`
//! is its logits.

use super::argmax;

/// A differentiable function of each example's scores, summed over the batch.
pub trait Objective: Sync {
    /// The value for example `i`, given its scores (`F·K` values, frame-major) and `K`.
    fn value(&self, i: usize, scores: &[f32], classes: usize) -> f32;
    /// ∂value/∂scores for example `i` (`F·K` values).
    fn gradient(&self, i: usize, scores: &[f32], classes: usize) -> Vec<f32>;
}

/// The example's decision: the mean over its frames of their logits (`K` values).
pub fn pooled(scores: &[f32], classes: usize) -> Vec<f32> {
    let frames = scores.len() / classes.max(1);
    if frames <= 1 {
        return scores.to_vec();
    }
    let mut mean = vec![0f32; classes];
    for frame in scores.chunks(classes) {
        for (m, v) in mean.iter_mut().zip(frame) {
            *m += v;
        }
    }
    mean.iter().map(|m| m / frames as f32).collect()
}

/// The gradient with respect to every frame's scores of a function of [`pooled`], given its
/// gradient `dpooled` with respect to the pooled logits.
fn spread(dpooled: Vec<f32>, scores: &[f32], classes: usize) -> Vec<f32> {
    let frames = scores.len() / classes.max(1);
    if frames <= 1 {
        return dpooled;
    }
    let scale = 1.0 / frames as f32;
    (0..scores.len())
        .map(|j| dpooled[j % classes] * scale)
        .collect()
}

/// Softmax of one row of logits, stably.
fn softmax(logits: &[f32]) -> Vec<f32> {
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|l| (l - m).exp()).collect();
    let z: f32 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

fn cross_entropy_value(logits: &[f32], label: usize) -> f32 {
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let z: f32 = logits.iter().map(|l| (l - m).exp()).sum();
    m + z.ln() - logits[label]
}

fn cross_entropy_gradient(logits: &[f32], label: usize) -> Vec<f32> {
    softmax(logits)
        .iter()
        .enumerate()
        .map(|(k, p)| p - if k == label { 1.0 } else { 0.0 })
        .collect()
}

/// The cross-entropy of each example against `labels[i]`: what FGM and PGD ascend.
pub struct CrossEntropy<'a>(pub &'a [usize]);

impl Objective for CrossEntropy<'_> {
    fn value(&self, i: usize, scores: &[f32], classes: usize) -> f32 {
        cross_entropy_value(&pooled(scores, classes), self.0[i])
    }

    fn gradient(&self, i: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        let dpooled = cross_entropy_gradient(&pooled(scores, classes), self.0[i]);
        spread(dpooled, scores, classes)
    }
}

/// The cross-entropy of each example against its own predicted label (the first maximum of its
/// decision): where an untargeted attack given no labels starts, read off the same forward pass.
pub struct PredictedCrossEntropy;

impl Objective for PredictedCrossEntropy {
    fn value(&self, _: usize, scores: &[f32], classes: usize) -> f32 {
        let z = pooled(scores, classes);
        cross_entropy_value(&z, argmax(&z))
    }

    fn gradient(&self, _: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        let z = pooled(scores, classes);
        spread(cross_entropy_gradient(&z, argmax(&z)), scores, classes)
    }
}

/// Logit `classes[i]` of each example: ART's `class_gradient`.
pub struct ClassLogit<'a>(pub &'a [usize]);

impl Objective for ClassLogit<'_> {
    fn value(&self, i: usize, scores: &[f32], classes: usize) -> f32 {
        pooled(scores, classes)[self.0[i]]
    }

    fn gradient(&self, i: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        let one_hot = (0..classes)
            .map(|k| if k == self.0[i] { 1.0 } else { 0.0 })
            .collect();
        spread(one_hot, scores, classes)
    }
}

/// The logit margin `z_y − max_{k≠y} z_k` of each example against `labels[i]` (Carlini and Wagner's
/// f₆ without its confidence): negative exactly where the example is misclassified.
pub struct LogitMargin<'a>(pub &'a [usize]);

impl LogitMargin<'_> {
    /// The largest logit other than `label`'s (the first on ties).
    fn runner_up(logits: &[f32], label: usize) -> usize {
        let mut best = if label == 0 { 1 } else { 0 };
        for (k, &v) in logits.iter().enumerate() {
            if k != label && v > logits[best] {
                best = k;
            }
        }
        best
    }
}

impl Objective for LogitMargin<'_> {
    fn value(&self, i: usize, scores: &[f32], classes: usize) -> f32 {
        let z = pooled(scores, classes);
        let y = self.0[i];
        z[y] - z[Self::runner_up(&z, y)]
    }

    fn gradient(&self, i: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        let z = pooled(scores, classes);
        let y = self.0[i];
        let other = Self::runner_up(&z, y);
        let d = (0..classes)
            .map(|k| match k {
                _ if k == y => 1.0,
                _ if k == other => -1.0,
                _ => 0.0,
            })
            .collect();
        spread(d, scores, classes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of `value` against `gradient`, per score.
    fn check(objective: &dyn Objective, scores: &[f32], classes: usize) {
        let g = objective.gradient(0, scores, classes);
        assert_eq!(g.len(), scores.len());
        for j in 0..scores.len() {
            let h = 1e-2;
            let mut up = scores.to_vec();
            up[j] += h;
            let mut down = scores.to_vec();
            down[j] -= h;
            let fd =
                (objective.value(0, &up, classes) - objective.value(0, &down, classes)) / (2.0 * h);
            assert!((fd - g[j]).abs() < 2e-3, "score {j}: {fd} vs {}", g[j]);
        }
    }

    #[test]
    fn gradients_are_the_derivatives_of_the_values_for_one_frame_and_several() {
        let one = [0.3, -1.2, 2.0, 0.5];
        let frames = [
            0.3, -1.2, 2.0, 0.5, 1.0, 0.1, -0.4, 0.9, 0.0, 0.2, 0.7, -2.0,
        ];
        for scores in [&one[..], &frames[..]] {
            check(&CrossEntropy(&[1]), scores, 4);
            check(&PredictedCrossEntropy, scores, 4);
            check(&ClassLogit(&[3]), scores, 4);
            check(&LogitMargin(&[2]), scores, 4);
        }
    }

    #[test]
    fn the_margin_is_negative_exactly_when_misclassified() {
        let z = [1.0, 3.0, 2.0];
        assert!(LogitMargin(&[1]).value(0, &z, 3) > 0.0);
        assert_eq!(LogitMargin(&[0]).value(0, &z, 3), -2.0);
        assert_eq!(pooled(&[1.0, 2.0, 3.0, 6.0], 2), vec![2.0, 4.0]);
    }
}
