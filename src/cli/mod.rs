//! The command line: argument definitions and the code shared by subcommands (the model, progress
//! bars). Each subcommand is one file; inputs and outputs live in `inputs.rs`, the defence flags in
//! `defences.rs`. No attack or model logic lives here.

mod attack;
mod certify;
mod data;
mod defences;
mod defend;
mod demo;
mod demo_vad;
mod demo_video;
mod eval;
mod export;
mod inputs;
mod inspect;
mod list;
mod predict;
mod train;

use anyhow::{Result, bail};
use avfoil::classifier::Model;
use burn::tensor::Device;
use clap::{Parser, Subcommand};
use std::path::Path;

/// Attack and defend audio and video classifiers.
#[derive(Parser, Debug)]
#[command(name = "avfoil", version, about, long_about = None)]
pub struct Cli {
    /// Compute device: cpu (burn-flex), cuda or wgpu (when built with that feature).
    #[arg(long, global = true, default_value = "cpu")]
    device: String,

    /// No progress bars (long commands draw one with an ETA on stderr otherwise).
    #[arg(long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Classify inputs and print the top classes.
    Predict(predict::PredictArgs),
    /// Craft adversarial examples (auto, APGD, FAB, Square, DeepFool, C&W, PGD, FGM, frame saliency).
    Attack(Box<attack::AttackArgs>),
    /// Apply defences (MP3, H.264 compression) to inputs and compare predictions.
    Defend(defend::DefendArgs),
    /// Certify predictions by randomised smoothing: abstain or give a certified L2 radius per input.
    Certify(certify::CertifyArgs),
    /// Train a model from recordings (AudioMNIST or FSDD layout).
    Train(train::TrainArgs),
    /// Run the main job on the shipped model and bundled inputs.
    Demo(demo::DemoArgs),
    /// Generate stand-in datasets (spoken digits from TTS engines).
    Data(data::DataArgs),
    /// Evaluate robustness over a data set from a scenario file (resumable, shardable).
    Eval(eval::EvalArgs),
    /// List the attacks, defences and model families, with every parameter and its default.
    List(list::ListArgs),
    /// Write a native model (a shipped one included) as an ONNX model directory.
    Export(export::ExportArgs),
    /// What an ONNX file holds (inputs, outputs, opset, ops, parameters) and which of its ops
    /// avfoil cannot evaluate.
    Inspect(inspect::InspectArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let device = avfoil::device::parse_device(&cli.device)?;
    QUIET.set(cli.quiet).expect("run once");
    match cli.command {
        Command::Predict(args) => predict::run(args, &device),
        Command::Attack(args) => attack::run(*args, &device),
        Command::Defend(args) => defend::run(args, &device),
        Command::Certify(args) => certify::run(args, &device),
        Command::Train(args) => train::run(args, &device),
        Command::Demo(args) => demo::run(args, &device),
        Command::Data(args) => data::run(args),
        Command::Eval(args) => eval::run(args, &device),
        Command::List(args) => list::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Export(args) => export::run(args),
    }
}

static QUIET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether `--quiet` was given.
fn quiet() -> bool {
    QUIET.get().copied().unwrap_or(false)
}

/// A progress bar of `len` steps drawn with `template` on stderr, hidden under `--quiet` (and by
/// indicatif when stderr is not a terminal).
fn progress_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = if quiet() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(len)
    };
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("a valid template"));
    bar
}

/// Loads `--model`: a model directory or the name of a shipped model.
fn load_model(spec: &Path, device: &Device) -> Result<Model> {
    Ok(Model::open(&spec.to_string_lossy(), device)?)
}

/// Parses a class given by name or index.
fn class_index(classes: &[String], s: &str) -> Result<usize> {
    if let Some(i) = classes.iter().position(|c| c == s) {
        return Ok(i);
    }
    match s.parse::<usize>() {
        Ok(i) if i < classes.len() => Ok(i),
        _ => bail!(
            "{s:?} is not a class of this model (classes: {})",
            classes.join(", ")
        ),
    }
}
