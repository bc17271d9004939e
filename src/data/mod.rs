//! Datasets on disk in their published layouts, and the stand-in corpora avfoil generates in them.

pub mod actions;
pub mod audiomnist;
pub mod fsdd;
pub mod tts;
pub mod ucf101;

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One recording of a spoken digit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitClip {
    /// The WAV file.
    pub path: PathBuf,
    /// The digit spoken, 0-9.
    pub digit: usize,
    /// Speaker id as the dataset spells it (`"01"`, `"jackson"`).
    pub speaker: String,
    /// Repetition index (AudioMNIST) or recording index (FSDD).
    pub index: u32,
}

/// Which published layout a folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigitLayout {
    /// `NN/d_NN_r.wav` (+ `audioMNIST_meta.txt`), 48 kHz.
    AudioMnist,
    /// `d_speaker_i.wav`, 8 kHz.
    Fsdd,
}

/// A spoken-digit folder in either layout.
#[derive(Clone, Debug)]
pub struct DigitCorpus {
    /// The folder given.
    pub root: PathBuf,
    /// Its layout.
    pub layout: DigitLayout,
    /// Every clip, sorted by path.
    pub clips: Vec<DigitClip>,
}

impl DigitCorpus {
    /// Opens `root`, recognising AudioMNIST (a `data/` folder or speaker folders `NN/`) or FSDD
    /// (`recordings/` or `d_speaker_i.wav` files directly).
    pub fn open(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::invalid(
                "data",
                format!("{} is not a folder", root.display()),
            ));
        }
        let (layout, clips) = if let Some(dir) = audiomnist::data_dir(root) {
            (DigitLayout::AudioMnist, audiomnist::scan(&dir)?)
        } else if let Some(dir) = fsdd::recordings_dir(root) {
            (DigitLayout::Fsdd, fsdd::scan(&dir)?)
        } else {
            return Err(Error::invalid(
                "data",
                format!(
                    "{} holds neither AudioMNIST (NN/d_NN_r.wav) nor FSDD (d_speaker_i.wav) recordings",
                    root.display()
                ),
            ));
        };
        if clips.is_empty() {
            return Err(Error::invalid(
                "data",
                format!("{} holds no recordings", root.display()),
            ));
        }
        Ok(Self {
            root: root.to_path_buf(),
            layout,
            clips,
        })
    }

    /// Splits into (train, test) clips the dataset's customary way: FSDD by index (0-4 test),
    /// AudioMNIST by speaker (`test_speakers`), so no test speaker is ever trained on.
    pub fn split(&self, test_speakers: &[String]) -> (Vec<DigitClip>, Vec<DigitClip>) {
        self.clips.iter().cloned().partition(|c| match self.layout {
            DigitLayout::Fsdd => !fsdd::is_test_index(c.index),
            DigitLayout::AudioMnist => !test_speakers.contains(&c.speaker),
        })
    }

    /// The distinct speakers, sorted.
    pub fn speakers(&self) -> Vec<String> {
        let mut s: Vec<String> = self.clips.iter().map(|c| c.speaker.clone()).collect();
        s.sort();
        s.dedup();
        s
    }
}

/// Parses a digit field of a file name.
fn parse_digit(s: &str) -> Option<usize> {
    match s.parse::<usize>() {
        Ok(d) if d <= 9 && s.len() == 1 => Some(d),
        _ => None,
    }
}

/// The `.wav` files directly inside `dir`, sorted.
fn wav_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
