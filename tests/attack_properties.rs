//! Invariants of FGM and PGD over random shapes and parameters: the perturbation stays within eps,
//! the output within the clip range, masked features never move, the caller's input is untouched,
//! the same seed gives the same output, and restarts never make an example worse than the first.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

mod common;

use avfoil::attack::{Attack, Common, Eps, Fgm, Mask, Norm, Pgd, Projection};
use avfoil::classifier::{Classifier, argmax_rows, cross_entropy_rows};
use common::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    d: usize,
    k: usize,
    norm: Norm,
    eps: f32,
    step: f32,
    restarts: usize,
    iters: usize,
    targeted: bool,
    masked: bool,
    per_example_mask: bool,
    exact_l1: bool,
    batch: usize,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..5, 1usize..24, 2usize..5),
        prop_oneof![
            Just(Norm::Inf),
            Just(Norm::L1),
            Just(Norm::L2),
            Just(Norm::P(3.0))
        ],
        (0.01f32..1.5, 0.01f32..0.5),
        (0usize..4, 0usize..6),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        (1usize..4, any::<u64>()),
    )
        .prop_map(
            |(
                (n, d, k),
                norm,
                (eps, step),
                (restarts, iters),
                (targeted, masked, per_example_mask, exact_l1),
                (batch, seed),
            )| Case {
                n,
                d,
                k,
                norm,
                eps,
                step,
                restarts,
                iters,
                targeted,
                masked,
                per_example_mask,
                exact_l1,
                batch,
                seed,
            },
        )
}

struct Setup {
    clf: avfoil::classifier::NeuralClassifier,
    x: Vec<f32>,
    labels: Vec<usize>,
    mask: Option<Vec<f32>>,
}

fn setup(c: &Case) -> Setup {
    let mut r = Lcg(c.seed | 1);
    let w = r.vec(c.k * c.d, -2.0, 2.0);
    let b = r.vec(c.k, -0.5, 0.5);
    let x = r.vec(c.n * c.d, -1.0, 1.0);
    let labels = (0..c.n).map(|i| (i + c.seed as usize) % c.k).collect();
    let mask = c.masked.then(|| {
        let len = if c.per_example_mask { c.n * c.d } else { c.d };
        (0..len)
            .map(|_| {
                if r.next_f32() < 0.5 {
                    0.0
                } else {
                    r.range(0.2, 2.0)
                }
            })
            .collect()
    });
    Setup {
        clf: linear(&w, &b, c.k, c.d, Some((-1.0, 1.0))),
        x,
        labels,
        mask,
    }
}

fn common(c: &Case) -> Common {
    Common {
        norm: c.norm,
        eps: Eps::Scalar(c.eps),
        eps_step: Eps::Scalar(c.step),
        targeted: c.targeted,
        num_random_init: c.restarts,
        batch_size: c.batch,
        seed: c.seed,
        projection: if c.exact_l1 {
            Projection::ExactL1
        } else {
            Projection::Radial
        },
        streams: None,
    }
}

fn attacks(c: &Case) -> Vec<Box<dyn Attack>> {
    vec![
        Box::new(Fgm {
            common: common(c),
            minimal: false,
        }),
        Box::new(Pgd {
            common: common(c),
            max_iter: c.iters,
            ..Default::default()
        }),
        Box::new(Pgd {
            common: common(c),
            max_iter: c.iters,
            decay: Some(0.5),
            early_stop: true,
            random_eps: true,
        }),
    ]
}

fn p_of(norm: Norm) -> f64 {
    match norm {
        Norm::Inf => f64::INFINITY,
        Norm::P(p) => p,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn invariants_hold(c in case()) {
        let s = setup(&c);
        let x = tensor(&s.x, c.n, c.d);
        let mask = s.mask.clone().map(|m| Mask::new(m).unwrap());
        for attack in attacks(&c) {
            let out = attack.generate(&s.clf, &x, Some(&s.labels), mask.as_ref()).unwrap();
            let adv = host(&out.adversarial);
            prop_assert_eq!(host(&x), s.x.clone(), "{} modified its input", attack.name());
            for i in 0..c.n {
                let delta: Vec<f64> = (0..c.d).map(|j| (adv[i * c.d + j] - s.x[i * c.d + j]) as f64).collect();
                let size = lp_norm(&delta, p_of(c.norm));
                let eps = out.eps[i] as f64;
                prop_assert!(size <= eps * (1.0 + 1e-5) + 1e-6, "{}: ‖δ‖ = {size} > eps {eps}", attack.name());
                for j in 0..c.d {
                    let v = adv[i * c.d + j];
                    prop_assert!((-1.0..=1.0).contains(&v), "{}: {v} outside the clip range", attack.name());
                    if let Some(m) = &s.mask {
                        let mv = if c.per_example_mask { m[i * c.d + j] } else { m[j] };
                        if mv == 0.0 {
                            prop_assert_eq!(adv[i * c.d + j], s.x[i * c.d + j], "{} moved a masked feature", attack.name());
                        }
                    }
                }
            }
            let again = attack.generate(&s.clf, &x, Some(&s.labels), mask.as_ref()).unwrap();
            prop_assert_eq!(host(&again.adversarial), adv, "{}: same seed, different output", attack.name());
        }
    }

    #[test]
    fn restarts_never_worse_than_the_first(c in case()) {
        prop_assume!(c.restarts >= 2);
        let s = setup(&c);
        let x = tensor(&s.x, c.n, c.d);
        let mask = s.mask.clone().map(|m| Mask::new(m).unwrap());
        let mut one = c.clone();
        one.restarts = 1;
        for (many, first) in attacks(&c).into_iter().zip(attacks(&one)).take(2) {
            let a = many.generate(&s.clf, &x, Some(&s.labels), mask.as_ref()).unwrap().adversarial;
            let b = first.generate(&s.clf, &x, Some(&s.labels), mask.as_ref()).unwrap().adversarial;
            let (la, lb) = (s.clf.logits(a).unwrap(), s.clf.logits(b).unwrap());
            let ok = |l: &burn::tensor::Tensor<2>| avfoil::attack::success(&argmax_rows(l.clone()), &s.labels, c.targeted);
            let (sa, sb) = (ok(&la), ok(&lb));
            let (ca, cb) = (cross_entropy_rows(la, &s.labels), cross_entropy_rows(lb, &s.labels));
            for i in 0..c.n {
                prop_assert!(sa[i] >= sb[i], "{}: example {i} lost its success with more restarts", many.name());
                if sa[i] == sb[i] {
                    let better = if c.targeted { ca[i] <= cb[i] + 1e-5 } else { ca[i] >= cb[i] - 1e-5 };
                    prop_assert!(better, "{}: example {i} loss {} vs first restart {}", many.name(), ca[i], cb[i]);
                }
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_batch_size(c in case()) {
        let s = setup(&c);
        let x = tensor(&s.x, c.n, c.d);
        let mut other = c.clone();
        other.batch = c.n;
        for (a, b) in attacks(&c).into_iter().zip(attacks(&other)) {
            let ra = host(&a.generate(&s.clf, &x, Some(&s.labels), None).unwrap().adversarial);
            let rb = host(&b.generate(&s.clf, &x, Some(&s.labels), None).unwrap().adversarial);
            for (u, v) in ra.iter().zip(&rb) {
                prop_assert!((u - v).abs() <= 1e-5, "{}: batch size changed the result", a.name());
            }
        }
    }
}

#[test]
fn untargeted_labels_default_to_predictions() {
    let mut r = Lcg(11);
    let (k, d, n) = (3, 5, 4);
    let clf = linear(&r.vec(k * d, -1.0, 1.0), &r.vec(k, -0.1, 0.1), k, d, None);
    let xs = r.vec(n * d, -1.0, 1.0);
    let x = tensor(&xs, n, d);
    let predicted = clf.predict_labels(&x, 2).unwrap();
    let fgm = Fgm::default();
    let a = host(&fgm.generate(&clf, &x, None, None).unwrap().adversarial);
    let b = host(
        &fgm.generate(&clf, &x, Some(&predicted), None)
            .unwrap()
            .adversarial,
    );
    assert_eq!(a, b);
}
