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
    /// Spoken digits: PGD on the shipped RawAudioCNN at growing budgets, from the ART audio
    /// notebook's half-LSB eps up.
    Audio,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Which demo.
    demo: Demo,
    /// Folder for the adversarial examples and the JSON report.
    #[arg(long, default_value = "avfoil-demo")]
    out: PathBuf,
    /// L∞ budgets in int16 sample units, comma-separated (the notebook's 0.5 is half a
    /// quantisation step). Each is attacked with steps of eps/5, the notebook's ratio.
    #[arg(long, default_value = "0.5,8,32,128", value_delimiter = ',')]
    eps: Vec<f32>,
    /// PGD iterations.
    #[arg(long, default_value_t = 100)]
    max_iter: usize,
    /// Stop iterating an example once it is adversarial.
    #[arg(long)]
    early_stop: bool,
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
    let attacks = args
        .eps
        .iter()
        .map(|&eps| {
            let pgd = Pgd {
                common: Common {
                    eps: Eps::Scalar(eps),
                    eps_step: Eps::Scalar(if eps > 0.0 { eps / 5.0 } else { 1.0 }),
                    seed: args.seed,
                    ..Default::default()
                },
                max_iter: args.max_iter,
                early_stop: args.early_stop,
                ..Default::default()
            };
            pgd.validate().map(|()| (eps, pgd))
        })
        .collect::<avfoil::Result<Vec<_>>>()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("--out {}", args.out.display()))?;
    let mut reports = Vec::new();
    for (eps, pgd) in attacks {
        if !args.json {
            println!(
                "PGD L∞ eps {eps} (step {}, {} iterations) on the shipped spoken-digits model:",
                eps / 5.0,
                args.max_iter
            );
        }
        let batch = Batch {
            x: &x,
            labels: Some(&SPOKEN_DIGITS_LABELS),
            mask: None,
            origins: &origins,
        };
        let run = run_attack(clf, &model.config.classes, &pgd, &batch, 32)?;
        let adv = avfoil::array::Array::new(inputs.shape.clone(), run.adversarial)?;
        write_npy(&args.out.join(format!("eps-{eps}.adv.npy")), &adv)?;
        if !args.json {
            print_report(&run.report, &model.dir, false)?;
        }
        reports.push(run.report);
    }
    let doc = serde_json::json!({"model": model.dir.display().to_string(), "runs": reports});
    let text = serde_json::to_string_pretty(&doc)?;
    write_atomic(&args.out.join("report.json"), text.as_bytes())?;
    if args.json {
        println!("{text}");
    } else {
        println!(
            "wrote the adversarial examples and report.json to {}",
            args.out.display()
        );
    }
    Ok(())
}
