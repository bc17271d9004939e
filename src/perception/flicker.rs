//! Temporal flicker of a video perturbation: how much the perturbation changes from one frame to
//! the next. A perturbation that differs every frame shimmers and is noticed even when each frame
//! alone looks clean (per-frame PSNR and SSIM do not see it); one that is the same in every frame
//! is a static overlay, flicker 0.
//!
//! Defined as the mean over consecutive frame pairs, channels and pixels of
//! `|δ[t] − δ[t−1]|`, δ = degraded − clean, in full-scale units (pixels in [0, 1]).

use crate::error::{Error, Result};

/// Flicker of `degraded − clean` for a clip `[C, T, H, W]` whose pixels are `scale` model units per
/// full-scale unit (1 for `[0, 1]`, 255 for bytes). Errors: a shape that is not 4-D or that the
/// buffers do not fill, fewer than two frames.
pub fn flicker(clean: &[f32], degraded: &[f32], shape: &[usize], scale: f32) -> Result<f64> {
    let &[c, t, h, w] = shape else {
        return Err(Error::invalid(
            "flicker",
            format!("needs a clip [C, T, H, W], got shape {shape:?}"),
        ));
    };
    let d = c * t * h * w;
    if clean.len() != d || degraded.len() != d {
        return Err(Error::invalid(
            "flicker",
            format!(
                "shape {shape:?} holds {d} values, got {} and {}",
                clean.len(),
                degraded.len()
            ),
        ));
    }
    if t < 2 || h * w == 0 || c == 0 {
        return Err(Error::invalid(
            "flicker",
            format!("needs at least two non-empty frames, got shape {shape:?}"),
        ));
    }
    let plane = h * w;
    let delta = |i: usize| f64::from(degraded[i]) - f64::from(clean[i]);
    let mut total = 0f64;
    for ch in 0..c {
        for f in 1..t {
            let (now, before) = ((ch * t + f) * plane, (ch * t + f - 1) * plane);
            total += (0..plane)
                .map(|p| (delta(now + p) - delta(before + p)).abs())
                .sum::<f64>();
        }
    }
    Ok(total / (c * (t - 1) * plane) as f64 / f64::from(scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_overlay_does_not_flicker_and_an_alternating_one_does() {
        let shape = [1, 3, 2, 2];
        let clean = vec![0.5f32; 12];
        let overlay: Vec<f32> = clean.iter().map(|v| v + 0.1).collect();
        assert_eq!(flicker(&clean, &overlay, &shape, 1.0).unwrap(), 0.0);
        // +0.1, −0.1, +0.1: every pixel changes by 0.2 between frames.
        let alternating: Vec<f32> = (0..12)
            .map(|i| 0.5 + if (i / 4) % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        let f = flicker(&clean, &alternating, &shape, 1.0).unwrap();
        assert!((f - 0.2).abs() < 1e-6, "{f}");
        // The same in byte units.
        let bytes: Vec<f32> = alternating.iter().map(|v| v * 255.0).collect();
        let clean_bytes = vec![127.5f32; 12];
        let f = flicker(&clean_bytes, &bytes, &shape, 255.0).unwrap();
        assert!((f - 0.2).abs() < 1e-5, "{f}");
    }

    #[test]
    fn one_frame_or_a_bad_shape_is_an_error() {
        assert!(flicker(&[0.0; 4], &[0.0; 4], &[1, 1, 2, 2], 1.0).is_err());
        assert!(flicker(&[0.0; 4], &[0.0; 4], &[4], 1.0).is_err());
        assert!(flicker(&[0.0; 8], &[0.0; 7], &[1, 2, 2, 2], 1.0).is_err());
    }
}
