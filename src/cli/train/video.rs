//! `avfoil train --arch c3d-lite`: train the action model on a UCF101-layout folder.

use super::TrainArgs;
use super::output::{TrainingProgress, write_model_dir};
use anyhow::{Result, bail};
use avfoil::data::ucf101::{Part, Ucf101, VideoItem};
use avfoil::model::{InputConfig, Modality, ModelConfig};
use avfoil::train::c3d_lite::{ClipSet, VideoTrainConfig, train_c3d_lite};
use avfoil::video::clip::{Sampling, ShortVideo};
use burn::tensor::Device;
use clap::Args;
use rayon::prelude::*;
use serde_json::json;

/// Options of video models (ignored by audio ones).
#[derive(Args, Debug)]
pub struct VideoTrainArgs {
    /// UCF101 split whose train list trains and whose test list is held out (1, 2 or 3).
    #[arg(long, default_value_t = 1)]
    split: u32,
    /// Frames per clip the model sees (1: a single-frame model, the motion-blind baseline).
    #[arg(long, default_value_t = 16)]
    frames: usize,
    /// Model input size, WIDTHxHEIGHT (after resizing the shorter side and a centre crop).
    #[arg(long, default_value = "80x60", value_parser = crate::cli::data::parse_size)]
    size: (usize, usize),
    /// Take every STRIDE-th decoded frame (the ART notebook takes every second).
    #[arg(long, default_value_t = 2)]
    stride: usize,
    /// Shorter side after resizing [default: the model's height or width, whichever is smaller].
    #[arg(long)]
    resize: Option<usize>,
    /// Extra sampled frames kept per training clip, so each step can start at a random offset.
    #[arg(long, default_value_t = 8)]
    jitter: usize,
    /// Probability of mirroring a training clip left to right.
    #[arg(long, default_value_t = 0.5)]
    flip: f32,
}

pub fn run(args: TrainArgs, device: &Device) -> Result<()> {
    let v = &args.video;
    let [root] = args.data.as_slice() else {
        bail!(
            "--data: c3d-lite trains on one UCF101-layout folder, got {}",
            args.data.len()
        );
    };
    let (width, height) = v.size;
    if v.frames == 0 || width < 4 || height < 4 {
        bail!("--frames must be at least 1 and --size at least 4x4");
    }
    let sampling = Sampling {
        start: 0,
        stride: v.stride,
        resize: Some(v.resize.unwrap_or(width.min(height))),
        short: ShortVideo::Error,
    };
    sampling.validate()?;
    let hardening = args.regime.build(args.seed, Some((0.0, 1.0)))?;
    let ucf = Ucf101::open(root)?;
    let classes = ucf.classes.clone();
    let train_items = ucf.split(v.split, Part::Train)?;
    let test_items = ucf.split(v.split, Part::Test)?;
    eprintln!(
        "{}: {} classes, split {}: {} training and {} held-out videos",
        root.display(),
        classes.len(),
        v.split,
        train_items.len(),
        test_items.len()
    );
    let stored = v.frames + v.jitter;
    let train = load(&train_items, &sampling, stored, height, width)?;
    let test = load(&test_items, &sampling, v.frames, height, width)?;
    let config = VideoTrainConfig {
        epochs: args.epochs.unwrap_or(20),
        batch_size: args.batch_size.unwrap_or(16),
        lr: args.lr.unwrap_or(3e-3),
        seed: args.seed,
        flip: v.flip,
    };
    let shape = [3, v.frames, height, width];
    let progress = TrainingProgress::new(train.len(), config.epochs, config.batch_size);
    let heldout = vec![(format!("testlist{:02}", v.split), test)];
    let (weights, logs) = train_c3d_lite(
        &train,
        &heldout,
        classes.len(),
        shape,
        &config,
        hardening.regime(),
        device,
        |p| progress.step(p),
        |log| progress.epoch(log),
    )?;
    progress.finish();

    let model_config = ModelConfig {
        architecture: "c3d-lite".into(),
        classes,
        weights: Some("model.safetensors".into()),
        input: InputConfig {
            modality: Modality::Video,
            shape: shape.to_vec(),
            clip: Some([0.0, 1.0]),
            sample_rate: None,
            mean: None,
            std: None,
            sampling: Some(sampling),
        },
        onnx: None,
    };
    let report = json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "config": config,
        "data": {
            "path": root.display().to_string(), "split": v.split,
            "train": train_items.len(), "heldout": test_items.len(),
        },
        "frames": v.frames, "stride": v.stride, "jitter": v.jitter,
        "hardening": hardening.report(),
        "epochs": logs,
    });
    write_model_dir(&args.out, &model_config, &weights, &report, &logs)
}

/// Decodes and samples every video, in parallel, keeping `stored` frames of each.
fn load(
    items: &[VideoItem],
    sampling: &Sampling,
    stored: usize,
    height: usize,
    width: usize,
) -> Result<ClipSet> {
    let clips: Vec<Vec<f32>> = items
        .par_iter()
        .map(|item| {
            let video = avfoil::video::io::read_video(&item.path)?;
            sampling
                .clip(&video, stored, height, width)
                .map_err(|e| avfoil::Error::decode(&item.path, e.to_string()))
        })
        .collect::<avfoil::Result<_>>()?;
    let mut set = ClipSet::new(stored, height, width);
    for (clip, item) in clips.iter().zip(items) {
        set.push(clip, item.label)?;
    }
    Ok(set)
}
