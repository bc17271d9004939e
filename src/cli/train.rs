//! `avfoil train`: train a model from recordings in AudioMNIST or FSDD layout.

use anyhow::{Context, Result, bail};
use avfoil::audio::{AudioScale, ClipFormat, Placement};
use avfoil::data::{DigitClip, DigitCorpus, DigitLayout};
use avfoil::media::fs::write_atomic;
use avfoil::model::raw_audio_cnn::INPUT_LEN;
use avfoil::model::weights::{HostTensor, write_safetensors};
use avfoil::model::{InputConfig, Modality, ModelConfig};
use avfoil::train::{Dataset, EpochLog, Progress, TrainConfig, train_raw_audio_cnn};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde_json::json;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Arch {
    /// The ART audio notebook's raw-waveform CNN (1 s at 8 kHz).
    RawAudioCnn,
    /// avfoil's small 3-D CNN on frame differences, for action clips in UCF101 layout.
    C3dLite,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Scale {
    /// Int16 sample values, clip [-32768, 32767] (the ART notebook's model).
    Int16,
    /// Full scale ±1, clip [-1, 1].
    Unit,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PlacementArg {
    /// Centre each clip in the model's window (deterministic).
    Centre,
    /// Start each clip at sample 0.
    Start,
    /// A uniformly random offset per clip, as the ART notebook, drawn from --seed and the clip.
    Random,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Architecture.
    #[arg(long, value_enum)]
    arch: Arch,
    /// Dataset folders: AudioMNIST layout (NN/d_NN_r.wav) or FSDD layout (d_speaker_i.wav) for
    /// raw-audio-cnn; one UCF101-layout folder (UCF-101/ + ucfTrainTestlist/) for c3d-lite.
    #[arg(long, required = true, num_args = 1..)]
    pub(super) data: Vec<PathBuf>,
    /// Model directory to write (model.toml, model.safetensors, training.json).
    #[arg(long)]
    pub(super) out: PathBuf,
    /// AudioMNIST-layout speakers to hold out for evaluation, comma-separated (default: the last
    /// fifth of each folder's speakers). FSDD always holds out its test indices 0-4.
    #[arg(long, value_delimiter = ',')]
    test_speakers: Option<Vec<String>>,
    /// Passes over the training set [default: 12 for raw-audio-cnn, 20 for c3d-lite].
    #[arg(long)]
    pub(super) epochs: Option<usize>,
    /// Examples per optimisation step [default: 32 for raw-audio-cnn, 16 for c3d-lite].
    #[arg(long)]
    pub(super) batch_size: Option<usize>,
    /// Peak learning rate, Adam with a one-cycle schedule [default: 1e-3 for raw-audio-cnn, 3e-3
    /// for c3d-lite].
    #[arg(long)]
    pub(super) lr: Option<f64>,
    /// Random time shift of each training example, in samples either way.
    #[arg(long, default_value_t = 800)]
    max_shift: usize,
    /// Random gain of each training example, in dB either way (0: none).
    #[arg(long, default_value_t = 0.0)]
    gain_db: f32,
    /// Probability of replacing a training example by its MP3 round trip (8 kb/s), so that the
    /// model keeps its accuracy behind the MP3 defence.
    #[arg(long, default_value_t = 0.0)]
    mp3_augment: f32,
    /// Where a clip shorter than 1 s goes in the zero-padded window (longer ones are cropped there).
    #[arg(long, value_enum, default_value = "centre")]
    placement: PlacementArg,
    /// Input units of the model.
    #[arg(long, value_enum, default_value = "int16")]
    scale: Scale,
    /// Seed of every random choice (initialisation, order, augmentation).
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    #[command(flatten)]
    pub(super) video: super::train_video::VideoTrainArgs,
}

pub fn run(args: TrainArgs, device: &Device) -> Result<()> {
    if let Arch::C3dLite = args.arch {
        return super::train_video::run(args, device);
    }
    let (scale, clip) = match args.scale {
        Scale::Int16 => (AudioScale::Int16, [-32768.0f32, 32767.0]),
        Scale::Unit => (AudioScale::Unit, [-1.0f32, 1.0]),
    };
    let format = ClipFormat {
        sample_rate: 8000,
        len: INPUT_LEN,
        scale,
        placement: match args.placement {
            PlacementArg::Centre => Placement::Centre,
            PlacementArg::Start => Placement::Start,
            PlacementArg::Random => Placement::Random { seed: args.seed },
        },
    };
    let config = TrainConfig {
        epochs: args.epochs.unwrap_or(12),
        batch_size: args.batch_size.unwrap_or(32),
        lr: args.lr.unwrap_or(1e-3),
        seed: args.seed,
        max_shift: args.max_shift,
        gain_db: args.gain_db,
        mp3_prob: args.mp3_augment,
    };
    let mut train = Dataset::default();
    let mut heldout = Vec::new();
    let mut sources = Vec::new();
    for dir in &args.data {
        let corpus = DigitCorpus::open(dir)?;
        let test_speakers = match (&args.test_speakers, corpus.layout) {
            (_, DigitLayout::Fsdd) => Vec::new(),
            (Some(list), _) => list.clone(),
            (None, DigitLayout::AudioMnist) => {
                let speakers = corpus.speakers();
                let k = speakers.len().div_ceil(5).min(speakers.len() - 1);
                speakers[speakers.len() - k..].to_vec()
            }
        };
        let (tr, te) = corpus.split(&test_speakers);
        eprintln!(
            "{}: {:?}, {} training and {} held-out clips{}",
            dir.display(),
            corpus.layout,
            tr.len(),
            te.len(),
            if test_speakers.is_empty() {
                String::new()
            } else {
                format!(" (held-out speakers {})", test_speakers.join(","))
            }
        );
        append(&mut train, &load(&tr, &format)?);
        if !te.is_empty() {
            heldout.push((dir.display().to_string(), load(&te, &format)?));
        }
        sources.push(json!({
            "path": dir.display().to_string(), "layout": format!("{:?}", corpus.layout),
            "train": tr.len(), "heldout": te.len(), "heldout_speakers": test_speakers,
        }));
    }
    if train.is_empty() {
        bail!("--data: no training clips found");
    }
    let classes: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let progress = TrainingProgress::new(train.len(), config.epochs, config.batch_size);
    let (weights, logs) = train_raw_audio_cnn(
        &train,
        &heldout,
        classes.len(),
        Some((clip[0], clip[1])),
        &config,
        device,
        |p| progress.step(p),
        |log| progress.epoch(log),
    )?;
    progress.finish();

    std::fs::create_dir_all(&args.out).with_context(|| format!("--out {}", args.out.display()))?;
    let model_config = ModelConfig {
        architecture: "raw-audio-cnn".into(),
        classes,
        weights: "model.safetensors".into(),
        input: InputConfig {
            modality: Modality::Audio,
            shape: vec![1, INPUT_LEN],
            clip: Some(clip),
            sample_rate: Some(8000),
            mean: None,
            std: None,
            sampling: None,
        },
    };
    let report = json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "config": config,
        "placement": format!("{:?}", args.placement).to_lowercase(),
        "data": sources,
        "epochs": logs,
    });
    write_model_dir(&args.out, &model_config, &weights, &report, &logs)
}

/// Writes a trained model directory (`model.safetensors`, `training.json`, then `model.toml`, so a
/// folder with a model.toml is complete) and prints the last epoch's held-out accuracies.
pub(super) fn write_model_dir(
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

/// Loads clips in parallel into a dataset (labels are the digits).
fn load(clips: &[DigitClip], format: &ClipFormat) -> Result<Dataset> {
    let rows: Vec<Vec<f32>> = clips
        .par_iter()
        .map(|c| format.load(&c.path, name_hash(&c.path)))
        .collect::<avfoil::Result<_>>()?;
    Ok(Dataset {
        x: rows.concat(),
        labels: clips.iter().map(|c| c.digit).collect(),
    })
}

/// A stable id for a clip (FNV-1a of its file name), so its random placement does not depend on
/// which other clips were loaded.
fn name_hash(path: &std::path::Path) -> u64 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn append(to: &mut Dataset, from: &Dataset) {
    to.x.extend_from_slice(&from.x);
    to.labels.extend_from_slice(&from.labels);
}

/// A progress bar for training: one pass per epoch, and a line per finished epoch.
pub(super) struct TrainingProgress {
    bar: ProgressBar,
    epochs: usize,
    batch_size: usize,
}

impl TrainingProgress {
    pub(super) fn new(examples: usize, epochs: usize, batch_size: usize) -> Self {
        let bar = super::progress_bar(
            examples as u64,
            "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})",
        );
        Self {
            bar,
            epochs,
            batch_size,
        }
    }

    pub(super) fn step(&self, p: &Progress) {
        if p.done <= self.batch_size {
            self.bar.reset();
            self.bar.set_prefix(format!("{}/{}", p.epoch, self.epochs));
        }
        self.bar.set_position(p.done as u64);
        self.bar
            .set_message(format!("loss {:.4} acc {:.3}", p.loss, p.accuracy));
    }

    pub(super) fn epoch(&self, log: &EpochLog) {
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

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
