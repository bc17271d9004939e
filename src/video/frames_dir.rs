//! A directory of still frames (`frame_1.png`, `frame_2.png`, …, `frame_10.png`) as a [`Video`].
//!
//! Frames are the directory's `.png`, `.jpg` and `.jpeg` files (extension in any case; hidden files
//! and everything else are ignored), in **natural** name order, so `f10` comes after `f9` whether or
//! not the numbers are zero-padded. The natural order is written by hand (a dozen lines; no crate
//! needed). A directory carries no timing, so the frame rate is the caller's (25 by default in
//! [`super::io::read_video`]).

use super::Video;
use super::still::{StillFormat, read_still};
use crate::error::{Error, Result};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// The image files of `dir` in natural name order.
pub fn frame_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        if !hidden && StillFormat::from_extension(&path).is_some() && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(files)
}

/// Reads every frame of `dir` (see the module docs) at `fps` frames per second. All frames must have
/// the size of the first.
pub fn read_frames_dir(dir: &Path, fps: f64) -> Result<Video> {
    read_frame_files(dir, &frame_files(dir)?, fps)
}

/// Reads `files` (frames of `dir`, in the order given, repeats allowed) as a video: what a model
/// that samples 16 frames of a folder of hundreds decodes.
pub fn read_frame_files(dir: &Path, files: &[PathBuf], fps: f64) -> Result<Video> {
    let Some(first) = files.first() else {
        return Err(Error::decode(
            dir,
            "no frames: expected .png, .jpg or .jpeg files in this directory",
        ));
    };
    let first = read_still(first)?;
    let (w, h) = (first.width, first.height);
    super::check_decoded_size(dir, files.len().saturating_mul(w * h * 3))?;
    let mut rgb = first.rgb;
    rgb.reserve((files.len() - 1) * w * h * 3);
    for path in &files[1..] {
        let still = read_still(path)?;
        if (still.width, still.height) != (w, h) {
            return Err(Error::decode(
                path,
                format!(
                    "frame is {} × {}, but the first frame ({}) is {w} × {h}; all frames must \
                     have one size",
                    still.width,
                    still.height,
                    files[0].display()
                ),
            ));
        }
        rgb.extend_from_slice(&still.rgb);
    }
    Video::new(w, h, fps, rgb)
}

/// Natural order: runs of ASCII digits compare as numbers (then by length, so `01` sorts after `1`),
/// everything else character by character.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let (na, nb) = (&a[..da], &b[..db]);
                let (ta, tb) = (na.trim_start_matches('0'), nb.trim_start_matches('0'));
                let by_value = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                match by_value.then_with(|| na.len().cmp(&nb.len())) {
                    Ordering::Equal => (a, b) = (&a[da..], &b[db..]),
                    other => return other,
                }
            }
            (Some(x), Some(y)) => match x.cmp(&y) {
                Ordering::Equal => (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]),
                other => return other,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut names = vec![
            "f10.png", "f9.png", "f1.png", "f010.png", "g.png", "f2.jpg", "f.png", "f01.png",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "f.png", "f1.png", "f01.png", "f2.jpg", "f9.png", "f10.png", "f010.png", "g.png"
            ]
        );
        assert_eq!(
            natural_cmp("a99999999999999999999999b", "a100000000000000000000000b"),
            Ordering::Less
        );
    }
}
