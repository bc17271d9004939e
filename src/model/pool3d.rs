//! 3-D max pooling, which burn does not have, composed from the operations it has.
//!
//! With the window equal to the stride (PyTorch's `MaxPool3d(k)` with its default stride, the only
//! kind small video CNNs use), a 3-D window is the max over time of 2-D windows: `max_pool2d` on a
//! `[N, C·F, H, W]` view pools space, and a reshape that puts each `kt` consecutive frames on an axis
//! of their own, then a max over that axis, pools time. Both have burn's autodiff backward, so the
//! gradient goes to the window's maximum as PyTorch's does.

use burn::tensor::Tensor;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

/// Max pooling of `[N, C, F, H, W]` with window = stride = `[kt, kh, kw]`, trailing frames, rows and
/// columns that do not fill a window dropped (PyTorch's floor mode). Every extent must be at least
/// its window.
pub fn max_pool3d(x: Tensor<5>, [kt, kh, kw]: [usize; 3]) -> Tensor<5> {
    let x = if kh > 1 || kw > 1 {
        let [n, c, f, h, w] = x.dims();
        let y = max_pool2d(
            x.reshape([n, c * f, h, w]),
            MaxPoolOptions::new([kh, kw]).with_stride([kh, kw]),
        );
        let [_, _, h2, w2] = y.dims();
        y.reshape([n, c, f, h2, w2])
    } else {
        x
    };
    if kt <= 1 {
        return x;
    }
    let [n, c, f, h, w] = x.dims();
    let windows = f / kt;
    let x = x.slice([0..n, 0..c, 0..windows * kt, 0..h, 0..w]);
    let y: Tensor<4> = x
        .reshape([n * c * windows, kt, h, w])
        .max_dim(1)
        .reshape([n * c * windows, h, w])
        .unsqueeze();
    y.reshape([n, c, windows, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::tensor_to_vec;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn equals_a_direct_max_over_each_window_with_floor_mode() {
        let (n, c, f, h, w) = (2, 3, 5, 5, 7);
        let data: Vec<f32> = (0..n * c * f * h * w)
            .map(|i| ((i * 7919) % 211) as f32)
            .collect();
        let at = |i: usize| data[i];
        for k @ [kt, kh, kw] in [[2, 2, 2], [1, 2, 2], [2, 1, 1], [3, 2, 3]] {
            let x = Tensor::<5>::from_data(
                TensorData::new(data.clone(), [n, c, f, h, w]),
                &Device::flex(),
            );
            let got = max_pool3d(x, k);
            let (f2, h2, w2) = (f / kt, h / kh, w / kw);
            assert_eq!(got.dims(), [n, c, f2, h2, w2]);
            let mut want = Vec::new();
            for nc in 0..n * c {
                for t in 0..f2 {
                    for y in 0..h2 {
                        for xx in 0..w2 {
                            let mut m = f32::MIN;
                            for dt in 0..kt {
                                for dy in 0..kh {
                                    for dx in 0..kw {
                                        let (tt, yy, xw) = (t * kt + dt, y * kh + dy, xx * kw + dx);
                                        m = m.max(at(((nc * f + tt) * h + yy) * w + xw));
                                    }
                                }
                            }
                            want.push(m);
                        }
                    }
                }
            }
            assert_eq!(tensor_to_vec(got), want, "window {k:?}");
        }
    }
}
