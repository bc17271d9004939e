//! STFT and DFT, written as products with cosine and sine bases (a strided convolution for the
//! STFT, on the host convolution where it applies; a matrix product for the DFT) rather than an
//! FFT: burn's autodiff then gives their gradients like any other op's, and the bases are built
//! once per length on the host. Complex values are ONNX's: a trailing axis of 2 (real, imaginary).

use super::Inputs;
use crate::error::Result;
use crate::onnx::host_conv::{self, ConvSpec};
use crate::onnx::value::{Float, MAX_RANK};
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use onnx_ir::node::dft::DftConfig;
use onnx_ir::node::stft::StftConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The longest transform avfoil builds a basis for: the basis holds `2·N·bins` values, so the
/// length (an attribute or a constant of the file) bounds an allocation.
pub const MAX_DFT_LENGTH: usize = 1 << 14;

/// Bases kept at once; a process that loads many graphs of different lengths rebuilds them.
const MAX_CACHED_BASES: usize = 16;

/// `cos` and `sin` of `2π·n·k/N` for `n < N` (rows) and `k < bins` (columns), row-major.
struct Basis {
    cos: Vec<f32>,
    sin: Vec<f32>,
}

/// Bases by `(n, bins)`, shared by every graph of the process.
type BasisCache = Mutex<HashMap<(usize, usize), Arc<Basis>>>;

/// The basis of length `n` with `bins` frequencies, from the cache or built (the angle is reduced
/// modulo `2π` in integers first, so long transforms keep full precision).
fn basis(n: usize, bins: usize) -> Arc<Basis> {
    static CACHE: OnceLock<BasisCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = cache.get(&(n, bins)) {
        return b.clone();
    }
    let mut cos = Vec::with_capacity(n * bins);
    let mut sin = Vec::with_capacity(n * bins);
    for t in 0..n {
        for k in 0..bins {
            let angle = 2.0 * std::f64::consts::PI * ((t * k) % n) as f64 / n as f64;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    let b = Arc::new(Basis { cos, sin });
    if cache.len() >= MAX_CACHED_BASES {
        cache.clear();
    }
    cache.insert((n, bins), b.clone());
    b
}

/// Frequencies a transform of length `n` returns: all, or up to `n/2` for a onesided one.
fn bins(n: usize, onesided: bool) -> usize {
    if onesided { n / 2 + 1 } else { n }
}

fn check_length(n: usize, what: &str, inputs: &Inputs) -> Result<()> {
    if n == 0 || n > MAX_DFT_LENGTH {
        return Err(inputs.error(format!(
            "{what} {n}; avfoil computes transforms of 1 to {MAX_DFT_LENGTH} samples"
        )));
    }
    Ok(())
}

/// The basis as two rank-6 tensors `[1, 1, 1, 1, n, bins]` on `device`.
fn basis_tensors(n: usize, bins: usize, device: &Device) -> (Tensor<MAX_RANK>, Tensor<MAX_RANK>) {
    let b = basis(n, bins);
    let shape = [1, 1, 1, 1, n, bins];
    let up = |v: &[f32]| Tensor::from_data(TensorData::new(v.to_vec(), shape), device);
    (up(&b.cos), up(&b.sin))
}

/// DFT along one axis of a real (`[..., 1]`) or complex (`[..., 2]`) tensor; `dft_length` zero-pads
/// or truncates that axis first. Forward: `Σ x[t]·e^{-2πi·tk/N}`; inverse: `(1/N)·Σ x[t]·e^{+2πi·tk/N}`.
pub fn dft(c: &DftConfig, inputs: &Inputs) -> Result<Float> {
    let x = inputs.float(0)?;
    let dims = x.dims();
    let rank = dims.len();
    let parts = dims.last().copied().unwrap_or(0);
    if rank < 2 || !(parts == 1 || parts == 2) {
        return Err(inputs.error(format!(
            "DFT of shape {dims:?}: the last axis must hold 1 (real) or 2 (complex) values"
        )));
    }
    if c.axis >= rank - 1 {
        return Err(inputs.error(format!(
            "DFT along axis {} of shape {dims:?}: the axis must not be the last (real/imaginary) one",
            c.axis
        )));
    }
    let len = dims[c.axis];
    let n = c.dft_length.unwrap_or(len);
    check_length(n, "dft_length", inputs)?;
    let k = bins(n, c.onesided);
    let mut out = dims.clone();
    out[c.axis] = k;
    out[rank - 1] = 2;
    inputs.check_output(dims[0], &out)?;

    let p = MAX_RANK - rank + c.axis;
    let last = MAX_RANK - 1;
    // Each part with the transformed axis moved last (where the size-1 part axis was), cut or
    // zero-padded to `n`.
    let part = |i: usize| {
        let mut t = x.t.clone().narrow(last, i, 1);
        if n < len {
            t = t.narrow(p, 0, n);
        } else if n > len {
            let mut zeros = t.dims();
            zeros[p] = n - len;
            let device = t.device();
            t = Tensor::cat(vec![t, Tensor::zeros(zeros, &device)], p);
        }
        t.swap_dims(p, last)
    };
    let re = part(0);
    let (cos, sin) = basis_tensors(n, k, &re.device());
    let (yr, yi) = match (parts == 2, c.inverse) {
        (false, false) => (re.clone().matmul(cos), re.matmul(sin).neg()),
        (false, true) => (re.clone().matmul(cos), re.matmul(sin)),
        (true, inverse) => {
            let im = part(1);
            let (rc, rs) = (re.clone().matmul(cos.clone()), re.matmul(sin.clone()));
            let (ic, is) = (im.clone().matmul(cos), im.matmul(sin));
            if inverse {
                (rc - is, ic + rs)
            } else {
                (rc + is, ic - rs)
            }
        }
    };
    let scale = if c.inverse { 1.0 / n as f32 } else { 1.0 };
    let y = Tensor::cat(vec![yr.swap_dims(p, last), yi.swap_dims(p, last)], last);
    Ok(Float::padded(
        if c.inverse { y.mul_scalar(scale) } else { y },
        rank,
    ))
}

/// STFT of a real signal `[batch, length]` or `[batch, length, 1]`: frames of `frame_length`
/// samples every `frame_step`, each times the window (rectangular when there is none), as one
/// strided convolution whose kernels are the windowed basis. Output `[batch, frames, bins, 2]`.
pub fn stft(c: &StftConfig, inputs: &Inputs) -> Result<Float> {
    let x = inputs.float(0)?;
    let dims = x.dims();
    let (batch, len) = match dims[..] {
        [b, l] | [b, l, 1] => (b, l),
        _ => {
            return Err(inputs.error(format!(
                "STFT of shape {dims:?}: expected a real signal [batch, length] or [batch, length, 1]"
            )));
        }
    };
    let (n, step) = (c.frame_length, c.frame_step);
    check_length(n, "frame_length", inputs)?;
    if step == 0 || len < n {
        return Err(inputs.error(format!(
            "STFT of {len} samples in frames of {n} every {step}: no whole frame"
        )));
    }
    let frames = 1 + (len - n) / step;
    let k = bins(n, c.onesided);
    inputs.check_output(batch, &[batch, frames, k, 2])?;
    let device = x.t.device();
    let (cos, sin) = basis_tensors(n, k, &device);
    // Kernels [2k, n]: the cosines, then the negated sines (the forward transform's imaginary part).
    let mut kernels = Tensor::cat(
        vec![
            cos.reshape([n, k]).transpose(),
            sin.reshape([n, k]).transpose().neg(),
        ],
        0,
    );
    if let Some(w) = inputs.optional_float(2)? {
        let w = w.get::<1>("STFT window")?;
        if w.dims() != [n] {
            return Err(inputs.error(format!(
                "STFT window of {:?} values for frames of {n}",
                w.dims()
            )));
        }
        kernels = kernels * w.unsqueeze::<2>();
    }
    let signal = x.reshape(&[batch, 1, len])?.get::<3>("STFT")?;
    let options = ConvOptions {
        stride: [step],
        padding: [(0, 0)],
        dilation: [1],
        groups: 1,
    };
    let kernels = kernels.reshape([2 * k, 1, n]);
    let spec = ConvSpec {
        stride: &[step],
        dilation: &[1],
        pads: &[(0, 0)],
        groups: 1,
        relu: false,
    };
    let y = host_conv::conv(&signal, &kernels, None, &spec)
        .unwrap_or_else(|| conv1d(signal, kernels, None, options));
    let y = y.reshape([batch, 2, k, frames]).permute([0, 3, 2, 1]);
    Ok(Float::new(y))
}
