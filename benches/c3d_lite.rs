//! c3d-lite's forward pass and cross-entropy input gradient on the CPU, through the host kernel
//! (`model/clip_kernel.rs`, what the classifier uses on the flex device) and through burn-flex's
//! generic path (what every other device uses), at the shipped model's clip size and at 112 × 112.
//!
//!     cargo bench --bench c3d_lite [-- BATCH [REPS]]
//!
//! Prints one JSON line per case. Both paths compute the same numbers (tests/c3d_lite_parity.rs).

use avfoil::classifier::{Classifier, NeuralClassifier};
use avfoil::model::c3d_lite::C3dLite;
use burn::tensor::{Device, Tensor, TensorData};
use common::{report, time};
use serde_json::json;

#[allow(dead_code)] // the audio batch is for the audio benchmarks
mod common;

fn main() -> avfoil::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(8);
    let reps = args.get(1).copied().unwrap_or(3);
    let device = Device::flex();
    for shape in [[3usize, 16, 60, 80], [3, 16, 112, 112]] {
        let d: usize = shape.iter().product();
        let pixels = common::pixels(n * d);
        let x = Tensor::<2>::from_data(TensorData::new(pixels, [n, d]), &device);
        let labels = vec![0; n];
        for path in ["host-kernel", "burn"] {
            let net = C3dLite::init(10, &shape, &device, 1)?;
            let clf = NeuralClassifier::new(net, &device, shape.to_vec(), 10, Some((0.0, 1.0)))?;
            let clf = if path == "burn" {
                clf.without_host_kernel()
            } else {
                clf
            };
            let (s, _) = time(reps, || clf.logits(x.clone()).expect("logits"));
            report(
                "c3d_lite_forward",
                s,
                n,
                json!({"shape": shape, "path": path}),
            );
            let (s, _) = time(reps, || {
                clf.loss_gradient_and_logits(x.clone(), &labels)
                    .expect("gradient")
            });
            report(
                "c3d_lite_input_gradient",
                s,
                n,
                json!({"shape": shape, "path": path}),
            );
        }
    }
    Ok(())
}
