//! `avfoil demo`: the main job on embedded defaults (shipped model, bundled inputs).

use super::attack::print_report;
use anyhow::{Context, Result};
use avfoil::attack::{Common, Eps, Pgd};
use avfoil::classifier::Classifier;
use avfoil::media::fs::write_atomic;
use avfoil::media::npy::{npy_from_bytes, write_npy};
use avfoil::model::shipped::Shipped;
use avfoil::report::{Batch, run_attack};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Four real FSDD test digits (see examples/README.md) and their true classes.
const SPOKEN_DIGITS: &[u8] = include_bytes!("../../examples/spoken-digits.npy");
const SPOKEN_DIGITS_LABELS: [usize; 4] = [1, 3, 5, 8];

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Demo {
    /// Spoken digits: PGD (the ART audio notebook's settings) on the shipped RawAudioCNN.
    Audio,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Which demo.
    demo: Demo,
    /// Folder for the adversarial examples and the JSON report.
    #[arg(long, default_value = "avfoil-demo")]
    out: PathBuf,
    /// L∞ budget in int16 sample units (the notebook's 0.5 is half a quantisation step).
    #[arg(long, default_value_t = 0.5)]
    eps: f32,
    /// Step size.
    #[arg(long, default_value_t = 0.1)]
    eps_step: f32,
    /// PGD iterations.
    #[arg(long, default_value_t = 100)]
    max_iter: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the report as one JSON document.
    #[arg(long)]
    json: bool,
}

pub fn run(args: DemoArgs, device: &Device) -> Result<()> {
    let Demo::Audio = args.demo;
    let model = Shipped::find("spoken-digits")
        .expect("spoken-digits is shipped")
        .load(device)?;
    let inputs = npy_from_bytes("examples/spoken-digits.npy", SPOKEN_DIGITS)?;
    let clf = &model.classifier;
    let n = inputs.batch_len(clf.input_shape())?;
    let x = inputs.to_tensor(n, device);
    let origins: Vec<(String, usize)> = (0..n)
        .map(|i| ("examples/spoken-digits.npy".to_string(), i))
        .collect();
    let pgd = Pgd {
        common: Common {
            eps: Eps::Scalar(args.eps),
            eps_step: Eps::Scalar(args.eps_step),
            seed: args.seed,
            ..Default::default()
        },
        max_iter: args.max_iter,
        ..Default::default()
    };
    pgd.validate()?;
    if !args.json {
        eprintln!(
            "PGD (L∞, eps {}, step {}, {} iterations) on the shipped spoken-digits model, true classes {:?}",
            args.eps, args.eps_step, args.max_iter, SPOKEN_DIGITS_LABELS
        );
    }
    let batch = Batch {
        x: &x,
        labels: Some(&SPOKEN_DIGITS_LABELS),
        mask: None,
        origins: &origins,
    };
    let run = run_attack(clf, &model.config.classes, &pgd, &batch, 32)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("--out {}", args.out.display()))?;
    let adv = avfoil::array::Array::new(inputs.shape.clone(), run.adversarial)?;
    write_npy(&args.out.join("spoken-digits.adv.npy"), &adv)?;
    write_atomic(
        &args.out.join("report.json"),
        serde_json::to_string_pretty(&run.report)?.as_bytes(),
    )?;
    print_report(&run.report, &model.dir, args.json)?;
    if !args.json {
        eprintln!(
            "wrote {0}/spoken-digits.adv.npy and {0}/report.json",
            args.out.display()
        );
    }
    Ok(())
}
