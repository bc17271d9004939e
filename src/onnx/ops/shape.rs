//! Ops that move values around without computing: Reshape, Flatten, Transpose, Squeeze,
//! Unsqueeze, Concat, Shape, Gather. Integer values (the shape arithmetic exporters emit) are
//! handled on the host; float ones stay burn tensors so gradients flow through them.

use super::Inputs;
use crate::error::Result;
use crate::onnx::value::{Float, Ints, MAX_RANK, Value};
use burn::tensor::Tensor;
use onnx_ir::node::reshape::{ReshapeConfig, ReshapeInput};
use onnx_ir::node::squeeze::{SqueezeConfig, SqueezeInput};
use onnx_ir::node::unsqueeze::UnsqueezeConfig;

fn dims_of(v: &Value) -> Vec<usize> {
    match v {
        Value::Float(f) => f.dims(),
        Value::Int(i) => i.shape.clone(),
    }
}

/// `v` with shape `shape` (same number of values).
fn with_shape(v: &Value, shape: &[usize], inputs: &Inputs) -> Result<Value> {
    match v {
        Value::Float(f) => f.reshape(shape).map(Value::Float),
        Value::Int(i) => {
            if shape.iter().product::<usize>() != i.data.len() {
                return Err(inputs.error(format!("cannot reshape {:?} to {shape:?}", i.shape)));
            }
            Ok(Value::Int(Ints {
                data: i.data.clone(),
                shape: shape.to_vec(),
            }))
        }
    }
}

/// Resolves an ONNX axis (negative counts from the end) for a rank.
fn axis(a: i64, rank: usize, inputs: &Inputs) -> Result<usize> {
    let r = rank as i64;
    let a = if a < 0 { a + r } else { a };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(inputs.error(format!("axis {a} is out of range for rank {rank}")))
    }
}

pub fn reshape(c: &ReshapeConfig, inputs: &Inputs) -> Result<Value> {
    let x = inputs.get(0)?;
    let target: Vec<i64> = match &c.shape {
        ReshapeInput::Static(s) => s.clone(),
        ReshapeInput::Runtime(r) => inputs.ints(r.input_index)?.data.clone(),
    };
    let dims = dims_of(x);
    let count: usize = dims.iter().product();
    // 0 copies the input's size on that axis (ONNX's default allowzero = 0); -1 is inferred.
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            0 => shape.push(
                *dims
                    .get(i)
                    .ok_or_else(|| inputs.error("a 0 in Reshape past the input's rank"))?,
            ),
            -1 if infer.is_none() => {
                infer = Some(i);
                shape.push(1);
            }
            d if d > 0 => shape.push(d as usize),
            d => return Err(inputs.error(format!("Reshape to {target:?}: size {d}"))),
        }
    }
    if let Some(i) = infer {
        let known: usize = shape.iter().product();
        if known == 0 || !count.is_multiple_of(known) {
            return Err(inputs.error(format!("cannot reshape {dims:?} to {target:?}")));
        }
        shape[i] = count / known;
    }
    with_shape(x, &shape, inputs)
}

pub fn flatten(axis: usize, inputs: &Inputs) -> Result<Value> {
    let x = inputs.get(0)?;
    let dims = dims_of(x);
    let axis = axis.min(dims.len());
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis..].iter().product();
    with_shape(x, &[outer, inner], inputs)
}

/// Transpose of a float (on the device) or integer (on the host) value.
pub fn transpose_value(perm: &[i64], x: &Value) -> Result<Value> {
    match x {
        Value::Float(f) => transpose(perm, f).map(Value::Float),
        Value::Int(i) => {
            let rank = i.shape.len();
            let perm: Vec<usize> = if perm.is_empty() {
                (0..rank).rev().collect()
            } else {
                perm.iter().map(|&p| p as usize).collect()
            };
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..rank).collect::<Vec<_>>() {
                return Err(crate::error::Error::invalid(
                    "onnx",
                    format!("Transpose with perm {perm:?} of a rank-{rank} value"),
                ));
            }
            let mut strides = vec![1usize; rank];
            for a in (0..rank.saturating_sub(1)).rev() {
                strides[a] = strides[a + 1] * i.shape[a + 1];
            }
            let shape: Vec<usize> = perm.iter().map(|&p| i.shape[p]).collect();
            let count: usize = shape.iter().product();
            let mut data = Vec::with_capacity(count);
            let mut at = vec![0usize; rank];
            for _ in 0..count {
                let flat: usize = (0..rank).map(|a| at[a] * strides[perm[a]]).sum();
                data.push(i.data[flat]);
                for a in (0..rank).rev() {
                    at[a] += 1;
                    if at[a] < shape[a] {
                        break;
                    }
                    at[a] = 0;
                }
            }
            Ok(Value::Int(Ints { data, shape }))
        }
    }
}

pub fn transpose(perm: &[i64], x: &Float) -> Result<Float> {
    let rank = x.rank();
    let perm: Vec<usize> = if perm.is_empty() {
        (0..rank).rev().collect()
    } else {
        perm.iter().map(|&p| p as usize).collect()
    };
    let mut seen = perm.clone();
    seen.sort_unstable();
    if seen != (0..rank).collect::<Vec<_>>() {
        return Err(crate::error::Error::invalid(
            "onnx",
            format!("Transpose with perm {perm:?} of a rank-{rank} value"),
        ));
    }
    let lead = MAX_RANK - rank;
    let axes: [usize; MAX_RANK] =
        std::array::from_fn(|i| if i < lead { i } else { lead + perm[i - lead] });
    Ok(Float::padded(x.t.clone().permute(axes), rank))
}

pub fn squeeze(c: &SqueezeConfig, inputs: &Inputs) -> Result<Value> {
    let x = inputs.get(0)?;
    let dims = dims_of(x);
    let axes: Option<Vec<i64>> = match &c.axes {
        None => None,
        Some(SqueezeInput::Static(a)) => Some(a.clone()),
        Some(SqueezeInput::Runtime(r)) => Some(inputs.ints(r.input_index)?.data.clone()),
    };
    let drop: Vec<usize> = match axes {
        None => (0..dims.len()).filter(|&i| dims[i] == 1).collect(),
        Some(a) => a
            .iter()
            .map(|&a| axis(a, dims.len(), inputs))
            .collect::<Result<_>>()?,
    };
    if let Some(&bad) = drop.iter().find(|&&i| dims[i] != 1) {
        return Err(inputs.error(format!("Squeeze of axis {bad} of size {}", dims[bad])));
    }
    let shape: Vec<usize> = (0..dims.len())
        .filter(|i| !drop.contains(i))
        .map(|i| dims[i])
        .collect();
    with_shape(x, &shape, inputs)
}

pub fn unsqueeze(c: &UnsqueezeConfig, inputs: &Inputs) -> Result<Value> {
    let x = inputs.get(0)?;
    let dims = dims_of(x);
    let axes: Vec<i64> = match c {
        UnsqueezeConfig::Static(a) => a.clone(),
        UnsqueezeConfig::Runtime(r) => inputs.ints(r.input_index)?.data.clone(),
    };
    let rank = dims.len() + axes.len();
    let mut new: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, rank, inputs))
        .collect::<Result<_>>()?;
    new.sort_unstable();
    let mut rest = dims.into_iter();
    let shape: Vec<usize> = (0..rank)
        .map(|i| {
            if new.contains(&i) {
                1
            } else {
                rest.next().unwrap_or(1)
            }
        })
        .collect();
    with_shape(x, &shape, inputs)
}

pub fn concat(axis_attr: usize, inputs: &Inputs) -> Result<Value> {
    let first = inputs.get(0)?;
    match first {
        Value::Int(_) => {
            // Shape arithmetic: 1-D lists (or scalars) joined.
            let mut data = Vec::new();
            for i in 0..inputs.values.len() {
                data.extend_from_slice(&inputs.ints(i)?.data);
            }
            Ok(Value::Int(Ints::list(data)))
        }
        Value::Float(f) => {
            let rank = f.rank();
            let a = MAX_RANK - rank + axis(axis_attr as i64, rank, inputs)?;
            let mut parts: Vec<Tensor<MAX_RANK>> = Vec::new();
            for i in 0..inputs.values.len() {
                let p = inputs.float(i)?;
                let (pd, fd) = (p.dims(), f.dims());
                let fits = p.rank() == rank
                    && (0..rank).all(|k| MAX_RANK - rank + k == a || pd[k] == fd[k]);
                if !fits {
                    return Err(inputs.error(format!("Concat of {fd:?} and {pd:?}")));
                }
                parts.push(p.t.clone());
            }
            Ok(Value::Float(Float::padded(Tensor::cat(parts, a), rank)))
        }
    }
}

pub fn shape_of(start: usize, end: usize, x: &Value) -> Value {
    let dims = dims_of(x);
    let end = end.min(dims.len());
    let start = start.min(end);
    Value::Int(Ints::list(
        dims[start..end].iter().map(|&d| d as i64).collect(),
    ))
}

/// `Size(x)`: the number of elements of `x`, an integer scalar.
pub fn size(x: &Value) -> Value {
    Value::Int(Ints::scalar(dims_of(x).iter().product::<usize>() as i64))
}

/// Gather with constant integer indices: along any axis of a float value (a tensor select), or
/// from an integer list (shape arithmetic).
pub fn gather(axis_attr: usize, inputs: &Inputs) -> Result<Value> {
    let indices = inputs.ints(1)?;
    let x = inputs.get(0)?;
    let dims = dims_of(x);
    let a = axis(axis_attr as i64, dims.len().max(1), inputs)?;
    let size = dims.get(a).copied().unwrap_or(1) as i64;
    let picked: Vec<usize> = indices
        .data
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + size } else { i };
            if (0..size).contains(&j) {
                Ok(j as usize)
            } else {
                Err(inputs.error(format!("Gather index {i} out of range for size {size}")))
            }
        })
        .collect::<Result<_>>()?;
    // Output shape: input[..a] + indices.shape + input[a+1..].
    let mut shape = dims[..a].to_vec();
    shape.extend_from_slice(&indices.shape);
    shape.extend_from_slice(&dims[(a + 1).min(dims.len())..]);
    match x {
        Value::Int(list) => {
            let inner: usize = dims[a + 1..].iter().product();
            let outer: usize = dims[..a].iter().product();
            let mut data = Vec::with_capacity(outer * picked.len() * inner);
            for o in 0..outer {
                for &p in &picked {
                    let start = (o * dims[a] + p) * inner;
                    data.extend_from_slice(&list.data[start..start + inner]);
                }
            }
            Ok(Value::Int(Ints { data, shape }))
        }
        Value::Float(f) => {
            let device = f.t.device();
            let idx: Vec<i64> = picked.iter().map(|&p| p as i64).collect();
            let n = idx.len();
            let idx = Tensor::<1, burn::tensor::Int>::from_data(
                burn::tensor::TensorData::new(idx, [n]),
                &device,
            );
            let selected =
                Float::padded(f.t.clone().select(MAX_RANK - f.rank() + a, idx), f.rank());
            selected.reshape(&shape).map(Value::Float)
        }
    }
}

/// Expand: `x` broadcast to a shape (numpy rules: the result has the larger size on each axis).
pub fn expand(c: &onnx_ir::node::expand::ExpandConfig, inputs: &Inputs) -> Result<Float> {
    use onnx_ir::node::expand::ExpandConfig;
    let x = inputs.float(0)?;
    let target: Vec<i64> = match c {
        ExpandConfig::Static(s) => s.clone(),
        ExpandConfig::Runtime(r) => inputs.ints(r.input_index)?.data.clone(),
    };
    let dims = x.dims();
    let rank = dims.len().max(target.len());
    let pad = |v: &[usize]| -> Vec<usize> {
        let mut out = vec![1; rank - v.len()];
        out.extend_from_slice(v);
        out
    };
    if target.iter().any(|&d| d < 0) {
        return Err(inputs.error(format!("Expand to {target:?}")));
    }
    let (from, to) = (
        pad(&dims),
        pad(&target.iter().map(|&d| d as usize).collect::<Vec<_>>()),
    );
    let mut shape = Vec::with_capacity(rank);
    for (&a, &b) in from.iter().zip(&to) {
        if a != b && a != 1 && b != 1 {
            return Err(inputs.error(format!("Expand of {dims:?} to {target:?}")));
        }
        shape.push(a.max(b));
    }
    inputs.check_output(1, &shape)?;
    let x = x.reshape(&from)?;
    let t = x.t.clone().expand(crate::onnx::value::pad_shape(&shape)?);
    Ok(Float::padded(t, rank))
}

/// Cast: floats stay f32 tensors, integers stay host integers; integers cast to a float type go
/// to the device (a float cast to an integer type is refused: it would cut the gradient).
pub fn cast(to_float: bool, inputs: &Inputs) -> Result<Value> {
    match (inputs.get(0)?, to_float) {
        (Value::Float(f), true) => Ok(Value::Float(f.clone())),
        (Value::Int(i), false) => Ok(Value::Int(i.clone())),
        (Value::Int(i), true) => {
            let values: Vec<f32> = i.data.iter().map(|&v| v as f32).collect();
            Float::from_host(values, &i.shape, inputs.device).map(Value::Float)
        }
        (Value::Float(_), false) => Err(inputs.error(
            "Cast of a float tensor to an integer type is not supported (it has no gradient)",
        )),
    }
}

/// Range: `start, start + delta, ...` before `limit`, as integers (host) or floats.
pub fn range(c: &onnx_ir::node::range::RangeConfig, inputs: &Inputs) -> Result<Value> {
    use onnx_ir::node::range::RangeInput;
    enum Num {
        I(i64),
        F(f64),
    }
    let get = |r: &RangeInput| -> Result<Num> {
        Ok(match r {
            RangeInput::Static(v) => Num::I(*v),
            RangeInput::StaticFloat(v) => Num::F(*v),
            RangeInput::Runtime(rr) => match inputs.get(rr.input_index)? {
                Value::Int(i) => Num::I(*i.data.first().unwrap_or(&0)),
                Value::Float(f) => {
                    let v =
                        f.t.clone()
                            .into_data()
                            .convert::<f32>()
                            .try_into_vec::<f32>()
                            .unwrap_or_default();
                    Num::F(*v.first().unwrap_or(&0.0) as f64)
                }
            },
        })
    };
    let (start, limit, delta) = (get(&c.start)?, get(&c.limit)?, get(&c.delta)?);
    let as_f = |n: &Num| match n {
        Num::I(i) => *i as f64,
        Num::F(f) => *f,
    };
    let (s, l, d) = (as_f(&start), as_f(&limit), as_f(&delta));
    if d == 0.0 || !d.is_finite() {
        return Err(inputs.error("Range with a zero step"));
    }
    let count = ((l - s) / d).ceil().max(0.0);
    if count > crate::onnx::ops::MAX_EXAMPLE_VALUES as f64 {
        return Err(inputs.error(format!("Range of {count} values")));
    }
    let count = count as usize;
    match (start, limit, delta) {
        (Num::I(s), Num::I(_), Num::I(d)) => Ok(Value::Int(Ints::list(
            (0..count as i64).map(|k| s + k * d).collect(),
        ))),
        _ => {
            let v: Vec<f32> = (0..count).map(|k| (s + k as f64 * d) as f32).collect();
            Float::from_host(v, &[count], inputs.device).map(Value::Float)
        }
    }
}

/// Tile: `x` repeated `repeats[i]` times along each axis.
pub fn tile(c: &onnx_ir::node::tile::TileConfig, inputs: &Inputs) -> Result<Float> {
    use onnx_ir::node::tile::TileInput;
    let x = inputs.float(0)?;
    let repeats: Vec<usize> = match &c.repeats {
        TileInput::Static(r) => r.clone(),
        TileInput::Runtime(r) => inputs
            .ints(r.input_index)?
            .data
            .iter()
            .map(|&v| v.max(0) as usize)
            .collect(),
    };
    let dims = x.dims();
    if repeats.len() != dims.len() {
        return Err(inputs.error(format!("Tile of {dims:?} by {repeats:?}")));
    }
    let out: Vec<usize> = dims.iter().zip(&repeats).map(|(&d, &r)| d * r).collect();
    inputs.check_output(1, &out)?;
    let mut full = vec![1usize; MAX_RANK - dims.len()];
    full.extend_from_slice(&repeats);
    Ok(Float::padded(x.t.clone().repeat(&full), dims.len()))
}
