//! The perceptual measures against the Python reference implementations, on the fixtures written
//! by tools/make_perception_fixtures.py: PESQ against the `pesq` package (mode 'nb'), STOI against
//! pystoi, SSIM against skimage. Measured agreement: PESQ within 3e-7 (f32 output), STOI and SSIM
//! within 1e-15; the bounds below leave room for other platforms' float summation order.

use avfoil::audio::wav::read_wav;
use avfoil::media::npy::read_npy;
use avfoil::perception::{pesq::pesq_mos, seg_snr::seg_snr_db, ssim::ssim_per_frame, stoi::stoi};
use avfoil::scale::AudioScale;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/perception")
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A fixture WAV in int16 units (read_wav gives full scale ±1).
fn wav(name: &str) -> (Vec<f32>, u32) {
    let w = read_wav(&dir().join(name)).unwrap();
    (
        w.samples.iter().map(|v| v * 32768.0).collect(),
        w.sample_rate,
    )
}

struct Case {
    clean: Vec<f32>,
    degraded: Vec<f32>,
    rate: u32,
    pesq: f64,
    stoi: f64,
    label: String,
}

fn audio_cases() -> Vec<Case> {
    reference()["audio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let (clean, rate) = wav(c["clean"].as_str().unwrap());
            let (degraded, _) = wav(c["degraded"].as_str().unwrap());
            Case {
                clean,
                degraded,
                rate,
                pesq: c["pesq_nb"].as_f64().unwrap(),
                stoi: c["stoi"].as_f64().unwrap(),
                label: c["degraded"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

#[test]
fn pesq_agrees_with_the_python_pesq_package() {
    for c in audio_cases() {
        let got = pesq_mos(&c.clean, &c.degraded, c.rate, AudioScale::Int16).unwrap();
        assert!(
            (f64::from(got) - c.pesq).abs() < 1e-3,
            "{}: pesq {got}, python {}",
            c.label,
            c.pesq
        );
    }
}

#[test]
fn pesq_does_not_depend_on_the_units() {
    let c = &audio_cases()[1];
    let unit = |s: &[f32]| s.iter().map(|v| v / 32768.0).collect::<Vec<f32>>();
    let a = pesq_mos(&c.clean, &c.degraded, c.rate, AudioScale::Int16).unwrap();
    let b = pesq_mos(
        &unit(&c.clean),
        &unit(&c.degraded),
        c.rate,
        AudioScale::Unit,
    )
    .unwrap();
    assert_eq!(a, b);
}

#[test]
fn stoi_agrees_with_pystoi() {
    for c in audio_cases() {
        let got = stoi(&c.clean, &c.degraded, c.rate).unwrap();
        assert!(
            (got - c.stoi).abs() < 1e-9,
            "{}: stoi {got}, pystoi {}",
            c.label,
            c.stoi
        );
    }
}

#[test]
fn more_noise_scores_lower_on_every_audio_measure() {
    // Cases come in threes per clip: identical, 20 dB, 5 dB.
    for clip in audio_cases().chunks(3) {
        let score = |c: &Case| {
            (
                pesq_mos(&c.clean, &c.degraded, c.rate, AudioScale::Int16).unwrap(),
                stoi(&c.clean, &c.degraded, c.rate).unwrap(),
                seg_snr_db(&c.clean, &c.degraded, c.rate).unwrap(),
            )
        };
        let (same, mild, loud) = (score(&clip[0]), score(&clip[1]), score(&clip[2]));
        assert!(
            same.0 > 4.5 && (same.1 - 1.0).abs() < 1e-12 && same.2 == 35.0,
            "{same:?}"
        );
        assert!(
            same.0 > mild.0 && mild.0 > loud.0,
            "pesq {same:?} {mild:?} {loud:?}"
        );
        assert!(
            same.1 > mild.1 && mild.1 > loud.1,
            "stoi {same:?} {mild:?} {loud:?}"
        );
        assert!(
            same.2 > mild.2 && mild.2 > loud.2,
            "seg snr {same:?} {mild:?} {loud:?}"
        );
    }
}

#[test]
fn ssim_agrees_with_skimage_and_falls_with_noise() {
    let clean = read_npy(&dir().join("video_clean.npy")).unwrap();
    let same = ssim_per_frame(&clean.data, &clean.data, &clean.shape, 1.0).unwrap();
    assert!(same.iter().all(|v| (v - 1.0).abs() < 1e-12), "{same:?}");
    let mut means = vec![];
    for case in reference()["video"].as_array().unwrap() {
        let adv = read_npy(&dir().join(case["degraded"].as_str().unwrap())).unwrap();
        let got = ssim_per_frame(&clean.data, &adv.data, &clean.shape, 1.0).unwrap();
        let want: Vec<f64> = case["ssim_per_frame"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-9, "ssim {g}, skimage {w}");
        }
        means.push(got.iter().sum::<f64>() / got.len() as f64);
    }
    // The fixture's noise levels are 0.02 then 0.1.
    assert!(means[0] > means[1], "{means:?}");
}
