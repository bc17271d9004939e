use burn::tensor::module::max_pool1d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Distribution, Tensor, s};
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

fn v(x: Tensor<3>) -> Vec<f32> {
    avfoil::array::tensor_to_vec(x)
}

fn main() {
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    let y = Tensor::<3>::random([16, 100, 8002], Distribution::Normal(0.0, 1.0), &dev);
    let y2 = Tensor::<3>::random([16, 64, 4000], Distribution::Normal(0.0, 1.0), &dev);
    t("relu 100x8002", 5, || v(y.clone().clamp_min(0.0)));
    t("relu (activation) 100x8002", 5, || {
        v(burn::tensor::activation::relu(y.clone()))
    });
    t("pool k3s2 100x8002", 5, || {
        v(max_pool1d(
            y.clone(),
            MaxPoolOptions::new([3]).with_stride([2]),
        ))
    });
    t("3 strided max k3s2", 5, || {
        let a = y.clone().slice(s![.., .., 0..7999;2]);
        let b = y.clone().slice(s![.., .., 1..8000;2]);
        let c = y.clone().slice(s![.., .., 2..8001;2]);
        v(a.max_pair(b).max_pair(c))
    });
    t("pool k2s2 64x4000", 5, || {
        v(max_pool1d(
            y2.clone(),
            MaxPoolOptions::new([2]).with_stride([2]),
        ))
    });
    t("reshape max_dim k2s2", 5, || {
        v(y2.clone()
            .reshape([16, 64, 2000, 2])
            .max_dim(3)
            .reshape([16, 64, 2000]))
    });
    t("strided max_pair k2s2", 5, || {
        v(y2.clone()
            .slice(s![.., .., 0..;2])
            .max_pair(y2.clone().slice(s![.., .., 1..;2])))
    });
    // autodiff fwd+bwd
    let ya = Tensor::<3>::random([16, 100, 8002], Distribution::Normal(0.0, 1.0), &dev);
    t("AD relu+pool k3s2", 3, || {
        let x = ya.clone().autodiff().require_grad();
        let o = max_pool1d(
            burn::tensor::activation::relu(x.clone()),
            MaxPoolOptions::new([3]).with_stride([2]),
        );
        let g = o.sum().backward();
        v(x.grad(&g).unwrap())
    });
    t("AD relu+3 strided max", 3, || {
        let x = ya.clone().autodiff().require_grad();
        let r = burn::tensor::activation::relu(x.clone());
        let a = r.clone().slice(s![.., .., 0..7999;2]);
        let b = r.clone().slice(s![.., .., 1..8000;2]);
        let c = r.clone().slice(s![.., .., 2..8001;2]);
        let g = a.max_pair(b).max_pair(c).sum().backward();
        v(x.grad(&g).unwrap())
    });
    let _ = ad;
}
