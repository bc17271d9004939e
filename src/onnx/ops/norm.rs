//! Normalisations: batch (running statistics, inference), instance, group and layer
//! normalisation, each with its per-channel (or per-feature) scale and bias.

use super::Inputs;
use crate::error::Result;
use crate::onnx::value::{Float, MAX_RANK};
use burn::tensor::Tensor;

/// `(x - mean) / sqrt(var + eps) · scale + bias`, per channel (axis 1).
pub fn batch_norm(epsilon: f64, inputs: &Inputs) -> Result<Float> {
    let x = inputs.float(0)?;
    let dims = x.dims();
    if dims.len() < 2 {
        return Err(inputs.error(format!("BatchNormalization of {dims:?}")));
    }
    let channels = dims[1];
    let per_channel = |i: usize| -> Result<Float> {
        let v = inputs.float(i)?;
        if v.dims() != [channels] {
            return Err(inputs.error(format!(
                "input {i} has shape {:?}, expected [{channels}]",
                v.dims()
            )));
        }
        let mut shape = vec![1; dims.len()];
        shape[1] = channels;
        v.reshape(&shape)
    };
    let (scale, bias, mean, var) = (
        per_channel(1)?,
        per_channel(2)?,
        per_channel(3)?,
        per_channel(4)?,
    );
    let inv_std = (var.t + epsilon).sqrt().recip();
    let t = (x.t.clone() - mean.t) * inv_std * scale.t + bias.t;
    Ok(Float::padded(t, dims.len()))
}

/// `x` standardised over the physical axes `axes` (mean and biased variance, as ONNX).
fn standardise(t: Tensor<MAX_RANK>, axes: &[usize], epsilon: f64) -> Tensor<MAX_RANK> {
    let mut mean = t.clone();
    for &a in axes {
        mean = mean.mean_dim(a);
    }
    let centred = t - mean;
    let mut var = centred.clone() * centred.clone();
    for &a in axes {
        var = var.mean_dim(a);
    }
    centred * (var + epsilon).sqrt().recip()
}

/// A per-channel vector `[C]` shaped to broadcast over `[N, C, ...]` of logical rank `rank`.
fn per_channel(inputs: &Inputs, i: usize, channels: usize, rank: usize) -> Result<Float> {
    let v = inputs.float(i)?;
    if v.dims() != [channels] {
        return Err(inputs.error(format!(
            "input {i} has shape {:?}, expected [{channels}]",
            v.dims()
        )));
    }
    let mut shape = vec![1; rank];
    shape[1] = channels;
    v.reshape(&shape)
}

/// InstanceNormalization: every channel of every example standardised over its spatial axes.
pub fn instance_norm(epsilon: f64, inputs: &Inputs) -> Result<Float> {
    let x = inputs.float(0)?;
    let dims = x.dims();
    if dims.len() < 3 {
        return Err(inputs.error(format!("InstanceNormalization of {dims:?}")));
    }
    let axes: Vec<usize> = (MAX_RANK - dims.len() + 2..MAX_RANK).collect();
    let scale = per_channel(inputs, 1, dims[1], dims.len())?;
    let bias = per_channel(inputs, 2, dims[1], dims.len())?;
    let t = standardise(x.t.clone(), &axes, epsilon) * scale.t + bias.t;
    Ok(Float::padded(t, dims.len()))
}

/// GroupNormalization: channels in `groups` groups, each group of each example standardised.
pub fn group_norm(groups: usize, epsilon: f64, inputs: &Inputs) -> Result<Float> {
    let x = inputs.float(0)?;
    let dims = x.dims();
    if dims.len() < 3 || groups == 0 || !dims[1].is_multiple_of(groups) {
        return Err(inputs.error(format!("GroupNormalization of {dims:?} in {groups} groups")));
    }
    let inner: usize = dims[2..].iter().product::<usize>() * (dims[1] / groups);
    let grouped = x.reshape(&[dims[0], groups, inner])?;
    let axes = [MAX_RANK - 1];
    let t = Float::padded(standardise(grouped.t, &axes, epsilon), 3).reshape(&dims)?;
    let scale = per_channel(inputs, 1, dims[1], dims.len())?;
    let bias = per_channel(inputs, 2, dims[1], dims.len())?;
    Ok(Float::padded(t.t * scale.t + bias.t, dims.len()))
}

/// LayerNormalization: every axis from `axis` on standardised, then scale and bias (broadcast
/// over those axes).
pub fn layer_norm(axis: i64, epsilon: f64, inputs: &Inputs) -> Result<Float> {
    let x = inputs.float(0)?;
    let first = x.axis(axis)?;
    let axes: Vec<usize> = (first..MAX_RANK).collect();
    let mut t = standardise(x.t.clone(), &axes, epsilon);
    let normalised: Vec<usize> = x.dims()[first - (MAX_RANK - x.rank())..].to_vec();
    let scale = inputs.float(1)?;
    if scale.dims() != normalised {
        return Err(inputs.error(format!(
            "scale {:?} for normalised axes {normalised:?}",
            scale.dims()
        )));
    }
    t = t * scale.t.clone();
    if let Some(bias) = inputs.optional_float(2)? {
        t = t + bias.t.clone();
    }
    Ok(Float::padded(t, x.rank()))
}
