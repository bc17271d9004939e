//! The new defences through the binary on the shipped models and bundled inputs: `defend` applies a
//! chain exactly as the library does, `attack --defence` goes through it (BPDA or the exact
//! gradient), and a randomised defence's draws follow `--seed`.

use crate::common::{avfoil, ok_json, s};
use crate::{apply, audio, build};
use avfoil::media::npy::read_npy;
use std::path::{Path, PathBuf};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

#[test]
fn audio_defences_on_the_spoken_digits_model() {
    let dir = tempfile::tempdir().unwrap();
    let input = example("spoken-digits.npy");
    let out = dir.path().join("defended.npy");
    let doc = ok_json(&[
        "defend",
        "--model",
        "spoken-digits",
        "--defence",
        "lowpass,bit-depth",
        "--defence-param",
        "lowpass.cutoff=1500",
        "--defence-param",
        "bit-depth.bits=6",
        "--out",
        s(&out),
        "--json",
        s(&input),
    ]);
    assert_eq!(doc["defences"], serde_json::json!(["lowpass", "bit-depth"]));
    // The file holds the chain's output, computed here through the library.
    let x = read_npy(&input).unwrap();
    let n = x.shape[0];
    let config = audio(1, 8000);
    let low = build("lowpass", &["cutoff=1500"], &config).unwrap();
    let bits = build("bit-depth", &["bits=6"], &config).unwrap();
    let want = apply(&*bits, &apply(&*low, &x.data, n, 0), n, 0);
    let got = read_npy(&out).unwrap();
    assert_eq!(got.shape, x.shape);
    assert_eq!(got.data, want);

    // FGM through the moving average (exact gradient): the perturbation stays in the budget and
    // the report names the defence.
    let adv = dir.path().join("adv.npy");
    let doc = ok_json(&[
        "attack",
        "--model",
        "spoken-digits",
        "--attack",
        "fgm",
        "--eps",
        "512",
        "--defence",
        "moving-average",
        "--defence-param",
        "moving-average.window=5",
        "--out",
        s(&adv),
        "--json",
        s(&input),
    ]);
    assert_eq!(doc["defences"], serde_json::json!(["moving-average"]));
    for e in doc["examples"].as_array().unwrap() {
        assert!(e["linf"].as_f64().unwrap() <= 512.0 + 1e-3, "{e}");
    }

    // A missing parameter and a defence of the other modality are named.
    for (defence, words) in [
        ("lowpass", ["--defence lowpass", "cutoff"]),
        ("jpeg", ["--defence jpeg", "video model"]),
    ] {
        let out = dir.path().join("x.npy");
        let o = avfoil(&[
            "defend",
            "--model",
            "spoken-digits",
            "--defence",
            defence,
            "--out",
            s(&out),
            s(&input),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && words.iter().all(|w| err.contains(w)),
            "{err}"
        );
        assert!(!out.exists(), "nothing written");
    }
}

/// The one `.npy` file in `dir`.
fn npy_in(dir: &Path) -> avfoil::array::Array {
    let npy = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "npy"))
        .unwrap_or_else(|| panic!("no .npy in {}", dir.display()));
    read_npy(&npy).unwrap()
}

#[test]
fn video_defences_on_the_actions_model() {
    let dir = tempfile::tempdir().unwrap();
    let input = example("v_Basketball_g02_c01.mp4");
    let defended = dir.path().join("defended");
    let doc = ok_json(&[
        "defend",
        "--model",
        "actions",
        "--defence",
        "jpeg,frame-subsample",
        "--defence-param",
        "jpeg.quality=30",
        "--out",
        s(&defended),
        "--json",
        s(&input),
    ]);
    assert_eq!(
        doc["defences"],
        serde_json::json!(["jpeg", "frame-subsample"])
    );
    assert!(
        doc["examples"][0]["linf"].as_f64().unwrap() > 0.0,
        "the clip changed"
    );
    // [3, 16, 60, 80]: odd frames hold the even ones before them.
    let y = npy_in(&defended).data;
    let (frames, plane) = (16, 60 * 80);
    assert_eq!(y.len(), 3 * frames * plane);
    for c in 0..3 {
        for t in (1..frames).step_by(2) {
            let at = |t: usize| (c * frames + t) * plane;
            assert_eq!(y[at(t)..at(t) + plane], y[at(t - 1)..at(t - 1) + plane]);
        }
    }

    // FGM through median smoothing and random frame dropping: the draws follow --seed.
    let run = |name: &str, seed: &str| -> Vec<f32> {
        let out = dir.path().join(name);
        let doc = ok_json(&[
            "attack",
            "--model",
            "actions",
            "--attack",
            "fgm",
            "--eps",
            "0.03",
            "--defence",
            "median-spatial,frame-drop",
            "--defence-param",
            "frame-drop.p=0.3",
            "--seed",
            seed,
            "--out",
            s(&out),
            "--json",
            s(&input),
        ]);
        assert_eq!(
            doc["defences"],
            serde_json::json!(["median-spatial", "frame-drop"])
        );
        assert!(doc["examples"][0]["linf"].as_f64().unwrap() <= 0.03 + 1e-6);
        npy_in(&out).data
    };
    let a = run("a", "3");
    assert_eq!(a, run("b", "3"), "same seed, same draws, same clip");
    assert_ne!(a, run("c", "4"), "another seed, other draws");
}
