//! The `avfoil` binary end to end on the PyTorch fixture model: predict, attack, JSON documents,
//! output files, and clear errors (naming the parameter, no output written) for bad arguments.

mod common;
use common::{avfoil, ok_json, s};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/raw_audio_cnn")
        .join(name)
}

#[test]
fn predict_json_agrees_with_pytorch() {
    let model = fixture("");
    let doc = ok_json(&[
        "predict",
        "--model",
        s(&model),
        "--json",
        s(&fixture("x.npy")),
    ]);
    let logits = avfoil::media::npy::read_npy(&fixture("logits.npy"))
        .unwrap()
        .data;
    let preds = doc["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 3);
    for (i, p) in preds.iter().enumerate() {
        let row = &logits[i * 10..(i + 1) * 10];
        let want = row
            .iter()
            .enumerate()
            .fold(0, |b, (j, v)| if *v > row[b] { j } else { b });
        assert_eq!(p["label"].as_u64().unwrap() as usize, want);
        assert_eq!(p["item"].as_u64().unwrap() as usize, i);
        let sum: f64 = p["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-5);
        for (j, l) in p["logits"].as_array().unwrap().iter().enumerate() {
            assert!((l.as_f64().unwrap() - row[j] as f64).abs() < 1e-4);
        }
        assert_eq!(p["top"].as_array().unwrap().len(), 5);
    }
}

#[test]
fn attack_writes_the_adversarial_array_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adv.npy");
    let doc = ok_json(&[
        "attack",
        "--model",
        s(&fixture("")),
        "--attack",
        "pgd",
        "--eps",
        "64",
        "--eps-step",
        "16",
        "--max-iter",
        "10",
        "--seed",
        "7",
        "--random-init",
        "1",
        "--out",
        s(&out),
        "--json",
        s(&fixture("x.npy")),
    ]);
    assert_eq!(doc["attack"]["name"], "pgd");
    assert_eq!(doc["attack"]["eps"], 64.0);
    assert_eq!(doc["attack"]["seed"], 7);
    let x = avfoil::media::npy::read_npy(&fixture("x.npy")).unwrap();
    let adv = avfoil::media::npy::read_npy(&out).unwrap();
    assert_eq!(adv.shape, x.shape);
    let examples = doc["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 3);
    let mut successes = 0;
    for (i, e) in examples.iter().enumerate() {
        let linf = (0..8000)
            .map(|j| (adv.data[i * 8000 + j] - x.data[i * 8000 + j]).abs())
            .fold(0.0, f32::max);
        assert!(linf <= 64.0 + 1e-3);
        assert!((e["linf"].as_f64().unwrap() - linf as f64).abs() < 1e-3);
        let flipped = e["clean"]["label"] != e["adversarial"]["label"];
        assert_eq!(e["success"].as_bool().unwrap(), flipped);
        successes += flipped as usize;
    }
    assert!((doc["success_rate"].as_f64().unwrap() - successes as f64 / 3.0).abs() < 1e-9);
    // What it asked of the model: one forward pass for the labels (none were given), then ten
    // gradients of the batch of three.
    assert_eq!(doc["queries"]["forwards"], 1);
    assert_eq!(doc["queries"]["gradients"], 10);
    assert_eq!(doc["queries"]["gradient_rows"], 30);
}

#[test]
fn any_parameter_goes_through_param_flags_checked_by_the_attack_or_defence_itself() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adv.npy");
    let (model, x) = (fixture(""), fixture("x.npy"));
    let base = [
        "attack",
        "--model",
        s(&model),
        "--attack",
        "pgd",
        "--eps",
        "64",
        "--out",
        s(&out),
        "--json",
    ];
    let mut args = base.to_vec();
    args.extend(["--param", "max_iter=2", "--param", "step=0.5", s(&x)]);
    let doc = ok_json(&args);
    assert_eq!(doc["attack"]["max_iter"], 2);
    assert_eq!(doc["attack"]["eps_step"], 32.0);
    std::fs::remove_file(&out).unwrap();
    // Unknown to the attack, or of the wrong type: refused, naming the flag, before any output.
    for (extra, needle) in [
        (vec!["--param", "steps=4"], "--steps"),
        (vec!["--param", "max_iter=many"], "--max-iter"),
        (vec!["--param", "step=0.5", "--eps-step", "1"], "--eps-step"),
        (vec!["--inner", "fgm"], "--inner"),
        (vec!["--defence", "mp3", "--crf", "20"], "--crf"),
        (
            vec!["--defence", "mp3", "--mp3-bitrate", "17"],
            "--mp3-bitrate",
        ),
        (vec!["--defence", "jpeg"], "jpeg"),
    ] {
        let mut args = base.to_vec();
        args.extend(extra.iter().copied());
        args.push(s(&x));
        let o = avfoil(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(needle),
            "{extra:?}: {err}"
        );
        assert!(!out.exists(), "{extra:?} wrote an output");
    }
    // A defence parameter by name: MP3 at 16 kb/s in front of the model.
    let mut args = base.to_vec();
    args.extend([
        "--max-iter",
        "1",
        "--defence",
        "mp3",
        "--defence-param",
        "mp3.bitrate=16",
        s(&x),
    ]);
    let doc = ok_json(&args);
    assert_eq!(doc["defences"], serde_json::json!(["mp3"]));
}

#[test]
fn list_prints_the_catalog_that_docs_hold() {
    let o = avfoil(&["list"]);
    assert!(o.status.success());
    let listed = String::from_utf8(o.stdout).unwrap();
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/catalog.md"))
            .unwrap();
    assert!(
        docs.ends_with(&listed),
        "docs/catalog.md is out of date: regenerate it from `avfoil list`"
    );
    for name in [
        "### `pgd`",
        "### `mp3`",
        "`raw-audio-cnn`",
        "| `max_iter` | 100 |",
    ] {
        assert!(listed.contains(name), "{name}");
    }
}

#[test]
fn targeted_fgm_by_class_name_and_folder_output() {
    let dir = tempfile::tempdir().unwrap();
    let doc = ok_json(&[
        "attack",
        "--model",
        s(&fixture("")),
        "--attack",
        "fgm",
        "--eps",
        "2000",
        "--targeted",
        "--target",
        "3",
        "--out",
        s(dir.path()),
        "--json",
        s(&fixture("x.npy")),
    ]);
    assert!(dir.path().join("x.adv.npy").exists());
    for e in doc["examples"].as_array().unwrap() {
        assert_eq!(
            e["success"].as_bool().unwrap(),
            e["adversarial"]["class"] == "3"
        );
    }
}

#[test]
fn invalid_arguments_fail_with_a_message_naming_them_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adv.npy");
    let (m, x) = (fixture(""), fixture("x.npy"));
    let base = |extra: &[&'static str]| {
        let mut v: Vec<String> = [
            "attack",
            "--model",
            s(&m),
            "--attack",
            "pgd",
            "--out",
            s(&out),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        v.extend(extra.iter().map(|a| a.to_string()));
        v.push(s(&x).to_string());
        v
    };
    let cases: Vec<(Vec<&'static str>, &str)> = vec![
        (vec!["--eps", "0.5", "--norm", "0"], "norm"),
        (vec!["--eps", "0.5", "--norm", "abc"], "norm"),
        (vec!["--eps", "-1"], "eps"),
        (vec!["--eps", "x"], "eps"),
        (vec!["--eps", "0.5", "--eps-step", "0"], "eps_step"),
        (vec!["--eps", "0.5", "--eps-step", "-1"], "eps_step"),
        (vec!["--eps", "0.5,0.5", "--eps-step", "0.1"], "eps_step"),
        (vec!["--eps", "0.5", "--random-init", "1.0"], "random-init"),
        (vec!["--eps", "0.5", "--random-init", "-1"], "random-init"),
        (vec!["--eps", "0.5", "--batch-size", "0"], "batch-size"),
        (vec!["--eps", "0.5", "--batch-size", "-1"], "batch-size"),
        (vec!["--eps", "0.5", "--max-iter", "-1"], "max-iter"),
        (vec!["--eps", "0.5", "--decay", "-1"], "decay"),
        (vec!["--eps", "0.5", "--targeted"], "target"),
        (
            vec!["--eps", "0.5", "--targeted", "--target", "eleven"],
            "target",
        ),
        (vec!["--eps", "0.5", "--labels", "1,2"], "labels"),
        (vec!["--eps", "0.5", "--minimal"], "minimal"),
    ];
    for (extra, needle) in cases {
        let args = base(&extra);
        let o = Command::new(env!("CARGO_BIN_EXE_avfoil"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?} was accepted");
        assert!(
            err.contains(needle),
            "{extra:?}: error does not name {needle}: {err}"
        );
        assert!(!err.contains("panicked"), "{extra:?} panicked: {err}");
        assert!(!out.exists(), "{extra:?} left an output file");
    }
}

#[test]
fn bad_inputs_and_models_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.npy");
    avfoil::media::npy::write_npy(
        &wrong,
        &avfoil::array::Array {
            shape: vec![1, 7999],
            data: vec![0.0; 7999],
        },
    )
    .unwrap();
    let o = avfoil(&["predict", "--model", s(&fixture("")), s(&wrong)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("wrong.npy") && err.contains("[1, 8000]"),
        "{err}"
    );
    let o = avfoil(&["predict", "--model", s(dir.path()), s(&fixture("x.npy"))]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("model"), "{err}");
    let o = avfoil(&[
        "--device",
        "cuda",
        "predict",
        "--model",
        s(&fixture("")),
        s(&fixture("x.npy")),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    if !cfg!(feature = "cuda") {
        assert!(
            !o.status.success() && err.contains("--features cuda"),
            "{err}"
        );
    }
}

#[test]
fn every_command_has_help() {
    for cmd in [
        vec!["--help"],
        vec!["predict", "--help"],
        vec!["attack", "--help"],
    ] {
        let o = avfoil(&cmd);
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("Usage"));
    }
}

#[test]
fn demo_runs_on_embedded_defaults_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_avfoil"))
        .current_dir(dir.path())
        .args([
            "demo",
            "audio",
            "--eps",
            "64",
            "--max-iter",
            "3",
            "--adaptive-iter",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    for step in ["pgd", "adaptive_pgd_through_mp3"] {
        let run = &doc[step];
        assert_eq!(run["attack"]["eps"], 64.0);
        let examples = run["examples"].as_array().unwrap();
        assert_eq!(examples.len(), 4);
        for (e, truth) in examples.iter().zip(["1", "3", "5", "8"]) {
            assert_eq!(e["true_class"], truth);
            assert!(e["linf"].as_f64().unwrap() <= 64.0 + 1e-3);
        }
    }
    assert_eq!(doc["pgd"]["attack"]["max_iter"], 3);
    assert_eq!(doc["pgd"]["attack"]["early_stop"], true);
    assert_eq!(doc["adaptive_pgd_through_mp3"]["attack"]["max_iter"], 2);
    assert_eq!(doc["mp3_on_clean"].as_array().unwrap().len(), 4);
    let demo = dir.path().join("avfoil-demo");
    for name in ["1_george_0", "8_nicolas_0"] {
        for suffix in [".wav", ".pgd.wav", ".adaptive.wav"] {
            let wav = avfoil::audio::wav::read_wav(&demo.join(format!("{name}{suffix}"))).unwrap();
            assert_eq!((wav.sample_rate, wav.samples.len()), (8000, 8000));
        }
        for png in [".pgd.waveform.png", ".pgd.spectrogram.png"] {
            assert!(demo.join(format!("{name}{png}")).is_file());
        }
    }
    let report: Value =
        serde_json::from_slice(&std::fs::read(demo.join("report.json")).unwrap()).unwrap();
    assert_eq!(report, doc);
}

#[test]
fn shipped_model_classifies_the_bundled_digits() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy");
    let doc = ok_json(&[
        "predict",
        "--model",
        "spoken-digits",
        "--json",
        s(&examples),
    ]);
    let classes: Vec<&str> = doc["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["1", "3", "5", "8"]);
}

#[test]
fn unknown_model_names_list_the_shipped_ones() {
    let o = avfoil(&["predict", "--model", "no-such-model", s(&fixture("x.npy"))]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no-such-model") && err.contains("spoken-digits"),
        "{err}"
    );
}

#[test]
fn a_mask_file_limits_the_perturbation() {
    let dir = tempfile::tempdir().unwrap();
    let (mask_path, out) = (dir.path().join("mask.npy"), dir.path().join("adv.npy"));
    let mut mask = vec![0.0f32; 8000];
    mask[1000..1100].fill(1.0);
    avfoil::media::npy::write_npy(
        &mask_path,
        &avfoil::array::Array {
            shape: vec![1, 8000],
            data: mask.clone(),
        },
    )
    .unwrap();
    ok_json(&[
        "attack",
        "--model",
        s(&fixture("")),
        "--attack",
        "pgd",
        "--eps",
        "100",
        "--max-iter",
        "3",
        "--random-init",
        "1",
        "--mask",
        s(&mask_path),
        "--out",
        s(&out),
        "--json",
        s(&fixture("x.npy")),
    ]);
    let x = avfoil::media::npy::read_npy(&fixture("x.npy"))
        .unwrap()
        .data;
    let adv = avfoil::media::npy::read_npy(&out).unwrap().data;
    let mut moved = 0;
    for (i, (a, b)) in adv.iter().zip(&x).enumerate() {
        if mask[i % 8000] == 0.0 {
            assert_eq!(a, b, "sample {i} is masked but moved");
        } else {
            moved += (a != b) as usize;
        }
    }
    assert!(
        moved > 250,
        "only {moved} of the 300 unmasked samples moved"
    );
}

#[test]
fn video_demo_tells_the_notebook_story_on_the_shipped_action_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_avfoil"))
        .current_dir(dir.path())
        .args(["demo", "video", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = doc["top5"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    // The bundled clip is a Basketball the model gets right; the attacks stay within 8/255.
    assert_eq!(steps[0]["top5"][0][0], "Basketball");
    for run in ["fgm", "frame_saliency"] {
        let e = &doc[run]["examples"][0];
        assert!(
            e["linf"].as_f64().unwrap() <= 8.0 / 255.0 + 1e-6,
            "{run}: {e}"
        );
        assert_eq!(e["true_class"], "Basketball");
    }
    let fsa = &doc["frame_saliency"]["examples"][0];
    let frames = fsa["perturbed_frames"].as_u64().unwrap();
    assert!((1..=16).contains(&frames), "{fsa}");
    let demo = dir.path().join("avfoil-demo");
    for gif in ["clean", "fgm", "saliency", "saliency.h264"] {
        let video =
            avfoil::video::io::read_video(&demo.join(format!("v_Basketball_g02_c01.{gif}.gif")))
                .unwrap();
        assert_eq!(
            (video.width, video.height, video.frame_count()),
            (320, 240, 16)
        );
    }
    assert!(
        demo.join("v_Basketball_g02_c01.saliency.frames.png")
            .is_file()
    );
}
