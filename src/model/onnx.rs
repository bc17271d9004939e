//! The `onnx` family: any ONNX graph, interpreted by `crate::onnx`.
//!
//! ```toml
//! architecture = "onnx"
//! classes = ["yes", "no", "up", "down"]
//! [onnx]
//! file = "kws.onnx"
//! scores = "logits"        # or "probabilities", "log-probabilities"
//! [input]
//! modality = "audio"
//! shape = [1, 16000]
//! sample_rate = 16000
//! clip = [-1.0, 1.0]
//! ```

use super::architecture::{Architecture, ModelFiles};
use super::config::{InputConfig, Modality, ModelConfig, OnnxConfig};
use super::network::{CompiledNetwork, Network};
use super::shipped::ModelSource;
use crate::error::{Error, Result};
use crate::onnx::{OnnxNetwork, Plan};
use burn::tensor::{Device, Tensor};
use std::sync::Arc;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "onnx",
    about: "any ONNX graph (model.toml [onnx] file = \"model.onnx\"), interpreted on burn",
    needs_weights: false,
    check,
    build,
};

fn check(config: &ModelConfig) -> Result<()> {
    if config.onnx.is_none() {
        return Err(Error::invalid(
            "onnx",
            "architecture \"onnx\" needs an [onnx] table naming the graph (file = \"model.onnx\")",
        ));
    }
    Ok(())
}

fn build(config: &ModelConfig, files: &mut ModelFiles, device: &Device) -> Result<CompiledNetwork> {
    let onnx = config.onnx.as_ref().expect("checked");
    let path = match &files.dir {
        Some(dir) => dir.join(&onnx.file),
        None => onnx.file.clone().into(),
    };
    let plan = Arc::new(Plan::read(&path)?);
    compile(
        &path,
        plan,
        onnx,
        &config.input.shape,
        config.classes.len(),
        device,
    )
    .map_err(|e| match e {
        // Errors of the graph's shapes and values name the file; the rest already do.
        Error::InvalidArgument { .. } => Error::decode(&path, e.to_string()),
        other => other,
    })
}

/// The graph as a network taking examples of `shape` and giving `classes` scores, checked on a
/// probe batch of zeros so that a graph that does not fit fails here, not in an attack.
pub fn compile(
    path: &std::path::Path,
    plan: Arc<Plan>,
    onnx: &OnnxConfig,
    shape: &[usize],
    classes: usize,
    device: &Device,
) -> Result<CompiledNetwork> {
    let input = port(
        &plan
            .inputs
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>(),
        onnx.input.as_deref(),
        "input",
    )?;
    let output = port(
        &plan
            .outputs
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>(),
        onnx.output.as_deref(),
        "output",
    )?;
    if plan.input_slots.len() > 1 {
        return Err(Error::Unsupported(format!(
            "the graph has {} inputs ({}); avfoil feeds graphs with one input",
            plan.input_slots.len(),
            plan.inputs
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let example = example_shape(&plan.inputs[input].shape, shape)?;
    let eval = OnnxNetwork::new(
        plan.clone(),
        input,
        example.clone(),
        output,
        onnx.scores,
        device,
    )?;
    let d: usize = shape.iter().product();
    let probe = probe(path, &eval, d, device)?;
    if probe.dims()[1] != classes {
        return Err(Error::invalid(
            "classes",
            format!(
                "the graph gives {} scores per example, model.toml names {classes} classes",
                probe.dims()[1]
            ),
        ));
    }
    let grad = OnnxNetwork::new(
        plan,
        input,
        example,
        output,
        onnx.scores,
        &device.clone().autodiff(),
    )?;
    Ok(CompiledNetwork::from_networks(
        Box::new(GraphNetwork(eval)),
        Box::new(GraphNetwork(grad)),
        device,
    ))
}

/// A bare `.onnx` file as a model: the first input takes the signal, its axes after the batch
/// axis give the example shape (rank 1 or 2: audio `[C, L]`; rank 4: video `[C, F, H, W]`), the
/// first output holds logits, classes are numbered, nothing is clipped. A graph that needs more
/// (symbolic lengths, probabilities, a sample rate) gets a model directory with a model.toml.
pub fn bare_file(path: &std::path::Path) -> Result<ModelSource> {
    let plan = Plan::read(path)?;
    let needs_toml = |why: String| {
        Error::invalid(
            "model",
            format!(
                "{}: {why}; describe it in a model directory (model.toml with architecture = \
                 \"onnx\", see docs/onnx.md)",
                path.display()
            ),
        )
    };
    let Some(first) = plan.inputs.first() else {
        return Err(needs_toml("the graph has no input".into()));
    };
    let Some(example) = first
        .shape
        .get(1..)
        .and_then(|rest| rest.iter().copied().collect::<Option<Vec<usize>>>())
    else {
        return Err(needs_toml(format!(
            "input {:?} has symbolic axes after the batch axis ({:?})",
            first.name, first.shape
        )));
    };
    let values = example.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if values.is_none_or(|v| v == 0 || v > super::config::MAX_INPUT_ELEMENTS) {
        return Err(needs_toml(format!(
            "its input {:?} holds no values or more than {} per example",
            first.shape,
            super::config::MAX_INPUT_ELEMENTS
        )));
    }
    let (modality, shape) = match example.as_slice() {
        [l] => (Modality::Audio, vec![1, *l]),
        [_, _] => (Modality::Audio, example.clone()),
        [_, _, _, _] => (Modality::Video, example.clone()),
        other => {
            return Err(needs_toml(format!(
                "its input has {} axes after the batch axis ({other:?}); avfoil takes audio \
                 [C, L] and video [C, F, H, W]",
                other.len()
            )));
        }
    };
    let probe = OnnxNetwork::new(
        Arc::new(plan),
        0,
        example,
        0,
        Default::default(),
        &Device::flex(),
    )?;
    let classes = probe
        .run(Tensor::zeros(
            [1, shape.iter().product::<usize>()],
            &Device::flex(),
        ))?
        .dims()[1];
    if classes < 2 {
        return Err(needs_toml(format!(
            "its first output holds {classes} score per example"
        )));
    }
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let config = ModelConfig {
        architecture: "onnx".into(),
        classes: (0..classes).map(|k| k.to_string()).collect(),
        weights: None,
        input: InputConfig {
            modality,
            shape,
            clip: None,
            sample_rate: None,
            mean: None,
            std: None,
            sampling: None,
        },
        onnx: Some(OnnxConfig {
            file,
            input: None,
            output: None,
            scores: Default::default(),
        }),
    };
    let dir = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            ".".into()
        } else {
            p.to_path_buf()
        }
    });
    Ok(ModelSource {
        origin: path.to_path_buf(),
        config,
        files: ModelFiles::new(dir, None),
    })
}

/// The scores of one example of zeros: where a graph whose shapes do not fit fails, as an error
/// naming the file (burn panics on shapes it cannot combine; the ops check what they can first).
fn probe(
    path: &std::path::Path,
    network: &OnnxNetwork,
    d: usize,
    device: &Device,
) -> Result<Tensor<2>> {
    crate::error::no_panic(path, "ONNX graph", || {
        network.run(Tensor::zeros([1, d], device))
    })?
}

/// Which of `names` the model uses: the one named, else the first.
fn port(names: &[String], wanted: Option<&str>, what: &str) -> Result<usize> {
    match wanted {
        None if !names.is_empty() => Ok(0),
        None => Err(Error::invalid("onnx", format!("the graph has no {what}"))),
        Some(w) => names.iter().position(|n| n == w).ok_or_else(|| {
            Error::invalid(
                format!("onnx.{what}"),
                format!(
                    "the graph has no {what} {w:?} (it has: {})",
                    names.join(", ")
                ),
            )
        }),
    }
}

/// The graph's input shape without its batch axis, where model.toml's `shape` (same number of
/// values) fills any symbolic axis.
fn example_shape(graph: &[Option<usize>], configured: &[usize]) -> Result<Vec<usize>> {
    let Some((_, rest)) = graph.split_first() else {
        return Err(Error::invalid(
            "onnx",
            "the graph's input is a scalar; expected a batch",
        ));
    };
    let count: usize = configured.iter().product();
    match rest.iter().copied().collect::<Option<Vec<usize>>>() {
        Some(dims) if dims.iter().product::<usize>() == count => Ok(dims),
        Some(dims) => Err(Error::invalid(
            "input.shape",
            format!(
                "{configured:?} does not fit the graph's input {dims:?} (after the batch axis)"
            ),
        )),
        // Symbolic axes (a waveform of any length): the configured shape decides.
        None => Ok(configured.to_vec()),
    }
}

/// [`OnnxNetwork`] as a network; errors on later batches were ruled out by the probe.
struct GraphNetwork(OnnxNetwork);

impl Network for GraphNetwork {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.0.run(x).unwrap_or_else(|e| {
            panic!("the ONNX graph failed on a batch of the shape it accepted: {e}")
        })
    }
}
