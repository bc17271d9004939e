//! One RawAudioCNN training step (batch 32, forward in training mode, cross-entropy, every
//! parameter's gradient): the hand-written CPU step against burn's autodiff on burn-flex.
//!
//!     cargo bench --bench train_step
//!
//! Prints one JSON line per case.

use avfoil::model::raw_audio_cnn::{INPUT_LEN, RawAudioCnn};
use avfoil::train::loss::CrossEntropyLoss;
use avfoil::train::raw_audio_cnn::host_step::train_step;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use common::{audio_batch, report, time};
use serde_json::json;

mod common;

fn main() {
    let n = 32;
    let x = vec![audio_batch(n).data];
    let labels: Vec<usize> = (0..n).map(|i| i % 10).collect();
    let device = Device::flex();
    let params = RawAudioCnn::init(10, &device, 0).host_tensors();
    let (s, _) = time(3, || train_step(&params, &x, &labels, &CrossEntropyLoss));
    report("train_step_b32", s, n, json!({"path": "cpu kernel"}));

    let ad = device.clone().autodiff();
    let model = RawAudioCnn::init(10, &ad, 0);
    let mut onehot = vec![0f32; n * 10];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * 10 + l] = 1.0;
    }
    let (s, _) = time(1, || {
        let xt = Tensor::<3>::from_data(TensorData::new(x[0].clone(), [n, 1, INPUT_LEN]), &ad);
        let oh = Tensor::<2>::from_data(TensorData::new(onehot.clone(), [n, 10]), &ad);
        let (logits, _) = model.forward_train(xt);
        let loss = (log_softmax(logits, 1) * oh).sum().neg() / n as f32;
        loss.backward()
    });
    report("train_step_b32", s, n, json!({"path": "burn autodiff"}));
}
