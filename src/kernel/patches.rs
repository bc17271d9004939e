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

/// Calls `f(y, run)` for every row `y` of one tap's plane of patches (tap = ky · 3 + kx): `run`
/// (`None` when frame row y + ky − 1 is padding) is the frame plane's values that the row's output
/// pixels x0..x1 read (pixels x + kx − 1), and the range x0..x1 itself; entries outside it are
/// padding. The planar layout's twin of [`for_each_kernel_row`].
fn for_each_shifted_row(
    h: usize,
    w: usize,
    tap: usize,
    mut f: impl FnMut(usize, Option<(std::ops::Range<usize>, std::ops::Range<usize>)>),
) {
    let (ky, kx) = (tap / 3, tap % 3);
    let (x0, x1) = (1usize.saturating_sub(kx), (w + 1 - kx).min(w));
    for y in 0..h {
        let run = (y + ky)
            .checked_sub(1)
            .filter(|&yy| yy < h)
            .map(|yy| (yy * w + x0 + kx - 1..yy * w + x1 + kx - 1, x0..x1));
        f(y, run);
    }
}

/// Column `j` of [`im2col`]'s patches (tap `j / C`, channel `j % C`) for consecutive frames
/// stored channels first (`[n][C][H][W]`), as `n · H · W` values frame by frame: the column-major
/// layout of [`col2im_planar`]. Each is the channel's plane shifted by the tap, one contiguous copy
/// per row; every entry is written.
pub fn im2col_column(frames: &[f32], [h, w, c]: [usize; 3], j: usize, column: &mut [f32]) {
    let plane = h * w;
    let (tap, ch) = (j / c, j % c);
    for (frame, dst) in frames.chunks(c * plane).zip(column.chunks_mut(plane)) {
        let src = &frame[ch * plane..(ch + 1) * plane];
        for_each_shifted_row(h, w, tap, |y, run| {
            let row = &mut dst[y * w..(y + 1) * w];
            match run {
                None => row.fill(0.0),
                Some((pixels, entries)) => {
                    row[..entries.start].fill(0.0);
                    row[entries.end..].fill(0.0);
                    row[entries].copy_from_slice(&src[pixels]);
                }
            }
        });
    }
}

/// [`col2im`] for patches stored column by column, into a frame stored channels first
/// `[C][H][W]`: column `j` of the `[pixels × 9·C]` patches (tap-major, as [`im2col`]) is `rows`
/// values at `j · rows`, and this frame's pixels start at row `first`.
///
/// Why: each (tap, channel) is then a plane shifted by the tap, so every row of the frame gets one
/// contiguous run added per tap; row-major patches of a first layer (C = 3) scatter runs of 9
/// values instead, which cost a first layer's backward pass a third as much again as its GEMM.
pub fn col2im_planar(
    patches: &[f32],
    rows: usize,
    first: usize,
    [h, w, c]: [usize; 3],
    frame: &mut [f32],
) {
    let plane = h * w;
    for (ch, dst) in frame[..c * plane].chunks_mut(plane).enumerate() {
        for tap in 0..9 {
            let src = &patches[(tap * c + ch) * rows + first..][..plane];
            for_each_shifted_row(h, w, tap, |y, run| {
                if let Some((pixels, entries)) = run {
                    let row = &src[y * w..(y + 1) * w];
                    for (d, v) in dst[pixels].iter_mut().zip(&row[entries]) {
                        *d += v;
                    }
                }
            });
        }
    }
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

            // The same patches column by column, among other frames' rows: the same sums, channels
            // first.
            let (pixels, first, rows) = (h * w, 5, h * w + 9);
            let mut columns = vec![f32::NAN; 9 * c * rows];
            for (i, v) in p.iter().enumerate() {
                columns[(i % (9 * c)) * rows + first + i / (9 * c)] = *v;
            }
            let mut planar = vec![0f32; frame.len()];
            col2im_planar(&columns, rows, first, [h, w, c], &mut planar);
            let channels_first: Vec<f32> = (0..frame.len())
                .map(|i| frame[(i % pixels) * c + i / pixels])
                .collect();
            // Two frames: this one, then its negation.
            let two: Vec<f32> = channels_first
                .iter()
                .copied()
                .chain(channels_first.iter().map(|v| -v))
                .collect();
            for j in 0..9 * c {
                let mut column = vec![f32::NAN; 2 * pixels];
                im2col_column(&two, [h, w, c], j, &mut column);
                for pixel in 0..pixels {
                    let want = out[pixel * 9 * c + j];
                    assert_eq!(
                        column[pixel], want,
                        "{h}x{w}x{c}, column {j}, pixel {pixel}"
                    );
                    assert_eq!(column[pixels + pixel], -want);
                }
            }
            for (i, v) in back.iter().enumerate() {
                let (pixel, ch) = (i / c, i % c);
                let got = planar[ch * pixels + pixel];
                assert!(
                    (got - v).abs() < 1e-5,
                    "{h}x{w}x{c}: pixel {pixel} channel {ch}: {got} vs {v}"
                );
            }
        }
    }
}
