//! Models shipped inside the binary, so `--model spoken-digits` works from any folder and after
//! `cargo install`. Each is an ordinary model directory under `models/`, embedded at compile time.

use super::{Model, ModelConfig, Weights, build_classifier};
use crate::error::{Error, Result};
use burn::tensor::Device;
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
        name: "actions",
        model_toml: include_str!("../../models/actions/model.toml"),
        weights: include_bytes!("../../models/actions/model.safetensors"),
    },
];

impl Shipped {
    /// The shipped model called `name`, if any.
    pub fn find(name: &str) -> Option<&'static Shipped> {
        SHIPPED.iter().find(|s| s.name == name)
    }

    /// Loads it onto `device`.
    pub fn load(&self, device: &Device) -> Result<Model> {
        let origin = format!("shipped model {}", self.name);
        let config = ModelConfig::parse(
            self.model_toml,
            &PathBuf::from(format!("{origin}/model.toml")),
        )?;
        let mut weights =
            Weights::from_safetensors_bytes(&format!("{origin}/{}", config.weights), self.weights)?;
        let classifier = build_classifier(&config, &mut weights, device)?;
        weights.finish()?;
        Ok(Model {
            dir: PathBuf::from(format!("shipped:{}", self.name)),
            config,
            classifier,
        })
    }
}

/// Names of the shipped models, for error messages and help.
pub fn names() -> Vec<&'static str> {
    SHIPPED.iter().map(|s| s.name).collect()
}

/// Loads `spec`: a model directory, or else the name of a shipped model.
pub fn open(spec: &str, device: &Device) -> Result<Model> {
    let path = PathBuf::from(spec);
    if path.is_dir() {
        return Model::load(&path, device);
    }
    match Shipped::find(spec) {
        Some(s) => s.load(device),
        None => Err(Error::invalid(
            "model",
            format!(
                "{spec:?} is neither a model directory (a folder with model.toml) nor a shipped model ({})",
                names().join(", ")
            ),
        )),
    }
}
