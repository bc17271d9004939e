//! `avfoil predict`: classify inputs.

use super::inputs::Inputs;
use super::load_model;
use anyhow::Result;
use avfoil::array::tensor_to_vec;
use avfoil::classifier::{argmax_rows, probabilities};
use burn::tensor::Device;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Model directory (model.toml + weights) or the name of a shipped model (spoken-digits).
    #[arg(long)]
    model: PathBuf,
    /// How many of the most probable classes to list.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Examples per forward pass.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
    /// Clip .npy values outside the model's input range (`input.clip`) into it, with a warning,
    /// instead of refusing the input.
    #[arg(long)]
    clip_inputs: bool,
    /// .npy files (one example of the model's input shape, or a batch with a leading axis) or, for
    /// audio models, mono WAV files (resampled to the model's rate, centred, padded or cropped), or
    /// for video models video files (MP4, GIF, a folder of frames; AVI and MKV with the `ffmpeg`
    /// feature), sampled as the model's `[input.sampling]` says.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

pub fn run(args: PredictArgs, device: &Device) -> Result<()> {
    let model = load_model(&args.model, device)?;
    let clf = &model.classifier;
    let classes = &model.config.classes;
    let inputs = Inputs::load(&args.inputs, &model, args.clip_inputs, device)?;
    let logits = clf.predict(&inputs.batch, args.batch_size as usize)?;
    let k = classes.len();
    let labels = argmax_rows(logits.clone());
    let probs = tensor_to_vec(probabilities(logits.clone()));
    let logits = tensor_to_vec(logits);
    // A frame-level model (a voice-activity detector) also gives each window's probabilities.
    let frames = clf.output_frames();
    let frame_probs = if frames > 1 {
        let scores = clf.frame_logits(inputs.batch.clone())?;
        let [n, _] = scores.dims();
        let per_frame = probabilities(scores.reshape([n * frames, k]));
        Some(tensor_to_vec(per_frame))
    } else {
        None
    };
    let mut out = Vec::new();
    for (row, (input, item)) in inputs.origins().into_iter().enumerate() {
        let p = &probs[row * k..(row + 1) * k];
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let top: Vec<_> = order
            .iter()
            .take(args.top_k)
            .map(|&c| json!({"label": c, "class": classes[c], "probability": p[c]}))
            .collect();
        if !args.json {
            let summary: Vec<String> = order
                .iter()
                .take(args.top_k)
                .map(|&c| format!("{} {:.3}", classes[c], p[c]))
                .collect();
            println!(
                "{input}[{item}]: {} ({})",
                classes[labels[row]],
                summary.join(", ")
            );
        }
        let mut doc = json!({
            "input": input, "item": item, "label": labels[row], "class": classes[labels[row]],
            "logits": &logits[row * k..(row + 1) * k], "probabilities": p, "top": top,
        });
        if let Some(fp) = &frame_probs {
            let mine = &fp[row * frames * k..(row + 1) * frames * k];
            doc["frames"] = json!(mine.chunks(k).collect::<Vec<_>>());
        }
        out.push(doc);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "predictions": out }))?
        );
    }
    Ok(())
}
