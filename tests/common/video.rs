//! Video helpers shared by the video integration tests.

use avfoil::video::Video;
use std::path::{Path, PathBuf};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/video")
        .join(name)
}

/// A smooth moving clip, `[f, h, w, 3]`: colour gradients, a gentle ripple and a soft (Gaussian)
/// bright blob drifting right. Smooth on purpose: sharp colour edges lose ~10 dB of RGB PSNR to
/// 4:2:0 chroma subsampling alone, which says nothing about the container or the codec.
pub fn smooth_clip(f: usize, h: usize, w: usize, fps: f64) -> Video {
    let mut rgb = Vec::with_capacity(f * h * w * 3);
    for t in 0..f {
        let (cx, cy, r) = (
            w as f32 * (0.3 + 0.04 * t as f32),
            h as f32 * 0.5,
            h as f32 * 0.3,
        );
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f32, y as f32);
                let a = (-((xf - cx).powi(2) + (yf - cy).powi(2)) / (r * r)).exp();
                let bg = [
                    40.0 + 150.0 * xf / w as f32,
                    30.0 + 140.0 * yf / h as f32,
                    120.0 + 40.0 * ((xf + yf + 3.0 * t as f32) * 0.15).sin(),
                ];
                let blob = [230.0, 215.0, 90.0];
                rgb.extend((0..3).map(|c| (bg[c] * (1.0 - a) + blob[c] * a).round() as u8));
            }
        }
    }
    Video::new(w, h, fps, rgb).unwrap()
}

/// RGB PSNR (dB) between two equal-length byte buffers.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

/// The top-left `w × h` of every frame of `v`.
pub fn crop(v: &Video, w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..v.frame_count() {
        for row in v.frame(i).chunks_exact(v.width * 3).take(h) {
            out.extend_from_slice(&row[..w * 3]);
        }
    }
    out
}
