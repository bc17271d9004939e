//! The 3 × 3 patches (zero padding 1) of one channels-last frame `[H][W][C]`, laid out
//! `[H · W][9 · C]` tap-major: im2col for a spatial convolution as one GEMM, and its adjoint.
//!
//! Both walk the patches a kernel row at a time: for output pixel (y, x) and kernel row ky, the
//! three entries kx = 0, 1, 2 are the frame's pixels x − 1 ..= x + 1 of row y + ky − 1, contiguous
//! in the frame and in the patch row, so each is one copy of 3·C values (fewer at the borders)
//! rather than three of C (a first layer has C = 3).

/// Calls `f(start, run)` for every kernel row of every patch: `start` is where its 3·C entries
/// begin in the patches, and `run` (`None` when frame row y + ky − 1 is padding) the frame's values
/// of the pixels x − 1 ..= x + 1 that exist and where they go among those entries. Entries outside
/// the run are padding.
fn for_each_kernel_row(
    h: usize,
    w: usize,
    c: usize,
    mut f: impl FnMut(usize, Option<(std::ops::Range<usize>, std::ops::Range<usize>)>),
) {
    for y in 0..h {
        for ky in 0..3 {
            let yy = (y + ky).checked_sub(1).filter(|&v| v < h);
            for x in 0..w {
                let row_start = ((y * w + x) * 3 + ky) * 3 * c;
                let Some(yy) = yy else {
                    f(row_start, None);
                    continue;
                };
                let (lo, hi) = (x.saturating_sub(1), (x + 2).min(w));
                let skip = (lo + 1 - x) * c;
                let len = (hi - lo) * c;
                let pixels = (yy * w + lo) * c..(yy * w + lo) * c + len;
                f(row_start, Some((pixels, skip..skip + len)));
            }
        }
    }
}

/// The 3 × 3 patches of one `[H][W][C]` frame into `out` `[H · W][9 · C]`, every entry written (the
/// padding as zeros), so `out` may hold anything before.
pub fn im2col(frame: &[f32], h: usize, w: usize, c: usize, out: &mut [f32]) {
    for_each_kernel_row(h, w, c, |start, run| {
        let row = &mut out[start..start + 3 * c];
        match run {
            None => row.fill(0.0),
            Some((pixels, entries)) => {
                row[..entries.start].fill(0.0);
                row[entries.end..].fill(0.0);
                row[entries].copy_from_slice(&frame[pixels]);
            }
        }
    });
}

/// The adjoint of [`im2col`]: adds each patch entry back to its pixel (padding entries to none).
pub fn col2im(patches: &[f32], h: usize, w: usize, c: usize, frame: &mut [f32]) {
    for_each_kernel_row(h, w, c, |start, run| {
        if let Some((pixels, entries)) = run {
            let row = &patches[start..start + 3 * c];
            for (d, v) in frame[pixels].iter_mut().zip(&row[entries]) {
                *d += v;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entry `((y·W + x)·9 + ky·3 + kx)·C + ch` of the patches, from the definition.
    fn patch_entry(frame: &[f32], [h, w, c]: [usize; 3], i: usize) -> f32 {
        let (ch, tap, pixel) = (i % c, (i / c) % 9, i / (9 * c));
        let (y, x) = (pixel / w, pixel % w);
        let (yy, xx) = ((y + tap / 3).checked_sub(1), (x + tap % 3).checked_sub(1));
        match (yy, xx) {
            (Some(yy), Some(xx)) if yy < h && xx < w => frame[(yy * w + xx) * c + ch],
            _ => 0.0,
        }
    }

    #[test]
    fn patches_match_the_definition_and_col2im_is_their_adjoint() {
        for [h, w, c] in [[1, 1, 1], [1, 4, 3], [5, 1, 2], [4, 6, 3], [3, 2, 16]] {
            let frame: Vec<f32> = (0..h * w * c).map(|i| (i as f32 * 0.37).sin()).collect();
            let mut out = vec![f32::NAN; h * w * 9 * c];
            im2col(&frame, h, w, c, &mut out);
            for (i, v) in out.iter().enumerate() {
                assert_eq!(
                    *v,
                    patch_entry(&frame, [h, w, c], i),
                    "{h}x{w}x{c}, entry {i}"
                );
            }
            // <im2col(x), p> = <x, col2im(p)>.
            let p: Vec<f32> = (0..out.len()).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut back = vec![0f32; frame.len()];
            col2im(&p, h, w, c, &mut back);
            let lhs: f64 = out.iter().zip(&p).map(|(a, b)| (a * b) as f64).sum();
            let rhs: f64 = frame.iter().zip(&back).map(|(a, b)| (a * b) as f64).sum();
            assert!(
                (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
                "{lhs} vs {rhs}"
            );
        }
    }
}
