//! Universal perturbations: on a linear two-class model where every example has the same label, a
//! universal perturbation exists in closed form (`eps·sign(w_other − w_y)` for L∞,
//! `eps·(w_other − w_y)/‖·‖₂` for L2); the attack finds one perturbation for all rows that fools at
//! least 1 − delta of them, held-out examples too; the shift-invariant mode fools at every shift
//! where the plain one does not; masks, the input, the budget and the seed are respected; bad
//! parameters are refused by name; and the command line fits one on the shipped model.

#![allow(clippy::needless_range_loop)]

mod common;

use avfoil::attack::spec::{self, RunSettings};
use avfoil::attack::universal::{UniversalSpec, apply};
use avfoil::attack::{Attack, Eps, Mask};
use avfoil::classifier::{Classifier, argmax_rows};
use avfoil::media::npy::read_npy;
use avfoil::params::Params;
use common::*;

const D: usize = 8;
const EPS: f32 = 0.5;

fn table(text: &str) -> toml::Table {
    toml::from_str(text).unwrap()
}

fn run(eps: f32, seed: u64) -> RunSettings {
    RunSettings {
        eps: Eps::Scalar(eps),
        targeted: false,
        seed,
        batch_size: 32,
        streams: None,
    }
}

fn universal(params: &str, eps: f32, seed: u64) -> avfoil::attack::Universal {
    let mut p = Params::from_inline(table(params));
    let spec = UniversalSpec::take(&mut p).unwrap();
    p.finish("universal", &[]).unwrap();
    spec.build_universal(&run(eps, seed)).unwrap()
}

/// Class 1's weights minus class 0's (class 0's are zero).
fn dw() -> Vec<f32> {
    vec![0.5, -1.0, 2.0, 0.25, -0.75, 1.5, -0.3, 0.9]
}

fn model(clip: Option<(f32, f32)>) -> avfoil::classifier::NeuralClassifier {
    let mut w = vec![0.0; D];
    w.extend(dw());
    linear(&w, &[0.0, 0.0], 2, D, clip)
}

/// `n` examples of class 0 at logit margins spread over (0.05, 0.9)·eps·‖dw‖₁, so that the
/// closed-form perturbation fools them all; `salt` draws a different set of the same distribution.
fn examples(n: usize, salt: u64) -> Vec<f32> {
    let dw = dw();
    let l1: f32 = dw.iter().map(|v| v.abs()).sum();
    let l2sq: f32 = dw.iter().map(|v| v * v).sum();
    let mut rng = Lcg(1234 + salt);
    let mut out = Vec::with_capacity(n * D);
    for _ in 0..n {
        let u = rng.vec(D, -0.5, 0.5);
        let margin = rng.range(0.05, 0.9) * EPS * l1;
        let along: f32 = dw.iter().zip(&u).map(|(a, b)| a * b).sum::<f32>();
        // dw · x = −margin: class 0 by `margin`.
        let c = (-margin - along) / l2sq;
        out.extend(u.iter().zip(&dw).map(|(a, b)| a + c * b));
    }
    out
}

fn fooled(clf: &dyn Classifier, adv: &burn::tensor::Tensor<2>) -> f64 {
    let p = argmax_rows(clf.logits(adv.clone()).unwrap());
    p.iter().filter(|&&c| c != 0).count() as f64 / p.len() as f64
}

/// Row `i` of the output minus row `i` of the input.
fn deltas(adv: &[f32], x: &[f32], n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| (0..D).map(|j| adv[i * D + j] - x[i * D + j]).collect())
        .collect()
}

#[test]
fn one_perturbation_for_all_rows_reaches_the_target_rate_and_is_the_closed_form() {
    let clf = model(None);
    let n = 24;
    let xs = examples(n, 0);
    let x = tensor(&xs, n, D);
    let sign: Vec<f32> = dw().iter().map(|v| v.signum()).collect();
    for (variant, delta) in [
        ("variant = \"iterative\"", 0.2),
        ("variant = \"iterative\"", 0.0),
        ("variant = \"iterative\"\nattacker = \"pgd\"", 0.0),
        ("variant = \"sgd\"", 0.0),
    ] {
        let attack = universal(&format!("{variant}\ndelta = {delta}"), EPS, 0);
        let out = attack.generate(&clf, &x, None, None).unwrap();
        let fit = attack.last_fit().unwrap();
        let adv = host(&out.adversarial);
        let rows = deltas(&adv, &xs, n);
        for r in &rows {
            for j in 0..D {
                assert!((r[j] - rows[0][j]).abs() < 1e-5, "{variant}: rows differ");
                assert!(r[j].abs() <= EPS + 1e-6, "{variant}: outside the ball");
                assert!((r[j] - fit.perturbation[j]).abs() < 1e-5);
            }
        }
        let rate = fooled(&clf, &out.adversarial);
        assert!(
            rate >= 1.0 - delta,
            "{variant} delta {delta}: fooled {rate}"
        );
        assert!((rate - fit.fooling_rate).abs() < 1e-9, "{variant}");
        assert!(fit.converged && fit.passes >= 1 && fit.passes <= 20);
        // The perturbation moves every feature towards class 1, as the closed form.
        for j in 0..D {
            assert!(
                fit.perturbation[j] * sign[j] >= 0.0,
                "{variant}: feature {j}"
            );
        }
        // Every step is along sign(dw) (L-inf DeepFool, PGD and SGD alike), so v = c·sign(dw).
        let c = fit.perturbation[0].abs();
        assert!(c > 0.0 && c <= EPS + 1e-6, "{variant}: {c}");
        for j in 0..D {
            assert!(
                (fit.perturbation[j] - c * sign[j]).abs() < 1e-5,
                "{variant}: feature {j}"
            );
        }
        assert_eq!(out.eps, vec![EPS; n]);
        assert_eq!(
            out.success_iteration.iter().flatten().count(),
            (rate * n as f64).round() as usize
        );
        let report = attack.params();
        assert_eq!(report["fit"]["passes"], fit.passes);
    }
}

#[test]
fn l2_sgd_finds_the_l2_closed_form() {
    let clf = model(None);
    let n = 16;
    let x = tensor(&examples(n, 0), n, D);
    let eps = EPS * 2.0;
    let attack = universal("variant = \"sgd\"\nnorm = 2\ndelta = 0.0", eps, 0);
    attack.generate(&clf, &x, None, None).unwrap();
    let v = attack.last_fit().unwrap().perturbation;
    let dw = dw();
    let l2 = dw.iter().map(|a| a * a).sum::<f32>().sqrt();
    let size = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    assert!(size <= eps * (1.0 + 1e-5), "{size}");
    for j in 0..D {
        let want = eps * dw[j] / l2;
        assert!(
            (v[j] - want).abs() < 1e-3 * eps,
            "feature {j}: {} vs {want}",
            v[j]
        );
    }
}

#[test]
fn it_generalises_to_held_out_examples() {
    let clf = model(None);
    let n = 32;
    let train = tensor(&examples(n, 0), n, D);
    let test = tensor(&examples(n, 99), n, D);
    for variant in ["iterative", "sgd"] {
        let attack = universal(&format!("variant = \"{variant}\"\ndelta = 0.0"), EPS, 3);
        attack.generate(&clf, &train, None, None).unwrap();
        let v = attack.last_fit().unwrap().perturbation;
        let adv = apply(&clf, &test, &v, None).unwrap();
        let rate = fooled(&clf, &adv);
        assert!(rate >= 0.8, "{variant}: held-out fooling rate {rate}");
        // The test set is fooled by v, not by being misclassified already.
        assert_eq!(fooled(&clf, &test), 0.0);
    }
}

#[test]
fn clipping_masks_input_and_seed_are_respected() {
    let clf = model(Some((-0.6, 0.6)));
    let n = 12;
    let xs: Vec<f32> = examples(n, 5).iter().map(|v| v.clamp(-0.6, 0.6)).collect();
    let x = tensor(&xs, n, D);
    // One mask for all: features 1 and 4 are kept.
    let shared = Mask::new(vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
    // Per example: row 0 also keeps feature 2, row 1 feature 6.
    let mut per: Vec<f32> = (0..n)
        .flat_map(|_| [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
        .collect();
    per[2] = 0.0;
    per[D + 6] = 0.0;
    let per = Mask::new(per).unwrap();
    for variant in ["iterative", "sgd"] {
        for (mask, kept) in [(&shared, vec![1, 4]), (&per, vec![1, 2, 4, 6])] {
            let attack = universal(&format!("variant = \"{variant}\""), EPS, 7);
            let out = attack.generate(&clf, &x, None, Some(mask)).unwrap();
            assert_eq!(host(&x), xs, "the input changed");
            let v = attack.last_fit().unwrap().perturbation;
            for &j in &kept {
                assert_eq!(v[j], 0.0, "{variant}: masked feature {j} of v moved");
            }
            let adv = host(&out.adversarial);
            for i in 0..n {
                for j in 0..D {
                    let want = (xs[i * D + j] + v[j]).clamp(-0.6, 0.6);
                    assert!((adv[i * D + j] - want).abs() < 1e-6, "{variant}: row {i}");
                }
            }
            // Same seed, same bytes.
            let again = universal(&format!("variant = \"{variant}\""), EPS, 7);
            let out2 = again.generate(&clf, &x, None, Some(mask)).unwrap();
            assert_eq!(host(&out2.adversarial), adv, "{variant}: not reproducible");
            assert_eq!(again.last_fit().unwrap().perturbation, v);
        }
    }
}

/// Fraction of (example, shift) pairs fooled over every circular shift of `v`.
fn rate_over_all_shifts(clf: &dyn Classifier, xs: &[f32], n: usize, t: usize, v: &[f32]) -> f64 {
    let mut fooled = 0;
    for s in 0..t {
        let shifted: Vec<f32> = (0..t).map(|j| v[(j + t - s) % t]).collect();
        let adv = apply(clf, &tensor(xs, n, t), &shifted, None).unwrap();
        let p = argmax_rows(clf.logits(adv).unwrap());
        fooled += p.iter().filter(|&&c| c != 0).count();
    }
    fooled as f64 / (n * t) as f64
}

#[test]
fn shift_invariant_mode_fools_at_every_shift() {
    const T: usize = 16;
    let n = 32;
    let eps = 0.25;
    // A model that is not shift-invariant: class 1's weights alternate around a positive mean.
    // The best aligned perturbation eps·sign(w) alternates too, and at odd shifts pushes towards
    // class 0; the constant eps fools every example at every shift.
    let w_varying: Vec<f32> = (0..T)
        .map(|t| 1.0 + 3.0 * if t % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    // One that is: constant weights.
    let w_constant = vec![1.0f32; T];
    for (w1, invariant_model) in [(w_varying, false), (w_constant, true)] {
        let mut w = vec![0.0; T];
        w.extend(&w1);
        let clf = linear(&w, &[0.0, 0.0], 2, T, None);
        let sum: f32 = w1.iter().sum();
        let l2sq: f32 = w1.iter().map(|v| v * v).sum();
        let mut rng = Lcg(77);
        let mut xs = Vec::new();
        for _ in 0..n {
            // Margins below what the constant eps gives: eps·Σw.
            let margin = rng.range(0.05, 0.7) * eps * sum;
            let u = rng.vec(T, -0.3, 0.3);
            let along: f32 = w1.iter().zip(&u).map(|(a, b)| a * b).sum();
            let c = (-margin - along) / l2sq;
            xs.extend(u.iter().zip(&w1).map(|(a, b)| a + c * b));
        }
        let x = tensor(&xs, n, T);
        let plain = universal("variant = \"sgd\"\ndelta = 0.0\nmax_iter = 30", eps, 1);
        plain.generate(&clf, &x, None, None).unwrap();
        let shifted = universal(
            "variant = \"sgd\"\ndelta = 0.0\nmax_iter = 30\nshift_invariant = true\nbatch = 32",
            eps,
            1,
        );
        shifted.generate(&clf, &x, None, None).unwrap();
        let fit = shifted.last_fit().unwrap();
        let rate_plain =
            rate_over_all_shifts(&clf, &xs, n, T, &plain.last_fit().unwrap().perturbation);
        let rate_shifted = rate_over_all_shifts(&clf, &xs, n, T, &fit.perturbation);
        assert!(
            rate_shifted >= 0.8,
            "shift-invariant fit fools {rate_shifted} over shifts"
        );
        // Its own estimate (over 8 random shifts per example) agrees.
        assert!(
            (fit.fooling_rate - rate_shifted).abs() < 0.2,
            "{} vs {rate_shifted}",
            fit.fooling_rate
        );
        if invariant_model {
            assert!(
                rate_plain >= 0.99,
                "a shift-invariant model: the plain fit fools {rate_plain}"
            );
        } else {
            assert!(
                rate_plain <= 0.6,
                "the plain fit fools {rate_plain} over shifts"
            );
            assert!(rate_shifted > rate_plain + 0.3);
        }
    }
}

#[test]
fn bad_parameters_are_refused_by_name() {
    for (text, key) in [
        ("variant = \"adam\"", "variant"),
        ("delta = 1.5", "delta"),
        ("delta = -0.1", "delta"),
        ("max_iter = 0", "max_iter"),
        ("norm = 1", "norm"),
        ("attacker = \"universal\"", "attacker"),
        ("attacker = \"no-such-attack\"", "attacker"),
        ("attacker_params = { bogus = 1 }", "attacker_params"),
        ("attacker_params = { max_iter = 0 }", "attacker_params"),
        ("step = 0.5", "step"),
        ("variant = \"sgd\"\nstep = 0.0", "step"),
        ("variant = \"sgd\"\nbatch = 0", "batch"),
        ("variant = \"sgd\"\nattacker = \"pgd\"", "attacker"),
        ("eval_shifts = 4", "eval_shifts"),
        ("shift_invariant = true\neval_shifts = 0", "eval_shifts"),
        ("bogus = 1", "bogus"),
    ] {
        let e = spec::parse("universal", &mut Params::from_inline(table(text)))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
    let s = spec::parse("universal", &mut Params::from_inline(toml::Table::new())).unwrap();
    let mut r = run(EPS, 0);
    r.eps = Eps::PerExample(vec![0.1, 0.2]);
    assert!(
        s.build(&r)
            .map(|_| ())
            .unwrap_err()
            .to_string()
            .contains("eps")
    );
    r.eps = Eps::PerExample(vec![0.1, 0.1]);
    assert!(s.build(&r).is_ok());
    let mut r = run(EPS, 0);
    r.targeted = true;
    assert!(
        s.build(&r)
            .map(|_| ())
            .unwrap_err()
            .to_string()
            .contains("targeted")
    );
}

#[test]
fn cli_fits_one_perturbation_on_the_shipped_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let started = std::time::Instant::now();
    let doc = ok_json(&[
        "attack",
        "--model",
        "spoken-digits",
        "--attack",
        "universal",
        "--eps",
        "2048",
        "--param",
        "max_iter=2",
        "--out",
        s(&out),
        "examples/spoken-digits.npy",
        "--json",
    ]);
    let seconds = started.elapsed().as_secs_f64();
    assert!(doc["success_rate"].as_f64().unwrap() > 0.0, "{doc}");
    let fit = &doc["attack"]["fit"];
    assert!(fit["fooling_rate"].as_f64().unwrap() > 0.0, "{doc}");
    assert_eq!(doc["attack"]["name"], "universal");
    // One perturbation: every example moved by the same amount wherever it was not clipped.
    let linf: Vec<f64> = doc["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["linf"].as_f64().unwrap())
        .collect();
    assert!(linf.iter().all(|&l| l <= 2048.0 + 1e-3), "{linf:?}");
    assert!(seconds < 60.0, "{seconds} s");
    // The perturbation itself, next to the outputs: every output is the input plus it, clipped.
    let written = out.join("universal.perturbation.npy");
    assert_eq!(doc["attack"]["perturbation"], s(&written));
    let v = read_npy(&written).unwrap();
    assert_eq!(v.shape, vec![1, 8000]);
    assert!(v.data.iter().all(|x| x.abs() <= 2048.0) && v.data.iter().any(|x| *x != 0.0));
    let clean = read_npy(std::path::Path::new("examples/spoken-digits.npy")).unwrap();
    let adv = read_npy(&out.join("spoken-digits.adv.npy")).unwrap();
    for (i, (a, c)) in adv.data.iter().zip(&clean.data).enumerate() {
        let want = (c + v.data[i % 8000]).clamp(-32768.0, 32767.0);
        assert!((a - want).abs() < 1e-2, "value {i}: {a} vs {want}");
    }
}

#[test]
fn cli_plans_the_perturbation_path_with_the_other_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.npy");
    std::fs::copy("examples/spoken-digits.npy", &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let base = |extra: &[&str]| {
        let mut a = vec![
            "attack",
            "--model",
            "spoken-digits",
            "--attack",
            "universal",
            "--eps",
            "512",
            "--param",
            "max_iter=1",
            "--json",
        ];
        a.extend_from_slice(extra);
        a.push(s(&input));
        avfoil(&a)
    };
    // Onto the input, or onto another output: refused before any work, nothing written.
    let out = dir.path().join("o");
    let clash = base(&["--out", s(&out), "--perturbation", s(&input)]);
    assert!(!clash.status.success());
    assert!(String::from_utf8_lossy(&clash.stderr).contains("overwrite the input"));
    let adv = out.join("x.adv.npy");
    let twice = base(&["--out", s(&out), "--perturbation", s(&adv)]);
    assert!(!twice.status.success());
    assert!(!out.exists(), "an output appeared");
    assert_eq!(std::fs::read(&input).unwrap(), before);
    // A chosen path, and an output file beside which the default goes.
    let chosen = dir.path().join("v.npy");
    let single = dir.path().join("single.npy");
    let doc = ok_json(&[
        "attack",
        "--model",
        "spoken-digits",
        "--attack",
        "universal",
        "--eps",
        "512",
        "--param",
        "max_iter=1",
        "--json",
        "--out",
        s(&single),
        "--perturbation",
        s(&chosen),
        s(&input),
    ]);
    assert!(chosen.exists() && single.exists());
    assert_eq!(doc["attack"]["perturbation"], s(&chosen));
    // Only the universal attack has one.
    let other = avfoil(&[
        "attack",
        "--model",
        "spoken-digits",
        "--attack",
        "fgm",
        "--eps",
        "512",
        "--out",
        s(&out),
        "--perturbation",
        s(&chosen),
        s(&input),
    ]);
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("--perturbation"));
}
