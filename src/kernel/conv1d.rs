//! One-dimensional convolutions of kernel 3 on host memory, as GEMMs on shifted views: the
//! building blocks of RawAudioCNN's host kernel and host training step.
//!
//! Layout: channels first, `[channels, length]` per example. A convolution is one GEMM per tap on
//! the padded input shifted by the tap (no im2col, no layout change); weights are stored tap-major
//! (`w[k][o][c]`, one `[cout, cin]` matrix per tap, see [`tap_major`]).

use super::gemm::{Strided, Threads, gemm_acc};

/// `h` (`[cin, len]`) with `pad` zeros on both sides of every channel.
pub fn pad(h: &[f32], cin: usize, pad: usize) -> Vec<f32> {
    let len_in = h.len() / cin;
    let len_pad = len_in + 2 * pad;
    let mut padded = vec![0f32; cin * len_pad];
    for c in 0..cin {
        padded[c * len_pad + pad..c * len_pad + pad + len_in]
            .copy_from_slice(&h[c * len_in..(c + 1) * len_in]);
    }
    padded
}

/// The inverse of [`pad`] for gradients: drops the padding.
pub fn unpad(dpad: &[f32], cin: usize, pad: usize) -> Vec<f32> {
    let len_pad = dpad.len() / cin;
    let len_in = len_pad - 2 * pad;
    let mut dh = vec![0f32; cin * len_in];
    for c in 0..cin {
        dh[c * len_in..(c + 1) * len_in]
            .copy_from_slice(&dpad[c * len_pad + pad..c * len_pad + pad + len_in]);
    }
    dh
}

/// Tap `k`'s `[cout, cin]` matrix of tap-major weights `w[k][o][c]`.
fn tap(w: &[f32], k: usize) -> &[f32] {
    let size = w.len() / 3;
    &w[k * size..(k + 1) * size]
}

/// Kernel-3 convolution of a padded `[cin, len_pad]` input: `[cout, len_pad − 2]`, bias included.
/// `w` is tap-major (`w[k][o][c]`): one GEMM per tap on a shifted view of the input.
pub fn conv3(w: &[f32], b: &[f32], cin: usize, cout: usize, padded: &[f32]) -> Vec<f32> {
    let len_pad = padded.len() / cin;
    let len_conv = len_pad - 2;
    let mut conv = vec![0f32; cout * len_conv];
    for o in 0..cout {
        conv[o * len_conv..(o + 1) * len_conv].fill(b[o]);
    }
    for k in 0..3 {
        let w = tap(w, k);
        if cin == 1 {
            for o in 0..cout {
                axpy(
                    w[o],
                    &padded[k..k + len_conv],
                    &mut conv[o * len_conv..(o + 1) * len_conv],
                );
            }
        } else {
            // conv[o, t] += Σ_c w_k[o, c] · padded[c, t + k]
            gemm_acc(
                &mut conv,
                Strided::row_major(len_conv),
                w,
                Strided::row_major(cin),
                padded,
                Strided::row_major(len_pad).at(k),
                [cout, cin, len_conv],
                Threads::One,
            );
        }
    }
    conv
}

/// Gradient with respect to the padded input of [`conv3`], given `dconv` (`[cout, len_conv]`).
pub fn conv3_input_grad(
    w: &[f32],
    cin: usize,
    cout: usize,
    dconv: &[f32],
    len_pad: usize,
) -> Vec<f32> {
    let len_conv = dconv.len() / cout;
    let mut dpad = vec![0f32; cin * len_pad];
    for k in 0..3 {
        let w = tap(w, k);
        if cin == 1 {
            for o in 0..cout {
                axpy(
                    w[o],
                    &dconv[o * len_conv..(o + 1) * len_conv],
                    &mut dpad[k..k + len_conv],
                );
            }
        } else {
            // dpad[c, t + k] += Σ_o w_k[o, c] · dconv[o, t]
            gemm_acc(
                &mut dpad,
                Strided::row_major(len_pad).at(k),
                w,
                Strided::col_major(cin),
                dconv,
                Strided::row_major(len_conv),
                [cin, cout, len_conv],
                Threads::One,
            );
        }
    }
    dpad
}

/// Adds [`conv3`]'s weight and bias gradients for one example to `dw` (tap-major) and `db`.
pub fn conv3_weight_grad(
    padded: &[f32],
    dconv: &[f32],
    cin: usize,
    cout: usize,
    dw: &mut [f32],
    db: &mut [f32],
) {
    let len_pad = padded.len() / cin;
    let len_conv = dconv.len() / cout;
    for (o, row) in dconv.chunks(len_conv).enumerate() {
        db[o] += row.iter().sum::<f32>();
    }
    let size = cout * cin;
    for k in 0..3 {
        // dw_k[o, c] += Σ_t dconv[o, t] · padded[c, t + k]
        gemm_acc(
            dw,
            Strided::row_major(cin).at(k * size),
            dconv,
            Strided::row_major(len_conv),
            padded,
            Strided::col_major(len_pad).at(k),
            [cout, len_conv, cin],
            Threads::One,
        );
    }
}

/// Tap-major copy (`w[k][o][c]`) of PyTorch's `[cout, cin, 3]` convolution weights.
pub fn tap_major(conv_w: &[f32], cin: usize, cout: usize) -> Vec<f32> {
    let mut w = vec![0f32; 3 * cout * cin];
    for o in 0..cout {
        for c in 0..cin {
            for k in 0..3 {
                w[(k * cout + o) * cin + c] = conv_w[(o * cin + c) * 3 + k];
            }
        }
    }
    w
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `y += a·x`
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}
