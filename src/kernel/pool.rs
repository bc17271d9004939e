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
/// if that is positive. Every element of `dwindow` is written (zero where no gradient goes, the
/// pixels outside the whole windows included), so it may hold anything before.
///
/// Two scans of each window, every channel at once (contiguous, channels last): the maximum as in
/// the forward pass, then, pixel by pixel, the gradient goes to the channels whose value equals it
/// and is still unplaced (so only the first maximum gets it, as a scan channel by channel would
/// choose). Selects, not branches, compiled for the CPU's widest vectors at run time: which value
/// wins is data, not pattern, and the selects vectorise only with the blend instructions the
/// baseline x86-64 target lacks.
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
        let mut unplaced = vec![0f32; c];
        for y in 0..ho {
            for x in 0..wo {
                best.fill(0.0);
                for a in 0..kt {
                    for yy in y * kh..(y + 1) * kh {
                        let row = (a * h + yy) * w;
                        for p in row + x * kw..row + (x + 1) * kw {
                            for (b, &v) in best.iter_mut().zip(&window[p * c..(p + 1) * c]) {
                                *b = b.max(v);
                            }
                        }
                    }
                }
                let grads = &dout[(y * wo + x) * c..][..c];
                for ((u, &b), &g) in unplaced.iter_mut().zip(&best).zip(grads) {
                    *u = if b > 0.0 { g } else { 0.0 };
                }
                for a in 0..kt {
                    for yy in y * kh..(y + 1) * kh {
                        let row = (a * h + yy) * w;
                        for p in row + x * kw..row + (x + 1) * kw {
                            let values = &window[p * c..(p + 1) * c];
                            let dst = &mut dwindow[p * c..(p + 1) * c];
                            let (best, unplaced) = (&best[..c], &mut unplaced[..c]);
                            for i in 0..c {
                                let hit = values[i] == best[i];
                                dst[i] = if hit { unplaced[i] } else { 0.0 };
                                unplaced[i] = if hit { 0.0 } else { unplaced[i] };
                            }
                        }
                    }
                }
            }
        }
        // The pixels no whole window covers (floor mode): the rows below, then the columns right.
        for a in 0..kt {
            let frame = &mut dwindow[a * h * w * c..(a + 1) * h * w * c];
            frame[ho * kh * w * c..].fill(0.0);
            for row in frame[..ho * kh * w * c].chunks_mut(w * c) {
                row[wo * kw * c..].fill(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_backward_gives_each_window_gradient_to_its_first_positive_maximum() {
        // Odd sizes leave pixels outside every window; values from a few levels make ties, some
        // windows all negative (no gradient through the ReLU).
        let ([kt, h, w], [kh, kw], c) = ([2, 5, 7], [2, 3], 5);
        let window: Vec<f32> = (0..kt * h * w * c)
            .map(|i| ((i * 7919) % 5) as f32 - 2.0)
            .collect();
        let (ho, wo) = (h / kh, w / kw);
        let dout: Vec<f32> = (0..ho * wo * c).map(|i| 1.0 + i as f32).collect();
        let mut got = vec![f32::NAN; window.len()];
        max_pool_relu_backward(&window, [kt, h, w], [kh, kw], c, &dout, &mut got);

        let mut want = vec![0f32; window.len()];
        for (y, x, o) in
            (0..ho).flat_map(|y| (0..wo).flat_map(move |x| (0..c).map(move |o| (y, x, o))))
        {
            // Scan the window in order, keeping the first strictly larger positive value.
            let mut best: Option<(f32, usize)> = None;
            for a in 0..kt {
                for yy in y * kh..(y + 1) * kh {
                    for xx in x * kw..(x + 1) * kw {
                        let i = ((a * h + yy) * w + xx) * c + o;
                        if window[i] > best.map_or(0.0, |b| b.0) {
                            best = Some((window[i], i));
                        }
                    }
                }
            }
            if let Some((_, i)) = best {
                want[i] += dout[(y * wo + x) * c + o];
            }
        }
        assert_eq!(got, want);
        assert!(
            want.iter().any(|&v| v != 0.0)
                && want.iter().filter(|&&v| v == 0.0).count() > window.len() / 2
        );
    }
}
