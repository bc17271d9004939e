//! The `auto` ensemble: it fools exactly the examples its components fool when each runs alone
//! (same streams, same bytes), runs each component only on what is still correct, skips the
//! components a model has too few classes for, flags gradient-free successes, and refuses what it
//! cannot do.

mod common;

use avfoil::attack::{AttackSpec, ComponentOutcome, Eps, RunSettings, masking_warning};
use avfoil::classifier::{Classifier, argmax_rows};
use avfoil::params::Params;
use common::*;

fn spec(name: &str, pairs: &[(&str, toml::Value)]) -> avfoil::error::Result<Box<dyn AttackSpec>> {
    let table: toml::Table = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    avfoil::attack::spec::parse(name, &mut Params::from_inline(table))
}

fn run(eps: f32, batch_size: usize) -> RunSettings {
    RunSettings {
        eps: Eps::Scalar(eps),
        targeted: false,
        seed: 11,
        batch_size,
        streams: None,
    }
}

fn s(v: &str) -> toml::Value {
    toml::Value::String(v.into())
}

fn i(v: i64) -> toml::Value {
    toml::Value::Integer(v)
}

/// A five-class linear model on 24 features in [0, 1] and ten examples with varied margins.
fn five_classes() -> (avfoil::classifier::NeuralClassifier, Vec<f32>, usize, usize) {
    let (k, d, n) = (5, 24, 10);
    let w: Vec<f32> = (0..k * d)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 6.0)
        .collect();
    let b = [0.3, -0.2, 0.1, 0.0, -0.1];
    let clf = linear_shaped(&w, &b, k, &[d], Some((0.0, 1.0)));
    let data: Vec<f32> = (0..n * d)
        .map(|i| 0.2 + 0.6 * ((i * 13 % 11) as f32 / 11.0))
        .collect();
    (clf, data, n, d)
}

fn fooled(clf: &dyn Classifier, adv: &[f32], d: usize, labels: &[usize]) -> Vec<bool> {
    let n = labels.len();
    let pred = argmax_rows(clf.logits(tensor(adv, n, d)).unwrap());
    pred.iter().zip(labels).map(|(p, l)| p != l).collect()
}

/// Each component alone, configured as the ensemble configures it.
fn solo(norm: &str, name: &str) -> Box<dyn AttackSpec> {
    let n = s(norm);
    match name {
        "apgd-ce" => spec(
            "apgd",
            &[
                ("norm", n),
                ("max_iter", i(10)),
                ("random_init", i(1)),
                ("loss", s("ce")),
            ],
        ),
        "apgd-t" => spec(
            "apgd",
            &[
                ("norm", n),
                ("max_iter", i(10)),
                ("random_init", i(1)),
                ("loss", s("dlr")),
                ("target_classes", i(3)),
            ],
        ),
        "fab-t" => spec(
            "fab",
            &[("norm", n), ("max_iter", i(10)), ("target_classes", i(3))],
        ),
        "square" => spec("square", &[("norm", n), ("max_queries", i(150))]),
        other => panic!("no solo configuration for {other}"),
    }
    .unwrap()
}

fn ensemble(norm: &str, components: &[&str]) -> Box<dyn AttackSpec> {
    let list = toml::Value::Array(components.iter().map(|c| s(c)).collect());
    spec(
        "auto",
        &[
            ("norm", s(norm)),
            ("components", list),
            ("max_iter", i(10)),
            ("max_queries", i(150)),
            ("target_classes", i(3)),
        ],
    )
    .unwrap()
}

/// The ensemble's guarantee, checked against the components run alone on the whole batch: it
/// fools exactly the union of what they fool, each example fooled by the first component that
/// fools it alone, with that component's bytes; the rest come back unchanged.
#[test]
fn it_fools_exactly_what_its_components_fool_alone_with_their_bytes() {
    let (clf, data, n, d) = five_classes();
    let x = tensor(&data, n, d);
    let labels = argmax_rows(clf.logits(x.clone()).unwrap());
    let names = ["apgd-ce", "apgd-t", "fab-t", "square"];
    for (norm, eps) in [("inf", 0.06), ("2", 0.25), ("1", 0.5)] {
        let solos: Vec<(Vec<f32>, Vec<bool>)> = names
            .iter()
            .map(|c| {
                let out = solo(norm, c)
                    .build(&run(eps, 32))
                    .unwrap()
                    .generate(&clf, &x, Some(&labels), None)
                    .unwrap();
                let adv = host(&out.adversarial);
                let f = fooled(&clf, &adv, d, &labels);
                (adv, f)
            })
            .collect();
        let auto = ensemble(norm, &names).build(&run(eps, 32)).unwrap();
        let out = auto.generate(&clf, &x, Some(&labels), None).unwrap();
        let adv = host(&out.adversarial);
        let got = fooled(&clf, &adv, d, &labels);
        let mut some = 0;
        for e in 0..n {
            let first = solos.iter().position(|(_, f)| f[e]);
            assert_eq!(got[e], first.is_some(), "norm {norm}, example {e}");
            let row = &adv[e * d..(e + 1) * d];
            match first {
                Some(c) => {
                    some += 1;
                    assert_eq!(row, &solos[c].0[e * d..(e + 1) * d], "example {e}");
                    let by: Vec<&str> = out
                        .components
                        .iter()
                        .filter(|o| o.fooled.contains(&e))
                        .map(|o| o.name.as_str())
                        .collect();
                    assert_eq!(by, [names[c]], "example {e}");
                }
                None => assert_eq!(row, &data[e * d..(e + 1) * d], "unfooled {e} moved"),
            }
        }
        assert!(some > 0 && some < n, "norm {norm}: {some} of {n} fooled");
        // Each component ran on what the earlier ones left.
        let mut left = n;
        for o in &out.components {
            assert_eq!(o.attacked, left, "{}", o.name);
            left -= o.fooled.len();
        }
        // Same bytes whatever the batch size.
        let small = ensemble(norm, &names).build(&run(eps, 1)).unwrap();
        let again = small.generate(&clf, &x, Some(&labels), None).unwrap();
        assert_eq!(
            host(&again.adversarial),
            adv,
            "norm {norm}: batch size changed it"
        );
    }
}

#[test]
fn a_two_class_model_skips_the_targeted_components_saying_why() {
    let d = 8;
    let w: Vec<f32> = (0..2 * d).map(|i| if i < d { 1.0 } else { -1.0 }).collect();
    let clf = linear_shaped(&w, &[0.0, 0.0], 2, &[d], Some((0.0, 1.0)));
    let data: Vec<f32> = (0..3 * d).map(|i| 0.5 + 0.05 * (i / d) as f32).collect();
    let x = tensor(&data, 3, d);
    let out = ensemble("inf", &["apgd-ce", "apgd-t", "fab-t", "square"])
        .build(&run(0.01, 32))
        .unwrap()
        .generate(&clf, &x, None, None)
        .unwrap();
    let skipped: Vec<(&str, bool)> = out
        .components
        .iter()
        .map(|o| (o.name.as_str(), o.skipped.is_some()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("apgd-ce", false),
            ("apgd-t", true),
            ("fab-t", true),
            ("square", false)
        ]
    );
    let why = out.components[1].skipped.as_deref().unwrap();
    assert!(why.contains("4 classes") && why.contains("has 2"), "{why}");
    assert_eq!(out.components[1].attacked, 0);
    assert_eq!(out.components[0].attacked, 3);
}

fn outcome(name: &str, gradient_free: bool, attacked: usize, fooled: &[usize]) -> ComponentOutcome {
    ComponentOutcome {
        name: name.into(),
        gradient_free,
        attacked,
        fooled: fooled.to_vec(),
        skipped: None,
        seconds: 0.0,
    }
}

#[test]
fn gradient_free_successes_after_gradient_attacks_are_flagged() {
    let masked = [
        outcome("apgd-ce", false, 8, &[0]),
        outcome("square", true, 7, &[3, 5]),
    ];
    let w = masking_warning(&masked).expect("a warning");
    assert!(w.contains("square") && w.contains("2 example") && w.contains("masked"));
    // Nothing new found, or no gradient attack ran first: no warning.
    assert!(
        masking_warning(&[
            outcome("apgd-ce", false, 8, &[0]),
            outcome("square", true, 7, &[])
        ])
        .is_none()
    );
    assert!(masking_warning(&[outcome("square", true, 8, &[1])]).is_none());
    assert!(
        masking_warning(&[
            outcome("apgd-t", false, 0, &[]),
            outcome("square", true, 8, &[1])
        ])
        .is_none()
    );
}

#[test]
fn it_refuses_what_it_cannot_do_naming_the_parameter() {
    let mut targeted = run(0.1, 8);
    targeted.targeted = true;
    let err = ensemble("inf", &["apgd-ce"])
        .build(&targeted)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("targeted"), "{err}");
    for (pairs, words) in [
        (
            vec![("components", toml::Value::Array(vec![s("pgd")]))],
            "unknown component \"pgd\"",
        ),
        (
            vec![(
                "components",
                toml::Value::Array(vec![s("square"), s("square")]),
            )],
            "listed twice",
        ),
        (
            vec![("components", toml::Value::Array(vec![]))],
            "at least one",
        ),
        (vec![("norm", s("3"))], "inf, 2 or 1"),
        (vec![("max_iter", i(0))], "at least 1"),
        (vec![("eps_step", toml::Value::Float(0.1))], "eps_step"),
    ] {
        let err = spec("auto", &pairs).expect_err("refused").to_string();
        assert!(err.contains(words), "{err}");
    }
    let names: Vec<&str> = spec("auto", &[])
        .unwrap()
        .components()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["apgd-ce", "apgd-t", "fab-t", "square"]);
}

/// From the command line on the shipped spoken-digits model: the report names the component
/// that fooled each example and gives the running robust accuracy after each component.
#[test]
fn the_cli_reports_each_component_and_who_fooled_each_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adv.npy");
    let report = ok_json(&[
        "attack",
        "--model",
        "spoken-digits",
        "--attack",
        "auto",
        "--eps",
        "64",
        "--param",
        "components=[\"apgd-ce\", \"square\"]",
        "--param",
        "max_iter=5",
        "--param",
        "max_queries=50",
        "--out",
        s_path(&out),
        "examples/spoken-digits.npy",
        "--json",
    ]);
    let components = report["components"].as_array().expect("components");
    assert_eq!(components.len(), 2);
    assert_eq!(components[0]["name"], "apgd-ce");
    assert_eq!(components[1]["gradient_free"], true);
    let examples = report["examples"].as_array().unwrap();
    let by_apgd = examples
        .iter()
        .filter(|e| e["fooled_by"] == "apgd-ce")
        .count();
    assert_eq!(components[0]["fooled"].as_u64().unwrap() as usize, by_apgd);
    assert!(by_apgd > 0, "{report}");
    let last = components[1]["robust_accuracy"].as_f64().unwrap();
    let fooled = examples
        .iter()
        .filter(|e| !e["fooled_by"].is_null())
        .count();
    // Without labels the clean predictions are the labels: every example starts correct.
    let n = examples.len();
    assert!(
        (last - (n - fooled) as f64 / n as f64).abs() < 1e-9,
        "{report}"
    );
    assert!(out.exists());
}

fn s_path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// L1: the standard list, every component in its L1 version (L1-APGD, FAB-T L1, Square L1), and
/// the result stays in the L1 ball and the box.
#[test]
fn with_norm_1_it_runs_all_four_components_within_the_l1_ball() {
    let names: Vec<&str> = spec("auto", &[("norm", i(1))])
        .unwrap()
        .components()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["apgd-ce", "apgd-t", "fab-t", "square"]);
    let (clf, data, n, d) = five_classes();
    let x = tensor(&data, n, d);
    let labels = argmax_rows(clf.logits(x.clone()).unwrap());
    let eps = 0.6;
    let auto = spec(
        "auto",
        &[
            ("norm", i(1)),
            ("max_iter", i(20)),
            ("max_queries", i(200)),
            ("target_classes", i(3)),
        ],
    )
    .unwrap()
    .build(&run(eps, 32))
    .unwrap();
    let out = auto.generate(&clf, &x, Some(&labels), None).unwrap();
    let ran: Vec<&str> = out
        .components
        .iter()
        .filter(|o| o.skipped.is_none())
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(ran, ["apgd-ce", "apgd-t", "fab-t", "square"]);
    let adv = host(&out.adversarial);
    for e in 0..n {
        let l1: f32 = (0..d)
            .map(|j| (adv[e * d + j] - data[e * d + j]).abs())
            .sum();
        assert!(l1 <= eps * (1.0 + 1e-4), "example {e}: L1 {l1}");
        assert!(
            adv[e * d..(e + 1) * d]
                .iter()
                .all(|v| (0.0..=1.0).contains(v))
        );
    }
    let fooled = fooled(&clf, &adv, d, &labels)
        .iter()
        .filter(|f| **f)
        .count();
    assert!(fooled > 0, "nothing fooled at L1 eps {eps}");
}
