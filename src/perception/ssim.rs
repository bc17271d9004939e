//! SSIM, the structural similarity index (Wang et al., IEEE TIP 2004), per video frame: how much of
//! a frame's local luminance, contrast and structure a perturbation keeps (1: all of it). PSNR
//! counts every changed pixel alike; SSIM follows what people notice (changes in textured regions
//! hide, changes on flat ones show).
//!
//! The standard settings, as `skimage.metrics.structural_similarity(gaussian_weights=True,
//! sigma=1.5, use_sample_covariance=False)`: local means, variances and covariance under an 11 × 11
//! Gaussian window (σ = 1.5, radius 5), K1 = 0.01, K2 = 0.03, averaged over the positions where the
//! window fits inside the frame (skimage crops the 5-pixel border likewise). Colour frames are
//! scored per channel and the channels averaged, as skimage does with `channel_axis`.

use crate::error::{Error, Result};

/// Gaussian window standard deviation, pixels.
const SIGMA: f64 = 1.5;
/// Window radius: scipy's `int(truncate · σ + 0.5)` with skimage's truncate 3.5.
const RADIUS: usize = 5;
const K1: f64 = 0.01;
const K2: f64 = 0.03;

/// SSIM of each frame of a clip `[C, T, H, W]` (`clean` and `degraded` both in that layout) whose
/// pixels span `data_range` (1 for `[0, 1]`, 255 for bytes). Errors: buffers that do not fill the
/// shape, a shape that is not 4-D, frames smaller than the 11 × 11 window, a non-positive range.
pub fn ssim_per_frame(
    clean: &[f32],
    degraded: &[f32],
    shape: &[usize],
    data_range: f64,
) -> Result<Vec<f64>> {
    let &[c, t, h, w] = shape else {
        return Err(Error::invalid(
            "ssim",
            format!("needs a clip [C, T, H, W], got shape {shape:?}"),
        ));
    };
    let d = c * t * h * w;
    if clean.len() != d || degraded.len() != d {
        return Err(Error::invalid(
            "ssim",
            format!(
                "shape {shape:?} holds {d} values, got {} and {}",
                clean.len(),
                degraded.len()
            ),
        ));
    }
    let side = 2 * RADIUS + 1;
    if h < side || w < side {
        return Err(Error::invalid(
            "ssim",
            format!("frames of {h} × {w} are smaller than the {side} × {side} window"),
        ));
    }
    if !(data_range > 0.0 && data_range.is_finite()) {
        return Err(Error::invalid(
            "ssim",
            format!("data range must be positive, got {data_range}"),
        ));
    }
    let plane = h * w;
    Ok((0..t)
        .map(|f| {
            (0..c)
                .map(|ch| {
                    let at = (ch * t + f) * plane;
                    ssim_plane(
                        &clean[at..at + plane],
                        &degraded[at..at + plane],
                        h,
                        w,
                        data_range,
                    )
                })
                .sum::<f64>()
                / c as f64
        })
        .collect())
}

/// Mean SSIM over the valid window positions of one `h × w` plane.
fn ssim_plane(x: &[f32], y: &[f32], h: usize, w: usize, range: f64) -> f64 {
    let g = gaussian();
    let (c1, c2) = ((K1 * range).powi(2), (K2 * range).powi(2));
    let (vh, vw) = (h - 2 * RADIUS, w - 2 * RADIUS);
    // Five maps filtered along rows (valid columns only), then along columns.
    let maps = |f: &dyn Fn(f64, f64) -> f64| -> Vec<f64> {
        let mut rows = vec![0.0; h * vw];
        for r in 0..h {
            for j in 0..vw {
                rows[r * vw + j] = (0..g.len())
                    .map(|k| {
                        let i = r * w + j + k;
                        g[k] * f(f64::from(x[i]), f64::from(y[i]))
                    })
                    .sum();
            }
        }
        let mut out = vec![0.0; vh * vw];
        for r in 0..vh {
            for j in 0..vw {
                out[r * vw + j] = (0..g.len()).map(|k| g[k] * rows[(r + k) * vw + j]).sum();
            }
        }
        out
    };
    let ux = maps(&|a, _| a);
    let uy = maps(&|_, b| b);
    let uxx = maps(&|a, _| a * a);
    let uyy = maps(&|_, b| b * b);
    let uxy = maps(&|a, b| a * b);
    let total: f64 = (0..vh * vw)
        .map(|i| {
            let (mx, my) = (ux[i], uy[i]);
            let vx = uxx[i] - mx * mx;
            let vy = uyy[i] - my * my;
            let vxy = uxy[i] - mx * my;
            ((2.0 * mx * my + c1) * (2.0 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        })
        .sum();
    total / (vh * vw) as f64
}

/// scipy's 1-D Gaussian kernel: `exp(−x² / 2σ²)` for x in −5..=5, normalised to unit sum.
fn gaussian() -> [f64; 2 * RADIUS + 1] {
    let mut g: [f64; 2 * RADIUS + 1] = std::array::from_fn(|i| {
        let x = i as f64 - RADIUS as f64;
        (-0.5 * x * x / (SIGMA * SIGMA)).exp()
    });
    let sum: f64 = g.iter().sum();
    g.iter_mut().for_each(|v| *v /= sum);
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_frames_score_one_and_noise_lowers_it() {
        let shape = [1, 2, 16, 16];
        let x: Vec<f32> = (0..512).map(|i| ((i * 37 % 101) as f32) / 101.0).collect();
        let s = ssim_per_frame(&x, &x, &shape, 1.0).unwrap();
        assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-12), "{s:?}");
        let small: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, v)| v + 0.01 * ((i % 3) as f32 - 1.0))
            .collect();
        let big: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, v)| v + 0.1 * ((i % 3) as f32 - 1.0))
            .collect();
        let (a, b) = (
            ssim_per_frame(&x, &small, &shape, 1.0).unwrap(),
            ssim_per_frame(&x, &big, &shape, 1.0).unwrap(),
        );
        assert!(a[0] < 1.0 && b[0] < a[0], "{a:?} {b:?}");
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(ssim_per_frame(&[0.0; 100], &[0.0; 100], &[1, 1, 10, 10], 1.0).is_err());
        assert!(ssim_per_frame(&[0.0; 10], &[0.0; 10], &[10], 1.0).is_err());
        assert!(ssim_per_frame(&[0.0; 121], &[0.0; 120], &[1, 1, 11, 11], 1.0).is_err());
        assert!(ssim_per_frame(&[0.0; 121], &[0.0; 121], &[1, 1, 11, 11], 0.0).is_err());
    }
}
