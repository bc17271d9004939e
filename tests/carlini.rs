//! C&W L2: on a linear model it finds a perturbation close to the exact distance to the boundary
//! (closed form), meets its confidence, respects masks, the range and the input; without an input
//! range it refuses, naming why.

mod common;

use avfoil::attack::carlini::CarliniSpec;
use avfoil::attack::{Attack, Carlini, Common, Eps, Mask, Norm, Projection};
use avfoil::classifier::{Classifier, argmax_rows};
use common::*;

fn cw(confidence: f32, targeted: bool) -> Carlini {
    Carlini {
        common: Common {
            norm: Norm::L2,
            eps: Eps::Scalar(100.0),
            eps_step: Eps::Scalar(100.0),
            targeted,
            projection: Projection::Radial,
            ..Default::default()
        },
        spec: CarliniSpec {
            confidence,
            learning_rate: 0.05,
            binary_search_steps: 8,
            max_iter: 60,
            initial_const: 0.1,
        },
    }
}

#[test]
fn it_nears_the_exact_distance_on_a_linear_model_and_keeps_the_invariants() {
    let (k, d) = (2, 4);
    let w = [0.5f32, -1.0, 2.0, 0.25, -0.5, 1.0, -1.0, 0.75];
    let clf = linear(&w, &[0.0, 0.0], k, d, Some((-1.0, 1.0)));
    let xs = [0.2f32, -0.1, 0.3, 0.1];
    let x = tensor(&xs, 1, d);
    let z = host(&clf.logits(x.clone()).unwrap());
    let y = if z[0] > z[1] { 0 } else { 1 };
    let dw: Vec<f32> = (0..d).map(|j| w[(1 - y) * d + j] - w[y * d + j]).collect();
    let exact = (z[y] - z[1 - y]) / dw.iter().map(|v| v * v).sum::<f32>().sqrt();
    for confidence in [0.0f32, 0.5] {
        let out = cw(confidence, false)
            .generate(&clf, &x, None, None)
            .unwrap();
        let adv = host(&out.adversarial);
        let zl = host(&clf.logits(out.adversarial.clone()).unwrap());
        assert!(
            zl[1 - y] - zl[y] >= confidence - 1e-4,
            "confidence {confidence}: {zl:?}"
        );
        let l2 = adv
            .iter()
            .zip(&xs)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f32>()
            .sqrt();
        let want = exact + confidence / dw.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(
            l2 >= want - 1e-4 && l2 <= 1.3 * want,
            "L2 {l2}, exact {want}"
        );
        assert!(adv.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
    assert_eq!(host(&x), xs, "the input changed");
}

#[test]
fn targeted_and_masked() {
    let (k, d) = (3, 6);
    let w: Vec<f32> = (0..k * d)
        .map(|i| ((i * 11 % 7) as f32 - 3.0) / 2.0)
        .collect();
    let clf = linear(&w, &[0.0, 0.1, -0.1], k, d, Some((0.0, 1.0)));
    let xs: Vec<f32> = (0..2 * d)
        .map(|i| 0.3 + 0.4 * ((i * 5 % 7) as f32 / 7.0))
        .collect();
    let x = tensor(&xs, 2, d);
    let clean = argmax_rows(clf.logits(x.clone()).unwrap());
    let targets: Vec<usize> = clean.iter().map(|&c| (c + 1) % k).collect();
    let mask = Mask::new(vec![1.0, 1.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
    let out = cw(0.0, true)
        .generate(&clf, &x, Some(&targets), Some(&mask))
        .unwrap();
    let adv = host(&out.adversarial);
    for i in 0..2 {
        assert_eq!(adv[i * d + 2], xs[i * d + 2], "a masked feature moved");
    }
    let pred = argmax_rows(clf.logits(out.adversarial).unwrap());
    assert_eq!(pred, targets);
}

#[test]
fn without_an_input_range_it_refuses() {
    let clf = linear(&[1.0, -1.0, -1.0, 1.0], &[0.0, 0.0], 2, 2, None);
    let e = cw(0.0, false)
        .generate(&clf, &tensor(&[0.1, 0.2], 1, 2), None, None)
        .unwrap_err();
    assert!(e.to_string().contains("input.clip"), "{e}");
}
