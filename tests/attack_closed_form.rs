//! FGM and PGD on a linear softmax model, against outputs computed by hand (in f64) from the
//! closed-form gradient `Wᵀ(softmax(Wx + b) − onehot(y))`.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

mod common;

use avfoil::attack::{Attack, Eps, Fgm, Mask, Norm, Pgd};
use avfoil::classifier::Classifier;
use common::*;

const K: usize = 3;
const D: usize = 6;

struct Fixture {
    w: Vec<f32>,
    b: Vec<f32>,
    x: Vec<f32>,
    n: usize,
}

fn fixture() -> Fixture {
    let mut r = Lcg(7);
    Fixture {
        w: r.vec(K * D, -1.0, 1.0),
        b: r.vec(K, -0.2, 0.2),
        x: r.vec(2 * D, 0.2, 0.8),
        n: 2,
    }
}

fn norms() -> [(Norm, f64); 4] {
    [
        (Norm::Inf, f64::INFINITY),
        (Norm::L1, 1.0),
        (Norm::L2, 2.0),
        (Norm::P(3.0), 3.0),
    ]
}

/// The FGM reference: x + eps·direction(±∇), clipped to [0, 1], projected (a no-op here).
fn fgm_reference(
    f: &Fixture,
    labels: &[usize],
    p: f64,
    eps: f64,
    targeted: bool,
    mask: Option<&[f32]>,
) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..f.n {
        let x: Vec<f64> = f.x[i * D..(i + 1) * D].iter().map(|&v| v as f64).collect();
        let mut g = ce_gradient(&f.w, &f.b, K, &x, labels[i]);
        if targeted {
            g.iter_mut().for_each(|v| *v = -*v);
        }
        if let Some(m) = mask {
            g.iter_mut()
                .zip(m)
                .for_each(|(v, &m)| *v *= if m != 0.0 { 1.0 } else { 0.0 });
        }
        let u = direction(&g, p);
        let adv: Vec<f64> = x
            .iter()
            .zip(&u)
            .map(|(x, u)| (x + eps * u).clamp(0.0, 1.0))
            .collect();
        let delta: Vec<f64> = adv.iter().zip(&x).map(|(a, x)| a - x).collect();
        out.extend(project(&delta, eps, p).iter().zip(&x).map(|(d, x)| x + d));
    }
    out
}

/// The PGD reference: `iters` steps from x, each clipped then projected around x.
fn pgd_reference(
    f: &Fixture,
    labels: &[usize],
    p: f64,
    eps: f64,
    step: f64,
    iters: usize,
    targeted: bool,
    mask: Option<&[f32]>,
) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..f.n {
        let x: Vec<f64> = f.x[i * D..(i + 1) * D].iter().map(|&v| v as f64).collect();
        let mut cur = x.clone();
        for _ in 0..iters {
            let mut g = ce_gradient(&f.w, &f.b, K, &cur, labels[i]);
            if targeted {
                g.iter_mut().for_each(|v| *v = -*v);
            }
            if let Some(m) = mask {
                g.iter_mut()
                    .zip(m)
                    .for_each(|(v, &m)| *v *= if m != 0.0 { 1.0 } else { 0.0 });
            }
            let u = direction(&g, p);
            let next: Vec<f64> = cur
                .iter()
                .zip(&u)
                .map(|(c, u)| (c + step * u).clamp(0.0, 1.0))
                .collect();
            let delta: Vec<f64> = next.iter().zip(&x).map(|(a, x)| a - x).collect();
            cur = project(&delta, eps, p)
                .iter()
                .zip(&x)
                .map(|(d, x)| x + d)
                .collect();
        }
        out.extend(cur);
    }
    out
}

fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

const MASK: [f32; D] = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0];

#[test]
fn fgm_matches_hand_computed_steps() {
    let f = fixture();
    let clf = linear(&f.w, &f.b, K, D, Some((0.0, 1.0)));
    let x = tensor(&f.x, f.n, D);
    for (norm, p) in norms() {
        for targeted in [false, true] {
            for mask in [None, Some(&MASK[..])] {
                let labels = if targeted { vec![2, 0] } else { vec![0, 1] };
                let fgm = Fgm {
                    common: avfoil::attack::Common {
                        norm,
                        eps: Eps::Scalar(0.15),
                        targeted,
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let m = mask.map(|m| Mask::new(m.to_vec()).unwrap());
                let out = fgm.generate(&clf, &x, Some(&labels), m.as_ref()).unwrap();
                let want = fgm_reference(&f, &labels, p, 0.15, targeted, mask);
                assert_close(
                    &host(&out.adversarial),
                    &want,
                    &format!("fgm {norm} targeted={targeted} mask={}", mask.is_some()),
                );
            }
        }
    }
}

#[test]
fn fgm_from_a_given_gradient_is_fgm() {
    let f = fixture();
    let clf = linear(&f.w, &f.b, K, D, Some((0.0, 1.0)));
    let x = tensor(&f.x, f.n, D);
    let per_example: Vec<f32> = MASK
        .iter()
        .chain(&[0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
        .copied()
        .collect();
    for (norm, _) in norms() {
        for targeted in [false, true] {
            for mask in [None, Some(MASK.to_vec()), Some(per_example.clone())] {
                for eps in [Eps::Scalar(0.15), Eps::PerExample(vec![0.05, 0.3])] {
                    let labels = if targeted { vec![2, 0] } else { vec![0, 1] };
                    let fgm = Fgm {
                        common: avfoil::attack::Common {
                            norm,
                            eps_step: eps.clone(),
                            eps,
                            targeted,
                            batch_size: 1,
                            ..Default::default()
                        },
                        ..Default::default()
                    };
                    let m = mask.clone().map(|m| Mask::new(m).unwrap());
                    let g = clf.loss_gradient(x.clone(), &labels).unwrap();
                    let given = fgm
                        .generate_from_gradient(&clf, &x, &labels, m.as_ref(), &g)
                        .unwrap()
                        .expect("plain FGM is a function of the gradient");
                    let own = fgm.generate(&clf, &x, Some(&labels), m.as_ref()).unwrap();
                    assert_eq!(host(&given.adversarial), host(&own.adversarial), "{norm}");
                    assert_eq!(given.eps, own.eps);
                }
            }
        }
    }
    // Random starts and the minimal search need gradients at other points.
    let g = clf.loss_gradient(x.clone(), &[0, 1]).unwrap();
    for fgm in [
        Fgm {
            minimal: true,
            ..Default::default()
        },
        Fgm {
            common: avfoil::attack::Common {
                num_random_init: 1,
                ..Default::default()
            },
            ..Default::default()
        },
    ] {
        assert!(
            fgm.generate_from_gradient(&clf, &x, &[0, 1], None, &g)
                .unwrap()
                .is_none()
        );
    }
    // So does PGD.
    assert!(
        Pgd::default()
            .generate_from_gradient(&clf, &x, &[0, 1], None, &g)
            .unwrap()
            .is_none()
    );
}

#[test]
fn pgd_matches_hand_computed_iterations() {
    let f = fixture();
    let clf = linear(&f.w, &f.b, K, D, Some((0.0, 1.0)));
    let x = tensor(&f.x, f.n, D);
    for (norm, p) in norms() {
        for targeted in [false, true] {
            for mask in [None, Some(&MASK[..])] {
                let labels = if targeted { vec![2, 0] } else { vec![0, 1] };
                let pgd = Pgd {
                    common: avfoil::attack::Common {
                        norm,
                        eps: Eps::Scalar(0.2),
                        eps_step: Eps::Scalar(0.05),
                        targeted,
                        ..Default::default()
                    },
                    max_iter: 6,
                    ..Default::default()
                };
                let m = mask.map(|m| Mask::new(m.to_vec()).unwrap());
                let out = pgd.generate(&clf, &x, Some(&labels), m.as_ref()).unwrap();
                let want = pgd_reference(&f, &labels, p, 0.2, 0.05, 6, targeted, mask);
                assert_close(
                    &host(&out.adversarial),
                    &want,
                    &format!("pgd {norm} targeted={targeted} mask={}", mask.is_some()),
                );
            }
        }
    }
}

#[test]
fn art_direction_examples() {
    // Spec §1.5: the gradient (−1, −1, −0.5) with eps 0.5 steps by these vectors, from a point far
    // from any clip bound. A linear model with one class-0 row w0 = −g and w1 = 0 has ∂CE/∂x ∝ g.
    let w = [1.0, 1.0, 0.5, 0.0, 0.0, 0.0];
    let clf = linear(&w, &[0.0, 0.0], 2, 3, None);
    let x = tensor(&[0.0, 0.0, 0.0], 1, 3);
    let cases: [(Norm, [f32; 3]); 4] = [
        (Norm::L1, [-0.5, 0.0, 0.0]),
        (Norm::L2, [-0.333_333, -0.333_333, -0.166_667]),
        (Norm::P(3.0), [-0.376, -0.376, -0.266]),
        (Norm::Inf, [-0.5, -0.5, -0.5]),
    ];
    for (norm, want) in cases {
        let fgm = Fgm {
            common: avfoil::attack::Common {
                norm,
                eps: Eps::Scalar(0.5),
                ..Default::default()
            },
            ..Default::default()
        };
        let got = host(
            &fgm.generate(&clf, &x, Some(&[0]), None)
                .unwrap()
                .adversarial,
        );
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 2e-3, "{norm}: got {got:?}, want {want:?}");
        }
    }
}

#[test]
fn minimal_fgm_reaches_eps_itself() {
    // The class boundary sits so that exactly 3 steps of 0.1 are needed: ART's float schedule stops
    // at 0.2 for eps 0.3 (its bug #10); ours tries 0.3 and succeeds.
    let w = [1.0, -1.0];
    let clf = linear(&w, &[0.0, 0.0], 2, 1, None);
    // logit0 − logit1 = 2x; start at x = 0.28 (class 0); the step moves x down by 0.1 each time.
    let x = tensor(&[0.28], 1, 1);
    let fgm = Fgm {
        common: avfoil::attack::Common {
            eps: Eps::Scalar(0.3),
            eps_step: Eps::Scalar(0.1),
            ..Default::default()
        },
        minimal: true,
    };
    let adv = host(&fgm.generate(&clf, &x, None, None).unwrap().adversarial);
    assert!((adv[0] - (0.28 - 0.3)).abs() < 1e-6, "got {adv:?}");
}

#[test]
fn minimal_fgm_stops_at_first_success_per_example() {
    let w = [1.0, -1.0];
    let clf = linear(&w, &[0.0, 0.0], 2, 1, None);
    let x = tensor(&[0.05, 0.18, 2.0], 3, 1);
    let fgm = Fgm {
        common: avfoil::attack::Common {
            eps: Eps::Scalar(0.5),
            eps_step: Eps::Scalar(0.1),
            ..Default::default()
        },
        minimal: true,
    };
    let adv = host(&fgm.generate(&clf, &x, None, None).unwrap().adversarial);
    let want = [0.05 - 0.1, 0.18 - 0.2, 2.0 - 0.5];
    for (a, w) in adv.iter().zip(want) {
        assert!((a - w).abs() < 1e-6, "got {adv:?}, want {want:?}");
    }
}

#[test]
fn per_example_eps_is_sliced_by_global_index() {
    // ART's numpy PGD breaks when per-example eps meets N > batch_size (its bug #16).
    let f = fixture();
    let mut r = Lcg(3);
    let n = 7;
    let xs = r.vec(n * D, 0.3, 0.7);
    let clf = linear(&f.w, &f.b, K, D, Some((0.0, 1.0)));
    let x = tensor(&xs, n, D);
    let eps: Vec<f32> = (0..n).map(|i| 0.01 * (i + 1) as f32).collect();
    let pgd = Pgd {
        common: avfoil::attack::Common {
            eps: Eps::PerExample(eps.clone()),
            eps_step: Eps::PerExample(eps.iter().map(|e| e / 4.0).collect()),
            batch_size: 3,
            num_random_init: 1,
            ..Default::default()
        },
        max_iter: 8,
        ..Default::default()
    };
    let adv = host(&pgd.generate(&clf, &x, None, None).unwrap().adversarial);
    for i in 0..n {
        let linf = (0..D)
            .map(|j| (adv[i * D + j] - xs[i * D + j]).abs())
            .fold(0.0, f32::max);
        assert!(
            linf <= eps[i] * (1.0 + 1e-5),
            "example {i}: {linf} > {}",
            eps[i]
        );
        assert!(
            linf >= eps[i] * 0.99,
            "example {i}: PGD on a linear model should use its whole budget, got {linf}"
        );
    }
}

#[test]
fn max_iter_zero_returns_the_input() {
    let f = fixture();
    let clf = linear(&f.w, &f.b, K, D, Some((0.0, 1.0)));
    let x = tensor(&f.x, f.n, D);
    let pgd = Pgd {
        common: avfoil::attack::Common {
            num_random_init: 2,
            ..Default::default()
        },
        max_iter: 0,
        ..Default::default()
    };
    assert_eq!(
        host(&pgd.generate(&clf, &x, None, None).unwrap().adversarial),
        f.x
    );
}

#[test]
fn early_stop_freezes_each_example_at_its_first_success() {
    // 1-D linear model; example i needs ceil(dist/step) steps to cross the boundary.
    let clf = linear(&[1.0, -1.0], &[0.0, 0.0], 2, 1, None);
    let x = tensor(&[0.05, 0.25, 5.0], 3, 1);
    let pgd = Pgd {
        common: avfoil::attack::Common {
            eps: Eps::Scalar(1.0),
            eps_step: Eps::Scalar(0.1),
            ..Default::default()
        },
        max_iter: 20,
        early_stop: true,
        ..Default::default()
    };
    let out = pgd.generate(&clf, &x, None, None).unwrap();
    let adv = host(&out.adversarial);
    assert!((adv[0] - (0.05 - 0.1)).abs() < 1e-6, "{adv:?}");
    assert!((adv[1] - (0.25 - 0.3)).abs() < 1e-6, "{adv:?}");
    assert!((adv[2] - 4.0).abs() < 1e-5, "{adv:?}");
    assert_eq!(out.success_iteration, vec![Some(1), Some(3), None]);
}

#[test]
fn momentum_matches_hand_computed_mim() {
    let f = fixture();
    let clf = linear(&f.w, &f.b, K, D, Some((0.0, 1.0)));
    let x = tensor(&f.x[..D], 1, D);
    let labels = [0usize];
    let (eps, step, decay, iters) = (0.3, 0.05, 0.9, 5);
    let pgd = Pgd {
        common: avfoil::attack::Common {
            eps: Eps::Scalar(eps as f32),
            eps_step: Eps::Scalar(step as f32),
            ..Default::default()
        },
        max_iter: iters,
        decay: Some(decay as f32),
        ..Default::default()
    };
    let got = host(
        &pgd.generate(&clf, &x, Some(&labels), None)
            .unwrap()
            .adversarial,
    );
    let x0: Vec<f64> = f.x[..D].iter().map(|&v| v as f64).collect();
    let mut cur = x0.clone();
    let mut m = vec![0.0; D];
    for _ in 0..iters {
        let g = ce_gradient(&f.w, &f.b, K, &cur, 0);
        let l1: f64 = g.iter().map(|v| v.abs()).sum();
        for j in 0..D {
            m[j] = decay * m[j] + g[j] / l1;
        }
        let u = direction(&m, f64::INFINITY);
        cur = (0..D)
            .map(|j| x0[j] + ((cur[j] + step * u[j]).clamp(0.0, 1.0) - x0[j]).clamp(-eps, eps))
            .collect();
    }
    assert_close(&got, &cur, "mim");
}

/// In int16 units `Σ|δ|^p` overflowed float32 at p = 50, so the projection saw an infinite norm and
/// scaled every step to zero: PGD silently returned its input. It must move, stay in the ball, and
/// raise the loss; `--norm 1e20` must not panic.
#[test]
fn pgd_with_large_p_moves_in_int16_units() {
    let f = fixture();
    let w: Vec<f32> = f.w.iter().map(|v| v / 3000.0).collect();
    let x_host: Vec<f32> = f.x.iter().map(|v| v * 3000.0).collect();
    let clf = linear(&w, &f.b, K, D, Some((-32768.0, 32767.0)));
    let x = tensor(&x_host, f.n, D);
    for p in [50.0, 1e20] {
        let pgd = Pgd {
            common: avfoil::attack::Common {
                norm: Norm::P(p),
                eps: Eps::Scalar(600.0),
                eps_step: Eps::Scalar(150.0),
                ..Default::default()
            },
            max_iter: 5,
            ..Default::default()
        };
        let adv = host(
            &pgd.generate(&clf, &x, Some(&[0, 1]), None)
                .unwrap()
                .adversarial,
        );
        for i in 0..f.n {
            let delta: Vec<f32> = (0..D).map(|j| adv[i * D + j] - x_host[i * D + j]).collect();
            let size = avfoil::attack::geometry::norm_of(&delta, Norm::P(p));
            assert!(size > 300.0, "p {p}: example {i} moved only {size}");
            assert!(
                size <= 600.0 * (1.0 + 1e-4),
                "p {p}: left the ball ({size})"
            );
        }
    }
}
