//! The 3 × 3 patches (zero padding 1) of one channels-last frame `[H][W][C]`, laid out
//! `[H · W][9 · C]` tap-major: im2col for a spatial convolution as one GEMM, and its adjoint.

/// Calls `f(pixel, entry)` for every entry of the 3 × 3 patches (zero padding 1) of an `[H][W][C]`
/// frame, laid out `[H · W][9 · C]` tap-major: the offsets of the C values of the pixel in the frame
/// (`None` in the padding) and of the entry in the patches.
fn for_each_patch_entry(h: usize, w: usize, c: usize, mut f: impl FnMut(Option<usize>, usize)) {
    let inside = |v: usize, len: usize| v.checked_sub(1).filter(|&v| v < len);
    for y in 0..h {
        for x in 0..w {
            for ky in 0..3 {
                for kx in 0..3 {
                    let pixel = inside(y + ky, h)
                        .zip(inside(x + kx, w))
                        .map(|(yy, xx)| (yy * w + xx) * c);
                    f(pixel, ((y * w + x) * 9 + ky * 3 + kx) * c);
                }
            }
        }
    }
}

/// The 3 × 3 patches of one `[H][W][C]` frame into `out` `[H · W][9 · C]`, every entry written (the
/// padding as zeros), so `out` may hold anything before.
pub fn im2col(frame: &[f32], h: usize, w: usize, c: usize, out: &mut [f32]) {
    for_each_patch_entry(h, w, c, |p, e| match p {
        Some(p) => out[e..e + c].copy_from_slice(&frame[p..p + c]),
        None => out[e..e + c].fill(0.0),
    });
}

/// The adjoint of [`im2col`]: adds each patch entry back to its pixel (padding entries to none).
pub fn col2im(patches: &[f32], h: usize, w: usize, c: usize, frame: &mut [f32]) {
    for_each_patch_entry(h, w, c, |p, e| {
        if let Some(p) = p {
            for (d, v) in frame[p..p + c].iter_mut().zip(&patches[e..e + c]) {
                *d += v;
            }
        }
    });
}
