//! What the package offers besides a model: a defence on its own, a whole evaluation, and the
//! registries' contents.

use crate::arrays::{batch, tensor_array};
use crate::errors::{invalid, to_py};
use crate::model::params_from_json;
use avfoil::defence::{self, DEFENCES};
use avfoil::eval::{Options, Shard};
use avfoil::model::{InputConfig, Modality};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use rand::SeedableRng;
use std::path::PathBuf;

/// Applies the registered defence `name` (parameters as a JSON object) to a batch `x` of
/// `modality` examples (`x.shape[1:]` is one example: `[C, L]` audio at `sample_rate`, or
/// `[3, F, H, W]` video in `[0, 1]`); randomised defences draw from `seed`. The caller's array is
/// never written. `clip` is the range the values live in (`(-32768, 32767)` for int16-scale audio);
/// the codecs read their units from it.
#[pyfunction]
#[pyo3(signature = (name, params, modality, x, sample_rate = None, clip = None, seed = 0))]
#[allow(clippy::too_many_arguments)]
pub fn apply_defence<'py>(
    py: Python<'py>,
    name: &str,
    params: &str,
    modality: &str,
    x: PyReadonlyArrayDyn<'py, f32>,
    sample_rate: Option<u32>,
    clip: Option<(f32, f32)>,
    seed: u64,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let modality = match modality {
        "audio" => Modality::Audio,
        "video" => Modality::Video,
        other => {
            return Err(invalid(
                "modality",
                format!("expected audio or video, got {other:?}"),
            ));
        }
    };
    let dims = x.shape().to_vec();
    if dims.len() < 2 {
        return Err(invalid(
            "x",
            format!("expected a batch [N, ...] of examples, got shape {dims:?}"),
        ));
    }
    let input = InputConfig {
        modality,
        shape: dims[1..].to_vec(),
        clip: clip.map(|(lo, hi)| [lo, hi]),
        sample_rate,
        mean: None,
        std: None,
        sampling: None,
    };
    let mut params = params_from_json(params, name)?;
    let spec = defence::parse(name, &mut params).map_err(to_py)?;
    let stage = spec.build(&input).map_err(to_py)?;
    let device = burn::tensor::Device::flex();
    let (x, dims) = batch(&x, &input.shape, None, &device)?;
    let out = py
        .detach(|| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            stage.forward(x, &mut rng)
        })
        .map_err(to_py)?;
    tensor_array(py, out, &dims)
}

/// Runs (or with `resume`, continues) the scenario at `scenario` into the folder `out`; returns
/// the summary as JSON (what `summary.json` holds).
#[pyfunction]
#[pyo3(signature = (scenario, out, resume = false))]
pub fn evaluate(py: Python<'_>, scenario: PathBuf, out: PathBuf, resume: bool) -> PyResult<String> {
    let options = Options {
        out,
        resume,
        shard: Shard::default(),
    };
    let device = burn::tensor::Device::flex();
    let outcome = py
        .detach(|| avfoil::eval::evaluate(&scenario, &options, &device, &mut |_, _| {}))
        .map_err(to_py)?;
    serde_json::to_string(&outcome.summary).map_err(|e| invalid("summary", e))
}

/// Every registered attack and defence with its parameters (key, default, meaning), as JSON.
#[pyfunction]
pub fn catalog() -> String {
    let params = |ps: &[avfoil::params::Param]| -> Vec<serde_json::Value> {
        ps.iter()
            .map(|p| serde_json::json!({"key": p.key, "default": p.default, "about": p.about}))
            .collect()
    };
    let attacks: Vec<serde_json::Value> = avfoil::attack::ATTACKS
        .all()
        .iter()
        .map(|e| serde_json::json!({"name": e.name, "about": e.about, "params": params(e.params)}))
        .collect();
    let defences: Vec<serde_json::Value> = DEFENCES
        .all()
        .iter()
        .map(|e| serde_json::json!({"name": e.name, "about": e.about, "params": params(e.params)}))
        .collect();
    serde_json::json!({"attacks": attacks, "defences": defences}).to_string()
}
