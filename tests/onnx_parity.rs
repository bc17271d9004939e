//! ONNX graphs interpreted on burn against PyTorch and onnxruntime: logits (onnxruntime's) and
//! input gradients of the cross-entropy (PyTorch's) on the small models that
//! tools/make_onnx_fixtures.py exports (random weights, batch norm away from the identity),
//! loaded as bare `.onnx` files.

mod common;
use avfoil::array::tensor_to_vec;
use avfoil::classifier::Model;
use avfoil::media::npy::read_npy;
use burn::tensor::Device;
use common::rel_err;
use std::path::{Path, PathBuf};

const LABELS: [usize; 2] = [3, 1];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(name)
}

fn check(name: &str) {
    let model = Model::open(
        fixture(&format!("{name}.onnx")).to_str().unwrap(),
        &Device::flex(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let x = read_npy(&fixture(&format!("{name}.x.npy"))).unwrap();
    let want_logits = read_npy(&fixture(&format!("{name}.logits.npy")))
        .unwrap()
        .data;
    let want_grad = read_npy(&fixture(&format!("{name}.grad.npy")))
        .unwrap()
        .data;
    let clf = &model.classifier;
    let x = x.to_tensor(x.shape[0], &Device::flex());
    let logits = tensor_to_vec(clf.logits(x.clone()).unwrap());
    let e = rel_err(&logits, &want_logits);
    assert!(
        e < 1e-4,
        "{name}: logits differ from onnxruntime's by {e:.2e}"
    );
    let grad = tensor_to_vec(clf.loss_gradient(x, &LABELS).unwrap());
    let e = rel_err(&grad, &want_grad);
    assert!(
        e < 1e-3,
        "{name}: input gradient differs from PyTorch's by {e:.2e}"
    );
}

#[test]
fn a_1d_cnn_matches_pytorch() {
    check("cnn1d");
}

#[test]
fn a_2d_cnn_with_shape_arithmetic_matches_pytorch() {
    check("cnn2d");
}

#[test]
fn a_3d_cnn_with_composed_3d_pooling_matches_pytorch() {
    check("cnn3d");
}
