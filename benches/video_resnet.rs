//! torchvision's r3d_18 and r2plus1d_18 at full size (400 classes, random weights; the time does
//! not depend on them) on one Kinetics-shaped clip `[3, 16, 112, 112]`, through the classifier
//! that attacks use (Kinetics standardisation inside): logits alone, and the cross-entropy input
//! gradient with its logits (one FGM step; PGD pays it per iteration). burn-flex, burn autodiff.
//!
//!     cargo bench --bench video_resnet [-- BATCH [REPS]]
//!
//! Prints one JSON line per case; its peer is tools/time_video_resnet_torch.py.

use avfoil::classifier::{Classifier, NeuralClassifier, Standardise};
use avfoil::model::video_resnet::{VideoResNet, VideoResNetSpec};
use burn::tensor::{Device, Tensor, TensorData};
use common::{report, time};
use serde_json::json;

#[allow(dead_code)] // the audio batch is for the audio benchmarks
mod common;

const SHAPE: [usize; 4] = [3, 16, 112, 112];
const CLASSES: usize = 400;

fn main() {
    // `cargo bench` passes `--bench`; keep only the numbers.
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1);
    let reps = args.get(1).copied().unwrap_or(3);
    let device = Device::flex();
    let d: usize = SHAPE.iter().product();
    let pixels = common::pixels(n * d);
    let x = Tensor::<2>::from_data(TensorData::new(pixels, [n, d]), &device);
    let labels: Vec<usize> = (0..n).map(|i| (i * 37) % CLASSES).collect();
    for (name, spec) in [
        ("r3d_18", VideoResNetSpec::r3d_18()),
        ("r2plus1d_18", VideoResNetSpec::r2plus1d_18()),
    ] {
        let net = VideoResNet::init(&spec, CLASSES, &SHAPE, &device, 0).expect("valid spec");
        let clf = NeuralClassifier::new(net, &device, SHAPE.to_vec(), CLASSES, Some((0.0, 1.0)))
            .expect("valid classifier")
            .with_standardise(
                Standardise::new(
                    &[0.43216, 0.394666, 0.37645],
                    &[0.22803, 0.22145, 0.216989],
                    &SHAPE,
                )
                .expect("valid standardisation"),
            );
        let extra = json!({"model": name, "clip": SHAPE, "device": "flex", "reps": reps});
        let (s, _) = time(reps, || clf.logits(x.clone()).expect("logits"));
        report(&format!("{name}_forward"), s, n, extra.clone());
        let (s, _) = time(reps, || {
            clf.loss_gradient_and_logits(x.clone(), &labels)
                .expect("gradient")
        });
        report(&format!("{name}_input_gradient"), s, n, extra);
    }
}
