//! Video attacks through the binary on a tiny linear model of `[1, 4, 2, 2]` clips: frame saliency,
//! explicit frame selection, and `perturbed_frames` in the JSON.

mod common;
use avfoil::array::Array;
use avfoil::media::npy::{read_npy, write_npy};
use common::{avfoil, ok_json, s, write_linear_model};
use std::path::{Path, PathBuf};

const D: usize = 16;

fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    // Frame 2 matters most, frame 0 least; alternating signs within a frame keep the clean margin
    // small on mid-grey clips.
    let w: Vec<f32> = (0..2 * D)
        .map(|i| {
            let frame = (i % D) / 4;
            let v = [0.5, 1.0, 4.0, 2.0][frame] * if i % 2 == 0 { 1.0 } else { -1.0 };
            if i < D { v } else { -v }
        })
        .collect();
    let input = "modality = \"video\"\nshape = [1, 4, 2, 2]\nclip = [0.0, 1.0]";
    let model = write_linear_model(dir, "clips", ["a", "b"], input, w);
    let x = dir.join("x.npy");
    let data: Vec<f32> = (0..2 * D).map(|i| 0.5 + 0.01 * (i % 5) as f32).collect();
    write_npy(&x, &Array::new(vec![2, 1, 4, 2, 2], data).unwrap()).unwrap();
    (model, x)
}

fn changed_frames(clean: &[f32], adv: &[f32], e: usize) -> Vec<usize> {
    (0..4)
        .filter(|f| (0..4).any(|j| clean[e * D + f * 4 + j] != adv[e * D + f * 4 + j]))
        .collect()
}

#[test]
fn frame_saliency_perturbs_the_most_salient_frame_first() {
    let dir = tempfile::tempdir().unwrap();
    let (model, x) = setup(dir.path());
    let out = dir.path().join("adv.npy");
    let doc = ok_json(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "frame-saliency",
        "--method",
        "iterative",
        "--eps",
        "0.1",
        "--out",
        s(&out),
        "--json",
        s(&x),
    ]);
    assert_eq!(doc["attack"]["name"], "frame-saliency");
    assert_eq!(doc["attack"]["attacker"]["name"], "fgm");
    let clean = read_npy(&x).unwrap().data;
    let adv = read_npy(&out).unwrap().data;
    for e in 0..2 {
        let ex = &doc["examples"][e];
        assert_eq!(ex["success"], true);
        // eps 0.1 on frame 2 alone moves the logit margin by 2·4·4·0.1 = 3.2, more than its size.
        assert_eq!(changed_frames(&clean, &adv, e), [2]);
        assert_eq!(ex["perturbed_frames"], 1);
    }
}

#[test]
fn frame_saliency_bisection_is_opt_in_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (model, x) = setup(dir.path());
    let run = |search: Option<&str>, out: &str| {
        let out = dir.path().join(out);
        let mut args = vec![
            "attack",
            "--model",
            s(&model),
            "--attack",
            "frame-saliency",
            "--eps",
            "0.002",
            "--out",
            s(&out),
            "--json",
            s(&x),
        ];
        if let Some(search) = search {
            args.extend(["--search", search]);
        }
        let doc = ok_json(&args);
        (doc, read_npy(&out).unwrap().data)
    };
    let (linear, adv_linear) = run(None, "linear.npy");
    let (bisect, adv_bisect) = run(Some("bisect"), "bisect.npy");
    assert_eq!(linear["attack"]["search"], "linear");
    assert_eq!(bisect["attack"]["search"], "bisect");
    // Two classes, linear: success is monotone in the frames kept, so bisection finds ART's k.
    assert_eq!(adv_linear, adv_bisect);
    let clean = read_npy(&x).unwrap().data;
    let k: Vec<usize> = (0..2)
        .map(|e| changed_frames(&clean, &adv_bisect, e).len())
        .collect();
    assert!(k.iter().any(|&k| k > 1), "frames kept: {k:?}");
}

#[test]
fn frames_option_restricts_any_attack_and_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let (model, x) = setup(dir.path());
    let out = dir.path().join("adv.npy");
    let doc = ok_json(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "pgd",
        "--eps",
        "0.05",
        "--frames",
        "0,3",
        "--out",
        s(&out),
        "--json",
        s(&x),
    ]);
    let clean = read_npy(&x).unwrap().data;
    let adv = read_npy(&out).unwrap().data;
    for e in 0..2 {
        assert_eq!(changed_frames(&clean, &adv, e), [0, 3]);
        assert_eq!(doc["examples"][e]["perturbed_frames"], 2);
    }
    let o = avfoil(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "fgm",
        "--eps",
        "0.05",
        "--frames",
        "4",
        "--out",
        s(&dir.path().join("bad.npy")),
        s(&x),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--frames") && err.contains("4 frames"),
        "{err}"
    );
}

#[test]
fn h264_defence_and_adaptive_attack_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = 3 * 2 * 16 * 16;
    let w: Vec<f32> = (0..2 * d)
        .map(|i| if (i % d) % 2 == 0 { 0.01 } else { -0.01 } * if i < d { 1.0 } else { -1.0 })
        .collect();
    let input = "modality = \"video\"\nshape = [3, 2, 16, 16]\nclip = [0.0, 1.0]";
    let model = write_linear_model(dir.path(), "rgb", ["a", "b"], input, w);
    let x = dir.path().join("x.npy");
    let clip: Vec<f32> = (0..d).map(|i| ((i / 7) % 11) as f32 / 11.0).collect();
    write_npy(&x, &Array::new(vec![3, 2, 16, 16], clip.clone()).unwrap()).unwrap();

    let out = dir.path().join("defended.npy");
    let doc = ok_json(&[
        "defend",
        "--model",
        s(&model),
        "--defence",
        "h264",
        "--crf",
        "30",
        "--out",
        s(&out),
        "--json",
        s(&x),
    ]);
    assert_eq!(doc["defences"][0], "h264");
    let y = read_npy(&out).unwrap();
    assert_eq!(y.shape, vec![3, 2, 16, 16]);
    assert!(y.data.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_ne!(y.data, clip, "lossy at CRF 30");

    let adv = dir.path().join("adv.npy");
    let attack = ok_json(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "pgd",
        "--eps",
        "0.1",
        "--max-iter",
        "5",
        "--defence",
        "h264",
        "--qp",
        "20",
        "--out",
        s(&adv),
        "--json",
        s(&x),
    ]);
    assert_eq!(attack["defences"][0], "h264");
    assert!(attack["examples"][0]["linf"].as_f64().unwrap() <= 0.1 + 1e-5);
    assert_eq!(attack["examples"][0]["perturbed_frames"], 2);

    let o = avfoil(&[
        "defend",
        "--model",
        s(&model),
        "--out",
        s(&dir.path().join("none")),
        s(&x),
    ]);
    assert!(!o.status.success() && !dir.path().join("none").exists());
}

#[test]
fn h264_backend_x264_needs_the_ffmpeg_feature() {
    let dir = tempfile::tempdir().unwrap();
    let d = 3 * 2 * 16 * 16;
    let w: Vec<f32> = (0..2 * d)
        .map(|i| if i < d { 0.01 } else { -0.01 })
        .collect();
    let input = "modality = \"video\"\nshape = [3, 2, 16, 16]\nclip = [0.0, 1.0]";
    let model = write_linear_model(dir.path(), "rgb", ["a", "b"], input, w);
    let x = dir.path().join("x.npy");
    let clip: Vec<f32> = (0..d).map(|i| ((i / 7) % 11) as f32 / 11.0).collect();
    write_npy(&x, &Array::new(vec![3, 2, 16, 16], clip).unwrap()).unwrap();
    let out = dir.path().join("defended.npy");
    let args = [
        "defend",
        "--model",
        s(&model),
        "--defence",
        "h264",
        "--h264-backend",
        "x264",
        "--crf",
        "30",
        "--out",
        s(&out),
        "--json",
        s(&x),
    ];
    if cfg!(feature = "ffmpeg") {
        let doc = ok_json(&args);
        assert_eq!(doc["defences"][0], "h264");
        assert_eq!(read_npy(&out).unwrap().shape, vec![3, 2, 16, 16]);
    } else {
        let o = avfoil(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("--features ffmpeg"),
            "{err}"
        );
        assert!(!out.exists());
    }
}
