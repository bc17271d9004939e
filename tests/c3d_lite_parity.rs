//! c3d-lite against its PyTorch twin (tools/make_c3d_lite_fixtures.py): the same state dict gives
//! the same evaluation-mode logits and input gradients, so weights move between the two unchanged.

mod common;
use avfoil::array::tensor_to_vec;
use avfoil::classifier::objective::CrossEntropy;
use avfoil::classifier::{Classifier, NeuralClassifier};
use avfoil::media::npy::read_npy;
use avfoil::model::Weights;
use avfoil::model::c3d_lite::C3dLite;
use burn::tensor::Device;
use common::rel_err;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/c3d_lite")
        .join(name)
}

#[test]
fn logits_and_input_gradients_match_the_pytorch_twin() {
    let device = Device::flex();
    let x = read_npy(&fixture("x.npy")).unwrap();
    let n = x.shape[0];
    let shape = x.shape[1..].to_vec();
    let labels: Vec<usize> = read_npy(&fixture("labels.npy"))
        .unwrap()
        .data
        .iter()
        .map(|&l| l as usize)
        .collect();
    let want_logits = read_npy(&fixture("logits.npy")).unwrap();
    let classes = want_logits.shape[1];
    let mut weights = Weights::load(&fixture("model.safetensors")).unwrap();
    let net = C3dLite::from_weights(&mut weights, classes, &shape, &device).unwrap();
    weights.finish().unwrap();
    let clf =
        NeuralClassifier::new(net, &device, shape.clone(), classes, Some((0.0, 1.0))).unwrap();
    let host = x.data.clone();
    let x = x.to_tensor(n, &device);
    let want_grad = read_npy(&fixture("grad.npy")).unwrap().data;
    // The CPU path (the host kernel of model/clip_kernel.rs), then burn's (every other device).
    let burn = NeuralClassifier::new(
        C3dLite::from_weights(
            &mut Weights::load(&fixture("model.safetensors")).unwrap(),
            classes,
            &shape,
            &device,
        )
        .unwrap(),
        &device,
        shape.clone(),
        classes,
        Some((0.0, 1.0)),
    )
    .unwrap()
    .without_host_kernel();
    for (path, clf) in [("host kernel", &clf), ("burn", &burn)] {
        let (grad, logits) = clf.loss_gradient_and_logits(x.clone(), &labels).unwrap();
        let e = rel_err(&tensor_to_vec(logits), &want_logits.data);
        assert!(e <= 1e-5, "{path}: logits relative error {e}");
        let e = rel_err(&tensor_to_vec(grad), &want_grad);
        assert!(e <= 1e-4, "{path}: input gradient relative error {e}");
    }

    // The host evaluation that frame saliency's clip sessions run, example by example.
    let d = host.len() / n;
    let (mut logits, mut grad) = (Vec::new(), Vec::new());
    for (e, &label) in labels.iter().enumerate() {
        let session = clf
            .clip_session(&host[e * d..(e + 1) * d], 1)
            .unwrap()
            .expect("c3d-lite has clip sessions on the CPU");
        logits.extend(session.logits());
        grad.extend(session.gradient(&CrossEntropy(&[label])));
    }
    let e = rel_err(&logits, &want_logits.data);
    assert!(e <= 1e-5, "clip session logits relative error {e}");
    let e = rel_err(&grad, &want_grad);
    assert!(e <= 1e-4, "clip session input gradient relative error {e}");
}
