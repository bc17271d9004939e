//! Max pooling fused with ReLU, forward and backward, on host memory: one-dimensional (one channel,
//! `[length]`, keeping each window's argmax) and three-dimensional (channels last, `[T][H][W][C]`,
//! kernel = stride).
//!
//! Pooling first is exact: ReLU is monotone, so the ReLU of a window's maximum is the maximum of the
//! ReLUs, and a ReLU only has to be taken on the pooled values.

/// Max-pool then ReLU of one channel (pooling first is exact: ReLU is monotone); keeps each
/// window's argmax (the first on ties, as PyTorch) for the backward pass.
pub fn pool_relu(row: &[f32], kernel: usize, stride: usize, out: &mut [f32], argmax: &mut [u32]) {
    for j in 0..out.len() {
        let start = j * stride;
        let mut best = start;
        for t in start + 1..start + kernel {
            if row[t] > row[best] {
                best = t;
            }
        }
        argmax[j] = best as u32;
        out[j] = row[best].max(0.0);
    }
}

/// Routes the gradient of [`pool_relu`]'s outputs back to the pooled positions: `[cout, len_conv]`.
pub fn unpool(out: &[f32], argmax: &[u32], dy: &[f32], cout: usize, len_conv: usize) -> Vec<f32> {
    let len_out = out.len() / cout;
    let mut dconv = vec![0f32; cout * len_conv];
    for o in 0..cout {
        for j in 0..len_out {
            let i = o * len_out + j;
            if out[i] > 0.0 {
                dconv[o * len_conv + argmax[i] as usize] += dy[i];
            }
        }
    }
    dconv
}

/// One pooled frame: the ReLU of the maximum over each `kt × kh × kw` window of `window`
/// (`[kt][H][W][C]`), as `out` `[H / kh][W / kw][C]` (floor).
pub fn max_pool_relu(
    window: &[f32],
    [kt, h, w]: [usize; 3],
    [kh, kw]: [usize; 2],
    c: usize,
    out: &mut [f32],
) {
    let (ho, wo) = (h / kh, w / kw);
    for y in 0..ho {
        for x in 0..wo {
            let dst = &mut out[(y * wo + x) * c..][..c];
            // The ReLU of the maximum is the maximum of the ReLUs.
            dst.fill(0.0);
            for a in 0..kt {
                for yy in y * kh..(y + 1) * kh {
                    for xx in x * kw..(x + 1) * kw {
                        let src = &window[((a * h + yy) * w + xx) * c..][..c];
                        for (d, v) in dst.iter_mut().zip(src) {
                            *d = d.max(*v);
                        }
                    }
                }
            }
        }
    }
}

/// The gradient through [`max_pool_relu`]: each window's gradient goes to its (first) maximum,
/// if that is positive.
///
/// The window is scanned pixel by pixel with every channel at once (contiguous, channels last),
/// keeping each channel's best value and position: the same choice as a scan channel by channel.
/// Compiled for the CPU's widest vectors at run time: the per-channel selects vectorise only with
/// the blend instructions the baseline x86-64 target lacks.
pub fn max_pool_relu_backward(
    window: &[f32],
    dims: [usize; 3],
    kernel: [usize; 2],
    c: usize,
    dout: &[f32],
    dwindow: &mut [f32],
) {
    pulp::Arch::new().dispatch(PoolBackward {
        window,
        dims,
        kernel,
        c,
        dout,
        dwindow,
    });
}

/// [`max_pool_relu_backward`]'s arguments, as the body pulp compiles once per instruction set.
struct PoolBackward<'a> {
    window: &'a [f32],
    dims: [usize; 3],
    kernel: [usize; 2],
    c: usize,
    dout: &'a [f32],
    dwindow: &'a mut [f32],
}

impl pulp::WithSimd for PoolBackward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            window,
            dims: [kt, h, w],
            kernel: [kh, kw],
            c,
            dout,
            dwindow,
        } = self;
        let (ho, wo) = (h / kh, w / kw);
        let mut best = vec![0f32; c];
        let mut at = vec![u32::MAX; c];
        for y in 0..ho {
            for x in 0..wo {
                best.fill(0.0);
                at.fill(u32::MAX);
                for a in 0..kt {
                    for yy in y * kh..(y + 1) * kh {
                        for xx in x * kw..(x + 1) * kw {
                            let pixel = (a * h + yy) * w + xx;
                            let values = &window[pixel * c..(pixel + 1) * c];
                            for ((b, i), &v) in best.iter_mut().zip(at.iter_mut()).zip(values) {
                                // Selects, not branches: which value wins is data, not pattern.
                                let wins = v > *b;
                                *b = if wins { v } else { *b };
                                *i = if wins { pixel as u32 } else { *i };
                            }
                        }
                    }
                }
                let grads = &dout[(y * wo + x) * c..][..c];
                for (o, (&pixel, &g)) in at.iter().zip(grads).enumerate() {
                    if pixel != u32::MAX {
                        dwindow[pixel as usize * c + o] += g;
                    }
                }
            }
        }
    }
}
