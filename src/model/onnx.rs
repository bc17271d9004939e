//! The `onnx` family: any ONNX graph, interpreted by `crate::onnx`.
//!
//! ```toml
//! architecture = "onnx"
//! classes = ["non-speech", "speech"]
//! [onnx]
//! file = "silero_vad_16k_sequence.onnx"
//! input = "input"                # the graph input that takes the signal (default: the first)
//! output = "speech_probs"        # the graph output with the scores (default: the first)
//! scores = "sigmoid"             # logits | probabilities | log-probabilities | sigmoid
//! constants = { h = "zeros", c = "zeros" }   # the graph's other inputs
//! framing = { window = 512, context = 64 }   # streaming audio: windows per example
//! [input]
//! modality = "audio"
//! shape = [1, 16000]
//! sample_rate = 16000
//! clip = [-1.0, 1.0]
//! ```

use super::architecture::{Architecture, ModelFiles};
use super::config::{FixedInput, InputConfig, Modality, ModelConfig, OnnxConfig};
use super::network::{CompiledNetwork, Network};
use crate::error::{Error, Result};
use crate::onnx::network::{Binding, Scores};
use crate::onnx::plan::{Constant, Port};
use crate::onnx::value::Ints;
use crate::onnx::{OnnxNetwork, Plan};
use burn::tensor::{Device, Tensor};
use std::path::Path;
use std::sync::Arc;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "onnx",
    about: "any ONNX graph (model.toml [onnx] file = \"model.onnx\"), interpreted on burn",
    needs_weights: false,
    check,
    build,
    export: None,
};

fn check(config: &ModelConfig) -> Result<()> {
    let Some(onnx) = &config.onnx else {
        return Err(Error::invalid(
            "onnx",
            "architecture \"onnx\" needs an [onnx] table naming the graph (file = \"model.onnx\")",
        ));
    };
    if onnx.scores == Scores::Sigmoid && config.classes.len() != 2 {
        return Err(Error::invalid(
            "onnx.scores",
            "\"sigmoid\" scores (one probability) need exactly 2 classes",
        ));
    }
    if let Some(f) = onnx.framing {
        if f.window == 0 {
            return Err(Error::invalid("onnx.framing.window", "must be at least 1"));
        }
        if config.input.modality != Modality::Audio || config.input.shape.first() != Some(&1) {
            return Err(Error::invalid(
                "onnx.framing",
                "framing applies to mono audio models (input.shape = [1, L])",
            ));
        }
    }
    Ok(())
}

fn build(config: &ModelConfig, files: &mut ModelFiles, device: &Device) -> Result<CompiledNetwork> {
    let onnx = config.onnx.as_ref().expect("checked");
    let (path, plan) = match files.graph_bytes() {
        Some((name, bytes)) => (name.into(), Plan::from_bytes(Path::new(name), bytes)?),
        None => {
            let path = match &files.dir {
                Some(dir) => dir.join(&onnx.file),
                None => onnx.file.clone().into(),
            };
            let plan = Plan::read(&path)?;
            (path, plan)
        }
    };
    compile(
        &path,
        Arc::new(plan),
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

/// The graph as a network taking examples of `shape` and giving `classes` scores per frame,
/// checked on a probe example of zeros so that a graph that does not fit fails here, not in an
/// attack.
pub fn compile(
    path: &Path,
    plan: Arc<Plan>,
    onnx: &OnnxConfig,
    shape: &[usize],
    classes: usize,
    device: &Device,
) -> Result<CompiledNetwork> {
    let binding = bind(&plan, onnx, shape)?;
    let eval = OnnxNetwork::new(plan.clone(), binding.clone(), device)?;
    let d: usize = shape.iter().product();
    let width = probe(path, &eval, d, device)?.dims()[1];
    if width == 0 || !width.is_multiple_of(classes) {
        return Err(Error::invalid(
            "classes",
            format!(
                "the graph gives {} scores per example, which is not a multiple of the {classes} \
                 classes model.toml names",
                width / 2usize.pow((onnx.scores == Scores::Sigmoid) as u32)
            ),
        ));
    }
    let grad = OnnxNetwork::new(plan, binding, &device.clone().autodiff())?;
    Ok(CompiledNetwork::from_networks(
        Box::new(GraphNetwork(eval)),
        Box::new(GraphNetwork(grad)),
        device,
    )
    .with_output_frames(width / classes))
}

/// Resolves the model.toml's names against the graph.
fn bind(plan: &Plan, onnx: &OnnxConfig, shape: &[usize]) -> Result<Binding> {
    let input = port(&plan.inputs, onnx.input.as_deref(), "input")?;
    let output = port(&plan.outputs, onnx.output.as_deref(), "output")?;
    for name in onnx.constants.keys() {
        port(&plan.inputs, Some(name), "input")?;
    }
    let mut fixed = Vec::new();
    for (i, p) in plan.inputs.iter().enumerate() {
        if i == input {
            continue;
        }
        let Some(value) = onnx.constants.get(&p.name) else {
            return Err(Error::invalid(
                "onnx.constants",
                format!(
                    "the graph's input {:?} needs a value (a number, or \"zeros\" for a state)",
                    p.name
                ),
            ));
        };
        fixed.push((i, fixed_value(p, value)?));
    }
    let example_shape = match onnx.framing {
        Some(_) => Vec::new(),
        None => example_shape(&plan.inputs[input].shape, shape)?,
    };
    Ok(Binding {
        input,
        example_shape,
        output,
        scores: onnx.scores,
        framing: onnx.framing,
        fixed,
    })
}

/// A fixed input's value in the shape and type the graph declares for it.
fn fixed_value(port: &Port, value: &FixedInput) -> Result<Constant> {
    let key = format!("onnx.constants.{}", port.name);
    let shape: Vec<usize> = port
        .shape
        .iter()
        .map(|d| {
            d.ok_or_else(|| {
                Error::invalid(
                    &key,
                    format!("the graph's shape {:?} has symbolic axes", port.shape),
                )
            })
        })
        .collect::<Result<_>>()?;
    let count: usize = shape.iter().product();
    if count > super::config::MAX_INPUT_ELEMENTS {
        return Err(Error::invalid(
            &key,
            format!("shape {shape:?} is too large"),
        ));
    }
    let v = match value {
        FixedInput::Number(v) => *v,
        FixedInput::Text(t) if t == "zeros" => 0.0,
        FixedInput::Text(t) => {
            return Err(Error::invalid(
                &key,
                format!("expected a number or \"zeros\", got {t:?}"),
            ));
        }
    };
    Ok(if port.is_float() {
        Constant::Float {
            values: vec![v as f32; count],
            shape,
        }
    } else {
        Constant::Int(Ints {
            data: vec![v as i64; count],
            shape,
        })
    })
}

/// A bare `.onnx` file as a model: the first input takes the signal, its axes after the batch
/// axis give the example shape (rank 1 or 2: audio `[C, L]`; rank 4: video `[C, F, H, W]`), the
/// first output holds logits, classes are numbered, nothing is clipped. A graph that needs more
/// (symbolic lengths, probabilities, other inputs, windows) gets a model directory.
pub fn bare_file(path: &Path) -> Result<(ModelConfig, ModelFiles)> {
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
    if plan.inputs.len() > 1 {
        return Err(needs_toml(format!(
            "the graph has {} inputs, which need values",
            plan.inputs.len()
        )));
    }
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
    let flex = Device::flex();
    let binding = Binding {
        input: 0,
        example_shape: example,
        output: 0,
        scores: Scores::Logits,
        framing: None,
        fixed: Vec::new(),
    };
    let network = OnnxNetwork::new(Arc::new(plan), binding, &flex)?;
    let classes = probe(path, &network, shape.iter().product(), &flex)?.dims()[1];
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
            scores: Scores::Logits,
            constants: Default::default(),
            framing: None,
        }),
    };
    let dir = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            ".".into()
        } else {
            p.to_path_buf()
        }
    });
    Ok((config, ModelFiles::new(dir, None)))
}

/// The scores of one example of zeros: where a graph whose shapes do not fit fails, as an error
/// naming the file (burn panics on shapes it cannot combine; the ops check what they can first).
fn probe(path: &Path, network: &OnnxNetwork, d: usize, device: &Device) -> Result<Tensor<2>> {
    crate::error::no_panic(path, "ONNX graph", || {
        network.run(Tensor::zeros([1, d], device))
    })?
}

/// Which of `ports` the model uses: the one named, else the first.
fn port(ports: &[Port], wanted: Option<&str>, what: &str) -> Result<usize> {
    match wanted {
        None if !ports.is_empty() => Ok(0),
        None => Err(Error::invalid("onnx", format!("the graph has no {what}"))),
        Some(w) => ports.iter().position(|p| p.name == w).ok_or_else(|| {
            let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
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
