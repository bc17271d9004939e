//! `avfoil defend`: apply defences to inputs and report what the model predicts before and after.

use super::defences::DefenceArgs;
use super::inputs::Inputs;
use super::load_model;
use anyhow::{Context, Result};
use avfoil::array::tensor_to_vec;
use avfoil::audio::wav::WavEncoding;
use avfoil::classifier::{Defended, argmax_rows};
use avfoil::fs::Staged;
use avfoil::metrics::perturbation_sizes;
use avfoil::model::Modality;
use burn::tensor::Device;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DefendArgs {
    /// Model directory or shipped model name: gives the input format and the predictions.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    defences: DefenceArgs,
    /// Output: a file for a single input of the same type, otherwise a folder that gets one
    /// `<name>.defended.npy` or `.wav` per input (WAV: 32-bit float unless --wav-int16).
    #[arg(long)]
    out: PathBuf,
    /// Write WAV outputs as 16-bit PCM.
    #[arg(long)]
    wav_int16: bool,
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
    /// .npy files, or mono WAV files for audio models, or video files (MP4, GIF, a folder of frames;
    /// AVI and MKV with the `ffmpeg` feature) for video models.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

pub fn run(args: DefendArgs, device: &Device) -> Result<()> {
    if args.defences.defence.is_empty() {
        anyhow::bail!("--defence: name at least one defence (`avfoil list` shows them all)");
    }
    let model = load_model(&args.model, device)?;
    let encoding = if args.wav_int16 {
        if model.config.input.modality != Modality::Audio {
            anyhow::bail!("--wav-int16 applies to audio models only");
        }
        WavEncoding::Int16
    } else {
        WavEncoding::Float32
    };
    let chain = args.defences.chain()?.context("--defence")?;
    let defended = Defended::new(
        model.classifier.clone(),
        super::defences::build(&chain, &model)?,
    );
    let inputs = Inputs::load(&args.inputs, &model, args.clip_inputs, device)?;
    let plan = inputs.plan_outputs(&args.out, "defended")?;
    plan.check(&inputs)?;
    let bs = args.batch_size as usize;
    let before = argmax_rows(model.classifier.predict(&inputs.batch, bs)?);
    // The defended signal, written out and classified by the undefended model: the same as the
    // defended model's prediction, with each codec run once.
    let (x, _) = defended.defend(inputs.batch.clone())?;
    let after = argmax_rows(model.classifier.predict(&x, bs)?);
    let config = &model.config;
    let out = tensor_to_vec(x);
    let mut staged = Staged::new();
    let written = inputs.write_outputs(&out, &plan, &model, encoding, &mut staged)?;
    staged.commit()?;
    let sizes = perturbation_sizes(&tensor_to_vec(inputs.batch.clone()), &out, inputs.rows());
    let classes = &config.classes;
    let rows: Vec<_> = inputs
        .origins()
        .into_iter()
        .enumerate()
        .map(|(i, (input, item))| {
            json!({
                "input": input, "item": item,
                "before": classes[before[i]], "after": classes[after[i]],
                "changed": before[i] != after[i],
                "snr_db": sizes[i].snr_db, "linf": sizes[i].linf,
            })
        })
        .collect();
    if args.json {
        let names = defended.defence_names();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": model.dir.display().to_string(),
                "defences": names,
                "outputs": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "examples": rows,
            }))?
        );
    } else {
        for (i, (input, item)) in inputs.origins().into_iter().enumerate() {
            println!(
                "{input}[{item}]: {} -> {} after defence (SNR of the change {} dB)",
                classes[before[i]],
                classes[after[i]],
                sizes[i].snr_db.map_or("inf".into(), |v| format!("{v:.1}"))
            );
        }
        for p in &written {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}
