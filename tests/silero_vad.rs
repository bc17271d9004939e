//! The shipped Silero VAD (a real pretrained ONNX graph with an LSTM, run by avfoil's
//! interpreter): its speech probabilities on real recordings equal onnxruntime's
//! (tools/make_silero_fixtures.py), and targeted attacks move them where they are sent.

mod common;
use avfoil::array::tensor_to_vec;
use avfoil::classifier::Model;
use avfoil::media::npy::read_npy;
use burn::tensor::Device;
use std::path::Path;

fn fixture(name: &str) -> avfoil::array::Array {
    read_npy(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/silero")
            .join(name),
    )
    .unwrap()
}

/// Speech probability of every window, `[N][F]`.
fn speech_probabilities(model: &Model, x: &avfoil::array::Array) -> Vec<Vec<f32>> {
    let n = x.shape[0];
    let scores = model
        .classifier
        .frame_logits(x.to_tensor(n, &Device::flex()))
        .unwrap();
    let scores = tensor_to_vec(scores);
    scores
        .chunks(scores.len() / n)
        .map(|row| row.chunks(2).map(|pair| pair[1].exp()).collect())
        .collect()
}

#[test]
fn speech_probabilities_match_onnxruntime_on_real_recordings() {
    let model = Model::open("silero-vad", &Device::flex()).unwrap();
    assert_eq!(model.classifier.output_frames(), 32);
    let x = fixture("x.npy");
    let want = fixture("probs.npy");
    let ours = speech_probabilities(&model, &x);
    let frames = want.shape[1];
    let mut worst = 0f32;
    for (i, row) in ours.iter().enumerate() {
        assert_eq!(row.len(), frames);
        for (f, p) in row.iter().enumerate() {
            worst = worst.max((p - want.data[i * frames + f]).abs());
        }
    }
    assert!(
        worst < 1e-3,
        "speech probabilities differ from onnxruntime's by up to {worst:.2e}"
    );
    // The digits are speech somewhere, the noise nowhere.
    assert!(ours[0].iter().any(|&p| p > 0.9) && ours[1].iter().any(|&p| p > 0.9));
    assert!(ours[2].iter().all(|&p| p < 0.5));
}

/// Targeted PGD at eps 0.005 (full scale 1) through the whole graph, LSTM included: real speech
/// hidden from the detector in every window, and faint noise made to count as speech.
#[test]
fn targeted_attacks_hide_speech_and_fake_it() {
    use avfoil::attack::{Attack, Common, Eps, Pgd};
    let model = Model::open("silero-vad", &Device::flex()).unwrap();
    let x = fixture("x.npy");
    let pgd = Pgd {
        common: Common {
            eps: Eps::Scalar(0.005),
            eps_step: Eps::Scalar(0.0005),
            targeted: true,
            ..Default::default()
        },
        max_iter: 40,
        ..Default::default()
    };
    let all = x.to_tensor(3, &Device::flex());
    // Targets: non-speech (0) for the two digits, speech (1) for the noise.
    let out = pgd
        .generate(model.classifier.as_ref(), &all, Some(&[0, 0, 1]), None)
        .unwrap();
    let adv = avfoil::array::Array::new(vec![3, 16000], tensor_to_vec(out.adversarial)).unwrap();
    let linf = adv
        .data
        .iter()
        .zip(&x.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(linf <= 0.005 + 1e-6, "L-inf {linf}");
    let p = speech_probabilities(&model, &adv);
    for digit in &p[..2] {
        assert!(digit.iter().all(|&q| q < 0.5), "speech left: {digit:?}");
    }
    let speech = p[2].iter().filter(|&&q| q > 0.5).count();
    assert!(
        speech * 2 > p[2].len(),
        "noise counts as speech in {speech} windows of 32"
    );
}

/// `avfoil demo vad`: the four bundled real digits, hidden in every window at a reported SNR.
#[test]
fn the_vad_demo_hides_every_digit_and_reports_the_snr() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vad");
    let doc = common::ok_json(&["demo", "vad", "--out", common::s(&out), "--json"]);
    let examples = doc["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 4);
    for e in examples {
        assert!(e["speech_windows_clean"].as_u64().unwrap() > 0, "{e}");
        assert_eq!(e["speech_windows_adversarial"], 0, "{e}");
        assert!(e["snr_db"].as_f64().unwrap() > 15.0, "{e}");
        assert!(e["linf"].as_f64().unwrap() <= 0.005 + 1e-6, "{e}");
    }
    assert!(out.join("report.json").is_file() && out.join("1_george_0.hidden.wav").is_file());
}
