//! Budgets in physical units on the command line: `--snr-db` (per clip, from its own level),
//! `--dbfs` (a level on the recording's scale) and `--eps-uint8` (8-bit pixel steps), each
//! reported as the eps of every example, and refused with --eps, on the wrong modality or out of
//! range.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy")
}

fn clips() -> Vec<Vec<f32>> {
    let x = avfoil::media::npy::read_npy(&digits()).unwrap();
    x.data.chunks(8000).map(|c| c.to_vec()).collect()
}

fn pgd(budget: &[&str], norm: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adv.npy");
    let input = digits();
    let mut args = vec![
        "attack",
        "--model",
        "spoken-digits",
        "--attack",
        "pgd",
        "--norm",
        norm,
        "--max-iter",
        "3",
        "--out",
        s(&out),
        "--json",
    ];
    args.extend_from_slice(budget);
    args.push(s(&input));
    ok_json(&args)
}

/// `--snr-db 30`: each clip's eps is its RMS 30 dB down (L∞) or its norm 30 dB down (L2), and
/// every adversarial clip is at least 30 dB above its perturbation.
#[test]
fn snr_budgets_follow_each_clip_and_keep_the_snr() {
    let clips = clips();
    for norm in ["inf", "2"] {
        let doc = pgd(&["--snr-db", "30"], norm);
        assert_eq!(doc["attack"]["budget"]["snr_db"], 30.0);
        for (e, clip) in doc["examples"].as_array().unwrap().iter().zip(&clips) {
            let energy: f64 = clip.iter().map(|v| f64::from(*v).powi(2)).sum();
            let expected = match norm {
                "inf" => (energy / 8000.0).sqrt() * 10f64.powf(-1.5),
                _ => energy.sqrt() * 10f64.powf(-1.5),
            };
            let eps = e["eps"].as_f64().unwrap();
            assert!(
                (eps - expected).abs() <= 1e-4 * expected,
                "{norm}: {eps} vs {expected}"
            );
            let snr = e["snr_db"].as_f64().unwrap();
            assert!(snr >= 30.0 - 1e-3, "{norm}: SNR {snr} dB");
        }
        // Clips differ in level, so their budgets do.
        let eps: Vec<f64> = doc["examples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["eps"].as_f64().unwrap())
            .collect();
        assert!(eps.iter().any(|&e| (e - eps[0]).abs() > 1.0), "{eps:?}");
    }
}

/// `--dbfs -40` on an int16-scale model: a peak of 32768/100 for L∞, the RMS for L2.
#[test]
fn dbfs_budgets_are_levels_on_the_full_scale() {
    let doc = pgd(&["--dbfs", "-40"], "inf");
    assert_eq!(doc["attack"]["budget"]["dbfs"], -40.0);
    for e in doc["examples"].as_array().unwrap() {
        assert!((e["eps"].as_f64().unwrap() - 327.68).abs() < 1e-3, "{e}");
        assert!(e["linf"].as_f64().unwrap() <= 327.68 + 1e-2);
    }
    let doc = pgd(&["--dbfs", "-40"], "2");
    for e in doc["examples"].as_array().unwrap() {
        let expected = 327.68 * 8000f64.sqrt();
        assert!((e["eps"].as_f64().unwrap() - expected).abs() < 1e-2, "{e}");
    }
}

/// `--eps-uint8 8` on the [0, 1] video model is 8/255.
#[test]
fn uint8_budgets_are_pixel_steps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adv");
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/v_Basketball_g02_c01.mp4");
    let doc = ok_json(&[
        "attack",
        "--model",
        "actions",
        "--attack",
        "fgm",
        "--eps-uint8",
        "8",
        "--out",
        s(&out),
        "--json",
        s(&clip),
    ]);
    assert_eq!(doc["attack"]["budget"]["uint8"], 8.0);
    for e in doc["examples"].as_array().unwrap() {
        assert!(
            (e["eps"].as_f64().unwrap() - 8.0 / 255.0).abs() < 1e-6,
            "{e}"
        );
        assert!(e["linf"].as_f64().unwrap() <= 8.0 / 255.0 + 1e-6);
    }
}

/// One budget only, on the right modality, in range; each error names its flag.
#[test]
fn conflicting_or_misplaced_budgets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adv.npy");
    let input = digits();
    let run = |budget: &[&str]| {
        let mut args = vec![
            "attack",
            "--model",
            "spoken-digits",
            "--attack",
            "fgm",
            "--out",
            s(&out),
        ];
        args.extend_from_slice(budget);
        args.push(s(&input));
        let o = avfoil(&args);
        assert!(!o.status.success(), "{budget:?} should fail");
        assert!(!out.exists(), "nothing is written");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = run(&["--eps", "3", "--snr-db", "30"]);
    assert!(e.contains("--snr-db") && e.contains("--eps"), "{e}");
    let e = run(&["--snr-db", "30", "--dbfs", "-40"]);
    assert!(e.contains("--snr-db") && e.contains("--dbfs"), "{e}");
    let e = run(&[]);
    assert!(e.contains("--eps"), "{e}");
    let e = run(&["--eps-uint8", "8"]);
    assert!(e.contains("--eps-uint8") && e.contains("video"), "{e}");
    let e = run(&["--dbfs", "6"]);
    assert!(e.contains("--dbfs") && e.contains("0 dBFS"), "{e}");
    let e = run(&["--dbfs", "-40", "--norm", "1"]);
    assert!(e.contains("--dbfs"), "{e}");
}
