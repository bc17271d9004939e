//! FAB: on linear models it finds the exact minimal L1, L2 and L∞ distance to the boundary (with
//! and without a binding input range); FAB-T finds the nearest boundary among its targets; the budget,
//! the range, masks and the input are respected, the output depends on the seed only (not the batch
//! size); bad parameters are refused by name; and it fools the shipped spoken-digits model.

mod common;

use avfoil::attack::spec;
use avfoil::attack::{Attack, Common, Eps, Fab, Mask, Norm};
use avfoil::classifier::{Classifier, Model, argmax_rows};
use avfoil::params::{KeyStyle, Params};
use common::*;

fn fab(norm: Norm, eps: f32) -> Fab {
    Fab {
        common: Common {
            norm,
            eps: Eps::Scalar(eps),
            eps_step: Eps::Scalar(eps),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn size(a: &[f32], b: &[f32], norm: Norm) -> f64 {
    let d = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs());
    match norm {
        Norm::Inf => d.fold(0.0, f64::max),
        n if n == Norm::L1 => d.sum(),
        _ => d.map(|v| v * v).sum::<f64>().sqrt(),
    }
}

#[test]
fn on_a_linear_model_it_finds_the_exact_minimal_distance() {
    let (k, d) = (2, 4);
    let w = [0.5f32, -1.0, 2.0, 0.25, -0.5, 1.0, -1.0, 0.75];
    let b = [0.3f32, -0.1];
    let clf = linear(&w, &b, k, d, None);
    let xs = [0.2f32, 0.4, 0.1, -0.3];
    let x = tensor(&xs, 1, d);
    let z = host(&clf.logits(x.clone()).unwrap());
    let y = if z[0] > z[1] { 0 } else { 1 };
    let dw: Vec<f64> = (0..d)
        .map(|j| (w[(1 - y) * d + j] - w[y * d + j]) as f64)
        .collect();
    let f = (z[1 - y] - z[y]).abs() as f64;
    for norm in [Norm::L1, Norm::L2, Norm::Inf] {
        // The dual norm of the weight difference gives the distance to the hyperplane.
        let dual = match norm {
            Norm::Inf => dw.iter().map(|v| v.abs()).sum::<f64>(),
            n if n == Norm::L1 => dw.iter().fold(0.0f64, |m, v| m.max(v.abs())),
            _ => dw.iter().map(|v| v * v).sum::<f64>().sqrt(),
        };
        let exact = f / dual;
        let out = fab(norm, 100.0).generate(&clf, &x, None, None).unwrap();
        let adv = host(&out.adversarial);
        assert_eq!(
            argmax_rows(clf.logits(out.adversarial).unwrap()),
            vec![1 - y]
        );
        let s = size(&adv, &xs, norm);
        assert!(
            s >= exact * (1.0 - 1e-4) && s <= exact * 1.01,
            "{norm}: found {s}, minimal {exact}"
        );
        assert_eq!(out.success_iteration, vec![Some(0)]);
        // A budget below the minimal distance: projected, not adversarial.
        let out = fab(norm, (exact * 0.9) as f32)
            .generate(&clf, &x, None, None)
            .unwrap();
        assert_eq!(argmax_rows(clf.logits(out.adversarial).unwrap()), vec![y]);
        assert_eq!(out.success_iteration, vec![None]);
    }
}

/// L1 on a linear model with no input range: the minimal step moves only the feature of largest
/// |w_l − w_y| (here the third, 3.0 against at most 1.75 elsewhere), by |f| / max|w_l − w_y|.
#[test]
fn l1_moves_only_the_largest_weight_by_the_exact_minimal_distance() {
    let (k, d) = (2, 4);
    let w = [0.5f32, -1.0, 2.0, 0.25, -0.5, 0.75, -1.0, 0.75];
    let clf = linear(&w, &[0.3, -0.1], k, d, None);
    let xs = [0.2f32, 0.4, 0.1, -0.3];
    let x = tensor(&xs, 1, d);
    let z = host(&clf.logits(x.clone()).unwrap());
    assert!(z[0] > z[1], "class 0 when clean: {z:?}");
    let exact = (z[0] - z[1]) as f64 / 3.0;
    let run = |seed: u64| {
        let mut a = fab(Norm::L1, 100.0);
        a.common.seed = seed;
        a.generate(&clf, &x, None, None).unwrap()
    };
    let out = run(0);
    let adv = host(&out.adversarial);
    assert_eq!(argmax_rows(clf.logits(out.adversarial).unwrap()), vec![1]);
    let s = size(&adv, &xs, Norm::L1);
    assert!(
        s >= exact * (1.0 - 1e-4) && s <= exact * 1.01,
        "found {s}, minimal {exact} ({adv:?})"
    );
    for j in [0, 1, 3] {
        assert_eq!(adv[j], xs[j], "feature {j} moved: {adv:?}");
    }
    assert_eq!(host(&run(0).adversarial), adv, "same seed, other output");
    // With a range that does not bind, the same point; below the minimal distance, failure.
    let ranged = linear(&w, &[0.3, -0.1], k, d, Some((-5.0, 5.0)));
    let out = fab(Norm::L1, 100.0)
        .generate(&ranged, &x, None, None)
        .unwrap();
    assert_eq!(host(&out.adversarial), adv);
    let out = fab(Norm::L1, (exact * 0.9) as f32)
        .generate(&clf, &x, None, None)
        .unwrap();
    let below = host(&out.adversarial);
    assert!(size(&below, &xs, Norm::L1) <= exact * 0.9 + 1e-6);
    assert_eq!(argmax_rows(clf.logits(out.adversarial).unwrap()), vec![0]);
    assert_eq!(out.success_iteration, vec![None]);
}

#[test]
fn a_binding_input_range_still_lands_on_the_boundary_inside_it() {
    // z1 − z0 = x1 + x2 − 1.6 in [0, 1]², from (0.9, 0): x1 can only gain 0.1, so the minimal
    // L2 step is (0.1, 0.6), of size √0.37, and the minimal L∞ one is 0.6 (unbounded: 0.35);
    // every L1 step that closes the gap costs 0.7.
    let clf = linear(&[0.0, 0.0, 1.0, 1.0], &[0.0, -1.6], 2, 2, Some((0.0, 1.0)));
    let xs = [0.9f32, 0.0];
    let x = tensor(&xs, 1, 2);
    for (norm, exact) in [
        (Norm::L1, 0.7),
        (Norm::L2, 0.37f64.sqrt()),
        (Norm::Inf, 0.6),
    ] {
        let out = fab(norm, 100.0).generate(&clf, &x, None, None).unwrap();
        let adv = host(&out.adversarial);
        assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)), "{adv:?}");
        assert_eq!(argmax_rows(clf.logits(out.adversarial).unwrap()), vec![1]);
        let s = size(&adv, &xs, norm);
        assert!(
            s >= exact * (1.0 - 1e-4) && s <= exact * 1.01,
            "{norm}: found {s}, minimal {exact} ({adv:?})"
        );
    }
}

#[test]
fn fab_t_finds_the_nearest_boundary_among_its_targets() {
    // Clean logits 1, 0.5, 0 at the origin: class 1 is the most likely other class but its
    // boundary is 0.5 away (x1 = 0.5); class 2's is 0.1 away (x2 = 0.1).
    let w = [0.0f32, 0.0, 1.0, 0.0, 0.0, 10.0];
    let clf = linear(&w, &[1.0, 0.5, 0.0], 3, 2, None);
    let x = tensor(&[0.0, 0.0], 1, 2);
    let run = |targets: usize, eps: f32| {
        let mut a = fab(Norm::L2, eps);
        a.target_classes = targets;
        let out = a.generate(&clf, &x, None, None).unwrap();
        let adv = host(&out.adversarial);
        (argmax_rows(clf.logits(out.adversarial).unwrap())[0], adv)
    };
    // One target (class 1): 0.5 away, beyond a budget of 0.2.
    assert_eq!(run(1, 0.2).0, 0);
    // Two targets: the second, class 2, is within it, at its minimal distance.
    let (p, adv) = run(2, 0.2);
    assert_eq!(p, 2);
    let s = size(&adv, &[0.0, 0.0], Norm::L2);
    assert!((0.1 - 1e-5..=0.101).contains(&s), "{s}");
    // Untargeted FAB finds the nearest boundary too.
    let out = fab(Norm::L2, 0.2).generate(&clf, &x, None, None).unwrap();
    let s = size(&host(&out.adversarial), &[0.0, 0.0], Norm::L2);
    assert!((0.1 - 1e-5..=0.101).contains(&s), "{s}");
}

#[test]
fn budget_range_mask_input_seed_and_batch_size_are_respected() {
    let (k, d, n) = (3, 6, 4);
    let w: Vec<f32> = (0..k * d)
        .map(|i| ((i * 11 % 7) as f32 - 3.0) / 2.0)
        .collect();
    let clf = linear(&w, &[0.0, 0.1, -0.1], k, d, Some((0.0, 1.0)));
    let xs: Vec<f32> = (0..n * d)
        .map(|i| 0.2 + 0.6 * ((i * 5 % 7) as f32 / 7.0))
        .collect();
    let x = tensor(&xs, n, d);
    let mask = Mask::new(vec![1.0, 1.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
    for norm in [Norm::L1, Norm::L2, Norm::Inf] {
        for (eps, targets) in [(0.05f32, 0usize), (0.5, 0), (0.5, 2)] {
            let attack = |batch_size: usize, seed: u64| {
                let mut a = fab(norm, eps);
                a.max_iter = 30;
                a.n_restarts = 3;
                a.target_classes = targets;
                a.common.batch_size = batch_size;
                a.common.seed = seed;
                host(&a.generate(&clf, &x, None, Some(&mask)).unwrap().adversarial)
            };
            let adv = attack(4, 7);
            assert_eq!(host(&x), xs, "the input changed");
            assert_eq!(adv, attack(4, 7), "same seed, other output");
            assert_eq!(adv, attack(1, 7), "batch size changed the output");
            for i in 0..n {
                let (a, c) = (&adv[i * d..(i + 1) * d], &xs[i * d..(i + 1) * d]);
                let s = size(a, c, norm);
                assert!(s <= eps as f64 + 1e-5, "{norm} eps {eps}: {s}");
                assert!(a[2] == c[2] && a[5] == c[5], "masked features moved");
            }
            assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)));
        }
        // At a generous budget every example is fooled.
        let out = fab(norm, 10.0)
            .generate(&clf, &x, None, Some(&mask))
            .unwrap();
        let clean = argmax_rows(clf.logits(x.clone()).unwrap());
        let pred = argmax_rows(clf.logits(out.adversarial).unwrap());
        assert!(
            pred.iter().zip(&clean).all(|(p, c)| p != c),
            "{norm}: {pred:?}"
        );
    }
}

fn parse(assignments: &[&str]) -> avfoil::error::Result<Box<dyn spec::AttackSpec>> {
    let mut p = Params::new(KeyStyle::Table);
    for a in assignments {
        p.insert_assignment(a).unwrap();
    }
    spec::parse("fab", &mut p)
}

#[test]
fn bad_parameters_are_refused_by_name() {
    assert_eq!(parse(&[]).unwrap().norm(), Norm::Inf);
    assert_eq!(parse(&["norm=2"]).unwrap().norm(), Norm::L2);
    assert_eq!(parse(&["norm=\"2\""]).unwrap().norm(), Norm::L2);
    assert_eq!(parse(&["norm=1"]).unwrap().norm(), Norm::L1);
    parse(&[
        "norm=\"inf\"",
        "max_iter=5",
        "target_classes=3",
        "n_restarts=2",
    ])
    .unwrap();
    for (bad, key) in [
        ("norm=3", "norm"),
        ("max_iter=0", "max_iter"),
        ("n_restarts=0", "n_restarts"),
        ("alpha_max=1.5", "alpha_max"),
        ("eta=0.5", "eta"),
        ("beta=1.0", "beta"),
        ("beta=0.0", "beta"),
        ("eps_init=-1.0", "eps_init"),
        ("target_classes=-1", "target_classes"),
    ] {
        let e = parse(&[bad]).unwrap_err().to_string();
        assert!(e.contains(key), "{bad}: {e}");
    }
    // The ensemble's FAB and FAB-T components parse through the registry.
    let mut p = Params::new(KeyStyle::Table);
    p.insert_assignment("components=[\"fab\", \"fab-t\"]")
        .unwrap();
    spec::parse("auto", &mut p).unwrap();
}

#[test]
fn it_fools_the_shipped_spoken_digits_model() {
    let device = burn::tensor::Device::flex();
    let model = Model::open("spoken-digits", &device).unwrap();
    let clf = model.classifier.as_ref();
    let x = avfoil::media::npy::read_npy(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy"),
    )
    .unwrap()
    .to_tensor(4, &device);
    let labels = [1, 3, 5, 8];
    let c = host(&x);
    // Untargeted L∞ (nine class gradients per iteration) and FAB-T L2 towards the two most likely
    // other classes (one each), kept short.
    for (norm, targets) in [(Norm::Inf, 0), (Norm::L2, 2)] {
        let mut a = fab(norm, 1e6);
        a.max_iter = 20;
        a.target_classes = targets;
        let out = a.generate(clf, &x, Some(&labels), None).unwrap();
        let pred = argmax_rows(clf.logits(out.adversarial.clone()).unwrap());
        let fooled = pred.iter().zip(labels).filter(|(p, t)| **p != *t).count();
        let adv = host(&out.adversarial);
        let mut sizes: Vec<f64> = (0..4)
            .map(|i| {
                size(
                    &adv[i * 8000..(i + 1) * 8000],
                    &c[i * 8000..(i + 1) * 8000],
                    norm,
                )
            })
            .collect();
        sizes.sort_by(f64::total_cmp);
        eprintln!("{norm} (target_classes {targets}): fooled {fooled}/4, sizes {sizes:?}");
        assert!(fooled >= 3, "{norm}: {pred:?}");
    }
}
