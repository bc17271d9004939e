//! The audio pipeline through the binary on a tiny model: WAV in, PGD, the MP3 defence, the adaptive
//! attack through it, WAV and PNG out, and the outcome after 16-bit rounding.
//!
//! The model is a two-class linear "tone detector" on 0.1 s at 8 kHz (a 300 Hz template against a
//! 1 kHz one), so every command runs in milliseconds and the attack's target is known.

mod common;
use common::{avfoil, ok_json, s, write_linear_model, write_stereo_wav};

use serde_json::Value;
use std::path::{Path, PathBuf};

const LEN: usize = 800;

fn tone(freq: f32, rate: f32, n: usize, amp: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate).sin() * amp)
        .collect()
}

/// The tone detector's model directory and a 300 Hz input recorded at 16 kHz (16-bit).
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let mut weight = tone(300.0, 8000.0, LEN, 1e-5);
    weight.extend(tone(1000.0, 8000.0, LEN, 1e-5));
    let input = format!(
        "modality = \"audio\"\nshape = [1, {LEN}]\nclip = [-32768.0, 32767.0]\nsample_rate = 8000"
    );
    let model = write_linear_model(dir, "tones", ["low", "high"], &input, weight);
    let wav = dir.join("low.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for v in tone(300.0, 16000.0, 2 * LEN, 1000.0) {
        w.write_sample(v.round() as i16).unwrap();
    }
    w.finalize().unwrap();
    (model, wav)
}

fn class_of(doc: &Value, i: usize) -> String {
    doc["examples"][i]["adversarial"]["class"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn attack_defence_and_adaptive_attack_on_wav() {
    let dir = tempfile::tempdir().unwrap();
    let (model, wav) = setup(dir.path());
    let pred = ok_json(&["predict", "--model", s(&model), "--json", s(&wav)]);
    assert_eq!(pred["predictions"][0]["class"], "low");

    // PGD on the undefended model: WAV out, 32-bit float, exactly what was reported.
    let out = dir.path().join("adv");
    let doc = ok_json(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "pgd",
        "--eps",
        "1500",
        "--max-iter",
        "20",
        "--out",
        s(&out),
        "--json",
        "--plots",
        s(&wav),
    ]);
    assert_eq!(doc["examples"][0]["success"], true);
    // A budget above the signal's own amplitude: the SNR is negative, and reported.
    assert!(doc["examples"][0]["snr_db"].as_f64().unwrap() < 0.0);
    // Beside it, segmental SNR; PESQ (needs 0.25 s) and STOI (about 0.4 s of speech) are left out
    // of this 0.1 s clip rather than made up; video's measures are absent.
    let e = &doc["examples"][0];
    assert!(e["seg_snr_db"].as_f64().unwrap() < 10.0, "{e}");
    for absent in ["pesq", "stoi", "ssim", "flicker"] {
        assert!(e.get(absent).is_none(), "{absent}: {e}");
    }
    let adv_wav = out.join("low.adv.wav");
    let adv = avfoil::audio::wav::read_wav(&adv_wav).unwrap();
    assert_eq!((adv.sample_rate, adv.samples.len()), (8000, LEN));
    let again = ok_json(&["predict", "--model", s(&model), "--json", s(&adv_wav)]);
    assert_eq!(again["predictions"][0]["class"], class_of(&doc, 0));
    for png in ["low.waveform.png", "low.spectrogram.png", "low.masking.png"] {
        assert!(
            std::fs::metadata(out.join(png)).unwrap().len() > 1000,
            "{png}"
        );
    }

    // The MP3 defence on the adversarial clip: same length, and its prediction reported.
    let defended = dir.path().join("defended.wav");
    let d = ok_json(&[
        "defend",
        "--model",
        s(&model),
        "--defence",
        "mp3",
        "--out",
        s(&defended),
        "--json",
        s(&adv_wav),
    ]);
    assert_eq!(d["defences"][0], "mp3");
    assert_eq!(
        avfoil::audio::wav::read_wav(&defended)
            .unwrap()
            .samples
            .len(),
        LEN
    );
    let snr = d["examples"][0]["snr_db"].as_f64().unwrap();
    assert!(
        snr > 3.0 && snr < 40.0,
        "MP3 at 8 kb/s changes the clip: {snr} dB"
    );

    // The adaptive attack through MP3 succeeds against the defended model, and what it reports is
    // what the defended model says about the file it wrote.
    let out2 = dir.path().join("adaptive");
    let adaptive = ok_json(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "pgd",
        "--eps",
        "1500",
        "--max-iter",
        "20",
        "--defence",
        "mp3",
        "--out",
        s(&out2),
        "--json",
        s(&wav),
    ]);
    assert_eq!(adaptive["defences"][0], "mp3");
    assert_eq!(adaptive["examples"][0]["success"], true);
    let check = ok_json(&[
        "defend",
        "--model",
        s(&model),
        "--defence",
        "mp3",
        "--out",
        s(&dir.path().join("check")),
        "--json",
        s(&out2.join("low.adv.wav")),
    ]);
    assert_eq!(check["examples"][0]["after"], class_of(&adaptive, 0));
}

#[test]
fn wav_int16_reports_whether_the_attack_survives_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let (model, wav) = setup(dir.path());
    // Half an int16 step cannot survive rounding; a large budget can.
    for (eps, survives) in [("0.4", false), ("1500", true)] {
        let out = dir.path().join(format!("q{eps}.wav"));
        let doc = ok_json(&[
            "attack",
            "--model",
            s(&model),
            "--attack",
            "fgm",
            "--eps",
            eps,
            "--wav-int16",
            "--out",
            s(&out),
            "--json",
            s(&wav),
        ]);
        let q = &doc["examples"][0]["int16"];
        assert_eq!(q["success"], survives, "eps {eps}: {q}");
        let back = avfoil::audio::wav::read_wav(&out).unwrap();
        let bits = hound::WavReader::open(&out).unwrap().spec().bits_per_sample;
        assert_eq!((bits, back.samples.len()), (16, LEN));
    }
}

#[test]
fn bad_audio_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = setup(dir.path());
    let stereo = dir.path().join("stereo.wav");
    write_stereo_wav(&stereo, 50);
    let text = dir.path().join("text.wav");
    std::fs::write(&text, "not audio").unwrap();
    let nan = dir.path().join("nan.npy");
    let mut x = vec![0f32; LEN];
    x[5] = f32::NAN;
    avfoil::media::npy::write_npy(&nan, &avfoil::array::Array::new(vec![1, LEN], x).unwrap())
        .unwrap_or(());
    for (input, want) in [
        (&stereo, "2 channels"),
        (&text, "RIFF"),
        (&nan, "not finite"),
    ] {
        let out = dir.path().join("out");
        let o = avfoil(&[
            "attack",
            "--model",
            s(&model),
            "--attack",
            "fgm",
            "--eps",
            "1",
            "--out",
            s(&out),
            s(input),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(
            err.contains(input.file_name().unwrap().to_str().unwrap()) && err.contains(want),
            "{err}"
        );
        assert!(!out.exists(), "no output for a bad input");
    }
    let o = avfoil(&[
        "defend",
        "--model",
        s(&model),
        "--defence",
        "mp3",
        "--mp3-bitrate",
        "100",
        "--out",
        s(&dir.path().join("x")),
        s(&stereo),
    ]);
    assert!(!o.status.success());
}

#[test]
fn train_writes_a_loadable_model_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/audiomnist");
    let o = avfoil(&[
        "train",
        "--arch",
        "raw-audio-cnn",
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--seed",
        "5",
        "--placement",
        "random",
        "--mp3-augment",
        "0.5",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("4 training and 2 held-out clips (held-out speakers 51,56)"),
        "{stderr}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("training.json")).unwrap()).unwrap();
    assert_eq!(report["config"]["seed"], 5);
    assert_eq!(report["placement"], "random");
    assert_eq!(report["epochs"].as_array().unwrap().len(), 1);
    let pred = ok_json(&[
        "predict",
        "--model",
        s(&out),
        "--json",
        s(&data.join("56/6_56_49.wav")),
    ]);
    assert_eq!(
        pred["predictions"][0]["probabilities"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    // PyTorch key names, as a PyTorch user would load them.
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.names().contains(&"conv1.1.running_var"));
}

#[test]
fn adversarial_training_records_its_adversary_and_robust_accuracies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/audiomnist");
    let o = avfoil(&[
        "train",
        "--arch",
        "raw-audio-cnn",
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--seed",
        "5",
        "--adversarial",
        "pgd",
        "--eps",
        "200",
        "--adv-steps",
        "2",
        "--robust-subset",
        "1",
        "--robust-steps",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("train adv acc") && stderr.contains("robust (PGD, subset)"),
        "{stderr}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("training.json")).unwrap()).unwrap();
    let hardening = &report["hardening"];
    assert_eq!(hardening["adversarial"]["name"], "pgd");
    let params = &hardening["adversarial"]["params"];
    assert_eq!(params["eps"], 200.0);
    assert_eq!(params["steps"], 2);
    assert_eq!(params["step"], 250.0);
    assert_eq!(params["random_start"], true);
    assert_eq!(params["seed"], 5);
    assert!(hardening["gaussian_noise"].is_null());
    let robust = &hardening["robust_evaluation"];
    assert_eq!(robust["attack"], "pgd");
    assert_eq!(robust["eps"], 200.0);
    assert_eq!(robust["steps"], 2);
    assert_eq!(robust["subset"], 1);
    assert!(
        robust["examples"]
            .as_str()
            .unwrap()
            .contains("fixed subset")
    );
    let epochs = report["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for e in epochs {
        let robust = e["robust_heldout"].as_array().unwrap();
        assert_eq!(robust.len(), 1, "{e}");
        let acc = robust[0][1].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{e}");
        assert!(
            e["train_accuracy"].is_null() && e["train_robust_accuracy"].is_f64(),
            "{e}"
        );
        assert!(e["heldout"][0][1].is_f64(), "{e}");
    }
}

#[test]
fn training_flags_are_checked_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/audiomnist");
    let base = [
        "train",
        "--arch",
        "raw-audio-cnn",
        "--data",
        s(&data),
        "--out",
        s(&out),
    ];
    for (extra, want) in [
        (&["--adversarial", "pgd"][..], "--eps"),
        (
            &["--adversarial", "madry", "--eps", "9"][..],
            "unknown adversary \"madry\"",
        ),
        (
            &["--adversarial", "pgd", "--eps", "9", "--beta", "3"][..],
            "--beta: not a parameter of pgd",
        ),
        (&["--adversarial", "fast", "--eps=-1"][..], "eps"),
        (
            &["--adversarial", "trades", "--eps", "9", "--beta=-1"][..],
            "--beta",
        ),
        (
            &["--adversarial", "pgd", "--eps", "9", "--adv-steps", "0"][..],
            "--adv-steps",
        ),
        (
            &["--adv-steps", "3"][..],
            "--adv-steps configures --adversarial",
        ),
        (&["--gaussian-noise", "0"][..], "gaussian-noise"),
        (
            &[
                "--gaussian-noise",
                "100",
                "--adversarial",
                "pgd",
                "--eps",
                "9",
            ][..],
            "gaussian-noise",
        ),
        (&["--eps", "9", "--robust-subset", "0"][..], "robust-subset"),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let o = avfoil(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?} was accepted");
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(
            !err.contains("training and"),
            "{extra:?} loaded data first: {err}"
        );
        assert!(!out.exists());
    }
}
