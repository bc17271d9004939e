//! Auto-PGD: its invariants (within eps, within range, masked features fixed, input untouched,
//! seeded), its step-size schedule, and that it is at least as strong as PGD with the same budget
//! of gradients on a real model, in every mode (CE, DLR, targeted, APGD-T).

mod common;

use avfoil::attack::apgd::ApgdLoss;
use avfoil::attack::{Apgd, Attack, Common, Eps, Mask, Norm, Pgd};
use avfoil::classifier::{Model, argmax_rows};
use avfoil::media::npy::read_npy;
use burn::tensor::{Device, Tensor};
use common::*;
use std::path::Path;

fn apgd(eps: f32, norm: Norm, loss: ApgdLoss, iters: usize) -> Apgd {
    Apgd {
        common: Common {
            norm,
            eps: Eps::Scalar(eps),
            eps_step: Eps::Scalar(2.0 * eps),
            ..Default::default()
        },
        max_iter: iters,
        loss,
        target_classes: 0,
    }
}

#[test]
fn the_checkpoints_are_the_papers() {
    assert_eq!(Apgd::checkpoints(100), vec![22, 41, 57, 70, 80, 87, 93, 99]);
    assert_eq!(Apgd::checkpoints(10), vec![3, 5, 6, 7, 8, 9, 10]);
}

/// A linear four-class model on 6 features in [0, 1]: every mode stays within eps and the range,
/// keeps masked features, leaves the input alone and repeats itself for a seed.
#[test]
fn every_mode_keeps_the_invariants() {
    let (k, d) = (4, 6);
    let w: Vec<f32> = (0..k * d)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 4.0)
        .collect();
    let clf = linear(&w, &[0.1, -0.2, 0.3, 0.0], k, d, Some((0.0, 1.0)));
    let data: Vec<f32> = (0..3 * d).map(|i| (i * 13 % 10) as f32 / 10.0).collect();
    let x = tensor(&data, 3, d);
    let mask = Mask::new(vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0]).unwrap();
    for norm in [Norm::Inf, Norm::L2] {
        for (loss, targeted, auto) in [
            (ApgdLoss::CrossEntropy, false, 0),
            (ApgdLoss::Dlr, false, 0),
            (ApgdLoss::CrossEntropy, true, 0),
            (ApgdLoss::Dlr, true, 0),
            (ApgdLoss::Dlr, false, 3),
        ] {
            let mut a = apgd(0.2, norm, loss, 12);
            a.common.targeted = targeted;
            a.common.num_random_init = 2;
            a.common.seed = 5;
            a.target_classes = auto;
            let labels = targeted.then_some(&[1usize, 2, 3][..]);
            let before = host(&x);
            let out = a.generate(&clf, &x, labels, Some(&mask)).unwrap();
            assert_eq!(host(&x), before, "the input changed");
            let adv = host(&out.adversarial);
            for i in 0..3 {
                let delta: Vec<f64> = (0..d)
                    .map(|j| (adv[i * d + j] - data[i * d + j]) as f64)
                    .collect();
                let size = match norm {
                    Norm::Inf => delta.iter().fold(0f64, |m, v| m.max(v.abs())),
                    _ => delta.iter().map(|v| v * v).sum::<f64>().sqrt(),
                };
                assert!(size <= 0.2 + 1e-5, "{norm} {loss:?}: size {size}");
                assert!(delta[1] == 0.0 && delta[4] == 0.0, "masked feature moved");
            }
            assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)));
            let again = a.generate(&clf, &x, labels, Some(&mask)).unwrap();
            assert_eq!(host(&again.adversarial), adv, "not reproducible");
        }
    }
}

/// On the shipped spoken-digits model and its four bundled digits, at budgets where PGD leaves
/// some digits right: APGD (CE and DLR, and APGD-T) fools at least as many with as many gradients.
#[test]
fn apgd_is_at_least_as_strong_as_pgd_on_a_real_model() {
    let device = Device::flex();
    let model = Model::open("spoken-digits", &device).unwrap();
    let clf = model.classifier.as_ref();
    let x = read_npy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy"))
        .unwrap();
    let x: Tensor<2> = x.to_tensor(4, &device);
    let truth = [1usize, 3, 5, 8];
    let fooled = |adv: Tensor<2>| -> usize {
        let p = argmax_rows(clf.logits(adv).unwrap());
        p.iter().zip(truth).filter(|(a, b)| **a != *b).count()
    };
    for eps in [6.0f32] {
        let pgd = Pgd {
            common: Common {
                eps: Eps::Scalar(eps),
                eps_step: Eps::Scalar(eps / 4.0),
                ..Default::default()
            },
            max_iter: 20,
            ..Default::default()
        };
        let p = fooled(
            pgd.generate(clf, &x, Some(&truth), None)
                .unwrap()
                .adversarial,
        );
        for (loss, auto) in [
            (ApgdLoss::CrossEntropy, 0),
            (ApgdLoss::Dlr, 0),
            (ApgdLoss::Dlr, 3),
        ] {
            let mut a = apgd(eps, Norm::Inf, loss, 20);
            a.target_classes = auto;
            let out = a.generate(clf, &x, Some(&truth), None).unwrap();
            let q = fooled(out.adversarial);
            assert!(
                q >= p,
                "eps {eps} {loss:?} (targets {auto}): APGD fools {q}, PGD {p}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// L1-APGD (Croce and Hein 2021): the projection onto the L1 ball ∩ the box, and the attack.

use avfoil::attack::geometry::{Projection, project, project_l1_box_row};
use avfoil::classifier::Classifier;

/// An independent reference for the projection of `v` onto {δ : ‖δ‖₁ ≤ eps, lo ≤ x + δ ≤ hi}:
/// the threshold θ of `sign(v)·clamp(|v| − θ, 0, room)` by bisection on the L1 norm.
fn projection_by_bisection(v: &[f32], x: &[f32], eps: f64, lo: f64, hi: f64) -> Vec<f64> {
    let room: Vec<f64> = v
        .iter()
        .zip(x)
        .map(|(&vi, &xi)| {
            if vi > 0.0 {
                hi - xi as f64
            } else {
                xi as f64 - lo
            }
        })
        .collect();
    let at = |theta: f64| -> Vec<f64> {
        v.iter()
            .zip(&room)
            .map(|(&vi, &r)| (vi.abs() as f64 - theta).clamp(0.0, r) * (vi as f64).signum())
            .collect()
    };
    let l1 = |d: &[f64]| d.iter().map(|a| a.abs()).sum::<f64>();
    if l1(&at(0.0)) <= eps {
        return at(0.0);
    }
    let (mut a, mut b) = (0.0, v.iter().fold(0f64, |m, x| m.max(x.abs() as f64)));
    for _ in 0..200 {
        let mid = 0.5 * (a + b);
        if l1(&at(mid)) > eps { a = mid } else { b = mid }
    }
    at(b)
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// On random points, perturbations and radii: the projection lies in the box and the L1 ball,
/// equals the bisection reference, and is at least as close to the perturbation as random
/// feasible points.
#[test]
fn the_l1_box_projection_is_the_nearest_feasible_point() {
    let mut rng = Lcg(11);
    for case in 0..300 {
        let d = 1 + case % 13;
        let x = rng.vec(d, 0.0, 1.0);
        let scale = [0.1, 1.0, 3.0][case % 3];
        let v = rng.vec(d, -scale, scale);
        let eps = rng.range(0.0, 1.5 * scale * d as f32 / 2.0);
        let delta = project_l1_box_row(&v, &x, eps, Some((0.0, 1.0)));
        let l1: f64 = delta.iter().map(|a| a.abs()).sum();
        assert!(
            l1 <= eps as f64 * (1.0 + 1e-12) + 1e-12,
            "case {case}: {l1} > {eps}"
        );
        for j in 0..d {
            let p = x[j] as f64 + delta[j];
            assert!(
                (-1e-12..=1.0 + 1e-12).contains(&p),
                "case {case}: out of the box"
            );
        }
        let reference = projection_by_bisection(&v, &x, eps as f64, 0.0, 1.0);
        for j in 0..d {
            assert!(
                (delta[j] - reference[j]).abs() < 1e-9,
                "case {case}: {delta:?} vs {reference:?}"
            );
        }
        let target: Vec<f64> = v.iter().map(|&a| a as f64).collect();
        let own = dist2(&delta, &target);
        for _ in 0..20 {
            // A random point of the box, pulled into the ball towards x (the box contains x).
            let q: Vec<f64> = x
                .iter()
                .map(|&xi| rng.range(0.0, 1.0) as f64 - xi as f64)
                .collect();
            let n: f64 = q.iter().map(|a| a.abs()).sum();
            let f = if n > eps as f64 { eps as f64 / n } else { 1.0 };
            let q: Vec<f64> = q.iter().map(|a| a * f).collect();
            assert!(
                own <= dist2(&q, &target) + 1e-9,
                "case {case}: a feasible point is closer"
            );
        }
    }
}

/// When clipping to the box already lands in the ball, the projection is that clipping; without a
/// box it is the plain L1-ball projection; a zero radius gives zero.
#[test]
fn the_l1_box_projection_reduces_to_clipping_and_to_the_l1_ball() {
    let x = [0.5f32, 0.9, 0.1, 0.0];
    let v = [0.3f32, 0.5, -0.4, 0.2];
    let clipped = [0.3, 0.1, -0.1, 0.2];
    let delta = project_l1_box_row(&v, &x, 0.8, Some((0.0, 1.0)));
    for j in 0..4 {
        assert!((delta[j] - clipped[j]).abs() < 1e-7, "{delta:?}");
    }
    assert!(
        project_l1_box_row(&v, &x, 0.0, Some((0.0, 1.0)))
            .iter()
            .all(|&a| a == 0.0)
    );
    let mut rng = Lcg(3);
    for _ in 0..50 {
        let v = rng.vec(9, -2.0, 2.0);
        let eps = rng.range(0.1, 6.0);
        let free = project_l1_box_row(&v, &[0.0; 9], eps, None);
        let exact = host(&project(
            tensor(&v, 1, 9),
            tensor(&[eps], 1, 1),
            Norm::L1,
            Projection::ExactL1,
        ));
        for j in 0..9 {
            assert!(
                (free[j] - exact[j] as f64).abs() < 1e-5,
                "{free:?} vs {exact:?}"
            );
        }
    }
}

fn l1_apgd(eps: f32, loss: ApgdLoss, iters: usize) -> Apgd {
    let mut a = apgd(eps, Norm::L1, loss, iters);
    a.common.eps_step = Eps::Scalar(eps);
    a
}

/// A linear four-class model on 6 features in [0, 1]: L1-APGD in every mode stays within the L1
/// ball and the box, keeps masked features, leaves the input alone, repeats itself for a seed and
/// gives the same bytes one example at a time as eight at once.
#[test]
fn l1_apgd_keeps_the_invariants() {
    let (k, d, n) = (4, 6, 8);
    let w: Vec<f32> = (0..k * d)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 4.0)
        .collect();
    let clf = linear(&w, &[0.1, -0.2, 0.3, 0.0], k, d, Some((0.0, 1.0)));
    let data: Vec<f32> = (0..n * d).map(|i| (i * 13 % 11) as f32 / 10.0).collect();
    let x = tensor(&data, n, d);
    let mask = Mask::new(vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0]).unwrap();
    let eps = 0.7;
    for (loss, targeted, auto) in [
        (ApgdLoss::CrossEntropy, false, 0),
        (ApgdLoss::Dlr, false, 0),
        (ApgdLoss::CrossEntropy, true, 0),
        (ApgdLoss::Dlr, true, 0),
        (ApgdLoss::Dlr, false, 3),
    ] {
        let mut a = l1_apgd(eps, loss, 25);
        a.common.targeted = targeted;
        a.common.num_random_init = 2;
        a.common.seed = 5;
        a.target_classes = auto;
        let targets: Vec<usize> = (0..n).map(|i| 1 + i % 3).collect();
        let labels = targeted.then_some(&targets[..]);
        let before = host(&x);
        let out = a.generate(&clf, &x, labels, Some(&mask)).unwrap();
        assert_eq!(host(&x), before, "the input changed");
        let adv = host(&out.adversarial);
        for i in 0..n {
            let delta: Vec<f64> = (0..d)
                .map(|j| (adv[i * d + j] - data[i * d + j]) as f64)
                .collect();
            let size: f64 = delta.iter().map(|v| v.abs()).sum();
            assert!(size <= eps as f64 + 1e-5, "{loss:?}: L1 size {size}");
            assert!(delta[1] == 0.0 && delta[4] == 0.0, "masked feature moved");
        }
        assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(adv != data, "{loss:?}: nothing moved");
        let again = a.generate(&clf, &x, labels, Some(&mask)).unwrap();
        assert_eq!(host(&again.adversarial), adv, "not reproducible");
        a.common.batch_size = 1;
        let single = a.generate(&clf, &x, labels, Some(&mask)).unwrap();
        a.common.batch_size = 8;
        let eight = a.generate(&clf, &x, labels, Some(&mask)).unwrap();
        assert_eq!(
            host(&single.adversarial),
            host(&eight.adversarial),
            "{loss:?}: batch size 1 and 8 differ"
        );
    }
}

/// The smallest L1 perturbation that makes a linear two-class model (class 0 at x) prefer class 1:
/// spend the budget on the coordinates of largest |w₁ − w₀| first, each as far as the box [0, 1]
/// lets it move in the direction of w₁ − w₀ (a fractional knapsack).
fn minimal_l1_to_cross(w: &[f32], b: &[f32], x: &[f32]) -> f64 {
    let d = x.len();
    let c: Vec<f64> = (0..d).map(|j| (w[d + j] - w[j]) as f64).collect();
    let mut margin: f64 = (0..d).map(|j| -c[j] * x[j] as f64).sum::<f64>() + (b[0] - b[1]) as f64;
    assert!(margin > 0.0, "class 0 must be predicted");
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| c[j].abs().total_cmp(&c[i].abs()));
    let mut spent = 0.0;
    for j in order {
        let room = if c[j] > 0.0 {
            1.0 - x[j] as f64
        } else {
            x[j] as f64
        };
        let gain = c[j].abs() * room;
        if gain >= margin {
            return spent + margin / c[j].abs();
        }
        margin -= gain;
        spent += room;
    }
    f64::INFINITY
}

/// Closed form: on a linear two-class model in [0, 1]⁸, L1-APGD fools the example at 5% above the
/// minimal L1 distance to the boundary (where the largest |w₁ − w₀| has little room in the box, so
/// the box matters), and cannot below it.
#[test]
fn l1_apgd_crosses_at_the_minimal_l1_distance() {
    let d = 8;
    let w0 = [0.0f32; 8];
    let w1 = [0.2f32, 3.0, -1.0, 0.5, 0.1, -0.3, 2.0, 0.0];
    let w: Vec<f32> = w0.iter().chain(&w1).copied().collect();
    let x = [0.5f32, 0.9, 0.5, 0.2, 0.5, 0.5, 0.97, 0.3];
    let logit1: f64 = (0..d).map(|j| (w1[j] * x[j]) as f64).sum();
    let b = [(logit1 + 0.8) as f32, 0.0];
    let clf = linear(&w, &b, 2, d, Some((0.0, 1.0)));
    let minimal = minimal_l1_to_cross(&w, &b, &x);
    assert!(minimal > 0.3 && minimal < 1.0, "{minimal}");
    let input = tensor(&x, 1, d);
    let fooled = |eps: f32| {
        let out = l1_apgd(eps, ApgdLoss::CrossEntropy, 50)
            .generate(&clf, &input, Some(&[0]), None)
            .unwrap();
        let adv = host(&out.adversarial);
        let size: f64 = adv.iter().zip(&x).map(|(a, b)| (a - b).abs() as f64).sum();
        assert!(size <= eps as f64 + 1e-5);
        argmax_rows(clf.logits(out.adversarial).unwrap())[0] == 1
    };
    assert!(
        fooled((minimal * 1.05) as f32),
        "not fooled above {minimal}"
    );
    assert!(!fooled((minimal * 0.95) as f32), "fooled below {minimal}");
}

/// The CLI on the shipped model: `--param norm=1` runs L1-APGD and fools at least one digit within
/// the L1 budget.
#[test]
fn the_cli_runs_l1_apgd_on_the_shipped_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adv.npy");
    let eps = 200000.0;
    let report = ok_json(&[
        "attack",
        "--model",
        "spoken-digits",
        "--attack",
        "apgd",
        "--param",
        "norm=1",
        "--eps",
        "200000",
        "--param",
        "max_iter=20",
        "--out",
        s(&out),
        "examples/spoken-digits.npy",
        "--json",
    ]);
    let clean = read_npy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy"))
        .unwrap();
    let adv = read_npy(&out).unwrap();
    let d = 8000;
    for i in 0..4 {
        let size: f64 = (0..d)
            .map(|j| (adv.data[i * d + j] - clean.data[i * d + j]).abs() as f64)
            .sum();
        assert!(size <= eps * (1.0 + 1e-5), "example {i}: L1 size {size}");
    }
    assert_eq!(report["attack"]["norm"], "1", "{report}");
    assert_eq!(report["attack"]["projection"], "exact-l1-box", "{report}");
    assert_eq!(
        report["attack"]["eps_step"], eps,
        "L1's initial step is eps: {report}"
    );
    let fooled = report["examples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["success"] == true)
        .count();
    assert!(fooled >= 1, "no digit fooled at L1 eps {eps}: {report}");
}

/// `norm = 1` parses and builds: the initial step defaults to eps (AutoAttack's L1 value), an
/// explicit `step` or `eps_step` still wins, L∞ keeps 2·eps, and other p are refused.
#[test]
fn norm_1_is_accepted_with_its_own_default_step() {
    use avfoil::attack::spec::{self, RunSettings};
    use avfoil::params::{KeyStyle, Params};
    let eps_step = |assignments: &[&str]| -> avfoil::error::Result<serde_json::Value> {
        let mut p = Params::new(KeyStyle::Table);
        for a in assignments {
            p.insert_assignment(a).unwrap();
        }
        let run = RunSettings {
            eps: Eps::Scalar(3.0),
            targeted: false,
            seed: 0,
            batch_size: 4,
            streams: None,
        };
        Ok(spec::parse("apgd", &mut p)?.build(&run)?.params()["eps_step"].clone())
    };
    assert_eq!(eps_step(&["norm=1"]).unwrap(), 3.0);
    assert_eq!(eps_step(&["norm=\"1\"", "loss=\"dlr\""]).unwrap(), 3.0);
    assert_eq!(eps_step(&["norm=1", "step=2.0"]).unwrap(), 6.0);
    assert_eq!(eps_step(&["norm=1", "eps_step=0.5"]).unwrap(), 0.5);
    assert_eq!(eps_step(&[]).unwrap(), 6.0);
    assert_eq!(eps_step(&["norm=2"]).unwrap(), 6.0);
    let e = eps_step(&["norm=3"]).unwrap_err().to_string();
    assert!(e.contains("L1"), "{e}");
}

/// Restarts go only to examples no earlier run fooled (as AutoAttack's reference and ART): on a
/// two-class linear model, the example that one run fools is attacked once, the other three times.
#[test]
fn restarts_skip_the_examples_already_fooled() {
    // Logits [0, x₀ − 0.5]: class 1 beyond x₀ = 0.5.
    let clf = linear(&[0.0, 0.0, 1.0, 0.0], &[0.0, -0.5], 2, 2, Some((0.0, 1.0)));
    let x = tensor(&[0.45, 0.5, 0.1, 0.5], 2, 2);
    let mut a = apgd(0.1, Norm::Inf, ApgdLoss::CrossEntropy, 5);
    a.common.num_random_init = 3;
    let counting = avfoil::classifier::Counting::new(&clf);
    let out = a.generate(&counting, &x, None, None).unwrap();
    let fooled = argmax_rows(counting.logits(out.adversarial).unwrap());
    assert_eq!(
        fooled,
        vec![1, 0],
        "the near example is fooled, the far one not"
    );
    // Per run: the gradient at the start and after each of the 5 steps.
    assert_eq!(counting.counts().gradient_rows, 6 * (2 + 1 + 1));
}
