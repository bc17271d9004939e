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
