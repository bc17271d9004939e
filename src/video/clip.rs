//! From a decoded video to a model's clip: which frames, what size, what range.
//!
//! ART's action notebook takes frames 0, 2, …, 62 of a 320 × 240 UCF101 video and centre-crops
//! 224 × 224 without resizing; torchvision's video models resize the shorter side first. Both are a
//! [`Sampling`]: a first frame and a stride, an optional shorter-side resize, then a centre crop to
//! the model's `H × W`. Pixels end in `[0, 1]`; mean and std belong to the model.

use super::Video;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// What to do when a video has fewer frames than the sampling needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShortVideo {
    /// Refuse, naming how many frames were needed (the default: a silent loop changes the motion).
    #[default]
    Error,
    /// Wrap around to the first frame.
    Loop,
}

/// Which frames a model sees and how they are sized (`[input.sampling]` in `model.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// First frame, 0-based.
    #[serde(default)]
    pub start: usize,
    /// Step between sampled frames (2 in the ART notebook).
    #[serde(default = "one")]
    pub stride: usize,
    /// Shorter side after resizing; absent: crop at the decoded size (the ART notebook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<usize>,
    /// Too-short videos: `error` or `loop`.
    #[serde(default)]
    pub short: ShortVideo,
}

fn one() -> usize {
    1
}

impl Default for Sampling {
    /// The ART notebook's: every second frame from the first, no resize.
    fn default() -> Self {
        Self {
            start: 0,
            stride: 2,
            resize: None,
            short: ShortVideo::Error,
        }
    }
}

impl Sampling {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if self.stride == 0 {
            return Err(Error::invalid("sampling.stride", "must be at least 1"));
        }
        if self.resize == Some(0) {
            return Err(Error::invalid("sampling.resize", "must be at least 1"));
        }
        Ok(())
    }

    /// The decoded frame indices of a `frames`-frame clip from a video of `available` frames.
    pub fn indices(&self, frames: usize, available: usize) -> Result<Vec<usize>> {
        self.validate()?;
        if available == 0 {
            return Err(Error::invalid("video", "it has no frames"));
        }
        let last = self.start + (frames.max(1) - 1) * self.stride;
        if last >= available && self.short == ShortVideo::Error {
            return Err(Error::invalid(
                "video",
                format!(
                    "the model samples frames {}..={last} (every {}), the video has {available}; \
                     set sampling.short = \"loop\" to wrap around",
                    self.start, self.stride
                ),
            ));
        }
        Ok((0..frames)
            .map(|i| (self.start + i * self.stride) % available)
            .collect())
    }

    /// The clip `[3, frames, height, width]` in `[0, 1]` that a model of that shape sees.
    pub fn clip(
        &self,
        video: &Video,
        frames: usize,
        height: usize,
        width: usize,
    ) -> Result<Vec<f32>> {
        let indices = self.indices(frames, video.frame_count())?;
        let (rw, rh) = match self.resize {
            None => (video.width, video.height),
            Some(side) => {
                let (w, h) = (video.width as f64, video.height as f64);
                let s = side as f64 / w.min(h);
                (
                    ((w * s).round() as usize).max(side),
                    ((h * s).round() as usize).max(side),
                )
            }
        };
        if rw < width || rh < height {
            return Err(Error::invalid(
                "video",
                format!(
                    "frames of {rw} × {rh} (after resizing) are smaller than the model's \
                     {width} × {height} crop"
                ),
            ));
        }
        // Centre crop offsets, rounded as GluonCV's VideoGroupValTransform.
        let x0 = ((rw - width) as f64 / 2.0).round() as usize;
        let y0 = ((rh - height) as f64 / 2.0).round() as usize;
        let plane = frames * height * width;
        let mut out = vec![0f32; 3 * plane];
        for (t, &i) in indices.iter().enumerate() {
            let frame = video.frame(i);
            let resized;
            let src = if (rw, rh) == (video.width, video.height) {
                frame
            } else {
                resized = resize_rgb(frame, video.width, video.height, rw, rh);
                &resized
            };
            for y in 0..height {
                for x in 0..width {
                    let p = ((y0 + y) * rw + x0 + x) * 3;
                    for c in 0..3 {
                        out[c * plane + (t * height + y) * width + x] =
                            f32::from(src[p + c]) / 255.0;
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Resizes an RGB frame with a triangle (bilinear) filter widened by the scale factor when
/// shrinking, as PIL and torchvision's antialiased resize do, so a 4× reduction averages over the
/// pixels it drops instead of aliasing. Written by hand: two separable passes are all it takes.
pub fn resize_rgb(src: &[u8], w: usize, h: usize, nw: usize, nh: usize) -> Vec<u8> {
    let horizontal = weights(w, nw);
    let vertical = weights(h, nh);
    let mut tmp = vec![0f32; h * nw * 3];
    for y in 0..h {
        for (x, (first, ws)) in horizontal.iter().enumerate() {
            let mut acc = [0f32; 3];
            for (k, wgt) in ws.iter().enumerate() {
                let p = (y * w + first + k) * 3;
                for c in 0..3 {
                    acc[c] += wgt * f32::from(src[p + c]);
                }
            }
            tmp[(y * nw + x) * 3..][..3].copy_from_slice(&acc);
        }
    }
    let mut out = vec![0u8; nh * nw * 3];
    for (y, (first, ws)) in vertical.iter().enumerate() {
        for x in 0..nw {
            let mut acc = [0f32; 3];
            for (k, wgt) in ws.iter().enumerate() {
                let p = ((first + k) * nw + x) * 3;
                for c in 0..3 {
                    acc[c] += wgt * tmp[p + c];
                }
            }
            for c in 0..3 {
                out[(y * nw + x) * 3 + c] = super::yuv::round_u8(acc[c]);
            }
        }
    }
    out
}

/// For each output sample: the first input sample it reads and the normalised filter weights.
fn weights(from: usize, to: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = from as f64 / to as f64;
    let support = scale.max(1.0);
    (0..to)
        .map(|i| {
            let centre = (i as f64 + 0.5) * scale;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = ((centre + support).ceil() as usize).min(from);
            let mut ws: Vec<f32> = (lo..hi)
                .map(|j| {
                    let d = ((j as f64 + 0.5 - centre) / support).abs();
                    (1.0 - d).max(0.0) as f32
                })
                .collect();
            let sum: f32 = ws.iter().sum();
            if sum > 0.0 {
                ws.iter_mut().for_each(|v| *v /= sum);
            } else {
                // Cannot happen for from, to ≥ 1, but never divide by zero.
                ws = vec![1.0];
                return (lo.min(from - 1), ws);
            }
            (lo, ws)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp_video(w: usize, h: usize, frames: usize) -> Video {
        let mut rgb = Vec::with_capacity(w * h * 3 * frames);
        for t in 0..frames {
            for y in 0..h {
                for x in 0..w {
                    rgb.extend([(x % 256) as u8, (y % 256) as u8, t as u8]);
                }
            }
        }
        Video::new(w, h, 25.0, rgb).unwrap()
    }

    #[test]
    fn notebook_sampling_takes_every_second_frame_and_crops_the_centre() {
        let video = ramp_video(320, 240, 70);
        let s = Sampling::default();
        assert_eq!(
            s.indices(32, 70).unwrap(),
            (0..32).map(|i| 2 * i).collect::<Vec<_>>()
        );
        let clip = s.clip(&video, 32, 224, 224).unwrap();
        let plane = 32 * 224 * 224;
        // Rows 8..232 and columns 48..272, as the notebook's crop.
        assert_eq!(clip[0], 48.0 / 255.0);
        assert_eq!(clip[plane], 8.0 / 255.0);
        // Frame 5 of the clip is decoded frame 10.
        assert_eq!(clip[2 * plane + 5 * 224 * 224], 10.0 / 255.0);
    }

    #[test]
    fn short_videos_are_refused_or_looped() {
        let mut s = Sampling::default();
        let err = s.indices(32, 40).unwrap_err().to_string();
        assert!(err.contains("0..=62") && err.contains("40"), "{err}");
        s.short = ShortVideo::Loop;
        assert_eq!(s.indices(4, 5).unwrap(), vec![0, 2, 4, 1]);
        assert!(s.indices(4, 0).is_err());
    }

    #[test]
    fn resize_keeps_constants_and_averages_when_shrinking() {
        let (w, h) = (8, 4);
        let flat = vec![77u8; w * h * 3];
        assert_eq!(resize_rgb(&flat, w, h, 2, 1), vec![77u8; 6]);
        // Alternating columns 0/200 shrink to their mean, not to one of them.
        let stripes: Vec<u8> = (0..w * h)
            .flat_map(|i| [if i % 2 == 0 { 0 } else { 200 }; 3])
            .collect();
        let small = resize_rgb(&stripes, w, h, 2, 2);
        assert!(small.iter().all(|&v| (85..=115).contains(&v)), "{small:?}");
        // Same size is the identity.
        let video = ramp_video(10, 6, 1);
        assert_eq!(resize_rgb(&video.rgb, 10, 6, 10, 6), video.rgb);
    }

    #[test]
    fn resizing_the_shorter_side_then_cropping() {
        let video = ramp_video(320, 240, 4);
        let s = Sampling {
            start: 1,
            stride: 1,
            resize: Some(60),
            short: ShortVideo::Error,
        };
        let clip = s.clip(&video, 3, 60, 80).unwrap();
        assert_eq!(clip.len(), 3 * 3 * 60 * 80);
        // The red ramp x runs 0..320, so column j of 80 sits near 4j + 1.5.
        let red = clip[40] * 255.0;
        assert!((red - 161.5).abs() < 2.0, "{red}");
        assert!(s.clip(&video, 3, 64, 100).is_err());
    }
}
