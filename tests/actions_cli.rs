//! The action pipeline through the binary on a tiny corpus: `data actions` writes UCF101's layout,
//! `train --arch c3d-lite` reads it back through the UCF101 loader and the video decoder, and the
//! model it writes classifies video files directly.

mod common;
use avfoil::data::ucf101::{Part, Ucf101};
use avfoil::media::npy::read_npy;
use avfoil::video::io::read_video;
use common::{avfoil, ok_json, s};
use std::path::Path;

fn corpus(out: &Path, seed: &str) {
    let o = avfoil(&[
        "data",
        "actions",
        "--out",
        s(out),
        "--groups",
        "3",
        "--clips",
        "1",
        "--frames",
        "10",
        "--size",
        "64x48",
        "--format",
        "mp4",
        "--seed",
        seed,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn actions_corpus_has_ucf101_layout_and_is_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    corpus(&a, "5");
    let ucf = Ucf101::open(&a).unwrap();
    assert_eq!(ucf.classes.len(), 10);
    assert_eq!(ucf.classes[0], "Basketball");
    let lists = a.join("ucfTrainTestlist");
    let class_ind = std::fs::read_to_string(lists.join("classInd.txt")).unwrap();
    assert!(class_ind.starts_with("1 Basketball\r\n"));
    // 3 groups: split 1 tests group 1 (round(7·3/25) = 1), trains on groups 2-3.
    let test = ucf.split(1, Part::Test).unwrap();
    let train = ucf.split(1, Part::Train).unwrap();
    assert_eq!((train.len(), test.len()), (20, 10));
    assert!(test.iter().all(|i| i.group == Some(1)));
    let clip = a.join("UCF-101/JumpRope/v_JumpRope_g02_c01.mp4");
    let video = read_video(&clip).unwrap();
    assert_eq!(
        (video.width, video.height, video.frame_count()),
        (64, 48, 10)
    );
    assert!((video.fps - 25.0).abs() < 1e-6);
    // Same seed, same bytes; another seed, other frames.
    let b = dir.path().join("b");
    corpus(&b, "5");
    let rel = "UCF-101/YoYo/v_YoYo_g03_c01.mp4";
    assert_eq!(
        std::fs::read(a.join(rel)).unwrap(),
        std::fs::read(b.join(rel)).unwrap()
    );
    let c = dir.path().join("c");
    corpus(&c, "6");
    assert_ne!(
        std::fs::read(a.join(rel)).unwrap(),
        std::fs::read(c.join(rel)).unwrap()
    );
}

#[test]
fn c3d_lite_trains_on_the_corpus_and_classifies_video_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("actions");
    corpus(&data, "1");
    let model = dir.path().join("model");
    let o = avfoil(&[
        "train",
        "--arch",
        "c3d-lite",
        "--data",
        s(&data),
        "--frames",
        "4",
        "--size",
        "16x12",
        "--stride",
        "2",
        "--jitter",
        "1",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--seed",
        "3",
        "--out",
        s(&model),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("held-out accuracy on testlist01"),
        "{stdout}"
    );
    let toml = std::fs::read_to_string(model.join("model.toml")).unwrap();
    assert!(
        toml.contains("architecture = \"c3d-lite\"") && toml.contains("[input.sampling]"),
        "{toml}"
    );
    let training: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("training.json")).unwrap()).unwrap();
    assert_eq!(training["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(training["data"]["train"], 20);

    // The model reads a video file through its sampling: 4 frames (0, 2, 4, 6), 16 × 12.
    let clip = data.join("UCF-101/Swing/v_Swing_g01_c01.mp4");
    let doc = ok_json(&["predict", "--model", s(&model), "--json", s(&clip)]);
    let predictions = doc["predictions"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(predictions.len(), 1);

    // An attack on a video file writes the exact clip (.npy) and a viewing copy (.mp4).
    let out = dir.path().join("adv");
    let doc = ok_json(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "fgm",
        "--eps",
        "0.03",
        "--out",
        s(&out),
        "--json",
        s(&clip),
    ]);
    assert!(
        doc["examples"][0]["linf"].as_f64().unwrap() <= 0.03 + 1e-6,
        "{doc}"
    );
    let adv = read_npy(&out.join("v_Swing_g01_c01.adv.npy")).unwrap();
    assert_eq!(adv.shape, vec![3, 4, 12, 16]);
    // 16 × 12 is below OpenH264's 16 × 16: the viewing copy is enlarged 2×.
    let watch = read_video(&out.join("v_Swing_g01_c01.adv.mp4")).unwrap();
    assert_eq!(
        (watch.width, watch.height, watch.frame_count()),
        (32, 24, 4)
    );

    // Too few frames for the sampling: a clear error naming the file, nothing written.
    let short = dir.path().join("short");
    corpus_short(&short);
    let clip = short.join("UCF-101/Swing/v_Swing_g01_c01.mp4");
    let o = avfoil(&["predict", "--model", s(&model), s(&clip)]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("v_Swing_g01_c01.mp4") && err.contains("loop"),
        "{err}"
    );
}

fn corpus_short(out: &Path) {
    let o = avfoil(&[
        "data",
        "actions",
        "--out",
        s(out),
        "--groups",
        "1",
        "--clips",
        "1",
        "--frames",
        "3",
        "--size",
        "64x48",
        "--format",
        "mp4",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bad_actions_arguments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--groups", "0"),
        ("--size", "33x48"),
        ("--size", "big"),
        ("--format", "mov"),
    ] {
        let o = avfoil(&["data", "actions", "--out", s(dir.path()), flag, value]);
        assert!(!o.status.success(), "{flag} {value}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&flag[2..]) || err.contains(value),
            "{flag} {value}: {err}"
        );
    }
}
