//! Reductions over axes.

use super::Inputs;
use crate::error::Result;
use crate::onnx::op::Reduce;
use crate::onnx::value::{Float, MAX_RANK};
use onnx_ir::node::reduce::{ReduceAxes, ReduceConfig};

pub fn reduce(kind: Reduce, c: &ReduceConfig, inputs: &Inputs) -> Result<Float> {
    let x = inputs.float(0)?;
    let axes: Vec<i64> = match &c.axes {
        ReduceAxes::Static(a) => a.iter().map(|&a| a as i64).collect(),
        ReduceAxes::Runtime(r) => inputs.ints(r.input_index)?.data.clone(),
    };
    if axes.is_empty() && c.noop_with_empty_axes {
        return Ok(x.clone());
    }
    let mut physical = if axes.is_empty() {
        (MAX_RANK - x.rank()..MAX_RANK).collect::<Vec<_>>()
    } else {
        axes.iter()
            .map(|&a| x.axis(a))
            .collect::<Result<Vec<_>>>()?
    };
    physical.sort_unstable();
    physical.dedup();
    let mut t = x.t.clone();
    if kind == Reduce::L2 {
        t = t.clone() * t;
    }
    for &axis in &physical {
        t = match kind {
            Reduce::Mean => t.mean_dim(axis),
            Reduce::Sum | Reduce::L2 => t.sum_dim(axis),
            Reduce::Max => t.max_dim(axis),
            Reduce::Min => t.min_dim(axis),
        };
    }
    if kind == Reduce::L2 {
        t = t.sqrt();
    }
    let kept = Float::padded(t, x.rank());
    if c.keepdims {
        return Ok(kept);
    }
    let first = MAX_RANK - x.rank();
    let shape: Vec<usize> = kept
        .dims()
        .iter()
        .enumerate()
        .filter(|(i, _)| !physical.contains(&(first + i)))
        .map(|(_, &d)| d)
        .collect();
    kept.reshape(&shape)
}
