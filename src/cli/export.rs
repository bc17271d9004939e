//! `avfoil export`: a native model (a shipped one included) as an ONNX model directory, for
//! onnxruntime, other tools, or avfoil's own ONNX path.

use anyhow::{Result, bail};
use avfoil::fs::Staged;
use avfoil::model::shipped::ModelSource;
use avfoil::model::{ARCHITECTURES, ModelConfig, OnnxConfig};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A model directory or a shipped model.
    #[arg(long)]
    model: String,
    /// The folder to write (model.onnx and a model.toml with architecture = "onnx"); it must be
    /// new or empty.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ExportArgs) -> Result<()> {
    if !avfoil::fs::is_missing_or_empty(&args.out) {
        bail!(
            "--out {} exists and is not an empty folder; export writes a new model directory",
            args.out.display()
        );
    }
    let ModelSource {
        config, mut files, ..
    } = ModelSource::open(&args.model)?;
    if let Some(onnx) = &config.onnx {
        bail!(
            "{}: already an ONNX model (its graph: {}); copy its directory instead of exporting it",
            args.model,
            onnx.file
        );
    }
    let architecture = ARCHITECTURES.find(&config.architecture)?;
    let Some(export) = architecture.export else {
        let able: Vec<&str> = ARCHITECTURES
            .all()
            .into_iter()
            .filter(|a| a.export.is_some())
            .map(|a| a.name)
            .collect();
        bail!(
            "{}: architecture {:?} has no ONNX export yet (those that do: {})",
            args.model,
            config.architecture,
            able.join(", ")
        );
    };
    let graph = export(&config, files.weights()?)?;
    files.finish()?;
    let exported = ModelConfig {
        architecture: "onnx".into(),
        weights: None,
        onnx: Some(OnnxConfig {
            file: "model.onnx".into(),
            input: None,
            output: None,
            scores: Default::default(),
            constants: Default::default(),
            framing: None,
        }),
        ..config
    };
    let mut staged = Staged::new();
    std::fs::write(staged.path(&args.out.join("model.onnx"))?, &graph)?;
    std::fs::write(
        staged.path(&args.out.join("model.toml"))?,
        toml::to_string(&exported)?,
    )?;
    staged.commit()?;
    println!(
        "wrote {} (model.onnx, {} bytes, opset {}; model.toml): `avfoil predict --model {}`",
        args.out.display(),
        graph.len(),
        avfoil::onnx::export::OPSET,
        args.out.display()
    );
    Ok(())
}
