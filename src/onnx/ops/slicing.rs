//! Ops that cut, extend or create tensors: Slice, Split, Pad, ConstantOfShape.

use super::Inputs;
use crate::error::Result;
use crate::onnx::value::{Float, Ints, MAX_RANK, Value, pad_shape};
use burn::tensor::{Int, Tensor, TensorData};
use onnx_ir::TensorDataExt;
use onnx_ir::node::constant_of_shape::{ConstantOfShapeConfig, ConstantOfShapeShape};
use onnx_ir::node::pad::{ConstantValueInput, PadConfig, PadInput, PadMode};
use onnx_ir::node::slice::{SliceConfig, SliceInput};
use onnx_ir::node::split::{SplitConfig, SplitSizesInput};

fn list(input: &SliceInput, inputs: &Inputs) -> Result<Vec<i64>> {
    match input {
        SliceInput::Static(v) => Ok(v.clone()),
        SliceInput::Runtime(r) => Ok(inputs.ints(r.input_index)?.data.clone()),
    }
}

/// The indices `start, start + step, ...` before `end` on an axis of `size`, as ONNX clamps them.
fn slice_indices(size: usize, start: i64, end: i64, step: i64) -> Vec<usize> {
    let n = size as i64;
    let norm = |v: i64| if v < 0 { v + n } else { v };
    let (start, end) = (norm(start), norm(end));
    let mut out = Vec::new();
    if step > 0 {
        let (mut i, end) = (start.clamp(0, n), end.clamp(0, n));
        while i < end {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (mut i, end) = (start.clamp(-1, n - 1), end.clamp(-1, n - 1));
        while i > end {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

pub fn slice(c: &SliceConfig, inputs: &Inputs) -> Result<Value> {
    let x = inputs.get(0)?;
    let starts = list(&c.starts, inputs)?;
    let ends = list(&c.ends, inputs)?;
    let dims = match x {
        Value::Float(f) => f.dims(),
        Value::Int(i) => i.shape.clone(),
    };
    let axes = match &c.axes {
        Some(a) => list(a, inputs)?,
        None => (0..starts.len() as i64).collect(),
    };
    let steps = match &c.steps {
        Some(s) => list(s, inputs)?,
        None => vec![1; starts.len()],
    };
    if starts.len() != ends.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(inputs.error("Slice with starts, ends, axes and steps of different lengths"));
    }
    let mut picks: Vec<Option<Vec<usize>>> = vec![None; dims.len()];
    for k in 0..axes.len() {
        let a = axes[k];
        let a = if a < 0 { a + dims.len() as i64 } else { a };
        if !(0..dims.len() as i64).contains(&a) || steps[k] == 0 {
            return Err(inputs.error(format!("Slice axis {} step {}", axes[k], steps[k])));
        }
        let a = a as usize;
        picks[a] = Some(slice_indices(dims[a], starts[k], ends[k], steps[k]));
    }
    match x {
        Value::Int(i) => {
            let picks: Vec<Vec<usize>> = picks
                .into_iter()
                .zip(&dims)
                .map(|(p, &d)| p.unwrap_or_else(|| (0..d).collect()))
                .collect();
            Ok(Value::Int(pick_ints(i, &picks)))
        }
        Value::Float(f) => {
            let lead = MAX_RANK - f.rank();
            let mut t = f.t.clone();
            for (a, pick) in picks.iter().enumerate() {
                let Some(idx) = pick else { continue };
                let axis = lead + a;
                let contiguous = idx.windows(2).all(|w| w[1] == w[0] + 1);
                t = match idx.first() {
                    None => {
                        return Err(inputs.error("Slice to an empty tensor"));
                    }
                    Some(&first) if contiguous => t.narrow(axis, first, idx.len()),
                    Some(_) => {
                        let data: Vec<i64> = idx.iter().map(|&j| j as i64).collect();
                        let n = data.len();
                        let device = t.device();
                        let ids = Tensor::<1, Int>::from_data(TensorData::new(data, [n]), &device);
                        t.select(axis, ids)
                    }
                };
            }
            Ok(Value::Float(Float::padded(t, f.rank())))
        }
    }
}

/// The values of `x` at the given indices of every axis (row-major), as a new integer tensor.
fn pick_ints(x: &Ints, picks: &[Vec<usize>]) -> Ints {
    let shape: Vec<usize> = picks.iter().map(Vec::len).collect();
    let count: usize = shape.iter().product();
    let mut strides = vec![1usize; x.shape.len()];
    for a in (0..x.shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * x.shape[a + 1];
    }
    let mut data = Vec::with_capacity(count);
    let mut at = vec![0usize; shape.len()];
    for _ in 0..count {
        let flat: usize = (0..at.len()).map(|a| picks[a][at[a]] * strides[a]).sum();
        data.push(x.data[flat]);
        for a in (0..at.len()).rev() {
            at[a] += 1;
            if at[a] < shape[a] {
                break;
            }
            at[a] = 0;
        }
    }
    Ints { data, shape }
}

pub fn split(c: &SplitConfig, inputs: &Inputs, outputs: usize) -> Result<Vec<Value>> {
    let x = inputs.float(0)?;
    let dims = x.dims();
    let axis = x.axis(c.axis as i64)?;
    let size = dims[axis - (MAX_RANK - x.rank())];
    let sizes: Vec<usize> = match (&c.split_sizes, c.split_size) {
        (Some(SplitSizesInput::Static(s)), _) => s.clone(),
        (Some(SplitSizesInput::Runtime(r)), _) => inputs
            .ints(r.input_index)?
            .data
            .iter()
            .map(|&v| v.max(0) as usize)
            .collect(),
        (None, Some(each)) if each > 0 => {
            let mut s = vec![each; size / each];
            if size % each != 0 {
                s.push(size % each);
            }
            s
        }
        _ => {
            let parts = c.num_outputs.unwrap_or(outputs).max(1);
            let each = size.div_ceil(parts);
            (0..parts)
                .map(|k| each.min(size.saturating_sub(k * each)))
                .collect()
        }
    };
    if sizes.iter().sum::<usize>() != size {
        return Err(inputs.error(format!("Split of size {size} into {sizes:?}")));
    }
    let mut at = 0;
    Ok(sizes
        .iter()
        .map(|&s| {
            let part = x.t.clone().narrow(axis, at, s);
            at += s;
            Value::Float(Float::padded(part, x.rank()))
        })
        .collect())
}

pub fn pad(c: &PadConfig, inputs: &Inputs) -> Result<Float> {
    let x = inputs.float(0)?;
    let rank = x.rank();
    let pairs: Vec<(usize, usize)> = match &c.pads {
        PadInput::Static(p) => p.clone(),
        PadInput::Runtime { input, axes } => {
            let raw = &inputs.ints(input.input_index)?.data;
            if raw.iter().any(|&v| v < 0) {
                return Err(inputs.error("Pad with negative pads (cropping) is not supported"));
            }
            let half = raw.len() / 2;
            let per_axis: Vec<(usize, usize)> = (0..half)
                .map(|i| (raw[i] as usize, raw[half + i] as usize))
                .collect();
            match axes {
                None => per_axis,
                Some(_) => {
                    return Err(inputs.error("Pad with an axes input is not supported"));
                }
            }
        }
    };
    if pairs.len() != rank {
        return Err(inputs.error(format!(
            "Pad of a rank-{rank} value with {} pairs",
            pairs.len()
        )));
    }
    let dims = x.dims();
    let mut out = dims.clone();
    for (d, (b, e)) in out.iter_mut().zip(&pairs) {
        *d += b + e;
    }
    inputs.check_output(dims[0].max(1), &out)?;
    let mode = match c.mode {
        PadMode::Constant => {
            let v = match &c.constant_value {
                ConstantValueInput::Static(v) => *v,
                ConstantValueInput::Runtime(r) => {
                    let f = inputs.float(r.input_index)?;
                    f.t.clone()
                        .into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .unwrap_or_default()
                        .first()
                        .copied()
                        .unwrap_or(0.0)
                }
            };
            burn::tensor::ops::PadMode::Constant(v)
        }
        PadMode::Reflect => {
            if pairs.iter().zip(&dims).any(|((b, e), &d)| *b.max(e) >= d) {
                return Err(inputs.error(format!("reflect padding {pairs:?} of {dims:?}")));
            }
            burn::tensor::ops::PadMode::Reflect
        }
        PadMode::Edge => burn::tensor::ops::PadMode::Edge,
    };
    let mut full = vec![(0usize, 0usize); MAX_RANK - rank];
    full.extend_from_slice(&pairs);
    Ok(Float::padded(x.t.clone().pad(full, mode), rank))
}

pub fn constant_of_shape(c: &ConstantOfShapeConfig, inputs: &Inputs) -> Result<Value> {
    let shape: Vec<i64> = match &c.shape {
        ConstantOfShapeShape::Static(s) => s.clone(),
        ConstantOfShapeShape::Runtime(r) => inputs.ints(r.input_index)?.data.clone(),
    };
    if shape.iter().any(|&d| d < 0) {
        return Err(inputs.error(format!("ConstantOfShape {shape:?}")));
    }
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    inputs.check_output(1, &shape)?;
    let count: usize = shape.iter().product();
    let is_float = c.value.as_ref().is_none_or(|v| v.dtype().is_float());
    if is_float {
        let v = c
            .value
            .as_ref()
            .and_then(|v| v.scalar_f32().ok())
            .unwrap_or(0.0);
        let t = Tensor::<MAX_RANK>::full(pad_shape(&shape)?, v, inputs.device);
        Ok(Value::Float(Float::padded(t, shape.len())))
    } else {
        let v = c
            .value
            .as_ref()
            .and_then(|v| v.scalar_i64().ok())
            .unwrap_or(0);
        Ok(Value::Int(Ints {
            data: vec![v; count],
            shape,
        }))
    }
}
