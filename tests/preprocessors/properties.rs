//! What every new defence keeps, on random inputs: the shape, the model's range, the caller's
//! tensor, the same output for the same random stream, and (deterministic ones) each example's
//! output whatever batch it is in. Bad parameters and a model of the wrong modality are refused
//! with errors naming the parameter or the defence.

use crate::common::{Lcg, host};
use crate::{apply, audio, batch, build, video};
use avfoil::model::InputConfig;
use proptest::prelude::*;

const AUDIO: &[(&str, &[&str])] = &[
    ("resample", &["rate=3000"]),
    ("lowpass", &["cutoff=2000", "taps=21"]),
    ("bandpass", &["low=200", "high=3000", "taps=20"]),
    ("bit-depth", &["bits=5"]),
    ("median", &["window=5"]),
    ("moving-average", &["window=6"]),
];

const VIDEO: &[(&str, &[&str])] = &[
    ("jpeg", &["quality=20"]),
    ("median-spatial", &["window=3"]),
    ("bit-depth", &["bits=2"]),
    ("frame-subsample", &["every=2"]),
    ("frame-drop", &["p=0.5"]),
];

fn keeps_everything(defences: &[(&str, &[&str])], input: &InputConfig, x: &[f32], n: usize) {
    let [lo, hi] = input.clip.unwrap();
    for (name, params) in defences {
        let d = build(name, params, input).unwrap();
        let tensor = batch(x, n);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(7);
        let y = host(&d.forward(tensor.clone(), &mut rng).unwrap());
        assert_eq!(host(&tensor), x, "{name}: input untouched");
        assert_eq!(y.len(), x.len(), "{name}: shape kept");
        assert!(
            y.iter().all(|v| (lo..=hi).contains(v)),
            "{name}: within [{lo}, {hi}]"
        );
        assert_eq!(y, apply(&*d, x, n, 0), "{name}: same stream, same output");
        let other = apply(&*d, x, n, 1);
        assert_eq!(
            y != other,
            d.randomised(),
            "{name}: another stream, another draw iff randomised"
        );
        if !d.randomised() {
            let d1 = x.len() / n;
            let last = apply(&*d, &x[(n - 1) * d1..], 1, 0);
            assert_eq!(last, y[(n - 1) * d1..], "{name}: independent of the batch");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn audio_defences_keep_shape_range_input_and_draws(seed in any::<u64>(), n in 1usize..4, loud in 0.01f32..1.0) {
        let mut rng = Lcg(seed);
        let x = rng.vec(n * 2 * 500, -32768.0 * loud, 32767.0 * loud);
        keeps_everything(AUDIO, &audio(2, 500), &x, n);
    }

    #[test]
    fn video_defences_keep_shape_range_input_and_draws(seed in any::<u64>(), n in 1usize..3) {
        let mut rng = Lcg(seed);
        let x = rng.vec(n * 3 * 8 * 12 * 10, 0.0, 1.0);
        keeps_everything(VIDEO, &video(8, 12, 10), &x, n);
    }
}

fn error(name: &str, params: &[&str], input: &InputConfig) -> String {
    build(name, params, input)
        .err()
        .unwrap_or_else(|| panic!("{name} {params:?} accepted"))
        .to_string()
}

#[test]
fn bad_parameters_are_named_with_what_was_expected() {
    let a = audio(1, 8000);
    let v = video(4, 16, 16);
    for (name, params, input, words) in [
        ("lowpass", vec![], &a, vec!["cutoff", "missing"]),
        (
            "lowpass",
            vec!["cutoff=4000"],
            &a,
            vec!["cutoff", "below half", "4000"],
        ),
        ("lowpass", vec!["cutoff=-5"], &a, vec!["cutoff", "positive"]),
        (
            "lowpass",
            vec!["cutoff=1000", "taps=1"],
            &a,
            vec!["taps", "2 to 4096"],
        ),
        (
            "bandpass",
            vec!["low=2000", "high=1000"],
            &a,
            vec!["high", "above low"],
        ),
        (
            "resample",
            vec!["rate=8000"],
            &a,
            vec!["rate", "below the model's 8000 Hz"],
        ),
        ("resample", vec!["rate=10"], &a, vec!["rate", "10 Hz"]),
        ("bit-depth", vec!["bits=0"], &a, vec!["bits", "1 to 24"]),
        ("median", vec!["window=1"], &a, vec!["window", "2 or more"]),
        (
            "moving-average",
            vec!["window=0"],
            &a,
            vec!["window", "2 or more"],
        ),
        ("jpeg", vec!["quality=101"], &v, vec!["quality", "1 to 100"]),
        (
            "median-spatial",
            vec!["window=1"],
            &v,
            vec!["window", "2 or more"],
        ),
        (
            "frame-subsample",
            vec!["every=1"],
            &v,
            vec!["every", "2 or more"],
        ),
        (
            "frame-drop",
            vec!["p=1.0"],
            &v,
            vec!["p", "between 0 and 1"],
        ),
        ("frame-drop", vec![], &v, vec!["p", "missing"]),
        (
            "median",
            vec!["size=3"],
            &a,
            vec!["size", "not a parameter of median", "window"],
        ),
    ] {
        let e = error(name, &params, input);
        for w in words {
            assert!(e.contains(w), "{name} {params:?}: {e:?} lacks {w:?}");
        }
    }
}

#[test]
fn defences_refuse_a_model_of_the_other_modality_by_name() {
    let (a, v) = (audio(1, 8000), video(4, 16, 16));
    for name in ["resample", "median", "moving-average"] {
        let e = error(name, &[], &v);
        assert!(e.contains(name) && e.contains("audio model"), "{e}");
    }
    let e = error("lowpass", &["cutoff=100"], &v);
    assert!(e.contains("lowpass") && e.contains("audio model"), "{e}");
    for name in ["jpeg", "median-spatial", "frame-subsample"] {
        let e = error(name, &[], &a);
        assert!(e.contains(name) && e.contains("video model"), "{e}");
    }
    let mut unclipped = a.clone();
    unclipped.clip = None;
    let e = error("bit-depth", &[], &unclipped);
    assert!(e.contains("bit-depth") && e.contains("input.clip"), "{e}");
}

/// The summary asks for EOT from the spec alone (no model at hand when shards are merged): each
/// spec must say what its preprocessor does.
#[test]
fn specs_and_their_preprocessors_agree_on_randomness() {
    let with_noise: &[(&str, &[&str])] = &[("gaussian-noise", &["sigma=3"])];
    for (defences, input) in [
        (AUDIO, audio(1, 400)),
        (VIDEO, video(4, 8, 8)),
        (with_noise, audio(1, 400)),
    ] {
        for (name, params) in defences {
            let mut p = avfoil::params::Params::new(avfoil::params::KeyStyle::Table);
            for a in *params {
                p.insert_assignment(a).unwrap();
            }
            let spec = avfoil::defence::parse(name, &mut p).unwrap();
            let built = spec.build(&input).unwrap();
            assert_eq!(spec.randomised(), built.randomised(), "{name}");
        }
    }
}
