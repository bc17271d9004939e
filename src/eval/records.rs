//! `results.jsonl`: one line per example and configuration, appended and flushed as each batch
//! finishes, so that an interrupted evaluation loses at most the batch in flight.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The clean input (through a defence, or none).
    Clean,
    /// An attack's output.
    Attack,
    /// Random noise of the attack's norm and budget.
    Noise,
    /// A randomised-smoothing certificate (`[[certify]]`).
    Certify,
}

/// One example under one configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The example's position in the evaluation order.
    pub example: usize,
    /// Its file, relative to the data set.
    pub id: String,
    /// Its true class (model index).
    pub label: usize,
    /// The configuration's key (unique within a scenario).
    pub config: String,
    pub kind: Kind,
    /// The attack's label (attack and noise records).
    pub attack: Option<String>,
    pub eps: Option<f32>,
    /// The defence in front of the model, if any.
    pub defence: Option<String>,
    /// Attack records: crafted through the defence (BPDA) rather than against the bare model.
    pub adaptive: bool,
    /// The (defended) model's prediction.
    pub prediction: usize,
    pub correct: bool,
    /// Perturbation of the input (before the defence), for attack and noise records.
    pub linf: Option<f32>,
    pub l2: Option<f32>,
    /// Audio: signal-to-perturbation ratio.
    pub snr_db: Option<f32>,
    /// Video: peak signal-to-noise ratio over the clip range.
    pub psnr_db: Option<f32>,
    /// Video: frames changed.
    pub perturbed_frames: Option<usize>,
    /// Attack records: queries per example (the chunk's average): model outputs the attack asked
    /// for (forward passes, clip sessions opened and frame updates) and input gradients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwards: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradients: Option<f64>,
    /// Ensembles: the component whose adversarial example this is (absent when none fooled it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fooled_by: Option<String>,
    /// A universal perturbation fitted on the train part (`fit = "train"`): the fit's fooling rate
    /// on its train examples (the same on every record of the configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_fooling_rate: Option<f64>,
    /// Certify records: the smoothed classifier's certificate (`prediction` is the class it
    /// selected, `correct` whether it predicted the true class without abstaining).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<RecordedCertificate>,
    /// Attack and noise records, perceptual measures against the clean input (absent when the
    /// measure does not apply or cannot score the example; see [`crate::perception`]). Audio: PESQ
    /// MOS-LQO, STOI, segmental SNR in dB, the fraction of the perturbation's energy under the
    /// clean clip's masking threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pesq: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stoi: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seg_snr_db: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_energy: Option<f32>,
    /// Video: mean SSIM over frames, and the perturbation's frame-to-frame flicker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssim: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flicker: Option<f32>,
    /// This example's share of the configuration's compute time.
    pub seconds: f64,
}

/// What a record keeps of a randomised-smoothing certificate ([`crate::certify::Certificate`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedCertificate {
    /// The smoothed classifier abstained (the lower bound on its top class was not above 1/2).
    pub abstained: bool,
    /// Votes for the selected class out of the estimation samples.
    pub count: usize,
    /// Lower confidence bound on the selected class's probability.
    pub p_lower: f64,
    /// Certified L2 radius in input units (absent when it abstained).
    pub radius: Option<f64>,
    /// The radius relative to the example's norm, in dB.
    pub radius_db: Option<f64>,
}

/// The results file of an output folder, open for appending.
pub struct Results {
    path: PathBuf,
    file: std::fs::File,
}

impl Results {
    /// The file's name in an output folder.
    pub const FILE: &'static str = "results.jsonl";

    /// Opens `dir/results.jsonl`. Without `resume` it must not hold results yet. With it, the
    /// records already there are returned; a line cut short by an interruption (the last one) is
    /// dropped from the file.
    pub fn open(dir: &Path, resume: bool) -> Result<(Self, Vec<Record>)> {
        let path = dir.join(Self::FILE);
        let mut records = Vec::new();
        if path.exists() {
            if !resume
                && std::fs::metadata(&path)
                    .map_err(|e| Error::io(&path, e))?
                    .len()
                    > 0
            {
                return Err(Error::invalid(
                    "out",
                    format!(
                        "{} already holds results: pass --resume to continue that run, or choose another --out",
                        path.display()
                    ),
                ));
            }
            let (read, good_len) = read_records(&path)?;
            records = read;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            file.set_len(good_len).map_err(|e| Error::io(&path, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok((Self { path, file }, records))
    }

    /// Appends `records`, then flushes them to disk.
    pub fn append(&mut self, records: &[Record]) -> Result<()> {
        let mut text = String::new();
        for r in records {
            text.push_str(&serde_json::to_string(r).expect("records serialise"));
            text.push('\n');
        }
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Every complete record of a results file, and the length of the file up to the last of them. A
/// final line without its newline is an interrupted write and is left out; a bad line elsewhere is
/// an error naming it.
pub fn read_records(path: &Path) -> Result<(Vec<Record>, u64)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut records = Vec::new();
    let mut good = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if !line.ends_with('\n') {
            break; // cut short
        }
        if !line.trim().is_empty() {
            let record = serde_json::from_str(line)
                .map_err(|e| Error::decode(path, format!("line {}: {e}", n + 1)))?;
            records.push(record);
        }
        good += line.len();
    }
    Ok((records, good as u64))
}

/// `(example, config)` pairs already measured.
pub fn done(records: &[Record]) -> HashSet<(usize, String)> {
    records
        .iter()
        .map(|r| (r.example, r.config.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(example: usize) -> Record {
        Record {
            example,
            id: format!("{example}.wav"),
            label: 1,
            config: "clean".into(),
            kind: Kind::Clean,
            attack: None,
            eps: None,
            defence: None,
            adaptive: false,
            prediction: 1,
            correct: true,
            linf: None,
            l2: None,
            snr_db: None,
            psnr_db: None,
            perturbed_frames: None,
            forwards: None,
            gradients: None,
            fooled_by: None,
            fit_fooling_rate: None,
            certificate: None,
            pesq: None,
            stoi: None,
            seg_snr_db: None,
            masked_energy: None,
            ssim: None,
            flicker: None,
            seconds: 0.5,
        }
    }

    #[test]
    fn an_interrupted_line_is_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut results, old) = Results::open(dir.path(), false).unwrap();
        assert!(old.is_empty());
        results.append(&[record(0), record(1)]).unwrap();
        drop(results);
        let path = dir.path().join(Results::FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"example\": 2, \"id\"");
        std::fs::write(&path, text).unwrap();
        assert!(Results::open(dir.path(), false).is_err(), "needs --resume");
        let (mut results, old) = Results::open(dir.path(), true).unwrap();
        assert_eq!(old, vec![record(0), record(1)]);
        results.append(&[record(2)]).unwrap();
        let (all, _) = read_records(&path).unwrap();
        assert_eq!(all, vec![record(0), record(1), record(2)]);
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Results::FILE);
        let good = serde_json::to_string(&record(0)).unwrap();
        std::fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap();
        let err = read_records(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
