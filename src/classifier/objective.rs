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

/// Indices of the logits in decreasing order (first on ties).
pub fn ranked(z: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..z.len()).collect();
    order.sort_by(|&a, &b| z[b].total_cmp(&z[a]).then(a.cmp(&b)));
    order
}

/// `-(num / den)` and its gradient from those of `num` and `den` (`den > 0`).
fn neg_ratio(num: f32, dnum: &[f32], den: f32, dden: &[f32]) -> (f32, Vec<f32>) {
    let value = -num / den;
    let grad = dnum
        .iter()
        .zip(dden)
        .map(|(dn, dd)| -(dn * den - num * dd) / (den * den))
        .collect();
    (value, grad)
}

/// Croce and Hein's (2020) difference-of-logits ratio against `labels[i]`:
/// `-(z_y − max_{k≠y} z_k) / (z_π1 − z_π3 + 1e-12)`, π the logits in decreasing order. Positive
/// exactly where the example is misclassified, and unchanged by shifting or scaling the logits,
/// which makes it robust to the gradient masking that shrinks the cross-entropy's gradient. Needs
/// at least three classes.
pub struct Dlr<'a>(pub &'a [usize]);

impl Dlr<'_> {
    fn both(&self, i: usize, z: &[f32]) -> (f32, Vec<f32>) {
        let k = z.len();
        let y = self.0[i];
        let order = ranked(z);
        let other = order.iter().copied().find(|&c| c != y).unwrap_or(y);
        let (p1, p3) = (order[0], order[2.min(k - 1)]);
        let unit = |c: usize| (0..k).map(|j| f32::from(j == c)).collect::<Vec<f32>>();
        let dnum: Vec<f32> = unit(y)
            .iter()
            .zip(unit(other))
            .map(|(a, b)| a - b)
            .collect();
        let dden: Vec<f32> = unit(p1).iter().zip(unit(p3)).map(|(a, b)| a - b).collect();
        neg_ratio(z[y] - z[other], &dnum, z[p1] - z[p3] + 1e-12, &dden)
    }
}

impl Objective for Dlr<'_> {
    fn value(&self, i: usize, scores: &[f32], classes: usize) -> f32 {
        self.both(i, &pooled(scores, classes)).0
    }

    fn gradient(&self, i: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        spread(self.both(i, &pooled(scores, classes)).1, scores, classes)
    }
}

/// The targeted difference-of-logits ratio of APGD-T: `-(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 +
/// 1e-12)` for true (or clean predicted) class `labels[i]` and target `targets[i]`; positive once
/// the target's logit passes the true class's. Needs at least four classes.
pub struct DlrTargeted<'a> {
    pub labels: &'a [usize],
    pub targets: &'a [usize],
}

impl DlrTargeted<'_> {
    fn both(&self, i: usize, z: &[f32]) -> (f32, Vec<f32>) {
        let k = z.len();
        let (y, t) = (self.labels[i], self.targets[i]);
        let order = ranked(z);
        let (p1, p3, p4) = (order[0], order[2.min(k - 1)], order[3.min(k - 1)]);
        let dnum: Vec<f32> = (0..k)
            .map(|j| f32::from(j == y) - f32::from(j == t))
            .collect();
        let dden: Vec<f32> = (0..k)
            .map(|j| f32::from(j == p1) - 0.5 * (f32::from(j == p3) + f32::from(j == p4)))
            .collect();
        let den = z[p1] - 0.5 * (z[p3] + z[p4]) + 1e-12;
        neg_ratio(z[y] - z[t], &dnum, den, &dden)
    }
}

impl Objective for DlrTargeted<'_> {
    fn value(&self, i: usize, scores: &[f32], classes: usize) -> f32 {
        self.both(i, &pooled(scores, classes)).0
    }

    fn gradient(&self, i: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        spread(self.both(i, &pooled(scores, classes)).1, scores, classes)
    }
}

/// Any objective negated: what an attack ascends when it must descend `0` (a targeted
/// cross-entropy).
pub struct Negated<'a>(pub &'a dyn Objective);

impl Objective for Negated<'_> {
    fn value(&self, i: usize, scores: &[f32], classes: usize) -> f32 {
        -self.0.value(i, scores, classes)
    }

    fn gradient(&self, i: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        self.0
            .gradient(i, scores, classes)
            .iter()
            .map(|g| -g)
            .collect()
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
            check(&Dlr(&[1]), scores, 4);
            check(&Dlr(&[2]), scores, 4);
            let targeted = DlrTargeted {
                labels: &[2],
                targets: &[0],
            };
            check(&targeted, scores, 4);
            check(&Negated(&CrossEntropy(&[1])), scores, 4);
        }
    }

    #[test]
    fn dlr_is_positive_exactly_when_misclassified_and_ignores_logit_scale() {
        let z = [1.0, 3.0, 2.0, -1.0];
        assert!(Dlr(&[1]).value(0, &z, 4) < 0.0);
        assert!(Dlr(&[0]).value(0, &z, 4) > 0.0);
        let scaled: Vec<f32> = z.iter().map(|v| 10.0 * v + 5.0).collect();
        assert!((Dlr(&[0]).value(0, &scaled, 4) - Dlr(&[0]).value(0, &z, 4)).abs() < 1e-6);
        // -(1 - 3) / (3 - 1) = 1.
        assert!((Dlr(&[0]).value(0, &z, 4) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_margin_is_negative_exactly_when_misclassified() {
        let z = [1.0, 3.0, 2.0];
        assert!(LogitMargin(&[1]).value(0, &z, 3) > 0.0);
        assert_eq!(LogitMargin(&[0]).value(0, &z, 3), -2.0);
        assert_eq!(pooled(&[1.0, 2.0, 3.0, 6.0], 2), vec![2.0, 4.0]);
    }
}
