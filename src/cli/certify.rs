//! `avfoil certify`: randomised smoothing's prediction with abstention and certified L2 radius for
//! each input (Cohen et al. 2019; the statistics live in `avfoil::certify`).

use super::inputs::Inputs;
use super::{load_model, progress_bar};
use anyhow::Result;
use avfoil::array::tensor_to_vec;
use avfoil::certify::{SmoothingConfig, certify};
use burn::tensor::Device;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CertifyArgs {
    /// Model directory (model.toml + weights), the name of a shipped model, or an ONNX file.
    #[arg(long)]
    model: PathBuf,
    /// Standard deviation of the smoothing noise, in the model's input units (int16 steps for the
    /// shipped audio model, pixels in [0, 1] for video). Certify a model trained with this noise
    /// (`avfoil train --gaussian-noise`): a plain model abstains on most inputs at useful sigmas.
    #[arg(long)]
    sigma: f32,
    /// Noisy copies that estimate the top class's probability (Cohen et al.: 100,000).
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    /// Noisy copies that select the class, drawn apart from the n (Cohen et al.: 100).
    #[arg(long, default_value_t = 100)]
    n0: usize,
    /// Probability that a certificate is wrong (the one-sided Clopper-Pearson level).
    #[arg(long, default_value_t = 0.001)]
    alpha: f64,
    /// Seed of the noise; each input's draws depend only on it and the input's position.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Noisy copies per forward pass (fewer for large inputs, at most 2^24 values per pass).
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
    /// Clip .npy values outside the model's input range into it, with a warning, instead of
    /// refusing the input.
    #[arg(long)]
    clip_inputs: bool,
    /// .npy files, WAV files for audio models, videos for video models (as `avfoil predict`).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

pub fn run(args: CertifyArgs, device: &Device) -> Result<()> {
    let config = SmoothingConfig {
        sigma: args.sigma,
        n0: args.n0,
        n: args.n,
        alpha: args.alpha,
        batch_size: args.batch_size,
        seed: args.seed,
    };
    config.validate()?;
    let model = load_model(&args.model, device)?;
    let clf = &model.classifier;
    let classes = &model.config.classes;
    let inputs = Inputs::load(&args.inputs, &model, args.clip_inputs, device)?;
    let d = clf.features();
    let host = tensor_to_vec(inputs.batch.clone());
    let origins = inputs.origins();
    let bar = progress_bar(
        origins.len() as u64,
        "{bar:30} {pos}/{len} inputs certified, {elapsed} elapsed, ETA {eta}",
    );
    let mut out = Vec::new();
    for (row, (input, item)) in origins.into_iter().enumerate() {
        let cert = certify(
            clf.as_ref(),
            &host[row * d..(row + 1) * d],
            row as u64,
            &config,
        )?;
        bar.inc(1);
        if !args.json {
            let verdict = match (cert.prediction, cert.radius) {
                (Some(c), Some(r)) => format!(
                    "{} certified to L2 radius {r:.4}{}",
                    classes[c],
                    cert.radius_db
                        .map(|db| format!(" ({db:.1} dB re signal)"))
                        .unwrap_or_default()
                ),
                _ => format!("abstains (top class {})", classes[cert.selected]),
            };
            bar.suspend(|| {
                println!(
                    "{input}[{item}]: {verdict}; {}/{} votes, p_A >= {:.4}",
                    cert.count, cert.n, cert.p_lower
                )
            });
        }
        out.push(json!({
            "input": input, "item": item,
            "prediction": cert.prediction,
            "class": cert.prediction.map(|c| classes[c].clone()),
            "selected": cert.selected,
            "count": cert.count, "n": cert.n,
            "p_lower": cert.p_lower,
            "radius": cert.radius, "radius_db": cert.radius_db,
            "counts": cert.counts,
        }));
    }
    bar.finish_and_clear();
    if args.json {
        let doc = json!({
            "method": "randomised smoothing (Cohen et al. 2019), CERTIFY",
            "model": args.model.display().to_string(),
            "config": config,
            "certificates": out,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(())
}
