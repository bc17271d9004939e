//! Argument definitions and the code shared by subcommands (loading inputs, resolving the model).
//! No attack or model logic lives here.

mod attack;
mod data;
mod demo;
mod predict;
mod train;

use anyhow::{Context, Result, bail};
use avfoil::array::Array;
use avfoil::media::npy::read_npy;
use avfoil::model::Model;
use burn::tensor::{Device, Tensor};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// Attack and defend audio and video classifiers.
#[derive(Parser, Debug)]
#[command(name = "avfoil", version, about, long_about = None)]
pub struct Cli {
    /// Compute device: cpu (burn-flex), cuda or wgpu (when built with that feature).
    #[arg(long, global = true, default_value = "cpu")]
    device: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Classify inputs and print the top classes.
    Predict(predict::PredictArgs),
    /// Craft adversarial examples with FGM or PGD.
    Attack(attack::AttackArgs),
    /// Train a model from recordings (AudioMNIST or FSDD layout).
    Train(train::TrainArgs),
    /// Run the main job on the shipped model and bundled inputs.
    Demo(demo::DemoArgs),
    /// Generate stand-in datasets (spoken digits from TTS engines).
    Data(data::DataArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let device = avfoil::device::parse_device(&cli.device)?;
    match cli.command {
        Command::Predict(args) => predict::run(args, &device),
        Command::Attack(args) => attack::run(args, &device),
        Command::Train(args) => train::run(args, &device),
        Command::Demo(args) => demo::run(args, &device),
        Command::Data(args) => data::run(args),
    }
}

/// Loads `--model`: a model directory or the name of a shipped model.
fn load_model(spec: &Path, device: &Device) -> Result<Model> {
    Ok(avfoil::model::shipped::open(
        &spec.to_string_lossy(),
        device,
    )?)
}

/// All inputs stacked into one batch, remembering which file and item each row came from.
struct Inputs {
    arrays: Vec<(PathBuf, Array, usize)>,
    batch: Tensor<2>,
}

impl Inputs {
    fn load(paths: &[PathBuf], example_shape: &[usize], device: &Device) -> Result<Self> {
        if paths.is_empty() {
            bail!("no INPUT given");
        }
        let mut arrays = Vec::new();
        let mut flat = Vec::new();
        for path in paths {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !ext.eq_ignore_ascii_case("npy") {
                bail!(
                    "{}: only .npy inputs are supported by this version",
                    path.display()
                );
            }
            let array = read_npy(path)?;
            let n = array
                .batch_len(example_shape)
                .with_context(|| path.display().to_string())?;
            flat.extend_from_slice(&array.data);
            arrays.push((path.clone(), array, n));
        }
        let rows: usize = arrays.iter().map(|a| a.2).sum();
        let batch = Array {
            shape: vec![rows, flat.len() / rows.max(1)],
            data: flat,
        }
        .to_tensor(rows, device);
        Ok(Self { arrays, batch })
    }

    fn rows(&self) -> usize {
        self.arrays.iter().map(|a| a.2).sum()
    }

    /// (input path, item within that input) for each row.
    fn origins(&self) -> Vec<(String, usize)> {
        self.arrays
            .iter()
            .flat_map(|(p, _, n)| (0..*n).map(move |i| (p.display().to_string(), i)))
            .collect()
    }
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
