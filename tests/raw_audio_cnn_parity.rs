//! RawAudioCNN against PyTorch: logits and input gradients on a fixture that tools/make_fixtures.py
//! wrote with PyTorch (random weights, non-trivial batch-norm statistics), loaded from safetensors
//! and from a `.pt` state dict; and FGM/PGD against ART on the same model.

mod common;
use avfoil::array::tensor_to_vec;
use avfoil::attack::{Attack, Common, Eps, Fgm, Pgd};
use avfoil::classifier::Classifier;
use avfoil::classifier::build_classifier;
use avfoil::media::npy::read_npy;
use avfoil::model::{ModelConfig, Weights};
use burn::tensor::Device;
use common::rel_err;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/raw_audio_cnn")
        .join(name)
}

fn npy(name: &str) -> Vec<f32> {
    read_npy(&fixture(name)).unwrap().data
}

fn classifier(weights: &str) -> avfoil::classifier::NeuralClassifier {
    let config = ModelConfig::read(&fixture("")).unwrap();
    let w = Weights::load(&fixture(weights)).unwrap();
    build_classifier(&config, w, &Device::flex()).unwrap()
}

fn inputs() -> (burn::tensor::Tensor<2>, Vec<usize>) {
    let x = read_npy(&fixture("x.npy")).unwrap();
    let labels = npy("labels.npy").iter().map(|&l| l as usize).collect();
    (x.to_tensor(3, &Device::flex()), labels)
}

#[test]
fn logits_and_gradients_match_pytorch_from_both_formats() {
    let (x, labels) = inputs();
    for (weights, kernel) in [
        ("model.safetensors", true),
        ("model.pt", true),
        ("model.safetensors", false),
        ("model.pt", false),
    ] {
        let clf = classifier(weights);
        let clf = if kernel {
            clf
        } else {
            clf.without_host_kernel()
        };
        let weights = format!("{weights} (cpu kernel: {kernel})");
        let logits = tensor_to_vec(clf.logits(x.clone()).unwrap());
        let e = rel_err(&logits, &npy("logits.npy"));
        assert!(e <= 1e-4, "{weights}: logits relative error {e}");
        let grad = tensor_to_vec(clf.loss_gradient(x.clone(), &labels).unwrap());
        let e = rel_err(&grad, &npy("grad.npy"));
        assert!(e <= 1e-4, "{weights}: loss gradient relative error {e}");
        let cgrad = tensor_to_vec(clf.class_gradient(x.clone(), &labels).unwrap());
        let e = rel_err(&cgrad, &npy("class_grad.npy"));
        assert!(e <= 1e-4, "{weights}: class gradient relative error {e}");
    }
}

#[test]
fn labels_read_between_forward_and_backward_are_the_predictions() {
    let (x, _) = inputs();
    for kernel in [true, false] {
        let clf = classifier("model.safetensors");
        let clf = if kernel {
            clf
        } else {
            clf.without_host_kernel()
        };
        let (labels, g, logits) = clf.prediction_loss_gradient(x.clone()).unwrap();
        assert_eq!(
            labels,
            clf.predict_labels(&x, 8).unwrap(),
            "kernel {kernel}"
        );
        let (want_g, want_logits) = clf.loss_gradient_and_logits(x.clone(), &labels).unwrap();
        assert_eq!(tensor_to_vec(g), tensor_to_vec(want_g), "kernel {kernel}");
        assert_eq!(
            tensor_to_vec(logits),
            tensor_to_vec(want_logits),
            "kernel {kernel}"
        );
    }
}

/// Fraction of elements within `tol` of ART's output.
fn agreement(ours: &[f32], art: &[f32], tol: f32) -> f64 {
    ours.iter()
        .zip(art)
        .filter(|(a, b)| (*a - *b).abs() <= tol)
        .count() as f64
        / art.len() as f64
}

#[test]
fn fgm_and_pgd_agree_with_art() {
    // Sign steps are discontinuous where a gradient component is ~0, so a few elements may differ
    // by a step; everything else must be identical.
    let (x, labels) = inputs();
    for clf in [
        classifier("model.safetensors"),
        classifier("model.safetensors").without_host_kernel(),
    ] {
        art_agreement(&clf, &x, &labels);
    }
}

fn art_agreement(
    clf: &avfoil::classifier::NeuralClassifier,
    x: &burn::tensor::Tensor<2>,
    labels: &[usize],
) {
    let (clf, x) = (clf, x.clone());
    let common = Common {
        eps: Eps::Scalar(0.5),
        eps_step: Eps::Scalar(0.1),
        batch_size: 3,
        ..Default::default()
    };
    let fgm = Fgm {
        common: common.clone(),
        minimal: false,
    };
    let ours = tensor_to_vec(
        fgm.generate(clf, &x, Some(labels), None)
            .unwrap()
            .adversarial,
    );
    let a = agreement(&ours, &npy("art_fgm_eps0.5.npy"), 1e-3);
    assert!(
        a >= 0.999,
        "FGM agrees with ART on {:.4}% of samples",
        a * 100.0
    );

    let pgd = Pgd {
        common,
        max_iter: 10,
        ..Default::default()
    };
    let ours = tensor_to_vec(
        pgd.generate(clf, &x, Some(labels), None)
            .unwrap()
            .adversarial,
    );
    let a = agreement(&ours, &npy("art_pgd_eps0.5_step0.1_iter10.npy"), 1e-3);
    assert!(
        a >= 0.995,
        "PGD agrees with ART on {:.4}% of samples",
        a * 100.0
    );
}

#[test]
fn a_misshaped_tensor_names_the_key_and_both_shapes() {
    let config = ModelConfig::read(&fixture("")).unwrap();
    let mut bad = config.clone();
    bad.classes.push("extra".into());
    let w = Weights::load(&fixture("model.safetensors")).unwrap();
    let err = build_classifier(&bad, w, &Device::flex())
        .err()
        .expect("11 classes cannot load 10-class weights")
        .to_string();
    assert!(
        err.contains("fc.weight") && err.contains("[10, 960]") && err.contains("[11, 960]"),
        "{err}"
    );
}
