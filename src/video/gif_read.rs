//! Animated GIFs to [`Video`]: the `gif` crate decodes each frame's rectangle; the compositing onto
//! the logical screen (offsets, transparency, disposal) is written here by hand, because the crate
//! leaves it to the caller and the `image` crate, which does it, is a heavy build for this alone.
//!
//! Compositing follows what browsers do:
//! - the canvas starts fully transparent (browsers ignore the background colour index);
//! - a frame's transparent pixels leave the canvas below them as it was;
//! - after a frame is shown, its disposal applies to its rectangle: `Background` clears it to
//!   transparent, `Previous` restores what was there before the frame, `Keep`/`Any` leave it;
//! - parts of a frame outside the logical screen are clipped.
//!
//! A video has no alpha: transparent canvas pixels come out black.
//!
//! Timing: GIF delays are in hundredths of a second, and browsers play delays of 0 or 1 as 10
//! (100 ms), so this does too. A video has one frame rate: `fps` is frames / total duration, so a GIF
//! with varying delays keeps every frame once and plays at its average rate.

use super::Video;
use crate::error::{Error, Result};
use gif::{ColorOutput, DecodeOptions, DisposalMethod};
use std::path::Path;

/// Delay (hundredths of a second) browsers use for frames that ask for 0 or 1.
const BROWSER_DEFAULT_DELAY: u16 = 10;

/// Reads an animated (or still) GIF, compositing every frame onto the logical screen.
pub fn read_gif(path: &Path) -> Result<Video> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_gif(path, &bytes)
}

/// [`read_gif`] on bytes already in memory; `path` only names the source in errors.
pub fn decode_gif(path: &Path, bytes: &[u8]) -> Result<Video> {
    let bad = |e: gif::DecodingError| Error::decode(path, format!("not a readable GIF: {e}"));
    let mut options = DecodeOptions::new();
    options.set_color_output(ColorOutput::RGBA);
    // Frames reaching past the screen are clipped below, as browsers do, instead of refused.
    options.check_frame_consistency(false);
    // The gif crate reports a file that ends in its header as a bare "Unexpected End of File".
    let mut decoder = options.read_info(bytes).map_err(|e| {
        if e.to_string().contains("End of File") {
            Error::decode(
                path,
                format!("the GIF holds no frames (it ends in its header: {e})"),
            )
        } else {
            bad(e)
        }
    })?;
    let (w, h) = (usize::from(decoder.width()), usize::from(decoder.height()));
    if w == 0 || h == 0 {
        return Err(Error::decode(
            path,
            format!("the GIF's logical screen is {w} × {h}"),
        ));
    }
    // The logical screen comes from the header: check it before allocating the canvas.
    super::check_frame_size(path, w, h)?;
    super::check_decoded_size(path, w * h * 3)?;
    let mut canvas = vec![0u8; w * h * 4];
    let mut rgb = Vec::new();
    let mut centiseconds = 0u64;
    let mut frames = 0usize;
    loop {
        let frame = match decoder.read_next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            // A file that ends after its header otherwise reads as "Unexpected End of File".
            Err(e) if frames == 0 => {
                return Err(Error::decode(
                    path,
                    format!("the GIF holds no frames (it ends after its header: {e})"),
                ));
            }
            Err(e) => return Err(bad(e)),
        };
        super::check_decoded_size(path, (frames + 1) * w * h * 3)?;
        let (fl, ft) = (usize::from(frame.left), usize::from(frame.top));
        let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
        if frame.buffer.len() < fw * fh * 4 {
            return Err(Error::decode(
                path,
                format!("frame {frames} holds fewer pixels than its {fw} × {fh} rectangle"),
            ));
        }
        // The frame's rectangle, clipped to the screen.
        let (x0, x1) = (fl.min(w), (fl + fw).min(w));
        let (y0, y1) = (ft.min(h), (ft + fh).min(h));
        let saved = (frame.dispose == DisposalMethod::Previous).then(|| canvas.clone());
        for y in y0..y1 {
            for x in x0..x1 {
                let src = &frame.buffer[((y - ft) * fw + (x - fl)) * 4..][..4];
                if src[3] != 0 {
                    canvas[(y * w + x) * 4..][..4].copy_from_slice(src);
                }
            }
        }
        rgb.reserve(w * h * 3);
        for px in canvas.chunks_exact(4) {
            // Over black: any alpha the GIF has is 0 or 255.
            let keep = if px[3] == 0 { 0 } else { 0xff };
            rgb.extend_from_slice(&[px[0] & keep, px[1] & keep, px[2] & keep]);
        }
        let delay = if frame.delay <= 1 {
            BROWSER_DEFAULT_DELAY
        } else {
            frame.delay
        };
        centiseconds += u64::from(delay);
        frames += 1;
        match frame.dispose {
            DisposalMethod::Background => {
                for y in y0..y1 {
                    canvas[(y * w + x0) * 4..(y * w + x1) * 4].fill(0);
                }
            }
            DisposalMethod::Previous => {
                if let Some(saved) = saved {
                    canvas = saved;
                }
            }
            DisposalMethod::Keep | DisposalMethod::Any => {}
        }
    }
    if frames == 0 {
        return Err(Error::decode(path, "the GIF holds no frames"));
    }
    let fps = frames as f64 * 100.0 / centiseconds as f64;
    Video::new(w, h, fps, rgb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gif::{Encoder, Frame, Repeat};

    /// One frame: left, top, width, height, palette indices, disposal, delay.
    type TestFrame = (u16, u16, u16, u16, Vec<u8>, DisposalMethod, u16);

    /// A 4 × 2 GIF with palette black/red/green/blue (index 3 transparent).
    fn gif_bytes(frames: &[TestFrame]) -> Vec<u8> {
        let palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255];
        let mut out = Vec::new();
        {
            let mut enc = Encoder::new(&mut out, 4, 2, &palette).unwrap();
            enc.set_repeat(Repeat::Infinite).unwrap();
            for (left, top, fw, fh, px, dispose, delay) in frames {
                let frame = Frame {
                    left: *left,
                    top: *top,
                    width: *fw,
                    height: *fh,
                    buffer: px.clone().into(),
                    dispose: *dispose,
                    delay: *delay,
                    transparent: Some(3),
                    ..Frame::default()
                };
                enc.write_frame(&frame).unwrap();
            }
        }
        out
    }

    fn px(v: &Video, f: usize, x: usize, y: usize) -> [u8; 3] {
        let p = &v.frame(f)[(y * v.width + x) * 3..];
        [p[0], p[1], p[2]]
    }

    #[test]
    fn disposal_transparency_and_offsets_composite_like_a_browser() {
        use DisposalMethod::*;
        let bytes = gif_bytes(&[
            // Full red frame, kept.
            (0, 0, 4, 2, vec![1; 8], Keep, 4),
            // 2 × 1 at (1, 1): green, then transparent; restored to previous afterwards.
            (1, 1, 2, 1, vec![2, 3], Previous, 4),
            // 1 × 1 at (3, 0): transparent pixel, so nothing changes; then background.
            (3, 0, 1, 1, vec![3], Background, 4),
            // 1 × 1 at (0, 0): green; cleared afterwards (nothing follows).
            (0, 0, 1, 1, vec![2], Background, 4),
        ]);
        let v = decode_gif(Path::new("t.gif"), &bytes).unwrap();
        assert_eq!((v.width, v.height, v.frame_count()), (4, 2, 4));
        assert_eq!(v.fps, 25.0);
        let (red, green, black) = ([255, 0, 0], [0, 255, 0], [0, 0, 0]);
        assert_eq!(px(&v, 0, 1, 1), red);
        assert_eq!(px(&v, 1, 1, 1), green);
        // Transparent pixel of frame 1 shows the red below it.
        assert_eq!(px(&v, 1, 2, 1), red);
        // Frame 1 was disposed to previous: (1, 1) is red again in frame 2.
        assert_eq!(px(&v, 2, 1, 1), red);
        assert_eq!(px(&v, 2, 3, 0), red);
        // Frame 2 cleared its 1 × 1 rectangle to transparent: black in frame 3.
        assert_eq!(px(&v, 3, 3, 0), black);
        assert_eq!(px(&v, 3, 0, 0), green);
        assert_eq!(px(&v, 3, 1, 0), red);
    }

    #[test]
    fn zero_delays_play_at_ten_fps_and_mixed_delays_average() {
        let bytes = gif_bytes(&[
            (0, 0, 4, 2, vec![1; 8], DisposalMethod::Keep, 0),
            (0, 0, 4, 2, vec![2; 8], DisposalMethod::Keep, 0),
        ]);
        assert_eq!(decode_gif(Path::new("t.gif"), &bytes).unwrap().fps, 10.0);
        let bytes = gif_bytes(&[
            (0, 0, 4, 2, vec![1; 8], DisposalMethod::Keep, 2),
            (0, 0, 4, 2, vec![2; 8], DisposalMethod::Keep, 6),
        ]);
        assert_eq!(decode_gif(Path::new("t.gif"), &bytes).unwrap().fps, 25.0);
    }

    #[test]
    fn frames_past_the_screen_are_clipped() {
        let bytes = gif_bytes(&[(2, 1, 4, 2, vec![2; 8], DisposalMethod::Keep, 4)]);
        let v = decode_gif(Path::new("t.gif"), &bytes).unwrap();
        assert_eq!(px(&v, 0, 3, 1), [0, 255, 0]);
        assert_eq!(px(&v, 0, 1, 1), [0, 0, 0]);
    }

    #[test]
    fn garbage_and_truncation_are_errors_naming_the_file() {
        let bytes = gif_bytes(&[(0, 0, 4, 2, vec![1; 8], DisposalMethod::Keep, 4)]);
        for bad in [
            &b"GIF89a"[..],
            &bytes[..bytes.len() / 2],
            b"not a gif at all",
        ] {
            let e = decode_gif(Path::new("dir/x.gif"), bad).unwrap_err();
            assert!(e.to_string().contains("dir/x.gif"), "{e}");
        }
    }
}
