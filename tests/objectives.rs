//! The general objective gradient: any differentiable function of the scores, through the network,
//! standardisation and defences; frame-level models whose objective sees every frame; seeded
//! randomness in defended classifiers.

mod common;

use avfoil::classifier::objective::{ClassLogit, CrossEntropy, LogitMargin, Objective};
use avfoil::classifier::{Classifier, Defended, NeuralClassifier, Preprocessor, Standardise};
use avfoil::model::Network;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

const W: [f32; 12] = [
    1.0, -2.0, 0.5, 0.25, //
    -0.5, 1.5, 2.0, -1.0, //
    0.3, 0.2, -0.7, 1.2,
];
const B: [f32; 3] = [0.1, -0.2, 0.05];

/// The margin objective on a linear model: its gradient is W[y] − W[runner-up], exactly.
#[test]
fn margin_gradient_of_a_linear_model_is_the_difference_of_two_weight_rows() {
    let clf = linear(&W, &B, 3, 4, None);
    let x = [0.4f32, -0.3, 0.9, 0.2, -1.0, 0.5, 0.0, 0.7];
    let labels = [0usize, 2];
    let (g, logits) = clf
        .objective_gradient(tensor(&x, 2, 4), &LogitMargin(&labels))
        .unwrap();
    let (g, z) = (host(&g), host(&logits));
    for i in 0..2 {
        let row = &z[i * 3..(i + 1) * 3];
        let y = labels[i];
        let other = (0..3)
            .filter(|&k| k != y)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap();
        for j in 0..4 {
            let want = W[y * 4 + j] - W[other * 4 + j];
            assert!((g[i * 4 + j] - want).abs() < 1e-5, "{i},{j}");
        }
    }
    // Cross-entropy and class gradients are uses of the same mechanism.
    let ce = host(&clf.loss_gradient(tensor(&x, 2, 4), &labels).unwrap());
    let via = host(
        &clf.objective_gradient(tensor(&x, 2, 4), &CrossEntropy(&labels))
            .unwrap()
            .0,
    );
    assert_eq!(ce, via);
    let xd: Vec<f64> = x[..4].iter().map(|&v| v as f64).collect();
    let want = ce_gradient(&W, &B, 3, &xd, 0);
    for j in 0..4 {
        assert!((ce[j] as f64 - want[j]).abs() < 1e-5);
    }
    let cg = host(&clf.class_gradient(tensor(&x, 2, 4), &[1, 1]).unwrap());
    assert!((cg[5] - W[4 + 1]).abs() < 1e-6);
}

/// A frame-level network: two score vectors per example (one per half of the input).
#[derive(Module, Debug)]
struct Halves {
    weight: Param<Tensor<2>>,
}

impl Network for Halves {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, d] = x.dims();
        let h = d / 2;
        let first = x
            .clone()
            .narrow(1, 0, h)
            .matmul(self.weight.val().transpose());
        let second = x.narrow(1, h, h).matmul(self.weight.val().transpose());
        Tensor::cat(vec![first, second], 1).reshape([n, 6])
    }
}

fn halves() -> NeuralClassifier {
    let w = Tensor::<2>::from_data(TensorData::new(W[..6].to_vec(), [3, 2]), &Device::flex());
    let net = Halves {
        weight: Param::from_tensor(w),
    };
    NeuralClassifier::new(net, &device(), vec![4], 3, None)
        .unwrap()
        .with_output_frames(2)
        .unwrap()
        .with_standardise(Standardise::new(&[0.5], &[2.0], &[4]).unwrap())
}

/// Scores the objective sees: every frame's.
struct SecondFrameLogit;

impl Objective for SecondFrameLogit {
    fn value(&self, _: usize, scores: &[f32], classes: usize) -> f32 {
        assert_eq!(scores.len(), 2 * classes);
        scores[classes + 1]
    }
    fn gradient(&self, _: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        (0..scores.len())
            .map(|j| if j == classes + 1 { 1.0 } else { 0.0 })
            .collect()
    }
}

#[test]
fn frame_level_models_pool_their_decision_and_objectives_see_every_frame() {
    let clf = halves();
    assert_eq!(clf.output_frames(), 2);
    let x = [0.2f32, -0.4, 1.0, 0.6];
    let xs: Vec<f32> = x.iter().map(|v| (v - 0.5) / 2.0).collect();
    let frame =
        |a: f32, b: f32| -> Vec<f32> { (0..3).map(|k| W[k * 2] * a + W[k * 2 + 1] * b).collect() };
    let (f1, f2) = (frame(xs[0], xs[1]), frame(xs[2], xs[3]));
    let logits = host(&clf.logits(tensor(&x, 1, 4)).unwrap());
    for k in 0..3 {
        assert!((logits[k] - (f1[k] + f2[k]) / 2.0).abs() < 1e-6);
    }
    // Only the second frame's logit 1: ∂/∂x = its weights on the second half, through 1/std.
    let (g, _) = clf
        .objective_gradient(tensor(&x, 1, 4), &SecondFrameLogit)
        .unwrap();
    let g = host(&g);
    assert_eq!(&g[..2], &[0.0, 0.0]);
    assert!((g[2] - W[2] / 2.0).abs() < 1e-6 && (g[3] - W[3] / 2.0).abs() < 1e-6);
    // Built-in objectives act on the pooled decision: finite differences agree.
    let labels = [2usize];
    for objective in [
        &CrossEntropy(&labels) as &dyn Objective,
        &LogitMargin(&labels),
        &ClassLogit(&labels),
    ] {
        let (g, _) = clf.objective_gradient(tensor(&x, 1, 4), objective).unwrap();
        let g = host(&g);
        let value = |x: &[f32]| {
            let z = host(&clf.logits(tensor(x, 1, 4)).unwrap());
            objective.value(0, &z, 3)
        };
        for j in 0..4 {
            let h = 1e-2;
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[j] += h;
            down[j] -= h;
            let fd = (value(&up) - value(&down)) / (2.0 * h);
            assert!((fd - g[j]).abs() < 1e-3, "feature {j}: {fd} vs {}", g[j]);
        }
    }
}

/// A randomised defence: adds noise drawn from the pass's random stream.
struct Jitter;

impl Preprocessor for Jitter {
    fn name(&self) -> &str {
        "jitter"
    }
    fn forward(&self, x: Tensor<2>, rng: &mut ChaCha8Rng) -> avfoil::Result<Tensor<2>> {
        let [n, d] = x.dims();
        let noise: Vec<f32> = (0..n * d).map(|_| rng.random_range(-0.1..0.1)).collect();
        Ok(x + Tensor::from_data(TensorData::new(noise, [n, d]), &Device::flex()))
    }
}

#[test]
fn randomised_defences_draw_a_fresh_seeded_stream_each_pass_and_pass_gradients_straight_back() {
    let inner: Arc<dyn Classifier> = Arc::new(linear(&W, &B, 3, 4, None));
    let defended = |seed| Defended::new(inner.clone(), vec![Box::new(Jitter)]).with_seed(seed);
    let x = tensor(&[0.2, -0.4, 1.0, 0.6], 1, 4);
    let (a, b) = (defended(7), defended(7));
    let pass = |d: &Defended| host(&d.defend(x.clone()).unwrap().0);
    let (a1, a2) = (pass(&a), pass(&a));
    assert_ne!(a1, a2, "each pass draws anew");
    assert_eq!(
        (pass(&b), pass(&b)),
        (a1.clone(), a2),
        "same seed, same draws"
    );
    assert_ne!(pass(&defended(8)), a1);
    // BPDA: the gradient is the inner model's at the defended input.
    let c = defended(3);
    let (g, _) = c.loss_gradient_and_logits(x.clone(), &[1]).unwrap();
    let seen = {
        let replay = defended(3);
        replay.defend(x.clone()).unwrap().0
    };
    let want = inner.loss_gradient(seen, &[1]).unwrap();
    assert_eq!(host(&g), host(&want));
    assert_eq!(c.defence_names(), vec!["jitter".to_string()]);
    assert!(c.clip_session(&[0.0; 4], 0).unwrap().is_none());
}
