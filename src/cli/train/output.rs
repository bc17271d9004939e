//! What every trainer ends with: the progress bar while it trains, and the model directory.

use anyhow::{Result, bail};
use avfoil::fs::Staged;
use avfoil::model::ModelConfig;
use avfoil::model::weights::{HostTensor, write_safetensors};
use avfoil::train::{EpochLog, Progress};
use indicatif::ProgressBar;

/// The files a trained model directory holds; training replaces these and nothing else.
const MODEL_FILES: [&str; 3] = ["model.toml", "model.safetensors", "training.json"];

/// Refuses, before any training, an `--out` that would lose data: a file, a data folder or a folder
/// inside one, or a folder holding files that are not an avfoil model (a model directory is
/// replaced when the new training finishes, which is what retraining means).
pub fn check_out(out: &std::path::Path, data: &[std::path::PathBuf]) -> Result<()> {
    if out.is_file() {
        bail!(
            "--out {} is a file; expected a model directory",
            out.display()
        );
    }
    let resolved = crate::cli::inputs::identity(out);
    for folder in data {
        if resolved.starts_with(crate::cli::inputs::identity(folder)) {
            bail!(
                "--out {} is inside the data folder {}; training never writes into its data",
                out.display(),
                folder.display()
            );
        }
    }
    if out.is_dir() && !out.join("model.toml").is_file() {
        let foreign = std::fs::read_dir(out)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| !MODEL_FILES.contains(&n.as_str()));
        if let Some(name) = foreign {
            bail!(
                "--out {} holds {name} and no model.toml, so it is not a model directory; choose \
                 a new or empty folder",
                out.display()
            );
        }
    }
    Ok(())
}

/// Writes a trained model directory (`model.safetensors`, `training.json`, `model.toml`) all at
/// once: each is written under a temporary name, then all are renamed into place, so an error
/// leaves the previous model whole and a folder is never half old, half new. Prints the last
/// epoch's held-out accuracies.
pub fn write_model_dir(
    out: &std::path::Path,
    config: &ModelConfig,
    weights: &std::collections::BTreeMap<String, HostTensor>,
    report: &serde_json::Value,
    logs: &[EpochLog],
) -> Result<()> {
    let mut staged = Staged::new();
    write_safetensors(&staged.path(&out.join("model.safetensors"))?, weights)?;
    let json = staged.path(&out.join("training.json"))?;
    std::fs::write(&json, serde_json::to_string_pretty(report)?)?;
    let toml_path = staged.path(&out.join("model.toml"))?;
    std::fs::write(&toml_path, toml::to_string(config)?)?;
    staged.commit()?;
    let last = logs.last().expect("at least one epoch");
    for (name, acc) in &last.heldout {
        println!("held-out accuracy on {name}: {:.1}%", acc * 100.0);
    }
    println!("wrote {}", out.display());
    Ok(())
}

/// A progress bar for training: one pass per epoch, and a line per finished epoch.
pub struct TrainingProgress {
    bar: ProgressBar,
    epochs: usize,
    batch_size: usize,
}

impl TrainingProgress {
    pub fn new(examples: usize, epochs: usize, batch_size: usize) -> Self {
        let bar = super::super::progress_bar(
            examples as u64,
            "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})",
        );
        Self {
            bar,
            epochs,
            batch_size,
        }
    }

    pub fn step(&self, p: &Progress) {
        if p.done <= self.batch_size {
            self.bar.reset();
            self.bar.set_prefix(format!("{}/{}", p.epoch, self.epochs));
        }
        self.bar.set_position(p.done as u64);
        self.bar
            .set_message(format!("loss {:.4} acc {:.3}", p.loss, p.accuracy));
    }

    pub fn epoch(&self, log: &EpochLog) {
        let held: Vec<String> = log
            .heldout
            .iter()
            .map(|(n, a)| format!("{n} {:.1}%", a * 100.0))
            .collect();
        let line = format!(
            "epoch {}: loss {:.4}, train acc {:.1}%, held out: {} ({:.0} s)",
            log.epoch,
            log.loss,
            log.train_accuracy * 100.0,
            held.join(", "),
            log.seconds
        );
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
