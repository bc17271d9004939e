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
