//! AudioMNIST: `data/<NN>/<digit>_<NN>_<rep>.wav` (48 kHz mono 16-bit) and `data/audioMNIST_meta.txt`.
//!
//! The meta file is JSON keyed by speaker id, with quirks the parser tolerates: `age` is a number for
//! one speaker and a string for the others (one says `"1234"`), case varies (`"vr-room"`,
//! `"VR-Room"`), and older copies lack some speakers. There is no official split; splits are by
//! speaker (the ART notebook tests on speakers 49-60).

use super::{DigitClip, parse_digit, wav_files};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// AudioMNIST's recording rate.
pub const SAMPLE_RATE: u32 = 48000;
/// The meta file's name.
pub const META_FILE: &str = "audioMNIST_meta.txt";

/// One speaker's entry in the meta file, normalised.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SpeakerMeta {
    pub accent: Option<String>,
    /// `None` when missing or not a plausible age (the real file has `"1234"`).
    pub age: Option<u32>,
    /// Lower case: `"male"` or `"female"`.
    pub gender: Option<String>,
    pub native_speaker: Option<bool>,
    pub origin: Option<String>,
    pub recording_date: Option<String>,
    /// Lower case (the real file spells one room three ways).
    pub recording_room: Option<String>,
}

/// The folder with the speaker folders: `root/data` or `root` itself.
pub(super) fn data_dir(root: &Path) -> Option<PathBuf> {
    [root.join("data"), root.to_path_buf()]
        .into_iter()
        .find(|dir| {
            dir.join(META_FILE).is_file() || !speaker_dirs(dir).unwrap_or_default().is_empty()
        })
}

/// Speaker folders: two-digit names.
fn speaker_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() && name.len() == 2 && name.chars().all(|c| c.is_ascii_digit()) {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Every clip under `dir`, parsed as the reference code does (`dig, vp, rep = name.split("_")`).
/// Non-WAV files (the real data has a stray `notes.txt`) are ignored; a WAV with another name, or
/// in the wrong speaker's folder, is an error naming it.
pub(super) fn scan(dir: &Path) -> Result<Vec<DigitClip>> {
    let mut clips = Vec::new();
    for speaker_dir in speaker_dirs(dir)? {
        let folder = speaker_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        for path in wav_files(&speaker_dir)? {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let parts: Vec<&str> = stem.split('_').collect();
            let parsed = match parts.as_slice() {
                [d, vp, rep] => parse_digit(d)
                    .zip(rep.parse::<u32>().ok())
                    .map(|(d, r)| (d, *vp, r)),
                _ => None,
            };
            let Some((digit, speaker, index)) = parsed else {
                return Err(Error::decode(
                    &path,
                    "not an AudioMNIST file name; expected <digit>_<speaker>_<repetition>.wav",
                ));
            };
            if speaker != folder {
                return Err(Error::decode(
                    &path,
                    format!("speaker {speaker:?} in the name but the file is in folder {folder:?}"),
                ));
            }
            clips.push(DigitClip {
                path,
                digit,
                speaker: folder.clone(),
                index,
            });
        }
    }
    Ok(clips)
}

/// Reads `audioMNIST_meta.txt`: speaker id → metadata.
pub fn read_meta(path: &Path) -> Result<BTreeMap<String, SpeakerMeta>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_meta(&text).map_err(|reason| Error::decode(path, reason))
}

fn parse_meta(text: &str) -> std::result::Result<BTreeMap<String, SpeakerMeta>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(speakers) = doc else {
        return Err("expected a JSON object keyed by speaker id".into());
    };
    let mut out = BTreeMap::new();
    for (id, entry) in speakers {
        let Value::Object(fields) = entry else {
            return Err(format!("speaker {id:?}: expected an object"));
        };
        let text = |key: &str| -> Option<String> {
            match fields.get(key)? {
                Value::String(s) => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let age = text("age")
            .and_then(|a| a.parse::<u32>().ok())
            .filter(|a| (1..=120).contains(a));
        let native_speaker = text("native speaker").and_then(|s| match s.to_lowercase().as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        });
        out.insert(
            id,
            SpeakerMeta {
                accent: text("accent"),
                age,
                gender: text("gender").map(|g| g.to_lowercase()),
                native_speaker,
                origin: text("origin"),
                recording_date: text("recordingdate"),
                recording_room: text("recordingroom").map(|r| r.to_lowercase()),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_quirks_are_tolerated() {
        let text = r#"{
    "01": {"accent": "german", "age": 30, "gender": "male", "native speaker": "no",
           "origin": "Europe, Germany, Wuerzburg", "recordingdate": "17-06-22-11-04-28", "recordingroom": "Kino"},
    "45": {"accent": "German", "age": "1234", "gender": "Male", "native speaker": "yes", 
           "origin": "x", "recordingdate": "y", "recordingroom": "VR-Room"},
    "12": {"age": "25", "gender": "female"}
}"#;
        let meta = parse_meta(text).unwrap();
        assert_eq!(meta["01"].age, Some(30));
        assert_eq!(meta["01"].native_speaker, Some(false));
        assert_eq!(meta["45"].age, None);
        assert_eq!(meta["45"].gender.as_deref(), Some("male"));
        assert_eq!(meta["45"].recording_room.as_deref(), Some("vr-room"));
        assert_eq!(meta["12"].age, Some(25));
        assert_eq!(meta["12"].accent, None);
        assert!(parse_meta("[1, 2]").is_err());
    }
}
