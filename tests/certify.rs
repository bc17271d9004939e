//! Randomised smoothing: certificates on a linear model, where the smoothed classifier and its
//! largest certifiable radius are known in closed form, and the `certify` command.
//!
//! For a two-class linear model with logit margin `m(x) = w·x + b`, the base classifier under
//! noise `N(0, σ²I)` picks the top class with probability `p_A = Φ(|m(x)| / (σ‖w‖))`, so the exact
//! certified radius `σ·Φ⁻¹(p_A)` is `|m(x)| / ‖w‖`: the distance to the decision boundary. A
//! Monte-Carlo certificate must never exceed it and comes close for large `n`.

mod common;

use avfoil::certify::bounds::normal_quantile;
use avfoil::certify::{Certificate, SmoothingConfig, certify};
use common::{avfoil, linear, ok_json};

const D: usize = 16;

/// Class 1 has weights `w`, class 0 zeros: the margin is `w·x`.
fn model_and_direction() -> (avfoil::classifier::NeuralClassifier, Vec<f32>) {
    let w: Vec<f32> = (0..D).map(|i| ((i as f32) * 0.7).sin() + 0.3).collect();
    let mut weights = vec![0f32; D];
    weights.extend_from_slice(&w);
    (linear(&weights, &[0.0, 0.0], 2, D, None), w)
}

/// A point at signed distance `dist` from the boundary along the unit normal.
fn at_distance(w: &[f32], dist: f32) -> Vec<f32> {
    let norm = w.iter().map(|v| v * v).sum::<f32>().sqrt();
    w.iter().map(|v| v / norm * dist).collect()
}

fn config(n: usize, batch_size: usize, seed: u64) -> SmoothingConfig {
    SmoothingConfig {
        sigma: 0.5,
        n0: 100,
        n,
        alpha: 0.001,
        batch_size,
        seed,
    }
}

#[test]
fn certified_radius_is_below_and_close_to_the_distance_to_the_boundary() {
    let (clf, w) = model_and_direction();
    for (dist, class) in [(0.5f32, 1usize), (-0.35, 0)] {
        let x = at_distance(&w, dist);
        let cert = certify(&clf, &x, 0, &config(20_000, 1000, 1)).unwrap();
        assert_eq!(cert.prediction, Some(class), "{cert:?}");
        let r = cert.radius.unwrap();
        let exact = f64::from(dist.abs());
        assert!(r <= exact, "certified {r} beyond the true distance {exact}");
        assert!(r >= 0.9 * exact, "certified {r}, true distance {exact}");
        // The count is a binomial draw around n·Φ(dist/σ).
        let p = (cert.count as f64) / 20_000.0;
        let p_true = statrs_cdf(exact / 0.5);
        assert!((p - p_true).abs() < 0.01, "vote share {p} vs {p_true}");
        assert_eq!(cert.counts.iter().sum::<usize>(), 20_000);
    }
}

/// Φ(z) through the quantile, by bisection: keeps the test on the crate's public API.
fn statrs_cdf(z: f64) -> f64 {
    let (mut lo, mut hi) = (1e-12, 1.0 - 1e-12);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if normal_quantile(mid) < z {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[test]
fn unanimous_votes_give_the_closed_form_radius() {
    // Far from the boundary every noisy copy votes alike: the Clopper-Pearson bound for n out of n
    // is alpha^(1/n), so the radius is σ·Φ⁻¹(alpha^(1/n)) exactly.
    let (clf, w) = model_and_direction();
    let x = at_distance(&w, 50.0);
    let c = config(5_000, 512, 0);
    let cert = certify(&clf, &x, 0, &c).unwrap();
    assert_eq!(cert.count, 5_000);
    let want = 0.5 * normal_quantile(0.001f64.powf(1.0 / 5_000.0));
    assert!(
        (cert.radius.unwrap() - want).abs() < 1e-9,
        "{cert:?} vs {want}"
    );
    let norm = 50.0f64;
    let db = 20.0 * (want / norm).log10();
    assert!((cert.radius_db.unwrap() - db).abs() < 1e-3);
}

#[test]
fn abstains_on_the_boundary() {
    let (clf, w) = model_and_direction();
    let x = at_distance(&w, 0.0);
    let cert = certify(&clf, &x, 0, &config(2_000, 256, 0)).unwrap();
    assert_eq!(cert.prediction, None, "{cert:?}");
    assert_eq!(cert.radius, None);
    assert!(cert.p_lower < 0.5);
}

#[test]
fn same_seed_same_certificate_whatever_the_batch_size() {
    let (clf, w) = model_and_direction();
    let x = at_distance(&w, 0.2);
    let run =
        |batch, seed| -> Certificate { certify(&clf, &x, 3, &config(3_000, batch, seed)).unwrap() };
    let a = run(1000, 7);
    assert_eq!(a, run(7, 7), "batch size changed the draws");
    assert_ne!(
        a.counts,
        run(1000, 8).counts,
        "another seed, the same draws"
    );
    // The example index is part of the stream: two examples never share noise.
    let b = certify(&clf, &x, 4, &config(3_000, 1000, 7)).unwrap();
    assert_ne!(a.counts, b.counts);
}

#[test]
fn bad_parameters_are_refused_by_name() {
    let (clf, w) = model_and_direction();
    let x = at_distance(&w, 0.2);
    let cases: [(SmoothingConfig, &str); 4] = [
        (
            SmoothingConfig {
                sigma: 0.0,
                ..config(10, 10, 0)
            },
            "sigma",
        ),
        (
            SmoothingConfig {
                alpha: 0.7,
                ..config(10, 10, 0)
            },
            "alpha",
        ),
        (
            SmoothingConfig {
                n: 0,
                ..config(10, 10, 0)
            },
            "n0/n",
        ),
        (
            SmoothingConfig {
                batch_size: 0,
                ..config(10, 10, 0)
            },
            "batch-size",
        ),
    ];
    for (c, name) in cases {
        let err = certify(&clf, &x, 0, &c).unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
    let err = certify(&clf, &x[..5], 0, &config(10, 10, 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("16 values"), "{err}");
}

#[test]
fn cli_certifies_the_bundled_digits_reproducibly() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/spoken-digits.npy");
    let args = [
        "certify",
        "--model",
        "spoken-digits",
        "--sigma",
        "100",
        "--n",
        "150",
        "--n0",
        "10",
        "--alpha",
        "0.01",
        "--seed",
        "5",
        "--json",
        "--quiet",
        examples,
    ];
    let doc = ok_json(&args);
    let certs = doc["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 4);
    assert_eq!(doc["config"]["sigma"], 100.0);
    assert_eq!(doc["config"]["seed"], 5);
    let mut certified = 0;
    for c in certs {
        assert_eq!(c["n"], 150);
        let votes: u64 = c["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(votes, 150);
        if c["prediction"].is_null() {
            assert!(c["radius"].is_null());
        } else {
            certified += 1;
            let r = c["radius"].as_f64().unwrap();
            let p = c["p_lower"].as_f64().unwrap();
            assert!((r - 100.0 * normal_quantile(p)).abs() < 1e-6 * r.max(1.0));
            assert!(c["radius_db"].as_f64().unwrap() < 0.0);
        }
    }
    assert!(certified >= 2, "a sigma of 100 int16 steps is mild: {doc}");
    assert_eq!(doc, ok_json(&args), "same seed, same certificates");
}

#[test]
fn cli_refuses_bad_parameters_before_loading_anything() {
    let out = avfoil(&[
        "certify",
        "--model",
        "spoken-digits",
        "--sigma",
        "-1",
        "x.npy",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sigma"), "{err}");
}
