//! C&W L∞: on a linear model its L∞ perturbation comes within a few percent of the exact L∞
//! distance to the boundary, |f(x)| / ‖w‖₁ (closed form), meets its confidence, respects masks,
//! the range, the input and eps, does not depend on the batch size, and refuses bad parameters.

mod common;

use avfoil::attack::carlini_linf::CarliniLinfSpec;
use avfoil::attack::{Attack, CarliniLinf, Common, Eps, Mask, Norm, Projection};
use avfoil::classifier::{Classifier, argmax_rows};
use avfoil::params::Params;
use common::*;

fn cw(eps: f32, confidence: f32, targeted: bool, batch_size: usize) -> CarliniLinf {
    CarliniLinf {
        common: Common {
            norm: Norm::Inf,
            eps: Eps::Scalar(eps),
            eps_step: Eps::Scalar(eps),
            targeted,
            batch_size,
            projection: Projection::Radial,
            ..Default::default()
        },
        spec: CarliniLinfSpec {
            confidence,
            learning_rate: 0.01,
            max_iter: 100,
            decrease_factor: 0.9,
            initial_const: 1e-3,
            largest_const: 20.0,
            const_factor: 2.0,
        },
    }
}

fn linf(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Two classes on six features in [-1, 1]; three examples whose boundary is within reach.
fn setup() -> (
    avfoil::classifier::NeuralClassifier,
    Vec<f32>,
    Vec<f32>,
    usize,
) {
    let d = 6;
    let w = [
        0.5f32, -1.0, 2.0, 0.25, -0.5, 1.0, -0.5, 1.0, -1.0, 0.75, 0.5, -1.0,
    ];
    let clf = linear(&w, &[0.1, 0.0], 2, d, Some((-1.0, 1.0)));
    let xs = vec![
        0.2f32, -0.1, 0.3, 0.1, 0.0, 0.2, //
        -0.1, 0.1, -0.2, 0.3, 0.1, -0.3, //
        0.05, 0.0, 0.1, -0.1, 0.2, 0.1,
    ];
    (clf, w.to_vec(), xs, d)
}

#[test]
fn it_nears_the_exact_linf_distance_and_meets_the_confidence() {
    let (clf, w, xs, d) = setup();
    let n = xs.len() / d;
    let x = tensor(&xs, n, d);
    let z = host(&clf.logits(x.clone()).unwrap());
    let dw: Vec<f32> = (0..d).map(|j| w[d + j] - w[j]).collect();
    let l1: f32 = dw.iter().map(|v| v.abs()).sum();
    for confidence in [0.0f32, 0.3] {
        let out = cw(10.0, confidence, false, 8)
            .generate(&clf, &x, None, None)
            .unwrap();
        let adv = host(&out.adversarial);
        let zl = host(&clf.logits(out.adversarial.clone()).unwrap());
        for i in 0..n {
            let y = if z[2 * i] > z[2 * i + 1] { 0 } else { 1 };
            let margin = (z[2 * i + y] - z[2 * i + 1 - y]) + confidence;
            // The exact L∞ distance to where the other class wins by κ: the box does not bind.
            let exact = margin / l1;
            let got = linf(&adv[i * d..(i + 1) * d], &xs[i * d..(i + 1) * d]);
            assert!(
                zl[2 * i + 1 - y] - zl[2 * i + y] >= confidence - 1e-4,
                "example {i}, confidence {confidence}: {zl:?}"
            );
            assert!(
                got >= exact * 0.999 && got <= exact * 1.12,
                "example {i}, confidence {confidence}: L∞ {got}, exact {exact}"
            );
            assert!(
                adv[i * d..(i + 1) * d]
                    .iter()
                    .all(|v| (-1.0..=1.0).contains(v))
            );
        }
    }
}

#[test]
fn it_keeps_the_invariants_and_does_not_depend_on_the_batch_size() {
    let (clf, _, xs, d) = setup();
    let n = xs.len() / d;
    let x = tensor(&xs, n, d);
    let before = host(&x);
    let mask = Mask::new(vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0]).unwrap();
    let whole = cw(10.0, 0.0, false, 8)
        .generate(&clf, &x, None, Some(&mask))
        .unwrap();
    assert_eq!(host(&x), before, "the input changed");
    let adv = host(&whole.adversarial);
    for (q, (a, b)) in adv.iter().zip(&xs).enumerate() {
        if q % d == 1 || q % d == 4 {
            assert_eq!(a, b, "masked feature {q} moved");
        }
    }
    let one = cw(10.0, 0.0, false, 1)
        .generate(&clf, &x, None, Some(&mask))
        .unwrap();
    assert_eq!(host(&one.adversarial), adv, "batch size changed the result");
    // A budget below every example's distance: within eps, and nothing is fooled.
    let small = cw(0.01, 0.0, false, 8)
        .generate(&clf, &x, None, None)
        .unwrap();
    let clean = argmax_rows(clf.logits(x.clone()).unwrap());
    let adv = host(&small.adversarial);
    for i in 0..n {
        assert!(linf(&adv[i * d..(i + 1) * d], &xs[i * d..(i + 1) * d]) <= 0.01 + 1e-6);
    }
    assert_eq!(argmax_rows(clf.logits(small.adversarial).unwrap()), clean);
}

#[test]
fn targeted_it_reaches_the_target() {
    let (k, d) = (3, 4);
    let w = [
        1.0f32, 0.0, 0.5, -0.5, 0.0, 1.0, -0.5, 0.5, -0.5, -0.5, 1.0, 1.0,
    ];
    let clf = linear(&w, &[0.0, 0.0, 0.0], k, d, Some((0.0, 1.0)));
    let xs = [0.6f32, 0.3, 0.4, 0.4, 0.5, 0.5, 0.5, 0.5];
    let x = tensor(&xs, 2, d);
    let clean = argmax_rows(clf.logits(x.clone()).unwrap());
    let targets: Vec<usize> = clean.iter().map(|c| (c + 1) % k).collect();
    let out = cw(1.0, 0.0, true, 8)
        .generate(&clf, &x, Some(&targets), None)
        .unwrap();
    assert_eq!(argmax_rows(clf.logits(out.adversarial).unwrap()), targets);
}

#[test]
fn bad_parameters_are_refused_by_name() {
    for (table, key) in [
        ("decrease_factor = 1.5", "decrease_factor"),
        ("const_factor = 1.0", "const_factor"),
        ("largest_const = 1e-6", "largest_const"),
        ("max_iter = 0", "max_iter"),
        ("learning_rate = -1.0", "learning_rate"),
    ] {
        let table: toml::Table = toml::from_str(table).unwrap();
        let err = avfoil::attack::spec::parse("cw-linf", &mut Params::from_inline(table))
            .expect_err(key)
            .to_string();
        assert!(err.contains(key), "{err}");
    }
    let (clf, _, xs, d) = setup();
    let bare = linear(&[1.0; 12], &[0.0, 0.0], 2, d, None);
    let err = cw(1.0, 0.0, false, 8)
        .generate(&bare, &tensor(&xs, 3, d), None, None)
        .expect_err("no clip")
        .to_string();
    assert!(err.contains("input.clip"), "{err}");
    drop(clf);
}
