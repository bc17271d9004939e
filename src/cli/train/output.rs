//! What every trainer ends with: the progress bar while it trains, and the model directory.

use anyhow::Result;
use avfoil::fs::write_atomic;
use avfoil::model::ModelConfig;
use avfoil::model::weights::{HostTensor, write_safetensors};
use avfoil::train::{EpochLog, Progress};
use indicatif::ProgressBar;

/// Writes a trained model directory (`model.safetensors`, `training.json`, then `model.toml`, so a
/// folder with a model.toml is complete) and prints the last epoch's held-out accuracies.
pub fn write_model_dir(
    out: &std::path::Path,
    config: &ModelConfig,
    weights: &std::collections::BTreeMap<String, HostTensor>,
    report: &serde_json::Value,
    logs: &[EpochLog],
) -> Result<()> {
    write_safetensors(&out.join("model.safetensors"), weights)?;
    write_atomic(
        &out.join("training.json"),
        serde_json::to_string_pretty(report)?.as_bytes(),
    )?;
    write_atomic(&out.join("model.toml"), toml::to_string(config)?.as_bytes())?;
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
