//! The Free Spoken Digit Dataset: `recordings/<digit>_<speaker>_<index>.wav`, 8 kHz mono 16-bit.
//! Its own split puts indices 0-4 of every speaker and digit in the test set.

use super::{DigitClip, parse_digit, wav_files};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// FSDD's recording rate.
pub const SAMPLE_RATE: u32 = 8000;

/// Whether a recording index belongs to FSDD's test split.
pub fn is_test_index(index: u32) -> bool {
    index <= 4
}

/// The folder holding the recordings: `root/recordings` or `root` itself, if it has FSDD file names.
pub(super) fn recordings_dir(root: &Path) -> Option<PathBuf> {
    [root.join("recordings"), root.to_path_buf()]
        .into_iter()
        .find(|dir| {
            wav_files(dir)
                .map(|files| files.iter().any(|f| parse_name(f).is_some()))
                .unwrap_or(false)
        })
}

/// Parses `digit_speaker_index.wav`.
fn parse_name(path: &Path) -> Option<(usize, String, u32)> {
    let stem = path.file_stem()?.to_str()?;
    let mut parts = stem.splitn(3, '_');
    let digit = parse_digit(parts.next()?)?;
    let speaker = parts.next()?;
    let index = parts.next()?.parse().ok()?;
    (!speaker.is_empty() && !speaker.chars().all(|c| c.is_ascii_digit()))
        .then(|| (digit, speaker.to_string(), index))
}

/// Every recording in `dir`; a `.wav` with another name is an error naming it.
pub(super) fn scan(dir: &Path) -> Result<Vec<DigitClip>> {
    wav_files(dir)?
        .into_iter()
        .map(|path| match parse_name(&path) {
            Some((digit, speaker, index)) => Ok(DigitClip {
                path,
                digit,
                speaker,
                index,
            }),
            None => Err(Error::decode(
                &path,
                "not an FSDD file name; expected <digit>_<speaker>_<index>.wav",
            )),
        })
        .collect()
}
