//! What a training step minimises, as a function of the logits of its forward passes.
//!
//! A step may take more than one forward pass: TRADES (Zhang et al. 2019) compares the model on the
//! clean batch with the model on its adversarial twin. A [`TrainingLoss`] sees every pass's logits
//! and gives its value and its derivative with respect to each pass's logits; the engine then runs
//! each pass's backward from those logit gradients and sums the parameter gradients (the chain
//! rule, exactly). So a new loss is one struct here, and neither the hand-written host step nor the
//! burn engines need to know which loss they serve.

use burn::tensor::{Tensor, TensorData};

/// A loss over the logits `[n·K]` of each forward pass of one step, averaged over the batch.
pub trait TrainingLoss: Send + Sync {
    /// Forward passes it takes (the adversary provides that many inputs).
    fn passes(&self) -> usize;
    /// The batch-mean loss and its gradient with respect to each pass's logits (`[n·K]` each).
    fn evaluate(
        &self,
        logits: &[Vec<f32>],
        labels: &[usize],
        classes: usize,
    ) -> (f32, Vec<Vec<f32>>);
}

/// The mean cross-entropy of one pass against the labels: plain training, Madry's PGD training and
/// Wong's fast training (whose pass is the adversarial batch).
pub struct CrossEntropyLoss;

impl TrainingLoss for CrossEntropyLoss {
    fn passes(&self) -> usize {
        1
    }

    fn evaluate(
        &self,
        logits: &[Vec<f32>],
        labels: &[usize],
        classes: usize,
    ) -> (f32, Vec<Vec<f32>>) {
        let n = labels.len();
        let mut loss = 0f64;
        let mut grad = Vec::with_capacity(n * classes);
        for (row, &y) in logits[0].chunks(classes).zip(labels) {
            let (p, log_z) = softmax(row);
            loss += log_z - f64::from(row[y]);
            grad.extend(
                p.iter()
                    .enumerate()
                    .map(|(c, &p)| ((p - if c == y { 1.0 } else { 0.0 }) / n as f64) as f32),
            );
        }
        ((loss / n as f64) as f32, vec![grad])
    }
}

/// TRADES (Zhang et al. 2019): `CE(f(x), y) + β·KL(p(x) ‖ p(x'))` averaged over the batch, where
/// pass 0 is the clean batch `x` and pass 1 its adversarial twin `x'`. As in the authors' code the
/// clean probabilities are not detached: the KL term pulls both passes towards each other.
pub struct TradesLoss {
    pub beta: f32,
}

impl TrainingLoss for TradesLoss {
    fn passes(&self) -> usize {
        2
    }

    fn evaluate(
        &self,
        logits: &[Vec<f32>],
        labels: &[usize],
        classes: usize,
    ) -> (f32, Vec<Vec<f32>>) {
        let n = labels.len() as f64;
        let beta = f64::from(self.beta);
        let mut loss = 0f64;
        let (mut dclean, mut dadv) = (Vec::new(), Vec::new());
        for ((z, za), &y) in logits[0]
            .chunks(classes)
            .zip(logits[1].chunks(classes))
            .zip(labels)
        {
            let (p, log_z) = softmax(z);
            let (q, log_za) = softmax(za);
            // log p − log q, per class.
            let a: Vec<f64> = (0..classes)
                .map(|c| (f64::from(z[c]) - log_z) - (f64::from(za[c]) - log_za))
                .collect();
            let kl: f64 = p.iter().zip(&a).map(|(p, a)| p * a).sum();
            loss += log_z - f64::from(z[y]) + beta * kl;
            // ∂KL/∂z_c = p_c (a_c − KL): the softmax Jacobian applied to log p − log q (+1, which
            // the Jacobian annihilates); ∂KL/∂z'_c = q_c − p_c.
            for c in 0..classes {
                let ce = p[c] - if c == y { 1.0 } else { 0.0 };
                dclean.push(((ce + beta * p[c] * (a[c] - kl)) / n) as f32);
                dadv.push((beta * (q[c] - p[c]) / n) as f32);
            }
        }
        ((loss / n) as f32, vec![dclean, dadv])
    }
}

/// Softmax of one row in f64 and its log-normaliser `log Σ exp z`.
fn softmax(z: &[f32]) -> (Vec<f64>, f64) {
    let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = z.iter().map(|&v| (f64::from(v) - m).exp()).collect();
    let s: f64 = e.iter().sum();
    (e.iter().map(|v| v / s).collect(), m + s.ln())
}

/// For engines on burn's autodiff: the loss of the tracked `logits` (one `[n, K]` tensor per
/// pass), and the scalar whose backward pass gives the parameter gradients, `Σ_p ⟨logits_p, g_p⟩`
/// with the logit gradients `g_p` taken on the host as constants. Returns the loss value, each
/// pass's logits on the host and that scalar.
pub(crate) fn surrogate(
    logits: Vec<Tensor<2>>,
    loss: &dyn TrainingLoss,
    labels: &[usize],
    classes: usize,
) -> (f32, Vec<Vec<f32>>, Tensor<1>) {
    let host: Vec<Vec<f32>> = logits
        .iter()
        .map(|l| crate::array::tensor_to_vec(l.clone().detach()))
        .collect();
    let (value, grads) = loss.evaluate(&host, labels, classes);
    let n = labels.len();
    let scalar = logits
        .into_iter()
        .zip(grads)
        .map(|(l, g)| {
            let g = Tensor::<2>::from_data(TensorData::new(g, [n, classes]), &l.device());
            (l * g).sum()
        })
        .reduce(|a, b| a + b)
        .expect("at least one pass");
    (value, host, scalar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use burn::tensor::activation::{log_softmax, softmax};

    const K: usize = 4;

    fn logits() -> Vec<Vec<f32>> {
        vec![
            vec![
                0.3, -1.2, 2.0, 0.5, 1.1, 0.0, -0.4, 0.9, -2.0, 0.7, 0.1, 0.2,
            ],
            vec![
                0.1, -0.2, 1.0, 1.5, 1.4, -0.6, 0.3, 0.2, -1.0, 0.2, 0.8, -0.5,
            ],
        ]
    }

    const LABELS: [usize; 3] = [2, 3, 0];

    /// TRADES's loss written in burn tensor operations, as the authors' PyTorch code writes it.
    fn trades_in_burn(z: Tensor<2>, za: Tensor<2>, beta: f32, device: &Device) -> Tensor<1> {
        let n = LABELS.len();
        let mut onehot = vec![0f32; n * K];
        for (i, &l) in LABELS.iter().enumerate() {
            onehot[i * K + l] = 1.0;
        }
        let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [n, K]), device);
        let ce = (log_softmax(z.clone(), 1) * onehot).sum().neg() / n as f32;
        let p = softmax(z.clone(), 1);
        let kl = (p * (log_softmax(z, 1) - log_softmax(za, 1))).sum() / n as f32;
        ce + kl * beta
    }

    #[test]
    fn trades_gradient_matches_burn_autodiff_and_finite_differences() {
        let beta = 6.0;
        let loss = TradesLoss { beta };
        let (value, grads) = loss.evaluate(&logits(), &LABELS, K);
        let device = Device::flex().autodiff();
        let tracked = |v: &Vec<f32>| {
            Tensor::<2>::from_data(TensorData::new(v.clone(), [LABELS.len(), K]), &device)
                .require_grad()
        };
        let (z, za) = (tracked(&logits()[0]), tracked(&logits()[1]));
        let reference = trades_in_burn(z.clone(), za.clone(), beta, &device);
        let want = crate::array::tensor_to_vec(reference.clone().detach())[0];
        assert!((value - want).abs() < 1e-5, "loss {value} vs burn's {want}");
        let g = reference.backward();
        for (pass, t) in [z, za].iter().enumerate() {
            let auto = crate::array::tensor_to_vec(t.grad(&g).unwrap());
            for (j, (a, b)) in grads[pass].iter().zip(&auto).enumerate() {
                assert!(
                    (a - b).abs() < 1e-5,
                    "pass {pass} logit {j}: {a} vs autodiff {b}"
                );
            }
        }
        // Central differences of the host value itself.
        let h = 1e-2f32;
        for pass in 0..2 {
            for j in 0..LABELS.len() * K {
                let at = |delta: f32| {
                    let mut l = logits();
                    l[pass][j] += delta;
                    f64::from(loss.evaluate(&l, &LABELS, K).0)
                };
                let fd = ((at(h) - at(-h)) / (2.0 * f64::from(h))) as f32;
                let g = grads[pass][j];
                assert!((fd - g).abs() < 2e-3, "pass {pass} logit {j}: {g} vs {fd}");
            }
        }
        // With beta = 0 TRADES is the clean cross-entropy, and the adversarial pass gets nothing.
        let (ce, ce_grads) = CrossEntropyLoss.evaluate(&logits()[..1], &LABELS, K);
        let (t0, t0_grads) = TradesLoss { beta: 0.0 }.evaluate(&logits(), &LABELS, K);
        assert!((ce - t0).abs() < 1e-6);
        assert_eq!(ce_grads[0], t0_grads[0]);
        assert!(t0_grads[1].iter().all(|&v| v == 0.0));
        // Equal passes: the KL term and its gradients vanish.
        let same = vec![logits()[0].clone(), logits()[0].clone()];
        let (v, g) = loss.evaluate(&same, &LABELS, K);
        assert!((v - ce).abs() < 1e-5 && g[1].iter().all(|v| v.abs() < 1e-7));
    }
}
