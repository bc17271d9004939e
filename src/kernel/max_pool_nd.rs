//! N-dimensional max pooling (1-, 2- and 3-D; strides, dilation, asymmetric padding that never
//! wins) on host memory, keeping each output's argmax for the input gradient.
//!
//! The ONNX interpreter's MaxPool on the CPU (`onnx::host_pool`): burn-flex's max pooling and its
//! backward cost more than the convolutions around them once those run on the host kernel. The
//! window arithmetic is a convolution's with one channel, so the geometry is a [`ConvGeometry`]
//! of `planes` (examples × channels) single-channel "examples"; its im2col runs visit every window
//! entry in the window's row-major order, so ties go to the first maximum, as in PyTorch.

use super::conv_nd::{ConvAxis, ConvGeometry};
use rayon::prelude::*;

/// Where an output took its value from: an index into the input, or [`NO_INPUT`] for a window
/// that lies entirely in the padding (its value is −∞ and it has no gradient).
pub const NO_INPUT: usize = usize::MAX;

/// Input values below which the input gradient is scattered on the calling thread alone.
const PARALLEL_MIN: usize = 1 << 16;

/// Set in an argmax whose output a ReLU after the pool stopped ([`relu_after`]): that output
/// passes no gradient. (Input indices never reach this bit.)
pub const STOPPED: usize = 1 << (usize::BITS - 1);

/// A ReLU on pooled values `y` with their `argmax`: non-positive outputs become zero and are
/// marked [`STOPPED`]; NaN passes, as in PyTorch. Branch-free: which outputs stop is a coin toss
/// on real activations.
pub fn relu_after(y: &mut [f32], argmax: &mut [usize]) {
    for (y, at) in y.iter_mut().zip(argmax.iter_mut()) {
        let stop = *y <= 0.0;
        *y = if stop { 0.0 } else { *y };
        *at |= if stop { STOPPED } else { 0 };
    }
}

/// Max pooling of `x` `[planes, *spatial]` over the windows of `g` (a geometry of one channel in,
/// one out and one group, with `planes` as its batch): the pooled values `[planes, *out]` and,
/// for each, the index of the input entry it came from.
///
/// # Panics
/// When the geometry is not single-channel or `x`'s length is not its input's.
pub fn max_pool_forward(g: &ConvGeometry, x: &[f32]) -> (Vec<f32>, Vec<usize>) {
    assert!(
        g.in_channels == 1 && g.out_channels == 1 && g.groups == 1,
        "max_pool_forward: a single-channel geometry"
    );
    assert_eq!(x.len(), g.input_len(), "max_pool_forward: input length");
    let (ivol, ovol) = (g.in_volume(), g.out_volume());
    let mut y = vec![f32::NEG_INFINITY; g.output_len()];
    let mut argmax = vec![NO_INPUT; g.output_len()];
    if ovol == 0 {
        return (y, argmax);
    }
    let one_axis = g.one_axis();
    y.par_chunks_mut(ovol)
        .zip(argmax.par_chunks_mut(ovol))
        .enumerate()
        .for_each(|(p, (yp, ap))| {
            let xp = &x[p * ivol..(p + 1) * ivol];
            if let Some((axis, _)) = one_axis {
                return pool_line(&axis, xp, p * ivol, yp, ap);
            }
            g.for_each_run(|_, pos, at, len, step| {
                for i in 0..len {
                    let v = xp[at + i * step];
                    // strictly greater: the first maximum in window order wins
                    if v > yp[pos + i] || ap[pos + i] == NO_INPUT {
                        yp[pos + i] = v;
                        ap[pos + i] = p * ivol + at + i * step;
                    }
                }
            });
        });
    (y, argmax)
}

/// One plane of a one-dimensional max pool, window by window with the running maximum in
/// registers: on real-valued inputs which entry of a window is largest is a coin toss, so the
/// generic tap-by-tap update (a branch on memory) mispredicted half the time and was a third of
/// RawAudioCNN's export time. Windows wholly inside the input, with no dilation and two or three
/// taps (what CNNs use), run through a loop specialised to that width; the windows at the edges
/// take the general path. `base` is the plane's offset in the whole input, for the argmax.
fn pool_line(axis: &ConvAxis, x: &[f32], base: usize, y: &mut [f32], arg: &mut [usize]) {
    let (lo, hi) = interior(axis, y.len());
    let edges = (0..lo).chain(hi..y.len());
    for o in edges {
        (y[o], arg[o]) = pool_window(axis, x, base, o);
    }
    let (y, arg) = (&mut y[lo..hi], &mut arg[lo..hi]);
    // (an empty interior may start inside the padding)
    let first = (lo * axis.stride).saturating_sub(axis.pads.0);
    match axis.kernel {
        2 => pool_interior::<2>(axis.stride, x, base, first, y, arg),
        3 => pool_interior::<3>(axis.stride, x, base, first, y, arg),
        _ => {
            for (o, (y, arg)) in y.iter_mut().zip(arg.iter_mut()).enumerate() {
                (*y, *arg) = pool_window(axis, x, base, lo + o);
            }
        }
    }
}

/// The outputs `[lo, hi)` of a line of `outputs` whose windows lie wholly inside the input with
/// no dilation (empty when the axis is dilated).
fn interior(axis: &ConvAxis, outputs: usize) -> (usize, usize) {
    let (pad, stride, kernel) = (axis.pads.0, axis.stride, axis.kernel);
    if axis.dilation != 1 || axis.input + pad < kernel {
        return (0, 0);
    }
    // o·stride ≥ pad, and o·stride − pad + kernel ≤ input
    let lo = pad.div_ceil(stride).min(outputs);
    let hi = ((axis.input + pad - kernel) / stride + 1).min(outputs);
    (lo, hi.max(lo))
}

/// Output `o`'s value and argmax, for any window (padding, dilation).
fn pool_window(axis: &ConvAxis, x: &[f32], base: usize, o: usize) -> (f32, usize) {
    let (pad, dil) = (axis.pads.0, axis.dilation);
    // taps k with 0 <= o·stride + k·dil − pad < input
    let start = o * axis.stride;
    let (before, inside) = (
        pad.saturating_sub(start),
        (axis.input + pad).saturating_sub(start),
    );
    // (a division per window costs as much as the window itself: skipped when dil = 1)
    let (k_lo, k_hi) = if dil == 1 {
        (before, inside.min(axis.kernel))
    } else {
        (before.div_ceil(dil), inside.div_ceil(dil).min(axis.kernel))
    };
    if k_lo >= k_hi {
        return (f32::NEG_INFINITY, NO_INPUT); // all padding: no input
    }
    let first = start + k_lo * dil - pad;
    let (mut best, mut at) = (x[first], first);
    for i in (first + dil..=start + (k_hi - 1) * dil - pad).step_by(dil) {
        let v = x[i];
        // strictly greater: the first maximum in window order wins
        at = if v > best { i } else { at };
        best = if v > best { v } else { best };
    }
    (best, base + at)
}

/// Consecutive windows of `K` taps, `stride` apart, the first starting at `x[first]`.
fn pool_interior<const K: usize>(
    stride: usize,
    x: &[f32],
    base: usize,
    first: usize,
    y: &mut [f32],
    arg: &mut [usize],
) {
    for (o, (y, arg)) in y.iter_mut().zip(arg.iter_mut()).enumerate() {
        let start = first + o * stride;
        let window: &[f32; K] = x[start..start + K].try_into().expect("K values");
        let (mut best, mut at) = (window[0], 0);
        for (k, &v) in window.iter().enumerate().skip(1) {
            at = if v > best { k } else { at };
            best = if v > best { v } else { best };
        }
        *y = best;
        *arg = base + start + at;
    }
}

/// The input gradient `[planes, *spatial]` of [`max_pool_forward`], given the output's gradient
/// `dy` and the argmax it returned: each output's gradient goes to the entry it came from, unless
/// [`relu_after`] stopped it.
///
/// # Panics
/// When `dy` and `argmax` differ in length or an index lies outside its plane of the input.
pub fn max_pool_input_grad(g: &ConvGeometry, argmax: &[usize], dy: &[f32]) -> Vec<f32> {
    assert_eq!(argmax.len(), dy.len(), "max_pool_input_grad: lengths");
    assert_eq!(
        argmax.len(),
        g.output_len(),
        "max_pool_input_grad: output length"
    );
    let (ivol, ovol) = (g.in_volume(), g.out_volume());
    let mut dx = vec![0f32; g.input_len()];
    if ivol == 0 || ovol == 0 {
        return dx;
    }
    // A plane's outputs come from that plane's inputs only, so planes scatter in parallel, when
    // there are enough of them to pay for waking the workers.
    if dx.len() < PARALLEL_MIN {
        dx.chunks_mut(ivol)
            .zip(argmax.chunks(ovol).zip(dy.chunks(ovol)))
            .enumerate()
            .for_each(|(p, (dxp, (ap, dyp)))| scatter_plane(p * ivol, dxp, ap, dyp));
    } else {
        dx.par_chunks_mut(ivol)
            .zip(argmax.par_chunks(ovol).zip(dy.par_chunks(ovol)))
            .enumerate()
            .for_each(|(p, (dxp, (ap, dyp)))| scatter_plane(p * ivol, dxp, ap, dyp));
    }
    dx
}

/// One plane's share of [`max_pool_input_grad`]: `dx` the plane's inputs, which start at `base`
/// in the whole input.
fn scatter_plane(base: usize, dx: &mut [f32], argmax: &[usize], dy: &[f32]) {
    for (&i, &d) in argmax.iter().zip(dy) {
        if i != NO_INPUT {
            dx[(i & !STOPPED) - base] += if i & STOPPED == 0 { d } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::conv_nd::ConvAxis;

    fn axis(
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        pads: (usize, usize),
    ) -> ConvAxis {
        ConvAxis {
            input,
            kernel,
            stride,
            dilation,
            pads,
        }
    }

    #[test]
    fn windows_take_their_first_maximum_and_padding_never_wins() {
        // two planes of 6; kernel 3, stride 2, one pad each side: windows [-,0,1] [1,2,3] [3,4,5]
        let g = ConvGeometry::new(2, 1, 1, 1, &[axis(6, 3, 2, 1, (1, 1))]).expect("geometry");
        let x = [-5.0, -7.0, 2.0, 2.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 9.0];
        let (y, arg) = max_pool_forward(&g, &x);
        assert_eq!(y, vec![-5.0, 2.0, 2.0, 1.0, 1.0, 9.0]);
        assert_eq!(arg, vec![0, 2, 3, 6, 7, 11]);
        let dx = max_pool_input_grad(&g, &arg, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let want = [1.0, 0.0, 2.0, 3.0, 0.0, 0.0, 4.0, 5.0, 0.0, 0.0, 0.0, 6.0];
        assert_eq!(dx, want);
    }

    #[test]
    fn one_dimensional_windows_match_the_definition() {
        for (input, kernel, stride, dilation, pads) in [
            (9, 2, 2, 1, (0, 0)),
            (10, 3, 1, 2, (2, 1)),
            (11, 4, 3, 2, (3, 3)),
            (7, 3, 2, 1, (1, 0)),
            // the specialised interior loops (two and three taps) beside edge windows
            (12, 3, 2, 1, (2, 2)),
            (13, 2, 3, 1, (1, 1)),
            (8, 3, 1, 1, (0, 0)),
            (2, 3, 1, 1, (1, 1)),
            (3, 5, 1, 1, (2, 2)),
            (1, 3, 1, 1, (2, 0)),
        ] {
            let a = axis(input, kernel, stride, dilation, pads);
            let g = ConvGeometry::new(3, 1, 1, 1, &[a]).expect("geometry");
            let x: Vec<f32> = (0..3 * input).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
            let (y, arg) = max_pool_forward(&g, &x);
            let out = y.len() / 3;
            for p in 0..3 {
                for o in 0..out {
                    let mut best = (f32::NEG_INFINITY, NO_INPUT);
                    for k in 0..kernel {
                        let i = (o * stride + k * dilation).checked_sub(pads.0);
                        if let Some(i) = i.filter(|&i| i < input)
                            && (x[p * input + i] > best.0 || best.1 == NO_INPUT)
                        {
                            best = (x[p * input + i], p * input + i);
                        }
                    }
                    assert_eq!((y[p * out + o], arg[p * out + o]), best, "{a:?} ({p}, {o})");
                }
            }
        }
    }

    /// A ReLU after the pool zeroes non-positive maxima and their gradients, and only theirs.
    #[test]
    fn a_relu_after_the_pool_stops_non_positive_maxima_and_their_gradient() {
        let g = ConvGeometry::new(1, 1, 1, 1, &[axis(8, 2, 2, 1, (0, 0))]).expect("geometry");
        let x = [-1.0, -2.0, 3.0, -1.0, 0.0, -0.5, -4.0, 2.0];
        let (mut y, mut arg) = max_pool_forward(&g, &x);
        relu_after(&mut y, &mut arg);
        assert_eq!(y, [0.0, 3.0, 0.0, 2.0]);
        let dx = max_pool_input_grad(&g, &arg, &[10.0, 20.0, 30.0, 40.0]);
        assert_eq!(dx, [0.0, 0.0, 20.0, 0.0, 0.0, 0.0, 0.0, 40.0]);
    }

    #[test]
    fn two_dimensional_dilated_windows_match_the_definition() {
        let g = ConvGeometry::new(
            1,
            1,
            1,
            1,
            &[axis(5, 2, 1, 2, (0, 0)), axis(4, 2, 2, 1, (0, 1))],
        )
        .expect("geometry");
        let x: Vec<f32> = (0..20).map(|i| ((i * 7) % 11) as f32).collect();
        let (y, arg) = max_pool_forward(&g, &x);
        // output 3 × 2: rows r and r + 2 (dilation 2), columns 2c and 2c + 1 (stride 2)
        for r in 0..3 {
            for c in 0..2 {
                let mut best = (f32::NEG_INFINITY, NO_INPUT);
                for (dr, dc) in [(0, 0), (0, 1), (2, 0), (2, 1)] {
                    let col = 2 * c + dc;
                    if col < 4 && x[(r + dr) * 4 + col] > best.0 {
                        best = (x[(r + dr) * 4 + col], (r + dr) * 4 + col);
                    }
                }
                assert_eq!((y[r * 2 + c], arg[r * 2 + c]), best, "output ({r}, {c})");
            }
        }
    }
}
