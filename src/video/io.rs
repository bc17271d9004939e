//! Video files in and out: [`read_video`] and [`write_video`] pick the format and hand over to the
//! reader or writer of that format.
//!
//! | format | read | write |
//! |---|---|---|
//! | MP4 (`.mp4`, `.m4v`, `.mov`) holding H.264 | pure Rust + OpenH264 ([`super::mp4_read`]) | OpenH264 at QP 20 ([`super::mp4_write`]) |
//! | MP4 with another codec, or 10-bit, 4:2:2 or 4:4:4 H.264 (which OpenH264 cannot decode) | `ffmpeg` feature | – |
//! | animated GIF | composited frames ([`super::gif_read`]) | per-frame palettes ([`super::gif_write`]) |
//! | a directory of `.png`/`.jpg`/`.jpeg` frames | natural name order, 25 fps ([`super::frames_dir`]) | – |
//! | one PNG or JPEG | one frame at 25 fps | – |
//! | AVI, MKV, WebM, anything FFmpeg knows | `ffmpeg` feature | `.avi` (MPEG-4 part 2, XVID) and `.mkv` (libx264) with the `ffmpeg` feature |
//!
//! The format is recognised from the file's first bytes, and from its extension when they are not
//! conclusive, so a mislabelled file still opens. Writes are atomic: a failed write leaves no file.
//!
//! Readers never panic on bad input: every decoder runs behind [`no_panic`], so a panic inside a
//! crate becomes an [`Error::Decode`] naming the file.

use super::{DEFAULT_FPS, Video};
use crate::error::no_panic;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// The file formats told apart here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoFormat {
    /// ISO base media: MP4, M4V, MOV.
    Mp4,
    Gif,
    Png,
    Jpeg,
    /// RIFF AVI.
    Avi,
    /// Matroska or WebM.
    Matroska,
}

impl VideoFormat {
    /// The format a file's first bytes (16 are enough) show, if any.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        let at = |i: usize, magic: &[u8]| head.get(i..i + magic.len()) == Some(magic);
        if at(0, b"GIF87a") || at(0, b"GIF89a") {
            Some(VideoFormat::Gif)
        } else if at(0, b"\x89PNG\r\n\x1a\n") {
            Some(VideoFormat::Png)
        } else if at(0, &[0xff, 0xd8, 0xff]) {
            Some(VideoFormat::Jpeg)
        } else if at(0, b"RIFF") && at(8, b"AVI ") {
            Some(VideoFormat::Avi)
        } else if at(0, &[0x1a, 0x45, 0xdf, 0xa3]) {
            Some(VideoFormat::Matroska)
        } else if [
            b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"styp",
        ]
        .iter()
        .any(|b| at(4, &b[..]))
        {
            Some(VideoFormat::Mp4)
        } else {
            None
        }
    }

    /// The format a file name's extension (any case) names, if any.
    pub fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "mp4" | "m4v" | "mov" => VideoFormat::Mp4,
            "gif" => VideoFormat::Gif,
            "png" => VideoFormat::Png,
            "jpg" | "jpeg" => VideoFormat::Jpeg,
            "avi" => VideoFormat::Avi,
            "mkv" | "webm" => VideoFormat::Matroska,
            _ => return None,
        })
    }
}

/// Reads a video file, or a directory of frames, as decoded RGB frames (see the module docs for
/// the formats).
pub fn read_video(path: &Path) -> Result<Video> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return no_panic(path, "frame reader", || {
            super::frames_dir::read_frames_dir(path, DEFAULT_FPS)
        })?;
    }
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    drop(file);
    if got == 0 {
        return Err(Error::decode(path, "the file is empty"));
    }
    let format = VideoFormat::sniff(&head[..got]).or_else(|| VideoFormat::from_extension(path));
    no_panic(path, "video reader", || read_format(path, format))?
}

fn read_format(path: &Path, format: Option<VideoFormat>) -> Result<Video> {
    match format {
        Some(VideoFormat::Mp4) => match super::mp4_read::read_mp4(path) {
            // Another codec, or H.264 OpenH264 cannot decode: FFmpeg's turn.
            #[cfg(feature = "ffmpeg")]
            Err(Error::Unsupported(_)) => super::ffmpeg::read_ffmpeg(path),
            // A damaged or unusual H.264 stream: FFmpeg may still decode it; if it cannot either,
            // the first error says more.
            #[cfg(feature = "ffmpeg")]
            Err(native @ Error::Decode { .. }) => {
                super::ffmpeg::read_ffmpeg(path).map_err(|_| native)
            }
            other => other,
        },
        Some(VideoFormat::Gif) => super::gif_read::read_gif(path),
        Some(VideoFormat::Png | VideoFormat::Jpeg) => {
            let still = super::still::read_still(path)?;
            Video::new(still.width, still.height, DEFAULT_FPS, still.rgb)
        }
        #[cfg(feature = "ffmpeg")]
        Some(VideoFormat::Avi | VideoFormat::Matroska) | None => super::ffmpeg::read_ffmpeg(path),
        #[cfg(not(feature = "ffmpeg"))]
        Some(format @ (VideoFormat::Avi | VideoFormat::Matroska)) => {
            Err(Error::Unsupported(format!(
                "{}: reading {format:?} files needs FFmpeg: {}",
                path.display(),
                super::FFMPEG_HINT
            )))
        }
        #[cfg(not(feature = "ffmpeg"))]
        None => Err(Error::Unsupported(format!(
            "{}: not MP4 (H.264), GIF, PNG or JPEG, the formats read without FFmpeg; for AVI, MKV \
             and other containers {}",
            path.display(),
            super::FFMPEG_HINT
        ))),
    }
}

/// Writes `video` to `path` in the format its extension names (`.mp4`/`.m4v`, `.gif`; `.avi` and
/// `.mkv` with the `ffmpeg` feature), atomically.
pub fn write_video(path: &Path, video: &Video) -> Result<()> {
    if video.frame_count() == 0 {
        return Err(Error::invalid(
            "video",
            "a video file needs at least one frame",
        ));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "mp4" | "m4v" => super::mp4_write::write_mp4(path, video),
        "gif" => crate::video::gif_write::write_gif_video(path, video),
        #[cfg(feature = "ffmpeg")]
        "avi" => super::ffmpeg::write_ffmpeg(path, video, super::ffmpeg::Encoding::Xvid),
        #[cfg(feature = "ffmpeg")]
        "mkv" => super::ffmpeg::write_ffmpeg(path, video, super::ffmpeg::Encoding::X264),
        #[cfg(not(feature = "ffmpeg"))]
        "avi" | "mkv" => Err(Error::Unsupported(format!(
            "{}: writing .{ext} needs FFmpeg: {}",
            path.display(),
            super::FFMPEG_HINT
        ))),
        _ => Err(Error::invalid(
            "out",
            format!(
                "{}: unknown video extension; expected .mp4, .m4v, .gif, .avi or .mkv",
                path.display()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_magic_bytes_and_extensions() {
        let mut mp4 = [0u8; 12];
        mp4[4..8].copy_from_slice(b"ftyp");
        assert_eq!(VideoFormat::sniff(&mp4), Some(VideoFormat::Mp4));
        assert_eq!(
            VideoFormat::sniff(b"RIFF\0\0\0\0AVI LIST"),
            Some(VideoFormat::Avi)
        );
        assert_eq!(VideoFormat::sniff(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(VideoFormat::sniff(b"GIF89a"), Some(VideoFormat::Gif));
        assert_eq!(
            VideoFormat::sniff(&[0x1a, 0x45, 0xdf, 0xa3, 1]),
            Some(VideoFormat::Matroska)
        );
        assert_eq!(VideoFormat::sniff(b"xy"), None);
        assert_eq!(
            VideoFormat::from_extension(Path::new("a/b.MOV")),
            Some(VideoFormat::Mp4)
        );
        assert_eq!(VideoFormat::from_extension(Path::new("a/b")), None);
    }

    #[test]
    fn panics_become_errors_naming_the_file() {
        let e = no_panic(Path::new("x/y.mp4"), "test decoder", || -> u8 {
            panic!("boom")
        })
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("x/y.mp4") && msg.contains("boom"), "{msg}");
    }
}
