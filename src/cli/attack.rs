//! `avfoil attack`: craft adversarial examples and report how they fare.

use super::{Inputs, class_index, load_model};
use anyhow::{Context, Result, bail};
use avfoil::array::Array;
use avfoil::attack::{Attack, Common, Eps, Fgm, Mask, Norm, Pgd, Projection};
use avfoil::classifier::Classifier;
use avfoil::media::npy::{read_npy, write_npy};
use avfoil::report::{AttackReport, Batch, run_attack};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AttackName {
    Fgm,
    Pgd,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct AttackArgs {
    /// Model directory (model.toml + weights) or the name of a shipped model (spoken-digits).
    #[arg(long)]
    model: PathBuf,
    /// The attack.
    #[arg(long)]
    attack: AttackName,
    /// Norm of the budget: inf, 1, 2 or any real p >= 1.
    #[arg(long, default_value = "inf")]
    norm: String,
    /// Budget in input units (int16 LSB for int16-scale audio, [0,1] for video); one value, or
    /// one per example separated by commas.
    #[arg(long)]
    eps: String,
    /// Step size (PGD; FGM --minimal). Default: eps/4 for PGD, eps/10 for minimal FGM (ART's fixed 0.1
    /// only suits [0, 1] inputs).
    #[arg(long)]
    eps_step: Option<String>,
    /// PGD iterations.
    #[arg(long, default_value_t = 100)]
    max_iter: usize,
    /// Random starts inside the eps-ball (0: start at the input); the best is kept per example.
    #[arg(long, default_value_t = 0)]
    random_init: usize,
    /// Move towards --target instead of away from the true class.
    #[arg(long, requires = "target")]
    targeted: bool,
    /// Target class (name or index): one for all examples, or one per example separated by commas.
    #[arg(long, requires = "targeted")]
    target: Option<String>,
    /// True classes for an untargeted attack (default: the model's predictions), comma-separated.
    #[arg(long, conflicts_with = "targeted")]
    labels: Option<String>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Examples per gradient computation.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// FGM: search the smallest successful multiple of eps-step up to eps.
    #[arg(long)]
    minimal: bool,
    /// PGD: momentum decay factor (Momentum Iterative Method).
    #[arg(long)]
    decay: Option<f32>,
    /// PGD: draw each example's eps from a half-normal truncated to [0, eps].
    #[arg(long)]
    random_eps: bool,
    /// PGD: stop iterating an example as soon as it is adversarial.
    #[arg(long)]
    early_stop: bool,
    /// Project L1 perturbations exactly (ART rescales radially).
    #[arg(long)]
    exact_l1: bool,
    /// .npy mask of one example's shape (or the whole batch's): 0 = keep, non-zero = may change.
    #[arg(long)]
    mask: Option<PathBuf>,
    /// Output: a .npy file for a single input, otherwise a folder that gets one .npy per input.
    #[arg(long)]
    out: PathBuf,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
    /// .npy files: one example of the model's input shape, or a batch with a leading axis.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

fn parse_eps(name: &str, s: &str) -> Result<Eps> {
    let values: Vec<f32> = s
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f32>()
                .with_context(|| format!("--{name}: {v:?} is not a number"))
        })
        .collect::<Result<_>>()?;
    Ok(if values.len() == 1 {
        Eps::Scalar(values[0])
    } else {
        Eps::PerExample(values)
    })
}

fn scaled(eps: &Eps, factor: f32) -> Eps {
    match eps {
        Eps::Scalar(v) => Eps::Scalar(v * factor),
        Eps::PerExample(v) => Eps::PerExample(v.iter().map(|e| e * factor).collect()),
    }
}

fn build_attack(args: &AttackArgs) -> Result<Box<dyn Attack>> {
    let norm: Norm = args.norm.parse()?;
    let eps = parse_eps("eps", &args.eps)?;
    let default_step = match args.attack {
        AttackName::Pgd => 0.25,
        AttackName::Fgm => 0.1,
    };
    let eps_step = match &args.eps_step {
        Some(s) => parse_eps("eps-step", s)?,
        // A zero eps gives a zero default step, which validation would reject: use any positive step.
        None => match scaled(&eps, default_step) {
            Eps::Scalar(0.0) => Eps::Scalar(1.0),
            e => e,
        },
    };
    let common = Common {
        norm,
        eps,
        eps_step,
        targeted: args.targeted,
        num_random_init: args.random_init,
        batch_size: args.batch_size as usize,
        seed: args.seed,
        projection: if args.exact_l1 {
            Projection::ExactL1
        } else {
            Projection::Radial
        },
    };
    let attack: Box<dyn Attack> = match args.attack {
        AttackName::Fgm => {
            for (set, flag) in [
                (args.decay.is_some(), "--decay"),
                (args.random_eps, "--random-eps"),
                (args.early_stop, "--early-stop"),
            ] {
                if set {
                    bail!("{flag} applies to --attack pgd only");
                }
            }
            let fgm = Fgm {
                common,
                minimal: args.minimal,
            };
            fgm.common.validate()?;
            Box::new(fgm)
        }
        AttackName::Pgd => {
            if args.minimal {
                bail!("--minimal applies to --attack fgm only");
            }
            let pgd = Pgd {
                common,
                max_iter: args.max_iter,
                decay: args.decay,
                random_eps: args.random_eps,
                early_stop: args.early_stop,
            };
            pgd.validate()?;
            Box::new(pgd)
        }
    };
    Ok(attack)
}

fn class_list(classes: &[String], s: &str, n: usize, flag: &str) -> Result<Vec<usize>> {
    let parsed: Vec<usize> = s
        .split(',')
        .map(|c| class_index(classes, c.trim()))
        .collect::<Result<_>>()
        .with_context(|| flag.to_string())?;
    match parsed.len() {
        1 => Ok(vec![parsed[0]; n]),
        m if m == n => Ok(parsed),
        m => bail!("{flag}: {m} classes given for {n} examples (give one, or one per example)"),
    }
}

/// Where the adversarial version of input `i` of `count` goes.
fn out_path(out: &Path, input: &Path, count: usize) -> PathBuf {
    let is_file = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if count == 1 && is_file {
        return out.to_path_buf();
    }
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "input".into());
    out.join(format!("{stem}.adv.npy"))
}

pub fn run(args: AttackArgs, device: &Device) -> Result<()> {
    let attack = build_attack(&args)?;
    let model = load_model(&args.model, device)?;
    let clf = &model.classifier;
    let classes = &model.config.classes;
    let inputs = Inputs::load(&args.inputs, clf.input_shape(), device)?;
    let n = inputs.rows();
    let d = clf.features();
    let count = inputs.arrays.len();
    if count > 1
        || !args
            .out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("--out {}", args.out.display()))?;
    }
    let mask = match &args.mask {
        Some(p) => {
            Some(Mask::new(read_npy(p)?.data).with_context(|| format!("--mask {}", p.display()))?)
        }
        None => None,
    };
    let given = match (&args.target, &args.labels) {
        (Some(t), _) => Some(class_list(classes, t, n, "--target")?),
        (None, Some(l)) => Some(class_list(classes, l, n, "--labels")?),
        (None, None) => None,
    };
    let origins = inputs.origins();
    let batch = Batch {
        x: &inputs.batch,
        labels: given.as_deref(),
        mask: mask.as_ref(),
        origins: &origins,
    };
    let run = run_attack(
        clf,
        classes,
        attack.as_ref(),
        &batch,
        args.batch_size as usize,
    )?;
    let mut offset = 0;
    for (path, array, rows) in &inputs.arrays {
        let part = Array::new(
            array.shape.clone(),
            run.adversarial[offset * d..(offset + rows) * d].to_vec(),
        )?;
        write_npy(&out_path(&args.out, path, count), &part)?;
        offset += rows;
    }
    print_report(&run.report, &model.dir, args.json)
}

/// Prints a report as lines for humans or as one JSON document.
pub fn print_report(report: &AttackReport, model: &Path, json: bool) -> Result<()> {
    if json {
        let mut doc = serde_json::to_value(report)?;
        doc["model"] = json!(model.display().to_string());
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for e in &report.examples {
            println!("{}", e.line());
        }
        println!(
            "success rate {:.1}% over {} examples in {:.2} s",
            report.success_rate * 100.0,
            report.examples.len(),
            report.seconds
        );
    }
    Ok(())
}
