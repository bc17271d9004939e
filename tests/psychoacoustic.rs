//! The psychoacoustic attack (Qin et al. 2019) and its masking threshold: the threshold against
//! ART's `PsychoacousticMasker` on a real clip (tests/fixtures/masking, written by
//! tools/make_masking_fixture.py), the masking loss's gradient against finite differences, the
//! attack's bounds, mask, determinism and refusals, and on the shipped spoken-digits model: it
//! fools digits, and its second stage puts more of the perturbation under the threshold.

mod common;

use avfoil::attack::psychoacoustic::PsychoacousticSpec;
use avfoil::attack::{Attack, AttackSpec, Eps, Mask, RunSettings};
use avfoil::audio::masking::Masker;
use avfoil::classifier::{Model, argmax_rows};
use avfoil::media::npy::read_npy;
use avfoil::params::{KeyStyle, Params};
use burn::tensor::{Device, Tensor};
use common::*;
use std::path::Path;

fn fixture() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/masking/threshold.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A threshold from the fixture: `null` is −∞.
fn frames(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f.as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap_or(f64::NEG_INFINITY))
        .collect()
}

/// The largest difference in dB between two thresholds (equal infinities count as 0), and how
/// many bins differ by more than `tolerance`.
fn compare(ours: &[f64], theirs: &[f64], tolerance: f64) -> (f64, usize) {
    assert_eq!(ours.len(), theirs.len());
    let mut worst = 0.0f64;
    let mut over = 0;
    for (a, b) in ours.iter().zip(theirs) {
        let diff = if a == b { 0.0 } else { (a - b).abs() };
        worst = worst.max(diff);
        if diff.is_nan() || diff > tolerance {
            over += 1;
        }
    }
    (worst, over)
}

/// Rust's threshold equals ART's on a quarter second of a real FSDD clip, at 8 kHz with a
/// 512-sample window and with the samples read as 16 kHz with a 1024-sample window: within
/// 0.01 dB in every bin, and so does ART's own (slipping) masker filter when asked for. ART's
/// STFT runs in float32 (librosa), ours in float64, hence a tolerance above rounding.
#[test]
fn masking_threshold_matches_art_on_a_real_clip() {
    let fx = fixture();
    let audio: Vec<f32> = fx["audio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    for case in fx["cases"].as_array().unwrap() {
        let window = case["window"].as_u64().unwrap() as usize;
        let hop = case["hop"].as_u64().unwrap() as usize;
        let rate = case["sample_rate"].as_u64().unwrap() as u32;
        let masker = Masker::new(window, hop, rate).unwrap();
        let t = masker.threshold(&audio).unwrap();
        assert_eq!(t.frames, case["frames"].as_u64().unwrap() as usize);
        assert_eq!(t.bins, case["bins"].as_u64().unwrap() as usize);
        let psd_max = case["psd_max"].as_f64().unwrap();
        assert!(
            (t.psd_max - psd_max).abs() < 1e-3,
            "{} vs {psd_max}",
            t.psd_max
        );
        let (worst, over) = compare(&t.threshold, &frames(&case["threshold"]), 0.01);
        assert_eq!(over, 0, "window {window}: worst difference {worst} dB");
        let art = masker.clone().art_compatible().threshold(&audio).unwrap();
        let (worst_art, over_art) = compare(&art.threshold, &frames(&case["threshold_art"]), 0.01);
        assert_eq!(
            over_art, 0,
            "ART's filter, window {window}: worst {worst_art} dB"
        );
        eprintln!(
            "window {window}: worst {worst:.2e} dB (fixed), {worst_art:.2e} dB (ART's filter)"
        );
    }
}

/// The masking loss's gradient by hand equals central differences on the real clip's threshold,
/// for a perturbation partly above it.
#[test]
fn masking_gradient_matches_finite_differences_on_a_real_clip() {
    let fx = fixture();
    let audio: Vec<f32> = fx["audio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let masker = Masker::new(512, 128, 8000).unwrap();
    let t = masker.threshold(&audio).unwrap();
    let mut rng = Lcg(7);
    let delta: Vec<f32> = (0..audio.len()).map(|_| rng.range(-30.0, 30.0)).collect();
    let (loss, grad) = t.loss_and_gradient(&masker, &delta).unwrap();
    assert!(
        loss > 0.0,
        "the perturbation should exceed the threshold somewhere"
    );
    let scale = grad.iter().fold(0.0f64, |a, g| a.max(g.abs()));
    for i in [0, 1, 200, 511, 512, 1000, 1333, 1999] {
        let h = 0.05f32;
        let mut up = delta.clone();
        up[i] += h;
        let mut down = delta.clone();
        down[i] -= h;
        let fd = (t.loss(&masker, &up).unwrap() - t.loss(&masker, &down).unwrap())
            / (f64::from(up[i]) - f64::from(down[i]));
        assert!(
            (fd - grad[i]).abs() <= 1e-3 * scale,
            "sample {i}: finite differences {fd}, by hand {} (largest {scale})",
            grad[i]
        );
    }
}

struct Lcg(u64);

impl Lcg {
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (hi - lo) * ((self.0 >> 40) as f32 / (1u64 << 24) as f32)
    }
}

fn digits() -> (Model, Tensor<2>) {
    let device = Device::flex();
    let model = Model::open("spoken-digits", &device).unwrap();
    let x = read_npy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy"))
        .unwrap();
    let x: Tensor<2> = x.to_tensor(4, &device);
    (model, x)
}

fn attack(eps: f32, targeted: bool, spec: PsychoacousticSpec) -> Box<dyn Attack> {
    spec.build(&RunSettings {
        eps: Eps::Scalar(eps),
        targeted,
        seed: 0,
        batch_size: 4,
        streams: None,
    })
    .unwrap()
}

fn quick(max_iter_1: usize, max_iter_2: usize) -> PsychoacousticSpec {
    PsychoacousticSpec {
        max_iter_1,
        max_iter_2,
        ..Default::default()
    }
}

/// The fraction of each example's perturbation energy below its clean clip's masking threshold
/// (window 512, hop 128 at 8 kHz).
fn below(clean: &[f32], adv: &[f32], d: usize) -> Vec<f64> {
    let masker = Masker::new(512, 128, 8000).unwrap();
    (0..clean.len() / d)
        .map(|i| {
            let c = &clean[i * d..(i + 1) * d];
            let delta: Vec<f32> = adv[i * d..(i + 1) * d]
                .iter()
                .zip(c)
                .map(|(a, b)| a - b)
                .collect();
            let t = masker.threshold(c).unwrap();
            t.fraction_below(&masker, &delta).unwrap().unwrap_or(1.0)
        })
        .collect()
}

/// Untargeted at eps 256 (int16 units) with 20 stage-1 and 60 stage-2 steps and ART's alpha:
/// stage 1 fools all four bundled digits, and stage 2 keeps them fooled while moving most of
/// the perturbation's energy under the clean clip's masking threshold (measured: 27-47% after
/// stage 1, above 99% after stage 2).
#[test]
fn stage_two_hides_the_perturbation_under_the_masking_threshold() {
    let (model, x) = digits();
    let clf = model.classifier.as_ref();
    let clean = host(&x);
    let labels = argmax_rows(clf.logits(x.clone()).unwrap());
    let one = attack(256.0, false, quick(20, 0));
    let out_1 = one.generate(clf, &x, None, None).unwrap();
    let two = attack(256.0, false, quick(20, 60));
    let out_2 = two.generate(clf, &x, None, None).unwrap();
    let fooled = |adv: &Tensor<2>| {
        let p = argmax_rows(clf.logits(adv.clone()).unwrap());
        p.iter()
            .zip(&labels)
            .map(|(a, b)| a != b)
            .collect::<Vec<bool>>()
    };
    let (fooled_1, fooled_2) = (fooled(&out_1.adversarial), fooled(&out_2.adversarial));
    let (below_1, below_2) = (
        below(&clean, &host(&out_1.adversarial), 8000),
        below(&clean, &host(&out_2.adversarial), 8000),
    );
    eprintln!("stage 1: fooled {fooled_1:?}, energy below threshold {below_1:.3?}");
    eprintln!("stage 2: fooled {fooled_2:?}, energy below threshold {below_2:.3?}");
    assert!(fooled_1.iter().filter(|&&f| f).count() >= 2, "{fooled_1:?}");
    for i in 0..4 {
        if fooled_1[i] {
            assert!(fooled_2[i], "stage 2 never makes an example worse: {i}");
            assert!(
                below_2[i] > below_1[i] + 0.2,
                "example {i}: {} after stage 1, {} after stage 2",
                below_1[i],
                below_2[i]
            );
        }
    }
}

/// Targeted at each digit's runner-up class: the attack reaches it on some digits, within eps.
#[test]
fn targeted_runs_reach_the_runner_up_class() {
    let (model, x) = digits();
    let clf = model.classifier.as_ref();
    let logits = host(&clf.logits(x.clone()).unwrap());
    let targets: Vec<usize> = (0..4)
        .map(|i| {
            let row = &logits[i * 10..(i + 1) * 10];
            let top = avfoil::classifier::argmax(row);
            (0..10)
                .filter(|&k| k != top)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap()
        })
        .collect();
    let out = attack(512.0, true, quick(20, 20))
        .generate(clf, &x, Some(&targets), None)
        .unwrap();
    let p = argmax_rows(clf.logits(out.adversarial.clone()).unwrap());
    let reached = p.iter().zip(&targets).filter(|(a, b)| a == b).count();
    eprintln!("targets {targets:?}, predictions {p:?}");
    assert!(reached >= 1, "targets {targets:?}, predictions {p:?}");
    let (clean, adv) = (host(&x), host(&out.adversarial));
    assert!(
        clean
            .iter()
            .zip(&adv)
            .all(|(a, b)| (a - b).abs() <= 512.0 + 1e-2)
    );
}

/// Within eps and the input range, masked samples untouched, the input unchanged, the same
/// output twice (there is nothing random), and a per-example eps honoured.
#[test]
fn the_attack_keeps_its_bounds_and_mask_and_is_deterministic() {
    let (model, x) = digits();
    let clf = model.classifier.as_ref();
    let clean = host(&x);
    // The first half of every clip may change, the second may not.
    let mask: Vec<f32> = (0..8000)
        .map(|j| if j < 4000 { 1.0 } else { 0.0 })
        .collect();
    let mask = Mask::new(mask).unwrap();
    let eps = vec![300.0f32, 100.0, 200.0, 50.0];
    let spec = quick(6, 8);
    let build = || {
        spec.build(&RunSettings {
            eps: Eps::PerExample(eps.clone()),
            targeted: false,
            seed: 3,
            batch_size: 3,
            streams: None,
        })
        .unwrap()
    };
    let out = build().generate(clf, &x, None, Some(&mask)).unwrap();
    let again = build().generate(clf, &x, None, Some(&mask)).unwrap();
    let adv = host(&out.adversarial);
    assert_eq!(adv, host(&again.adversarial));
    assert_eq!(host(&x), clean, "the input is left as it was");
    assert_eq!(out.eps, eps);
    let mut moved = 0;
    for i in 0..4 {
        for j in 0..8000 {
            let (c, a) = (clean[i * 8000 + j], adv[i * 8000 + j]);
            assert!((a - c).abs() <= eps[i] + 1e-2, "example {i} sample {j}");
            assert!((-32768.0..=32767.0).contains(&a));
            if j >= 4000 {
                assert_eq!(a, c, "masked sample {j} of example {i} moved");
            } else if a != c {
                moved += 1;
            }
        }
    }
    assert!(moved > 0);
}

/// Parameters are checked by name, video models and classifiers without a sample rate are
/// refused with errors that say why.
#[test]
fn bad_settings_and_video_models_are_refused() {
    let parse = |kv: &str| {
        let mut p = Params::new(KeyStyle::Flag);
        p.insert_assignment(kv).unwrap();
        avfoil::attack::spec::parse("psychoacoustic", &mut p).map(|_| ())
    };
    for (kv, key) in [
        ("decrease_factor_eps=1.5", "decrease_factor_eps"),
        ("alpha=-1", "alpha"),
        ("increase_factor_alpha=0.5", "increase_factor_alpha"),
        ("max_iter_1=0", "max_iter_1"),
        ("window=7", "window"),
        ("hop=0", "hop"),
        ("norm=2", "--norm"),
        ("steps=3", "--steps"),
    ] {
        let e = parse(kv).unwrap_err().to_string();
        assert!(e.contains(key), "{kv}: {e}");
    }
    parse("max_iter_2=0").unwrap();
    let spec = PsychoacousticSpec::default();
    let video = Model::open("actions", &Device::flex()).unwrap();
    let e = spec
        .check_input(&video.config.input)
        .unwrap_err()
        .to_string();
    assert!(e.contains("video"), "{e}");
    let audio = Model::open("spoken-digits", &Device::flex()).unwrap();
    spec.check_input(&audio.config.input).unwrap();
    // A classifier that does not know its sample rate needs the parameter.
    let clf = linear(&[0.0; 2 * 1024], &[0.0, 1.0], 2, 1024, Some((-1.0, 1.0)));
    let x = tensor(&vec![0.1; 1024], 1, 1024);
    let e = attack(0.1, false, quick(1, 1))
        .generate(&clf, &x, None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sample_rate"), "{e}");
}

/// `avfoil attack --attack psychoacoustic --json` reports, per example, the fraction of the
/// perturbation's energy below the masking threshold (`masked_energy`, for every audio attack).
#[test]
fn the_cli_reports_the_masked_energy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adv.npy");
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy");
    let doc = ok_json(&[
        "attack",
        "--model",
        "spoken-digits",
        "--attack",
        "psychoacoustic",
        "--eps",
        "256",
        "--param",
        "max_iter_1=10",
        "--param",
        "max_iter_2=10",
        "--out",
        s(&out),
        "--json",
        s(&input),
    ]);
    assert_eq!(doc["attack"]["name"], "psychoacoustic");
    assert_eq!(doc["attack"]["alpha"], 0.05);
    for e in doc["examples"].as_array().unwrap() {
        let m = e["masked_energy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&m), "{e}");
        assert!(e["linf"].as_f64().unwrap() <= 256.0 + 1e-2);
    }
}
