//! Decoded video: 8-bit RGB frames in memory, and the step from a video to a model's clip.
//!
//! Containers and codecs live in their own files; everything meets in [`Video`], the decoded frames
//! at full size. [`io::read_video`] and [`io::write_video`] pick the file format. A model never sees
//! a `Video` directly: [`clip`] samples frames, resizes and crops them into the `[3, F, H, W]` floats
//! in `[0, 1]` that video models take.

pub mod clip;
#[cfg(feature = "ffmpeg")]
pub mod ffmpeg;
pub mod frames_dir;
pub mod gif_read;
pub mod gif_write;
pub mod io;
pub mod mp4_read;
pub mod mp4_write;
pub mod nal;
pub mod still;
#[cfg(feature = "ffmpeg")]
pub mod x264;
pub mod yuv;

pub use io::{read_video, write_video};

use crate::error::{Error, Result};
use std::path::Path;

/// Decoded frames, RGB, 8 bits per channel, row-major `[frames, height, width, 3]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Video {
    pub width: usize,
    pub height: usize,
    /// Frames per second (25 when the source does not say).
    pub fps: f64,
    /// `frame_count × height × width × 3` bytes.
    pub rgb: Vec<u8>,
}

impl Video {
    /// Checks that `rgb` holds whole frames of `width × height`.
    pub fn new(width: usize, height: usize, fps: f64, rgb: Vec<u8>) -> Result<Self> {
        let frame = width * height * 3;
        if width == 0 || height == 0 {
            return Err(Error::invalid(
                "video",
                format!("frames must be at least 1 × 1, got {width} × {height}"),
            ));
        }
        if !rgb.len().is_multiple_of(frame) {
            return Err(Error::invalid(
                "video",
                format!(
                    "{} bytes are not whole {width} × {height} RGB frames",
                    rgb.len()
                ),
            ));
        }
        if !(fps.is_finite() && fps > 0.0) {
            return Err(Error::invalid(
                "fps",
                format!("expected a positive frame rate, got {fps}"),
            ));
        }
        Ok(Self {
            width,
            height,
            fps,
            rgb,
        })
    }

    /// Number of frames.
    pub fn frame_count(&self) -> usize {
        self.rgb.len() / (self.width * self.height * 3)
    }

    /// Frame `i`, `height × width × 3` bytes.
    pub fn frame(&self, i: usize) -> &[u8] {
        let n = self.width * self.height * 3;
        &self.rgb[i * n..(i + 1) * n]
    }

    /// A clip `[3, F, H, W]` (channels first, values in `[0, max]`) as a video, rounding to bytes.
    pub fn from_clip(clip: &[f32], shape: &[usize], max: f32, fps: f64) -> Result<Self> {
        let &[3, frames, h, w] = shape else {
            return Err(Error::invalid(
                "shape",
                format!("a video needs an RGB clip [3, F, H, W], got {shape:?}"),
            ));
        };
        if clip.len() != 3 * frames * h * w {
            return Err(Error::invalid(
                "clip",
                format!(
                    "expected {} values for {shape:?}, got {}",
                    3 * frames * h * w,
                    clip.len()
                ),
            ));
        }
        let plane = frames * h * w;
        let k = 255.0 / max;
        let mut rgb = vec![0u8; 3 * plane];
        for (i, px) in rgb.chunks_exact_mut(3).enumerate() {
            for (c, v) in px.iter_mut().enumerate() {
                *v = yuv::round_u8(clip[c * plane + i] * k);
            }
        }
        Self::new(w, h, fps, rgb)
    }
}

/// Frames per second given to sources that carry no timing (frame directories, still images).
pub const DEFAULT_FPS: f64 = 25.0;

/// The largest decoded video a reader builds (8 GiB of RGB), so that a small malicious or corrupt
/// file cannot make a reader try to allocate without bound.
pub const MAX_DECODED_BYTES: usize = 8 << 30;

/// The most pixels one frame may have, whatever a header claims: 8192 × 8192 (8K video is
/// 7680 × 4320).
pub const MAX_FRAME_PIXELS: usize = 8192 * 8192;

/// An error unless a `width × height` frame stays within [`MAX_FRAME_PIXELS`].
pub(crate) fn check_frame_size(path: &Path, width: usize, height: usize) -> Result<()> {
    if width.saturating_mul(height) > MAX_FRAME_PIXELS {
        return Err(Error::decode(
            path,
            format!("frames of {width} × {height} exceed the limit of {MAX_FRAME_PIXELS} pixels"),
        ));
    }
    Ok(())
}

/// An error unless a decoded video of `bytes` stays within [`MAX_DECODED_BYTES`].
pub(crate) fn check_decoded_size(path: &Path, bytes: usize) -> Result<()> {
    if bytes > MAX_DECODED_BYTES {
        return Err(Error::decode(
            path,
            format!(
                "decoding would take more than {} GiB of RGB frames",
                MAX_DECODED_BYTES >> 30
            ),
        ));
    }
    Ok(())
}

/// What to install to read and write containers beyond MP4/H.264 and GIF.
pub const FFMPEG_HINT: &str = "rebuild with `cargo build --features ffmpeg` after installing \
     Debian's libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev \
     libavfilter-dev libavdevice-dev pkg-config clang libclang-dev";
