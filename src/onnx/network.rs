//! An ONNX graph bound to a device, as a network takes it (`crate::model::onnx` makes it one):
//! flattened inputs `[N, d]` reshaped to the graph's signal input (or cut into the windows a
//! streaming model takes), the other inputs held at fixed values, the graph interpreted step by
//! step, and the scores output turned into log-scores `[N, F·K]` whatever the graph ends in, so
//! that every loss is computed correctly.

use super::ops::{Inputs, eval};
use super::plan::{Constant, Plan};
use super::value::{Float, Value};
use crate::error::{Error, Result};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the graph's scores output holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scores {
    /// Unnormalised log-scores (what a classifier's last linear layer gives).
    #[default]
    Logits,
    /// A softmax output: log-scores are their logarithms.
    Probabilities,
    /// A log-softmax output, used as it is.
    LogProbabilities,
    /// One probability per score vector, of the second of two classes (a sigmoid output):
    /// log-scores `[ln(1 - p), ln p]`.
    Sigmoid,
}

impl Scores {
    /// Values the graph gives per score vector of `classes`.
    pub fn values_per_vector(self, classes: usize) -> usize {
        match self {
            Scores::Sigmoid => 1,
            _ => classes,
        }
    }
}

/// How a streaming audio model takes a waveform: as a batch of windows of `window` new samples,
/// each preceded by the `context` samples before it (zeros before the first), the last window
/// zero-padded. The windows of one example form the graph's batch axis (its time axis, for a
/// recurrent model), so each example is a separate run of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framing {
    pub window: usize,
    #[serde(default)]
    pub context: usize,
}

impl Framing {
    /// Windows of a waveform of `samples` samples.
    pub fn windows(self, samples: usize) -> usize {
        samples.div_ceil(self.window.max(1))
    }

    /// The windows `[F, context + window]` of one waveform `[L]`, built from slices of it so that
    /// gradients flow back to every sample.
    fn cut(self, wave: Tensor<1>) -> Tensor<2> {
        let [len] = wave.dims();
        let frames = self.windows(len);
        let device = wave.device();
        let tail = frames * self.window - len;
        let mut parts = Vec::with_capacity(3);
        if self.context > 0 {
            parts.push(Tensor::zeros([self.context], &device));
        }
        parts.push(wave);
        if tail > 0 {
            parts.push(Tensor::zeros([tail], &device));
        }
        let padded = Tensor::cat(parts, 0);
        let span = self.context + self.window;
        let rows: Vec<Tensor<1>> = (0..frames)
            .map(|k| padded.clone().narrow(0, k * self.window, span))
            .collect();
        Tensor::stack(rows, 0)
    }
}

/// How the graph meets the classifier: which input takes the signal and in what shape, which
/// output holds the scores and what they are, and fixed values for the other inputs.
#[derive(Clone, Debug)]
pub struct Binding {
    /// Index of the graph input that takes the signal.
    pub input: usize,
    /// One example's shape as the graph takes it (after the batch axis); unused with framing.
    pub example_shape: Vec<usize>,
    /// Index of the graph output that holds the scores.
    pub output: usize,
    pub scores: Scores,
    pub framing: Option<Framing>,
    /// (graph input index, value) for every other input.
    pub fixed: Vec<(usize, Constant)>,
}

/// A graph bound to a device: its constants uploaded once.
pub struct OnnxNetwork {
    plan: Arc<Plan>,
    binding: Binding,
    /// Slots filled before every run: the graph's constants and the fixed inputs.
    constants: Vec<(usize, Value)>,
    device: Device,
}

/// Probabilities are floored here before the logarithm, so a probability of 0 gives a large
/// finite log-score (and a gradient) instead of -inf.
const MIN_PROBABILITY: f32 = 1e-12;

fn upload(c: &Constant, device: &Device) -> Result<Value> {
    Ok(match c {
        Constant::Float { values, shape } => {
            Value::Float(Float::from_host(values.clone(), shape, device)?)
        }
        Constant::Int(i) => Value::Int(i.clone()),
    })
}

impl OnnxNetwork {
    pub fn new(plan: Arc<Plan>, binding: Binding, device: &Device) -> Result<Self> {
        let (inputs, outputs) = (plan.input_slots.len(), plan.output_slots.len());
        let bad_index = binding.input >= inputs
            || binding.output >= outputs
            || binding.fixed.iter().any(|(i, _)| *i >= inputs);
        if bad_index {
            return Err(Error::invalid(
                "onnx",
                format!("the graph has {inputs} inputs and {outputs} outputs"),
            ));
        }
        let mut constants = plan
            .constants
            .iter()
            .map(|(slot, c)| Ok((*slot, upload(c, device)?)))
            .collect::<Result<Vec<_>>>()?;
        for (i, c) in &binding.fixed {
            constants.push((plan.input_slots[*i], upload(c, device)?));
        }
        Ok(Self {
            plan,
            binding,
            constants,
            device: device.clone(),
        })
    }

    /// Runs the graph on `x` (`[N, d]`): log-scores `[N, F·K]`.
    pub fn run(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let [n, d] = x.dims();
        match self.binding.framing {
            None => {
                let mut shape = vec![n];
                shape.extend_from_slice(&self.binding.example_shape);
                let scores = self.graph(Float::new(x).reshape(&shape)?)?;
                self.log_scores(scores, n)
            }
            Some(framing) => {
                let rows = (0..n)
                    .map(|i| {
                        let wave = x.clone().narrow(0, i, 1).reshape([d]);
                        let scores = self.graph(Float::new(framing.cut(wave)))?;
                        self.log_scores(scores, 1)
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Tensor::cat(rows, 0))
            }
        }
    }

    /// One run of the graph with `signal` in the signal input: the scores output.
    fn graph(&self, signal: Float) -> Result<Float> {
        let mut slots: Vec<Option<Value>> = vec![None; self.plan.slot_count];
        for (slot, value) in &self.constants {
            slots[*slot] = Some(value.clone());
        }
        slots[self.plan.input_slots[self.binding.input]] = Some(Value::Float(signal));
        for step in &self.plan.steps {
            let inputs = Inputs {
                device: &self.device,
                name: &step.name,
                values: step
                    .inputs
                    .iter()
                    .map(|s| s.and_then(|s| slots[s].as_ref()))
                    .collect(),
            };
            let outputs = eval(&step.op, &inputs, step.outputs.len())?;
            for (slot, value) in step.outputs.iter().zip(outputs) {
                slots[*slot] = Some(value);
            }
            for &slot in &step.release {
                slots[slot] = None;
            }
        }
        let out_slot = self.plan.output_slots[self.binding.output];
        match slots[out_slot].take() {
            Some(Value::Float(f)) => Ok(f),
            Some(Value::Int(_)) => Err(Error::invalid("onnx", "the scores output is an integer")),
            None => Err(Error::invalid(
                "onnx",
                "the graph did not compute its output",
            )),
        }
    }

    /// The scores of `n` examples as log-scores `[n, F·K]`.
    fn log_scores(&self, scores: Float, n: usize) -> Result<Tensor<2>> {
        let count: usize = scores.dims().iter().product();
        if n == 0 || !count.is_multiple_of(n) {
            return Err(Error::invalid(
                "onnx",
                format!("scores of shape {:?} for a batch of {n}", scores.dims()),
            ));
        }
        let y = scores.reshape(&[n, count / n])?.get::<2>("scores")?;
        Ok(match self.binding.scores {
            Scores::Logits | Scores::LogProbabilities => y,
            Scores::Probabilities => y.clamp_min(MIN_PROBABILITY).log(),
            Scores::Sigmoid => {
                let p = y.clamp(MIN_PROBABILITY, 1.0 - 1e-7);
                let pair =
                    Tensor::stack::<3>(vec![p.clone().neg().add_scalar(1.0).log(), p.log()], 2);
                let [_, f, _] = pair.dims();
                pair.reshape([n, f * 2])
            }
        })
    }
}
