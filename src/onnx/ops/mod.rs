//! Evaluation of each [`Op`] on [`Value`]s, one file per family of ops. Float ops are burn tensor
//! ops, so burn's autodiff differentiates every one of them.

mod conv;
mod einsum;
mod elementwise;
mod linear;
mod norm;
mod pool;
mod reduce;
mod resize;
mod sequence;
mod shape;
mod slicing;
mod spectral;

use super::op::Op;
use super::value::{Float, Ints, Value};
use crate::error::{Error, Result};

/// The most values one op may produce per example (1 GiB of float32).
pub const MAX_EXAMPLE_VALUES: usize = 1 << 28;

/// The inputs of one node, with the node's name for errors.
pub(crate) struct Inputs<'a> {
    pub name: &'a str,
    pub values: Vec<Option<&'a Value>>,
    /// Where new tensors go (ops whose inputs are all integers create float tensors).
    pub device: &'a burn::tensor::Device,
}

impl Inputs<'_> {
    pub fn get(&self, i: usize) -> Result<&Value> {
        self.values
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| self.error(format!("input {i} is missing")))
    }

    pub fn float(&self, i: usize) -> Result<&Float> {
        self.get(i)?.float(self.name)
    }

    pub fn ints(&self, i: usize) -> Result<&Ints> {
        self.get(i)?.ints(self.name)
    }

    pub fn optional_float(&self, i: usize) -> Result<Option<&Float>> {
        match self.values.get(i).copied().flatten() {
            Some(v) => v.float(self.name).map(Some),
            None => Ok(None),
        }
    }

    /// Refuses an output of more than [`MAX_EXAMPLE_VALUES`] values per example, before it is
    /// allocated: sizes that come from attributes (pads, strides) are bounded like sizes from
    /// headers.
    pub fn check_output(&self, batch: usize, dims: &[usize]) -> Result<()> {
        let values = dims
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .map(|n| n / batch.max(1));
        match values {
            Some(v) if v <= MAX_EXAMPLE_VALUES => Ok(()),
            _ => Err(self.error(format!(
                "its output {dims:?} would hold more than {MAX_EXAMPLE_VALUES} values per example"
            ))),
        }
    }

    pub fn error(&self, why: impl std::fmt::Display) -> Error {
        Error::invalid("onnx", format!("node {}: {why}", self.name))
    }
}

/// Evaluates `op` on its inputs; returns its outputs in order (`outputs` of them asked for).
pub(crate) fn eval(op: &Op, inputs: &Inputs, outputs: usize) -> Result<Vec<Value>> {
    let one = |v: Float| Ok(vec![Value::Float(v)]);
    match op {
        Op::Unary(u) => one(elementwise::unary(*u, inputs.float(0)?)),
        Op::Binary(b) => Ok(vec![elementwise::binary(*b, inputs)?]),
        Op::Variadic(b, mean) => one(elementwise::variadic(*b, *mean, inputs)?),
        Op::Softmax { axis, log } => one(elementwise::softmax(inputs.float(0)?, *axis, *log)?),
        Op::Clip(c) => one(elementwise::clip(c, inputs)?),
        Op::Conv1d(c) => one(conv::conv1d(c, inputs, false)?),
        Op::Conv2d(c) => one(conv::conv2d(c, inputs, false)?),
        Op::Conv3d(c) => one(conv::conv3d(c, inputs, false)?),
        Op::MaxPool1d(c) => one(pool::max_pool1d(c, inputs, false)?),
        Op::MaxPool2d(c) => one(pool::max_pool2d(c, inputs, false)?),
        Op::MaxPool3d(c) => one(pool::max_pool3d(c, inputs, false)?),
        Op::WithRelu(op) => one(with_relu(op, inputs)?),
        Op::AvgPool1d(c) => one(pool::avg_pool1d(c, inputs)?),
        Op::AvgPool2d(c) => one(pool::avg_pool2d(c, inputs)?),
        Op::AvgPool3d(c) => one(pool::avg_pool3d(c, inputs)?),
        Op::GlobalPool { max } => one(pool::global(*max, inputs.float(0)?)?),
        Op::BatchNorm { epsilon } => one(norm::batch_norm(*epsilon, inputs)?),
        Op::InstanceNorm { epsilon } => one(norm::instance_norm(*epsilon, inputs)?),
        Op::GroupNorm { groups, epsilon } => one(norm::group_norm(*groups, *epsilon, inputs)?),
        Op::LayerNorm { axis, epsilon } => one(norm::layer_norm(*axis, *epsilon, inputs)?),
        Op::Prelu => one(elementwise::prelu(inputs)?),
        Op::Expand(c) => one(shape::expand(c, inputs)?),
        Op::Cast { to_float } => Ok(vec![shape::cast(*to_float, inputs)?]),
        Op::Gru(c) => sequence::gru(c, inputs, outputs),
        Op::ConvTranspose1d(c) => one(conv::conv_transpose1d(c, inputs)?),
        Op::ConvTranspose2d(c) => one(conv::conv_transpose2d(c, inputs)?),
        Op::Resize(c) => one(resize::resize(c, inputs)?),
        Op::Compare(c) => Ok(vec![elementwise::compare(*c, inputs)?]),
        Op::Not => Ok(vec![elementwise::not(inputs)?]),
        Op::And => Ok(vec![elementwise::and(inputs)?]),
        Op::Size => Ok(vec![shape::size(inputs.get(0)?)]),
        Op::Where => Ok(vec![elementwise::where_(inputs)?]),
        Op::Range(c) => Ok(vec![shape::range(c, inputs)?]),
        Op::Tile(c) => one(shape::tile(c, inputs)?),
        Op::Stft(c) => one(spectral::stft(c, inputs)?),
        Op::Dft(c) => one(spectral::dft(c, inputs)?),
        Op::MelWeightMatrix { values, bins, mels } => one(Float::from_host(
            values.to_vec(),
            &[*bins, *mels],
            inputs.device,
        )?),
        Op::Einsum(eq) => one(einsum::einsum(eq, inputs)?),
        Op::ConvTranspose3d(c) => one(conv::conv_transpose3d(c, inputs)?),
        Op::Linear { transpose } => one(linear::linear(*transpose, inputs)?),
        Op::Gemm(c) => one(linear::gemm(c, inputs)?),
        Op::MatMul => one(linear::matmul(inputs.float(0)?, inputs.float(1)?)?),
        Op::Reduce(kind, c) => one(reduce::reduce(*kind, c, inputs)?),
        Op::Flatten { axis } => Ok(vec![shape::flatten(*axis, inputs)?]),
        Op::Reshape(c) => Ok(vec![shape::reshape(c, inputs)?]),
        Op::Transpose(perm) => Ok(vec![shape::transpose_value(perm, inputs.get(0)?)?]),
        Op::Squeeze(c) => Ok(vec![shape::squeeze(c, inputs)?]),
        Op::Unsqueeze(c) => Ok(vec![shape::unsqueeze(c, inputs)?]),
        Op::Concat { axis } => Ok(vec![shape::concat(*axis, inputs)?]),
        Op::Shape { start, end } => Ok(vec![shape::shape_of(*start, *end, inputs.get(0)?)]),
        Op::Gather { axis } => Ok(vec![shape::gather(*axis, inputs)?]),
        Op::Identity => Ok(vec![inputs.get(0)?.clone()]),
        Op::Slice(c) => Ok(vec![slicing::slice(c, inputs)?]),
        Op::Split(c) => slicing::split(c, inputs, outputs),
        Op::Pad(c) => one(slicing::pad(c, inputs)?),
        Op::ConstantOfShape(c) => Ok(vec![slicing::constant_of_shape(c, inputs)?]),
        Op::Lstm(c) => sequence::lstm(c, inputs, outputs),
    }
}

/// `op` followed by a ReLU in the same pass: a step the plan fused ([`Op::WithRelu`]).
fn with_relu(op: &Op, inputs: &Inputs) -> Result<Float> {
    match op {
        Op::Conv1d(c) => conv::conv1d(c, inputs, true),
        Op::Conv2d(c) => conv::conv2d(c, inputs, true),
        Op::Conv3d(c) => conv::conv3d(c, inputs, true),
        Op::MaxPool1d(c) => pool::max_pool1d(c, inputs, true),
        Op::MaxPool2d(c) => pool::max_pool2d(c, inputs, true),
        Op::MaxPool3d(c) => pool::max_pool3d(c, inputs, true),
        other => Err(inputs.error(format!("{other:?} has no fused ReLU"))),
    }
}

/// `relu(t)` when `relu`, for the generic paths of ops that may carry a fused ReLU.
fn relu_if<const D: usize>(relu: bool, t: burn::tensor::Tensor<D>) -> burn::tensor::Tensor<D> {
    if relu {
        burn::tensor::activation::relu(t)
    } else {
        t
    }
}
