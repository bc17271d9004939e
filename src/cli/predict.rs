//! `avfoil predict`: classify inputs.

use super::defences::DefenceArgs;
use super::inputs::Inputs;
use super::load_model;
use anyhow::{Result, bail};
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
    #[command(flatten)]
    defences: DefenceArgs,
    /// Seed of the randomised defences' draws (`--defence room`, `gaussian-noise`): another seed
    /// than the attack's gives draws (rooms) the attack never saw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Classify every input this many times through the randomised defences in --defence, a fresh
    /// draw each time, and report per example how often each class came out (the first pass gives
    /// the logits and probabilities shown).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    draws: u64,
    /// True classes (names or indices; one, or one per example, comma-separated): with --draws,
    /// report the fraction of draws that misclassify each example (an attack's success rate over
    /// the draws: over the air for `--defence room`).
    #[arg(long)]
    labels: Option<String>,
    /// .npy files (one example of the model's input shape, or a batch with a leading axis) or, for
    /// audio models, mono WAV files (resampled to the model's rate, centred, padded or cropped), or
    /// for video models video files (MP4, GIF, a folder of frames; AVI and MKV with the `ffmpeg`
    /// feature), sampled as the model's `[input.sampling]` says.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

pub fn run(args: PredictArgs, device: &Device) -> Result<()> {
    let model = load_model(&args.model, device)?;
    let (defended, defences, randomised) = args.defences.defended(&model, args.seed)?;
    if args.draws > 1 && !randomised {
        bail!(
            "--draws {}: no randomised defence in --defence (e.g. room, gaussian-noise); every draw \
             would give the same prediction",
            args.draws
        );
    }
    let clf = defended.as_ref();
    let classes = &model.config.classes;
    let inputs = Inputs::load(&args.inputs, &model, args.clip_inputs, device)?;
    let bs = args.batch_size as usize;
    let logits = clf.predict(&inputs.batch, bs)?;
    let k = classes.len();
    let n = inputs.rows();
    let truth = args
        .labels
        .as_deref()
        .map(|l| super::attack::class_list(classes, l, n, "--labels"))
        .transpose()?;
    // counts[row][class]: how many draws predicted the class (the first pass included).
    let mut counts = vec![vec![0u64; k]; n];
    if args.draws > 1 || truth.is_some() {
        let mut pass = argmax_rows(logits.clone());
        for d in 0..args.draws {
            if d > 0 {
                pass = argmax_rows(clf.predict(&inputs.batch, bs)?);
            }
            for (row, &c) in pass.iter().enumerate() {
                counts[row][c] += 1;
            }
        }
    }
    let draws = args.draws as f64;
    let success: Option<Vec<f64>> = truth.as_ref().map(|t| {
        t.iter()
            .enumerate()
            .map(|(row, &y)| 1.0 - counts[row][y] as f64 / draws)
            .collect()
    });
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
            if let Some(s) = &success {
                println!(
                    "  misclassified in {:.1}% of {} draws",
                    100.0 * s[row],
                    args.draws
                );
            }
        }
        let mut doc = json!({
            "input": input, "item": item, "label": labels[row], "class": classes[labels[row]],
            "logits": &logits[row * k..(row + 1) * k], "probabilities": p, "top": top,
        });
        if args.draws > 1 || truth.is_some() {
            let fractions: serde_json::Map<String, serde_json::Value> = counts[row]
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(c, &m)| (classes[c].clone(), json!(m as f64 / draws)))
                .collect();
            doc["draws"] = json!(fractions);
        }
        if let (Some(t), Some(s)) = (&truth, &success) {
            doc["true_label"] = json!(t[row]);
            doc["success_rate"] = json!(s[row]);
        }
        if let Some(fp) = &frame_probs {
            let mine = &fp[row * frames * k..(row + 1) * frames * k];
            doc["frames"] = json!(mine.chunks(k).collect::<Vec<_>>());
        }
        out.push(doc);
    }
    if args.json {
        let mut doc = json!({ "predictions": out });
        if !defences.is_empty() {
            doc["defences"] = json!(defences);
            doc["seed"] = json!(args.seed);
            doc["draws"] = json!(args.draws);
        }
        if let Some(s) = &success {
            doc["success_rate"] = json!(s.iter().sum::<f64>() / s.len().max(1) as f64);
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(())
}
