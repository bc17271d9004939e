//! `avfoil train --arch raw-audio-cnn`: RawAudioCNN on spoken digits in AudioMNIST or FSDD layout.

use super::output::{TrainingProgress, write_model_dir};
use super::{PlacementArg, Scale, TrainArgs};
use anyhow::{Result, bail};
use avfoil::audio::{ClipFormat, Placement};
use avfoil::data::{DigitClip, DigitCorpus, DigitLayout};
use avfoil::model::raw_audio_cnn::INPUT_LEN;
use avfoil::model::{InputConfig, Modality, ModelConfig};
use avfoil::scale::AudioScale;
use avfoil::train::{Dataset, TrainConfig, train_raw_audio_cnn};
use burn::tensor::Device;
use rayon::prelude::*;
use serde_json::json;

pub fn run(args: TrainArgs, device: &Device) -> Result<()> {
    let (scale, clip) = match args.scale {
        Scale::Int16 => (AudioScale::Int16, [-32768.0f32, 32767.0]),
        Scale::Unit => (AudioScale::Unit, [-1.0f32, 1.0]),
    };
    let hardening = args.regime.build(args.seed, Some((clip[0], clip[1])))?;
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
        hardening.regime(),
        device,
        |p| progress.step(p),
        |log| progress.epoch(log),
    )?;
    progress.finish();

    let model_config = ModelConfig {
        architecture: "raw-audio-cnn".into(),
        classes,
        weights: Some("model.safetensors".into()),
        input: InputConfig {
            modality: Modality::Audio,
            shape: vec![1, INPUT_LEN],
            clip: Some(clip),
            sample_rate: Some(8000),
            mean: None,
            std: None,
            sampling: None,
        },
        onnx: None,
    };
    let report = json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "config": config,
        "placement": format!("{:?}", args.placement).to_lowercase(),
        "data": sources,
        "hardening": hardening.report(),
        "epochs": logs,
    });
    write_model_dir(&args.out, &model_config, &weights, &report, &logs)
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
