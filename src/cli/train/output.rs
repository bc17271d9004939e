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
    for (name, acc) in &last.robust_heldout {
        println!(
            "held-out robust accuracy on {name} (PGD on a fixed subset): {:.1}%",
            acc * 100.0
        );
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
        let mut message = format!("loss {:.4}", p.loss);
        if let Some(a) = p.accuracy {
            message.push_str(&format!(" acc {a:.3}"));
        }
        if let Some(a) = p.robust_accuracy {
            message.push_str(&format!(" adv acc {a:.3}"));
        }
        self.bar.set_message(message);
    }

    pub fn epoch(&self, log: &EpochLog) {
        let percent = |sets: &[(String, f64)]| {
            sets.iter()
                .map(|(n, a)| format!("{n} {:.1}%", a * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut train = Vec::new();
        if let Some(a) = log.train_accuracy {
            train.push(format!("train acc {:.1}%", a * 100.0));
        }
        if let Some(a) = log.train_robust_accuracy {
            train.push(format!("train adv acc {:.1}%", a * 100.0));
        }
        let robust = if log.robust_heldout.is_empty() {
            String::new()
        } else {
            format!("; robust (PGD, subset): {}", percent(&log.robust_heldout))
        };
        let line = format!(
            "epoch {}: loss {:.4}, {}, held out: {}{robust} ({:.0} s)",
            log.epoch,
            log.loss,
            train.join(", "),
            percent(&log.heldout),
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
