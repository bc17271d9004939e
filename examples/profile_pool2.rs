use burn::tensor::module::max_pool1d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Distribution, Int, Tensor, s};
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

/// Window argmax indices of max_pool k3 s2 on x [B,C,L] (L odd), first max wins.
fn idx_k3s2(x: Tensor<3>) -> Tensor<3, Int> {
    let [b, c, l] = x.dims();
    let m = (l - 3) / 2 + 1;
    let a = x.clone().slice(s![.., .., 0..(2 * m - 1);2]);
    let bb = x.clone().slice(s![.., .., 1..(2 * m);2]);
    let cc = x.slice(s![.., .., 2..(2 * m + 1);2]);
    // choice: 0 if a >= b && a >= c; 1 if b > a && b >= c; else 2
    let ab = a.clone().max_pair(bb.clone());
    let pick_b = bb.clone().greater(a.clone()).int();
    let off = pick_b.clone() + cc.greater(ab).int() * 2 - 0;
    // when c wins, off = pick_b + 2 -> clamp to 2
    let off = off.clamp_max(2);
    let base = Tensor::<1, Int>::arange_step(0..(2 * m) as i64, 2, &a.device())
        .reshape([1, 1, m])
        .expand([b, c, m]);
    base + off
}

fn main() {
    let dev = Device::flex();
    let y1 = Tensor::<3>::random([16, 100, 8002], Distribution::Normal(0.0, 1.0), &dev);
    let y2 = Tensor::<3>::random([16, 64, 4000], Distribution::Normal(0.0, 1.0), &dev);
    t("AD max_pool1d k2s2 64x4000", 3, || {
        let x = y2.clone().autodiff().require_grad();
        let g = max_pool1d(x.clone(), MaxPoolOptions::new([2]).with_stride([2]))
            .sum()
            .backward();
        v(x.grad(&g).unwrap())
    });
    t("AD reshape max_dim k2s2", 3, || {
        let x = y2.clone().autodiff().require_grad();
        let g = x
            .clone()
            .reshape([16, 64, 2000, 2])
            .max_dim(3)
            .sum()
            .backward();
        v(x.grad(&g).unwrap())
    });
    t("idx k3s2 plain", 3, || idx_k3s2(y1.clone()).into_data());
    t("AD gather k3s2 + relu", 3, || {
        let idx = idx_k3s2(y1.clone());
        let x = y1.clone().autodiff().require_grad();
        let g = x.clone().gather(2, idx).clamp_min(0.0).sum().backward();
        v(x.grad(&g).unwrap())
    });
    t("AD max_pool1d k3s2 + relu", 3, || {
        let x = y1.clone().autodiff().require_grad();
        let g = max_pool1d(x.clone(), MaxPoolOptions::new([3]).with_stride([2]))
            .clamp_min(0.0)
            .sum()
            .backward();
        v(x.grad(&g).unwrap())
    });
    // equality check
    let a = v(max_pool1d(
        y1.clone(),
        MaxPoolOptions::new([3]).with_stride([2]),
    ));
    let b = v(y1.clone().gather(2, idx_k3s2(y1.clone())));
    println!("equal: {}", a == b);
}
