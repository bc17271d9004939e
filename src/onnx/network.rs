//! An ONNX graph bound to a device, as a network takes it (`crate::model::onnx` makes it one):
//! flattened inputs `[N, d]` reshaped to the graph's input, the
//! graph interpreted step by step, the scores output flattened to `[N, K]` and turned into
//! log-scores when the graph ends in probabilities, so that every loss is computed correctly.

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
}

/// A graph bound to a device: its constants uploaded once.
pub struct OnnxNetwork {
    plan: Arc<Plan>,
    constants: Vec<(usize, Value)>,
    /// Which graph input takes the signal, and its shape after the batch axis.
    input: usize,
    example_shape: Vec<usize>,
    /// Which graph output holds the scores.
    output: usize,
    scores: Scores,
    device: Device,
}

/// Probabilities are floored here before the logarithm, so a probability of 0 gives a large
/// finite log-score (and a gradient) instead of -inf.
const MIN_PROBABILITY: f32 = 1e-12;

impl OnnxNetwork {
    /// `plan` on `device`; `example_shape` is one example of input `input` (the graph's shape
    /// without its batch axis, or the model.toml's shape with the same number of values).
    pub fn new(
        plan: Arc<Plan>,
        input: usize,
        example_shape: Vec<usize>,
        output: usize,
        scores: Scores,
        device: &Device,
    ) -> Result<Self> {
        if input >= plan.input_slots.len() || output >= plan.output_slots.len() {
            return Err(Error::invalid(
                "onnx",
                format!(
                    "the graph has {} inputs and {} outputs; input {input} and output {output} \
                     were asked for",
                    plan.input_slots.len(),
                    plan.output_slots.len()
                ),
            ));
        }
        let constants = plan
            .constants
            .iter()
            .map(|(slot, c)| {
                let value = match c {
                    Constant::Float { values, shape } => {
                        Value::Float(Float::from_host(values.clone(), shape, device)?)
                    }
                    Constant::Int(i) => Value::Int(i.clone()),
                };
                Ok((*slot, value))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            plan,
            constants,
            input,
            example_shape,
            output,
            scores,
            device: device.clone(),
        })
    }

    /// Runs the graph on `x` (`[N, d]`): the scores `[N, K]`.
    pub fn run(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let [n, _] = x.dims();
        let mut shape = vec![n];
        shape.extend_from_slice(&self.example_shape);
        let mut slots: Vec<Option<Value>> = vec![None; self.plan.slot_count];
        for (slot, value) in &self.constants {
            slots[*slot] = Some(value.clone());
        }
        slots[self.plan.input_slots[self.input]] =
            Some(Value::Float(Float::new(x).reshape(&shape)?));
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
        let out_slot = self.plan.output_slots[self.output];
        let scores = slots[out_slot]
            .take()
            .ok_or_else(|| Error::invalid("onnx", "the graph did not compute its output"))?;
        let scores = scores.float("the scores output")?;
        let count: usize = scores.dims().iter().product();
        if n == 0 || !count.is_multiple_of(n) {
            return Err(Error::invalid(
                "onnx",
                format!("scores of shape {:?} for a batch of {n}", scores.dims()),
            ));
        }
        let y = scores.reshape(&[n, count / n])?.get::<2>("scores")?;
        Ok(match self.scores {
            Scores::Logits | Scores::LogProbabilities => y,
            Scores::Probabilities => y.clamp_min(MIN_PROBABILITY).log(),
        })
    }
}
