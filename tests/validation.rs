//! Every invalid parameter of ART's FGM and PGD validation (spec §1.2, §2.1) gives an error that names
//! the parameter, never a panic. Type errors that ART checks at run time (a string for `targeted`, a
//! float for `num_random_init`) cannot be expressed in the Rust API; the CLI tests cover them.

mod common;

use avfoil::attack::{Attack, Common, Eps, Fgm, Mask, Norm, Pgd};
use common::*;

fn fgm(common: Common) -> Fgm {
    Fgm {
        common,
        minimal: false,
    }
}

fn pgd(common: Common) -> Pgd {
    Pgd {
        common,
        max_iter: 3,
        ..Default::default()
    }
}

/// Runs both attacks on a tiny model and returns their error messages.
fn errors(common: Common, labels: Option<&[usize]>, mask: Option<&Mask>) -> Vec<String> {
    let clf = linear(&[1.0, -1.0, 0.5, 0.5], &[0.0, 0.0], 2, 2, Some((0.0, 1.0)));
    let x = tensor(&[0.2, 0.4, 0.6, 0.8], 2, 2);
    let attacks: [Box<dyn Attack>; 2] = [Box::new(fgm(common.clone())), Box::new(pgd(common))];
    attacks
        .iter()
        .map(|a| match a.generate(&clf, &x, labels, mask) {
            Ok(_) => panic!("{} accepted invalid parameters", a.name()),
            Err(e) => e.to_string(),
        })
        .collect()
}

fn assert_names(errs: Vec<String>, param: &str) {
    for e in errs {
        assert!(e.contains(param), "error {e:?} does not name {param}");
    }
}

#[test]
fn norm_below_one() {
    for p in [0.0, 0.5, -1.0, f64::NAN] {
        assert_names(
            errors(
                Common {
                    norm: Norm::P(p),
                    ..Default::default()
                },
                None,
                None,
            ),
            "norm",
        );
    }
    for s in ["0", "-1", "abc", ""] {
        assert!(s.parse::<Norm>().unwrap_err().to_string().contains("norm"));
    }
    assert_eq!("inf".parse::<Norm>().unwrap(), Norm::Inf);
    assert_eq!("2".parse::<Norm>().unwrap(), Norm::L2);
}

#[test]
fn negative_or_non_finite_eps() {
    for e in [-1.0, f32::NAN, f32::INFINITY] {
        assert_names(
            errors(
                Common {
                    eps: Eps::Scalar(e),
                    ..Default::default()
                },
                None,
                None,
            ),
            "eps",
        );
    }
    let per = Common {
        eps: Eps::PerExample(vec![0.1, -1.0]),
        eps_step: Eps::PerExample(vec![0.1, 0.1]),
        ..Default::default()
    };
    assert_names(errors(per, None, None), "eps");
}

#[test]
fn eps_step_not_positive() {
    for s in [0.0, -1.0, f32::NAN] {
        assert_names(
            errors(
                Common {
                    eps_step: Eps::Scalar(s),
                    ..Default::default()
                },
                None,
                None,
            ),
            "eps_step",
        );
    }
    let per = Common {
        eps: Eps::PerExample(vec![0.1, 0.1]),
        eps_step: Eps::PerExample(vec![0.1, 0.0]),
        ..Default::default()
    };
    assert_names(errors(per, None, None), "eps_step");
}

#[test]
fn eps_and_eps_step_of_different_kinds_or_shapes() {
    let mixed = Common {
        eps: Eps::PerExample(vec![0.1, 0.1]),
        eps_step: Eps::Scalar(0.1),
        ..Default::default()
    };
    assert_names(errors(mixed, None, None), "eps_step");
    let mixed = Common {
        eps: Eps::Scalar(0.1),
        eps_step: Eps::PerExample(vec![0.1, 0.1]),
        ..Default::default()
    };
    assert_names(errors(mixed, None, None), "eps_step");
    let shapes = Common {
        eps: Eps::PerExample(vec![0.1, 0.1]),
        eps_step: Eps::PerExample(vec![0.1]),
        ..Default::default()
    };
    assert_names(errors(shapes, None, None), "eps_step");
    let count = Common {
        eps: Eps::PerExample(vec![0.1; 3]),
        eps_step: Eps::PerExample(vec![0.1; 3]),
        ..Default::default()
    };
    assert_names(errors(count, None, None), "eps");
}

#[test]
fn batch_size_zero() {
    assert_names(
        errors(
            Common {
                batch_size: 0,
                ..Default::default()
            },
            None,
            None,
        ),
        "batch_size",
    );
}

#[test]
fn targeted_without_labels() {
    assert_names(
        errors(
            Common {
                targeted: true,
                ..Default::default()
            },
            None,
            None,
        ),
        "labels",
    );
}

#[test]
fn labels_of_wrong_count_or_range() {
    assert_names(errors(Common::default(), Some(&[0]), None), "labels");
    assert_names(errors(Common::default(), Some(&[0, 2]), None), "labels");
}

#[test]
fn negative_decay() {
    for decay in [-1.0, f32::NAN] {
        let p = Pgd {
            decay: Some(decay),
            ..Default::default()
        };
        let clf = linear(&[1.0, -1.0], &[0.0, 0.0], 2, 1, None);
        let err = p
            .generate(&clf, &tensor(&[0.5], 1, 1), None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("decay"), "{err}");
    }
}

#[test]
fn bad_masks() {
    assert!(
        Mask::new(vec![1.0, -0.5])
            .unwrap_err()
            .to_string()
            .contains("mask")
    );
    assert!(
        Mask::new(vec![1.0, f32::NAN])
            .unwrap_err()
            .to_string()
            .contains("mask")
    );
    let wrong_len = Mask::new(vec![1.0, 1.0, 1.0]).unwrap();
    assert_names(errors(Common::default(), None, Some(&wrong_len)), "mask");
}
