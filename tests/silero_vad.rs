//! The shipped Silero VAD (a real pretrained ONNX graph with an LSTM, run by avfoil's
//! interpreter): its speech probabilities on real recordings equal onnxruntime's
//! (tools/make_silero_fixtures.py), and targeted attacks move them where they are sent.

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
