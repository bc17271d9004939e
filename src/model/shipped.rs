//! Models shipped inside the binary, so `--model spoken-digits` works from any folder and after
//! `cargo install`. Each is an ordinary model directory under `models/`, embedded at compile time.

use super::architecture::ModelFiles;
use super::config::ModelConfig;
use super::weights::Weights;
use crate::error::{Error, Result};
use std::path::PathBuf;

/// A model directory embedded at compile time.
pub struct Shipped {
    /// The name `--model` accepts.
    pub name: &'static str,
    model_toml: &'static str,
    weights: &'static [u8],
}

/// Every shipped model.
pub const SHIPPED: &[Shipped] = &[
    Shipped {
        name: "spoken-digits",
        model_toml: include_str!("../../models/spoken-digits/model.toml"),
        weights: include_bytes!("../../models/spoken-digits/model.safetensors"),
    },
    Shipped {
        name: "spoken-digits-robust",
        model_toml: include_str!("../../models/spoken-digits-robust/model.toml"),
        weights: include_bytes!("../../models/spoken-digits-robust/model.safetensors"),
    },
    Shipped {
        name: "actions",
        model_toml: include_str!("../../models/actions/model.toml"),
        weights: include_bytes!("../../models/actions/model.safetensors"),
    },
    Shipped {
        name: "silero-vad",
        model_toml: include_str!("../../models/silero-vad/model.toml"),
        weights: include_bytes!("../../models/silero-vad/silero_vad_16k_sequence.onnx"),
    },
];

/// A model's description and files, from a directory or from the binary, before it is built.
pub struct ModelSource {
    /// Where it came from, for reports: the directory, or `shipped:NAME`.
    pub origin: PathBuf,
    pub config: ModelConfig,
    pub files: ModelFiles,
}

impl Shipped {
    /// The shipped model called `name`, if any.
    pub fn find(name: &str) -> Option<&'static Shipped> {
        SHIPPED.iter().find(|s| s.name == name)
    }

    /// Its description and weights.
    pub fn source(&self) -> Result<ModelSource> {
        let origin = format!("shipped model {}", self.name);
        let config = ModelConfig::parse(
            self.model_toml,
            &PathBuf::from(format!("{origin}/model.toml")),
        )?;
        // An ONNX model's file is its graph; the others' is a safetensors file of weights.
        let files = match (&config.onnx, &config.weights) {
            (Some(_), _) => ModelFiles::shipped_graph(self.name, self.weights),
            (None, Some(file)) => ModelFiles::new(
                None,
                Some(Weights::from_safetensors_bytes(
                    &format!("{origin}/{file}"),
                    self.weights,
                )?),
            ),
            (None, None) => ModelFiles::new(None, None),
        };
        Ok(ModelSource {
            origin: PathBuf::from(format!("shipped:{}", self.name)),
            config,
            files,
        })
    }
}

impl ModelSource {
    /// The model directory `dir`: its model.toml and the weights it names.
    pub fn read_dir(dir: &std::path::Path) -> Result<Self> {
        let config = ModelConfig::read(dir)?;
        let weights = match &config.weights {
            Some(file) => Some(Weights::load(&dir.join(file))?),
            None => None,
        };
        Ok(Self {
            origin: dir.to_path_buf(),
            config,
            files: ModelFiles::new(Some(dir.to_path_buf()), weights),
        })
    }

    /// `spec`: a model directory, an ONNX file, or else the name of a shipped model.
    pub fn open(spec: &str) -> Result<Self> {
        let path = PathBuf::from(spec);
        if path.is_dir() {
            return Self::read_dir(&path);
        }
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        {
            let (config, files) = super::onnx::bare_file(&path)?;
            return Ok(Self {
                origin: path,
                config,
                files,
            });
        }
        match Shipped::find(spec) {
            Some(s) => s.source(),
            None => Err(Error::invalid(
                "model",
                format!(
                    "{spec:?} is neither a model directory (a folder with model.toml), an .onnx file, nor a shipped model ({})",
                    names().join(", ")
                ),
            )),
        }
    }
}

/// Names of the shipped models, for error messages and help.
pub fn names() -> Vec<&'static str> {
    SHIPPED.iter().map(|s| s.name).collect()
}
