use avfoil::classifier::Classifier;
use burn::tensor::module::{conv1d, max_pool1d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

fn t<T>(name: &str, reps: usize, mut f: impl FnMut() -> T) {
    f();
    let t0 = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(f());
    }
    println!(
        "{name}: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
}

fn main() {
    let dev = Device::flex();
    let model =
        avfoil::model::Model::load(std::path::Path::new("tests/fixtures/raw_audio_cnn"), &dev)
            .unwrap();
    let x = Tensor::<2>::random([16, 8000], Distribution::Normal(0.0, 1000.0), &dev);
    let labels = vec![0usize; 16];
    t("forward b16", 5, || {
        avfoil::array::tensor_to_vec(model.classifier.logits(x.clone()).unwrap())
    });
    t("fwd+bwd b16", 5, || {
        avfoil::array::tensor_to_vec(model.classifier.loss_gradient(x.clone(), &labels).unwrap())
    });
    let shapes = [
        (1, 100, 8000, 2),
        (100, 64, 2000, 1),
        (64, 128, 1000, 1),
        (128, 128, 500, 1),
        (128, 128, 250, 1),
        (128, 128, 125, 1),
        (128, 64, 62, 1),
        (64, 32, 30, 0),
    ];
    for (cin, cout, len, pad) in shapes {
        let xi = Tensor::<3>::random([16, cin, len], Distribution::Normal(0.0, 1.0), &dev);
        let w = Tensor::<3>::random([cout, cin, 3], Distribution::Normal(0.0, 1.0), &dev);
        t(&format!("conv {cin}->{cout} L{len}"), 5, || {
            avfoil::array::tensor_to_vec(conv1d(
                xi.clone(),
                w.clone(),
                None,
                ConvOptions::new([1], [pad], [1], 1),
            ))
        });
        let y = Tensor::<3>::random([16, cout, len], Distribution::Normal(0.0, 1.0), &dev);
        t(&format!("  relu+pool {cout} L{len}"), 5, || {
            avfoil::array::tensor_to_vec(max_pool1d(
                y.clone().clamp_min(0.0),
                MaxPoolOptions::new([2]).with_stride([2]),
            ))
        });
        t(&format!("  affine {cout} L{len}"), 5, || {
            avfoil::array::tensor_to_vec(y.clone() * 1.5 + 0.5)
        });
    }
}
