//! The Square attack: score queries only. Invariants (within eps, within the range, masked features
//! fixed, the input untouched, seeded), its p schedule, success on a model it can fool, and runs
//! through a defence no gradient passes (MP3) without BPDA.

mod common;

use avfoil::attack::{Attack, Common, Eps, Mask, Norm, Square};
use avfoil::classifier::{Classifier, Counting, Defended, Model, argmax_rows};
use avfoil::defence::Mp3Compression;
use avfoil::scale::AudioScale;
use common::*;
use std::sync::Arc;

fn square(eps: f32, queries: usize, seed: u64) -> Square {
    Square {
        common: Common {
            eps: Eps::Scalar(eps),
            eps_step: Eps::Scalar(eps),
            seed,
            ..Default::default()
        },
        max_queries: queries,
        p_init: 0.8,
    }
}

#[test]
fn the_window_fraction_halves_on_the_papers_schedule() {
    let s = square(0.1, 10_000, 0);
    assert_eq!(s.p_at(0, 10_000), 0.8);
    assert_eq!(s.p_at(11, 10_000), 0.4);
    assert_eq!(s.p_at(5000, 10_000), 0.8 / 128.0);
    assert_eq!(s.p_at(9999, 10_000), 0.8 / 512.0);
    // Scaled to the query budget.
    assert_eq!(s.p_at(6, 1000), 0.2);
}

/// A linear three-class model on [2, 8] inputs in [0, 1] (two channels): within the budget it
/// flips the decision using scores only; invariants hold, targeted too.
#[test]
fn it_fools_a_linear_model_within_the_budget_and_keeps_the_invariants() {
    let (k, d) = (3, 16);
    let w: Vec<f32> = (0..k * d)
        .map(|i| ((i * 29 % 13) as f32 - 6.0) / 3.0)
        .collect();
    let clf = linear_shaped(&w, &[0.0, 0.2, -0.1], k, &[2, 8], Some((0.0, 1.0)));
    let data: Vec<f32> = (0..4 * d)
        .map(|i| 0.3 + 0.4 * ((i * 7 % 5) as f32 / 5.0))
        .collect();
    let x = tensor(&data, 4, d);
    let clean = argmax_rows(clf.logits(x.clone()).unwrap());
    let mask = Mask::new((0..d).map(|j| if j % 5 == 0 { 0.0 } else { 1.0 }).collect()).unwrap();
    for targeted in [false, true] {
        let mut s = square(0.3, 400, 7);
        s.common.targeted = targeted;
        let labels: Vec<usize> = if targeted {
            clean.iter().map(|&c| (c + 1) % k).collect()
        } else {
            clean.clone()
        };
        let before = host(&x);
        let out = s.generate(&clf, &x, Some(&labels), Some(&mask)).unwrap();
        assert_eq!(host(&x), before, "the input changed");
        let adv = host(&out.adversarial);
        for (j, (&a, &c)) in adv.iter().zip(&data).enumerate() {
            assert!((a - c).abs() <= 0.3 + 1e-6 && (0.0..=1.0).contains(&a));
            if (j % d) % 5 == 0 {
                assert_eq!(a, c, "a masked feature moved");
            }
        }
        let pred = argmax_rows(clf.logits(out.adversarial.clone()).unwrap());
        let wins = pred
            .iter()
            .zip(&labels)
            .filter(|(p, l)| if targeted { p == l } else { p != l })
            .count();
        assert!(wins >= 3, "targeted {targeted}: {wins} of 4");
        let again = s.generate(&clf, &x, Some(&labels), Some(&mask)).unwrap();
        assert_eq!(host(&again.adversarial), adv, "not reproducible");
    }
}

/// Through MP3 (no gradient, no BPDA): the attack only asks the defended model for scores.
#[test]
fn it_runs_through_a_defence_without_gradients() {
    let device = burn::tensor::Device::flex();
    let model = Model::open("spoken-digits", &device).unwrap();
    let mp3 = Mp3Compression::new(8000, &[1, 8000], AudioScale::Int16, None).unwrap();
    let defended = Defended::new(Arc::clone(&model.classifier), vec![Box::new(mp3)]);
    let x = avfoil::media::npy::read_npy(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy"),
    )
    .unwrap();
    let x = x.to_tensor(4, &device);
    let out = square(512.0, 40, 1)
        .generate(&defended, &x, Some(&[1, 3, 5, 8]), None)
        .unwrap();
    let (a, b) = (host(&out.adversarial), host(&x));
    assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() <= 512.0 + 1e-3));
    assert!(a.iter().zip(&b).any(|(p, q)| p != q));
}

/// L2: the same linear model; every candidate stays within the L2 ball, the range and the mask,
/// and moving mass between windows finds the decision flip from scores alone.
#[test]
fn l2_fools_a_linear_model_within_the_l2_ball() {
    let (k, d) = (3, 16);
    let w: Vec<f32> = (0..k * d)
        .map(|i| ((i * 29 % 13) as f32 - 6.0) / 3.0)
        .collect();
    let clf = linear_shaped(&w, &[0.0, 0.2, -0.1], k, &[2, 8], Some((0.0, 1.0)));
    let data: Vec<f32> = (0..4 * d)
        .map(|i| 0.3 + 0.4 * ((i * 7 % 5) as f32 / 5.0))
        .collect();
    let x = tensor(&data, 4, d);
    let clean = argmax_rows(clf.logits(x.clone()).unwrap());
    let mask = Mask::new((0..d).map(|j| if j % 5 == 0 { 0.0 } else { 1.0 }).collect()).unwrap();
    let mut s = square(1.0, 400, 3);
    s.common.norm = avfoil::attack::Norm::L2;
    let out = s.generate(&clf, &x, Some(&clean), Some(&mask)).unwrap();
    let adv = host(&out.adversarial);
    for i in 0..4 {
        let row = &adv[i * d..(i + 1) * d];
        let l2: f32 = row
            .iter()
            .zip(&data[i * d..])
            .map(|(a, c)| (a - c).powi(2))
            .sum::<f32>()
            .sqrt();
        assert!(l2 <= 1.0 + 1e-4, "example {i}: L2 {l2}");
        for (j, (&a, &c)) in row.iter().zip(&data[i * d..]).enumerate() {
            assert!((0.0..=1.0).contains(&a));
            if j % 5 == 0 {
                assert_eq!(a, c, "a masked feature moved");
            }
        }
    }
    let pred = argmax_rows(clf.logits(out.adversarial.clone()).unwrap());
    let fooled = pred.iter().zip(&clean).filter(|(p, c)| p != c).count();
    assert!(fooled >= 3, "{fooled} of 4");
    let again = s.generate(&clf, &x, Some(&clean), Some(&mask)).unwrap();
    assert_eq!(host(&again.adversarial), adv, "not reproducible");
    // One example at a time gives the same bytes (per-example random streams).
    s.common.batch_size = 1;
    let single = s.generate(&clf, &x, Some(&clean), Some(&mask)).unwrap();
    assert_eq!(host(&single.adversarial), adv, "depends on the batch size");
}

/// The smallest L1 distance from `x` to another class's region of the linear model `w`, `b` within
/// [0, 1], features with `keep` zero fixed: FAB's exact L1 projection onto each boundary.
fn minimal_l1(w: &[f32], b: &[f32], k: usize, x: &[f32], y: usize, keep: &[f32]) -> f64 {
    let d = x.len();
    (0..k)
        .filter(|&l| l != y)
        .map(|l| {
            let dw: Vec<f32> = (0..d).map(|j| w[l * d + j] - w[y * d + j]).collect();
            let free: Vec<f32> = dw.iter().zip(keep).map(|(v, k)| v * k).collect();
            // The boundary dw·(x + δ) = b_y − b_l with the fixed features' share moved across.
            let fixed: f64 = (0..d)
                .filter(|&j| keep[j] == 0.0)
                .map(|j| dw[j] as f64 * x[j] as f64)
                .sum();
            let step = avfoil::attack::fab_projection::project(
                x,
                &free,
                (b[y] - b[l]) as f64 - fixed,
                0.0,
                1.0,
                Norm::L1,
            );
            step.iter().map(|v| v.abs()).sum::<f64>()
        })
        .fold(f64::INFINITY, f64::min)
}

/// L1: the same linear model; every output stays within the L1 ball (to 1e-4 relative), the range
/// and the mask; the model is asked exactly one forward pass per example and query while the
/// example is unfooled (no gradient); the same seed gives the same bytes, any batch size; and at
/// 1.25 times each example's minimal L1 distance to the boundary it fools them from scores alone.
#[test]
fn l1_fools_a_linear_model_within_the_l1_ball_counting_its_queries() {
    let (k, d, n) = (3, 16, 4);
    let w: Vec<f32> = (0..k * d)
        .map(|i| ((i * 29 % 13) as f32 - 6.0) / 3.0)
        .collect();
    let b = [0.0, 0.2, -0.1];
    let clf = linear_shaped(&w, &b, k, &[2, 8], Some((0.0, 1.0)));
    let data: Vec<f32> = (0..n * d)
        .map(|i| 0.3 + 0.4 * ((i * 7 % 5) as f32 / 5.0))
        .collect();
    let x = tensor(&data, n, d);
    let clean = argmax_rows(clf.logits(x.clone()).unwrap());
    let keep: Vec<f32> = (0..d).map(|j| if j % 5 == 0 { 0.0 } else { 1.0 }).collect();
    let mask = Mask::new(keep.clone()).unwrap();
    let minimal: Vec<f64> = (0..n)
        .map(|i| minimal_l1(&w, &b, k, &data[i * d..(i + 1) * d], clean[i], &keep))
        .collect();
    let eps: Vec<f32> = minimal.iter().map(|m| (1.25 * m) as f32).collect();
    let (queries, seed) = (400, 7);
    let mut s = square(1.0, queries, seed);
    s.common.norm = Norm::L1;
    s.common.eps = Eps::PerExample(eps.clone());
    s.common.eps_step = Eps::PerExample(eps.clone());
    let counting = Counting::new(&clf);
    let out = s
        .generate(&counting, &x, Some(&clean), Some(&mask))
        .unwrap();
    let adv = host(&out.adversarial);
    for i in 0..n {
        let row = &adv[i * d..(i + 1) * d];
        let l1: f32 = row
            .iter()
            .zip(&data[i * d..])
            .map(|(a, c)| (a - c).abs())
            .sum();
        assert!(
            l1 <= eps[i] * (1.0 + 1e-4),
            "example {i}: L1 {l1} > {}",
            eps[i]
        );
        assert!(l1 > 0.0, "example {i} unchanged");
        for (j, (&a, &c)) in row.iter().zip(&data[i * d..]).enumerate() {
            assert!((0.0..=1.0).contains(&a));
            if j % 5 == 0 {
                assert_eq!(a, c, "a masked feature moved");
            }
        }
    }
    // The start, then one query per example per round until it is fooled.
    let counts = counting.counts();
    let expected: usize = out
        .success_iteration
        .iter()
        .map(|q| q.map_or(queries, |q| q + 1))
        .sum();
    assert_eq!(
        (counts.forward_queries(), counts.gradient_queries()),
        (expected, 0)
    );
    let pred = argmax_rows(clf.logits(out.adversarial.clone()).unwrap());
    let fooled = pred.iter().zip(&clean).filter(|(p, c)| p != c).count();
    assert_eq!(fooled, n, "at L1 eps {eps:?} (minimal {minimal:?})");
    let again = s.generate(&clf, &x, Some(&clean), Some(&mask)).unwrap();
    assert_eq!(host(&again.adversarial), adv, "not reproducible");
    s.common.batch_size = 1;
    let single = s.generate(&clf, &x, Some(&clean), Some(&mask)).unwrap();
    assert_eq!(host(&single.adversarial), adv, "depends on the batch size");
    // Below each example's minimal distance nothing can be fooled, whatever the search does.
    let below: Vec<f32> = minimal.iter().map(|m| (0.9 * m) as f32).collect();
    s.common.eps = Eps::PerExample(below.clone());
    s.common.eps_step = Eps::PerExample(below);
    let out = s.generate(&clf, &x, Some(&clean), Some(&mask)).unwrap();
    assert_eq!(argmax_rows(clf.logits(out.adversarial).unwrap()), clean);
}

/// Any classifier, without its local sessions: only batch forward passes.
struct BatchOnly<'a>(&'a dyn Classifier);

impl Classifier for BatchOnly<'_> {
    fn num_classes(&self) -> usize {
        self.0.num_classes()
    }
    fn input_shape(&self) -> &[usize] {
        self.0.input_shape()
    }
    fn clip(&self) -> Option<(f32, f32)> {
        self.0.clip()
    }
    fn device(&self) -> &burn::tensor::Device {
        self.0.device()
    }
    fn logits(&self, x: burn::tensor::Tensor<2>) -> avfoil::Result<burn::tensor::Tensor<2>> {
        self.0.logits(x)
    }
    fn objective_gradient(
        &self,
        x: burn::tensor::Tensor<2>,
        objective: &dyn avfoil::classifier::Objective,
    ) -> avfoil::Result<(burn::tensor::Tensor<2>, burn::tensor::Tensor<2>)> {
        self.0.objective_gradient(x, objective)
    }
}

/// L∞ on the shipped RawAudioCNN, whose host kernel keeps activations (each try recomputes only
/// what its window reaches): the bytes, success iterations and number of model outputs of plain
/// batch forward passes, at a budget that fools nothing and at one that fools the second digit
/// mid-search (so it leaves the batch while the first goes on).
#[test]
fn local_sessions_give_the_batch_passes_bytes() {
    let device = burn::tensor::Device::flex();
    let model = Model::open("spoken-digits", &device).unwrap();
    let clf = model.classifier.as_ref();
    let x = avfoil::media::npy::read_npy(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy"),
    )
    .unwrap()
    .to_tensor(4, &device);
    let x = x.narrow(0, 0, 2);
    let labels = [1, 3];
    for eps in [16.0, 200.0] {
        let s = square(eps, 40, 9);
        let kept = Counting::new(clf);
        let a = s.generate(&kept, &x, Some(&labels), None).unwrap();
        let batch_only = BatchOnly(clf);
        let plain = Counting::new(&batch_only);
        let b = s.generate(&plain, &x, Some(&labels), None).unwrap();
        assert_eq!(host(&a.adversarial), host(&b.adversarial), "eps {eps}");
        assert_eq!(a.success_iteration, b.success_iteration, "eps {eps}");
        let (k, p) = (kept.counts(), plain.counts());
        assert_eq!(k.forward_queries(), p.forward_queries(), "eps {eps}");
        assert_eq!((k.sessions, k.forward_rows, p.sessions), (2, 0, 0));
        if eps > 100.0 {
            let mid = a.success_iteration.iter().flatten().any(|&q| q > 0);
            assert!(mid, "nothing fooled mid-search: {:?}", a.success_iteration);
        }
    }
}
