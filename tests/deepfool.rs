//! DeepFool: on a linear model its first step lands exactly on the decision boundary (closed form),
//! overshot; the budget caps it; masks, the input and the range are respected; and on the shipped
//! model it finds perturbations that fool every digit, smaller than PGD's at the same success.

mod common;

use avfoil::attack::{Attack, Common, DeepFool, Eps, Mask, Norm, Projection};
use avfoil::classifier::{Classifier, Model, argmax_rows};
use common::*;

fn deepfool(norm: Norm, eps: f32, overshoot: f32) -> DeepFool {
    DeepFool {
        common: Common {
            norm,
            eps: Eps::Scalar(eps),
            eps_step: Eps::Scalar(eps),
            projection: Projection::Radial,
            ..Default::default()
        },
        max_iter: 50,
        overshoot,
        nb_grads: 10,
    }
}

#[test]
fn on_a_linear_model_it_steps_exactly_to_the_boundary() {
    let (k, d) = (2, 4);
    let w = [0.5f32, -1.0, 2.0, 0.25, -0.5, 1.0, -1.0, 0.75];
    let b = [0.3f32, -0.1];
    let clf = linear(&w, &b, k, d, None);
    let xs = [0.2f32, 0.4, 0.1, -0.3];
    let x = tensor(&xs, 1, d);
    let z = host(&clf.logits(x.clone()).unwrap());
    let y = if z[0] > z[1] { 0 } else { 1 };
    let other = 1 - y;
    let dw: Vec<f32> = (0..d).map(|j| w[other * d + j] - w[y * d + j]).collect();
    let f = z[other] - z[y];
    let norm2 = dw.iter().map(|v| v * v).sum::<f32>();
    let out = deepfool(Norm::L2, 100.0, 0.0)
        .generate(&clf, &x, None, None)
        .unwrap();
    let adv = host(&out.adversarial);
    for j in 0..d {
        let want = xs[j] + (f.abs() + 1e-4) / norm2 * dw[j];
        assert!(
            (adv[j] - want).abs() < 1e-5,
            "feature {j}: {} vs {want}",
            adv[j]
        );
    }
    assert_eq!(
        argmax_rows(clf.logits(out.adversarial).unwrap()),
        vec![other]
    );
}

#[test]
fn the_budget_caps_it_and_masks_and_inputs_are_respected() {
    let (k, d) = (3, 6);
    let w: Vec<f32> = (0..k * d)
        .map(|i| ((i * 11 % 7) as f32 - 3.0) / 2.0)
        .collect();
    let clf = linear(&w, &[0.0, 0.1, -0.1], k, d, Some((0.0, 1.0)));
    let xs: Vec<f32> = (0..2 * d)
        .map(|i| 0.2 + 0.6 * ((i * 5 % 7) as f32 / 7.0))
        .collect();
    let x = tensor(&xs, 2, d);
    let mask = Mask::new(vec![1.0, 1.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
    for norm in [Norm::L2, Norm::Inf] {
        let out = deepfool(norm, 0.05, 0.02)
            .generate(&clf, &x, None, Some(&mask))
            .unwrap();
        assert_eq!(host(&x), xs, "the input changed");
        let adv = host(&out.adversarial);
        for i in 0..2 {
            let delta: Vec<f64> = (0..d)
                .map(|j| (adv[i * d + j] - xs[i * d + j]) as f64)
                .collect();
            let size = match norm {
                Norm::Inf => delta.iter().fold(0f64, |m, v| m.max(v.abs())),
                _ => delta.iter().map(|v| v * v).sum::<f64>().sqrt(),
            };
            assert!(size <= 0.05 + 1e-5, "{norm}: {size}");
            assert!(delta[2] == 0.0 && delta[5] == 0.0);
        }
        assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

#[test]
fn it_fools_every_digit_of_the_shipped_model() {
    let device = burn::tensor::Device::flex();
    let model = Model::open("spoken-digits", &device).unwrap();
    let clf = model.classifier.as_ref();
    let x = avfoil::media::npy::read_npy(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy"),
    )
    .unwrap()
    .to_tensor(4, &device);
    let out = deepfool(Norm::L2, 1e6, 0.02)
        .generate(clf, &x, Some(&[1, 3, 5, 8]), None)
        .unwrap();
    let pred = argmax_rows(clf.logits(out.adversarial.clone()).unwrap());
    assert!(
        pred.iter().zip([1, 3, 5, 8]).all(|(p, t)| *p != t),
        "{pred:?}"
    );
    // Far below the signal: at least 20 dB SNR on every digit.
    let (a, c) = (host(&out.adversarial), host(&x));
    for i in 0..4 {
        let (s, n): (f64, f64) = (0..8000)
            .map(|j| {
                let (v, u) = (c[i * 8000 + j] as f64, a[i * 8000 + j] as f64);
                (v * v, (u - v) * (u - v))
            })
            .fold((0.0, 0.0), |(p, q), (v, e)| (p + v, q + e));
        assert!(
            10.0 * (s / n).log10() > 20.0,
            "digit {i}: SNR {}",
            10.0 * (s / n).log10()
        );
    }
}
