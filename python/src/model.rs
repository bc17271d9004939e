//! `avfoil._native.Model`: a loaded model, possibly behind defences, with what an ART estimator
//! offers (predict, loss and class gradients) and the attacks of the registry.

use crate::arrays::{array, batch, tensor_array};
use crate::errors::{invalid, to_py};
use crate::interrupt::run_detached;
use avfoil::attack::spec::{self, RunSettings};
use avfoil::attack::{Eps, Mask};
use avfoil::classifier::{Classifier, Defended, Eot, Model};
use avfoil::defence::{self, DefenceChain};
use avfoil::input::MediaInput;
use avfoil::model::Modality;
use avfoil::model::shipped::ModelSource;
use avfoil::params::{KeyStyle, Params};
use burn::tensor::{Device, Tensor};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

/// A model, and the defences in front of it.
#[pyclass(frozen, name = "Model", module = "avfoil._native")]
pub struct PyModel {
    model: Arc<Model>,
    /// The defences, kept to build a fresh chain for each attack (its random streams start at the
    /// attack's seed, as on the command line).
    chain: Option<Arc<DefenceChain>>,
    /// What `predict` and the gradients go through: the model, or the model behind the chain with
    /// random draws from `seed`, its streams advancing with every pass (as ART's would).
    classifier: Arc<dyn Classifier>,
}

/// Parameters given as a JSON object, for a registry entry to read.
pub fn params_from_json(json: &str, what: &str) -> PyResult<Params> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| invalid(what, format!("not JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(invalid(
            what,
            "expected a mapping of parameter names to values",
        ));
    };
    let mut params = Params::new(KeyStyle::Table);
    for (key, value) in map {
        let value = toml::Value::try_from(&value)
            .map_err(|e| invalid(&key, format!("{value} is not a parameter value: {e}")))?;
        params.insert(&key, value);
    }
    Ok(params)
}

/// The defence chain a JSON list `[{"name": ..., "params": {...}}, ...]` describes.
fn chain_from_json(json: &str) -> PyResult<Option<DefenceChain>> {
    let stages: Vec<serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| invalid("preprocessing_defences", format!("not a JSON list: {e}")))?;
    if stages.is_empty() {
        return Ok(None);
    }
    let mut specs = Vec::with_capacity(stages.len());
    for stage in stages {
        let name = stage["name"]
            .as_str()
            .ok_or_else(|| invalid("preprocessing_defences", "a defence without a name"))?;
        let params = stage.get("params").cloned().unwrap_or_default();
        let mut params = params_from_json(&params.to_string(), name)?;
        specs.push(defence::parse(name, &mut params).map_err(to_py)?);
    }
    DefenceChain::new(None, specs).map(Some).map_err(to_py)
}

/// `model` behind `chain`, random draws from `seed`.
fn defended(model: &Model, chain: &DefenceChain, seed: u64) -> PyResult<Arc<dyn Classifier>> {
    let stages = chain.build(&model.config.input).map_err(to_py)?;
    Ok(Arc::new(
        Defended::new(model.classifier.clone(), stages).with_seed(seed),
    ))
}

/// `[1, L]` and `[3, F, H, W]` as the tuple `x.shape[1:]` has to equal.
fn shape_of(model: &Model) -> &[usize] {
    &model.config.input.shape
}

/// Overrides of a model's `[input]` and classes, for a bare ONNX file that cannot say them.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Overrides {
    clip_values: Option<[f32; 2]>,
    class_names: Option<Vec<String>>,
    sample_rate: Option<u32>,
    modality: Option<String>,
}

fn apply_overrides(source: &mut ModelSource, json: &str) -> PyResult<()> {
    let o: Overrides =
        serde_json::from_str(json).map_err(|e| invalid("model options", e.to_string()))?;
    let input = &mut source.config.input;
    if let Some([lo, hi]) = o.clip_values {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(invalid(
                "clip_values",
                format!("expected (min, max) with min < max, got ({lo}, {hi})"),
            ));
        }
        input.clip = Some([lo, hi]);
    }
    if let Some(rate) = o.sample_rate {
        input.sample_rate = Some(rate);
    }
    if let Some(m) = o.modality {
        input.modality = match m.as_str() {
            "audio" => Modality::Audio,
            "video" => Modality::Video,
            other => {
                return Err(invalid(
                    "modality",
                    format!("expected audio or video, got {other:?}"),
                ));
            }
        };
    }
    if let Some(names) = o.class_names {
        if names.len() != source.config.classes.len() {
            return Err(invalid(
                "class_names",
                format!(
                    "the model has {} classes, {} names given",
                    source.config.classes.len(),
                    names.len()
                ),
            ));
        }
        source.config.classes = names;
    }
    Ok(())
}

impl PyModel {
    /// `x` as a batch of this model's examples (shape and input range checked).
    fn batch_of(&self, x: &PyReadonlyArrayDyn<'_, f32>) -> PyResult<(Tensor<2>, Vec<usize>)> {
        batch(
            x,
            shape_of(&self.model),
            self.classifier.clip(),
            self.classifier.device(),
        )
    }
}

#[pymethods]
impl PyModel {
    /// Loads `spec`: a model directory, an `.onnx` file or a shipped model's name; `options` (JSON)
    /// overrides what a bare ONNX file cannot say (`clip_values`, `class_names`, `sample_rate`,
    /// `modality`).
    #[staticmethod]
    #[pyo3(signature = (spec, options = "{}", device = "cpu"))]
    fn open(py: Python<'_>, spec: &str, options: &str, device: &str) -> PyResult<Self> {
        let device: Device = avfoil::device::parse_device(device).map_err(to_py)?;
        let mut source = ModelSource::open(spec).map_err(to_py)?;
        apply_overrides(&mut source, options)?;
        let model = py.detach(|| Model::build(source, &device)).map_err(to_py)?;
        let classifier = model.classifier.clone();
        Ok(Self {
            model: Arc::new(model),
            chain: None,
            classifier,
        })
    }

    /// The same model behind the defences of `defences` (a JSON list of `{"name", "params"}`),
    /// randomised ones drawing from `seed`.
    fn with_defences(&self, defences: &str, seed: u64) -> PyResult<Self> {
        let chain = chain_from_json(defences)?;
        let classifier = match &chain {
            Some(c) => defended(&self.model, c, seed)?,
            None => self.model.classifier.clone(),
        };
        Ok(Self {
            model: self.model.clone(),
            chain: chain.map(Arc::new),
            classifier,
        })
    }

    #[getter]
    fn nb_classes(&self) -> usize {
        self.model.config.classes.len()
    }
    #[getter]
    fn input_shape(&self) -> Vec<usize> {
        shape_of(&self.model).to_vec()
    }
    #[getter]
    fn clip_values(&self) -> Option<(f32, f32)> {
        self.model.config.input.clip_range()
    }
    #[getter]
    fn class_names(&self) -> Vec<String> {
        self.model.config.classes.clone()
    }
    #[getter]
    fn modality(&self) -> &'static str {
        self.model.config.input.modality.name()
    }
    #[getter]
    fn sample_rate(&self) -> Option<u32> {
        self.model.config.input.sample_rate
    }
    #[getter]
    fn source(&self) -> String {
        self.model.dir.display().to_string()
    }
    #[getter]
    fn defences(&self) -> Vec<String> {
        self.chain
            .as_ref()
            .map(|c| c.stages.iter().map(|s| s.name().to_string()).collect())
            .unwrap_or_default()
    }
    /// Whether a defence in front draws fresh randomness on every pass.
    #[getter]
    fn randomised(&self) -> bool {
        self.chain.as_ref().is_some_and(|c| c.randomised())
    }

    /// Logits `[N, K]` of a batch, `batch_size` examples per pass, through the defences.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        batch_size: usize,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let (x, dims) = self.batch_of(&x)?;
        let k = self.nb_classes();
        let logits = run_detached(py, self.classifier.as_ref(), |c| {
            c.predict(&x, batch_size.max(1))
        })?;
        tensor_array(py, logits, &[dims[0], k])
    }

    /// Gradient of each example's cross-entropy against `labels[i]`, shaped like `x`.
    fn loss_gradient<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        labels: Vec<usize>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let (x, dims) = self.batch_of(&x)?;
        let g = run_detached(py, self.classifier.as_ref(), |c| {
            c.loss_gradient(x, &labels)
        })?;
        tensor_array(py, g, &dims)
    }

    /// Gradient of logit `classes[i]` of each example, shaped like `x`.
    fn class_gradient<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        classes: Vec<usize>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let (x, dims) = self.batch_of(&x)?;
        let g = run_detached(py, self.classifier.as_ref(), |c| {
            c.class_gradient(x, &classes)
        })?;
        tensor_array(py, g, &dims)
    }

    /// A WAV file (audio models: resampled, centred, padded or cropped) or a video file or folder
    /// of frames (video models: sampled, resized, cropped) as one example, as the CLI reads it.
    fn load_input<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let input = &self.model.config.input;
        let values = py.detach(|| input.load_file(&path)).map_err(to_py)?;
        array(py, values, &input.shape)
    }

    /// Runs the registered attack `name` (parameters as a JSON object) on the batch `x` and returns
    /// the adversarial batch, the attack's parameters as JSON and, for an attack that fits one
    /// perturbation to the batch (universal), that perturbation and its fit as JSON. As `avfoil attack`: the defences are built afresh with
    /// their random streams seeded by `seed`, and with `eot > 1` every gradient averages as many
    /// draws of them.
    #[pyo3(signature = (name, params, eps, targeted, seed, batch_size, x, labels = None, mask = None, eot = 1))]
    #[allow(clippy::too_many_arguments)]
    fn generate<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        params: &str,
        eps: Vec<f32>,
        targeted: bool,
        seed: u64,
        batch_size: usize,
        x: PyReadonlyArrayDyn<'py, f32>,
        labels: Option<Vec<usize>>,
        mask: Option<PyReadonlyArrayDyn<'py, f32>>,
        eot: usize,
    ) -> PyResult<GenerateOutput<'py>> {
        let shape = shape_of(&self.model).to_vec();
        let (x, dims) = self.batch_of(&x)?;
        let n = dims[0];
        let mask = mask.map(|m| mask_of(&m, &shape, n)).transpose()?;
        let run = RunSettings {
            eps: match eps.as_slice() {
                [one] => Eps::Scalar(*one),
                _ => Eps::PerExample(eps),
            },
            targeted,
            seed,
            batch_size: batch_size.max(1),
            streams: None,
        };
        let mut params = params_from_json(params, name)?;
        let target: Arc<dyn Classifier> = match &self.chain {
            Some(c) => defended(&self.model, c, seed)?,
            None => self.model.classifier.clone(),
        };
        if eot > 1 && !self.randomised() {
            return Err(invalid(
                "eot",
                "no randomised defence in front of the model; every draw would give the same gradient",
            ));
        }
        let randomised = self.randomised();
        // Built inside the detached run: attacks need not be shareable between threads.
        let (adversarial, info, fit) = run_detached(py, target.as_ref(), |c| {
            let attack = spec::parse(name, &mut params)?.build(&run)?;
            // `avfoil attack` predicts the clean batch first; a randomised defence then starts the
            // attack on the same stream, so the two give the same array.
            if randomised {
                c.predict(&x, run.batch_size)?;
            }
            let eot_view;
            let attacked: &dyn Classifier = if eot > 1 {
                eot_view = Eot::new(c, eot)?;
                &eot_view
            } else {
                c
            };
            let adversarial = attack
                .generate(attacked, &x, labels.as_deref(), mask.as_ref())?
                .adversarial;
            let mut info = attack.params();
            info["name"] = serde_json::json!(attack.name());
            let fit = attack
                .fitted()
                .map(|f| (f.perturbation, f.report.to_string()));
            Ok((adversarial, info, fit))
        })?;
        let fit = fit
            .map(|(v, json)| Ok::<_, PyErr>((array(py, v, &shape)?, json)))
            .transpose()?;
        Ok((tensor_array(py, adversarial, &dims)?, info.to_string(), fit))
    }
}

/// The adversarial batch, the attack's parameters (JSON) and a fitting attack's perturbation and
/// fit (JSON).
type GenerateOutput<'py> = (
    Bound<'py, PyArrayDyn<f32>>,
    String,
    Option<(Bound<'py, PyArrayDyn<f32>>, String)>,
);

/// A mask of one example's shape or the batch's.
fn mask_of(m: &PyReadonlyArrayDyn<'_, f32>, shape: &[usize], n: usize) -> PyResult<Mask> {
    let dims = m.shape();
    let batch_shape: Vec<usize> = std::iter::once(n).chain(shape.iter().copied()).collect();
    if dims != shape && dims != batch_shape.as_slice() {
        return Err(invalid(
            "mask",
            format!(
                "shape {dims:?} matches neither one example {shape:?} nor the batch {batch_shape:?}"
            ),
        ));
    }
    let values = m
        .as_slice()
        .map_err(|_| invalid("mask", "must be C-contiguous"))?;
    Mask::new(values.to_vec()).map_err(to_py)
}
