//! Animated GIFs of video clips (what ART's action-recognition notebook saves), with the `gif` crate.
//!
//! GIF holds at most 256 colours per frame: each frame gets its own NeuQuant palette, so the file is
//! for looking at, not for re-attacking (a perturbation of a few grey levels does not survive it).

use crate::error::{Error, Result};
use crate::fs::write_atomic;
use crate::video::Video;
use crate::video::yuv::round_u8;
use gif::{Encoder, Frame, Repeat};

/// Writes a clip `[3, F, H, W]` (channels first, RGB, values in `[0, max]`) as a looping GIF at
/// `fps` frames per second, atomically.
pub fn write_gif(
    path: &std::path::Path,
    clip: &[f32],
    shape: &[usize],
    max: f32,
    fps: f32,
) -> Result<()> {
    let &[3, frames, h, w] = shape else {
        return Err(Error::invalid(
            "shape",
            format!("a GIF needs an RGB clip [3, F, H, W], got {shape:?}"),
        ));
    };
    if clip.len() != 3 * frames * h * w || frames == 0 || h == 0 || w == 0 {
        return Err(Error::invalid(
            "clip",
            format!(
                "expected {} values for {shape:?}, got {}",
                3 * frames * h * w,
                clip.len()
            ),
        ));
    }
    if h > u16::MAX as usize || w > u16::MAX as usize {
        return Err(Error::invalid(
            "shape",
            format!("{w}x{h} is too large for a GIF"),
        ));
    }
    if !(fps > 0.0 && fps.is_finite() && max > 0.0 && max.is_finite()) {
        return Err(Error::invalid(
            "fps",
            "fps and the value range must be positive",
        ));
    }
    if let Some(i) = clip.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid("clip", format!("value {i} is not finite")));
    }
    let plane = h * w;
    let frames_rgb = (0..frames).map(|f| {
        let mut rgb = Vec::with_capacity(plane * 3);
        for p in 0..plane {
            for c in 0..3 {
                let v = clip[(c * frames + f) * plane + p] / max * 255.0;
                rgb.push(round_u8(v));
            }
        }
        rgb
    });
    let bytes = encode_gif(w as u16, h as u16, fps, frames_rgb)
        .map_err(|e| Error::decode(path, format!("cannot encode GIF: {e}")))?;
    write_atomic(path, &bytes)
}

/// Writes a decoded [`Video`] as a looping GIF at its frame rate, atomically.
///
/// GIF delays are whole hundredths of a second, so the frame rate is rounded to `100 / delay`
/// (29.97 fps plays at 33.3 fps).
pub fn write_gif_video(path: &std::path::Path, video: &Video) -> Result<()> {
    let (w, h) = (video.width, video.height);
    if video.frame_count() == 0 {
        return Err(Error::invalid("video", "a GIF needs at least one frame"));
    }
    if h > u16::MAX as usize || w > u16::MAX as usize {
        return Err(Error::invalid(
            "video",
            format!("{w}x{h} is too large for a GIF"),
        ));
    }
    let frames = (0..video.frame_count()).map(|i| video.frame(i).to_vec());
    let bytes = encode_gif(w as u16, h as u16, video.fps as f32, frames)
        .map_err(|e| Error::decode(path, format!("cannot encode GIF: {e}")))?;
    write_atomic(path, &bytes)
}

/// A looping GIF of `w × h` RGB frames (interleaved bytes), one NeuQuant palette per frame.
fn encode_gif(
    w: u16,
    h: u16,
    fps: f32,
    frames: impl Iterator<Item = Vec<u8>>,
) -> std::result::Result<Vec<u8>, gif::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(&mut bytes, w, h, &[])?;
    encoder.set_repeat(Repeat::Infinite)?;
    // GIF delays are in hundredths of a second.
    let delay = (100.0 / fps).round().clamp(1.0, u16::MAX as f32) as u16;
    for rgb in frames {
        let mut frame = Frame::from_rgb_speed(w, h, &rgb, 10);
        frame.delay = delay;
        encoder.write_frame(&frame)?;
    }
    // Writes the trailer; an error here is an error, not something for `Drop` to swallow.
    encoder.into_inner()?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_colours_and_timing_survive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.gif");
        let (frames, h, w) = (3, 4, 5);
        // Frame f is a flat colour: red, green, blue.
        let mut clip = vec![0f32; 3 * frames * h * w];
        for f in 0..frames {
            for p in 0..h * w {
                clip[(f * frames + f) * h * w + p] = 1.0;
            }
        }
        write_gif(&path, &clip, &[3, frames, h, w], 1.0, 25.0).unwrap();
        let mut decoder = gif::DecodeOptions::new();
        decoder.set_color_output(gif::ColorOutput::RGBA);
        let mut reader = decoder
            .read_info(std::fs::File::open(&path).unwrap())
            .unwrap();
        let mut seen = 0;
        while let Some(frame) = reader.read_next_frame().unwrap() {
            assert_eq!((frame.width, frame.height, frame.delay), (5, 4, 4));
            let px = &frame.buffer[..3];
            let mut want = [0u8; 3];
            want[seen] = 255;
            assert_eq!(px, want, "frame {seen}");
            seen += 1;
        }
        assert_eq!(seen, frames);
    }

    #[test]
    fn bad_shapes_are_errors_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.gif");
        assert!(write_gif(&path, &[0.0; 12], &[1, 3, 2, 2], 1.0, 25.0).is_err());
        assert!(write_gif(&path, &[0.0; 5], &[3, 1, 2, 2], 1.0, 25.0).is_err());
        assert!(write_gif(&path, &[f32::NAN; 12], &[3, 1, 2, 2], 1.0, 25.0).is_err());
        assert!(!path.exists());
    }
}
