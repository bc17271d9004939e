//! Resize (and Upsample): nearest and linear interpolation on any axes, with ONNX's coordinate
//! transformations, as index selections and weighted sums of burn tensors (so gradients flow to
//! the input). Linear is applied one axis at a time, which is exactly multilinear interpolation.

use super::Inputs;
use crate::error::Result;
use crate::onnx::value::{Float, MAX_RANK};
use burn::tensor::{Int, Tensor, TensorData};
use onnx_ir::node::resize::{
    CoordinateTransformMode, NearestMode, ResizeConfig, ResizeMode, ResizeScales, ResizeSizes,
};

/// Where output index `i` of an axis resized from `from` to `to` samples reads, in input
/// coordinates.
fn source(i: usize, from: usize, to: usize, scale: f64, mode: &CoordinateTransformMode) -> f64 {
    let i = i as f64;
    match mode {
        CoordinateTransformMode::HalfPixel => (i + 0.5) / scale - 0.5,
        CoordinateTransformMode::PytorchHalfPixel => {
            if to > 1 {
                (i + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        CoordinateTransformMode::AlignCorners => {
            if to > 1 {
                i * (from as f64 - 1.0) / (to as f64 - 1.0)
            } else {
                0.0
            }
        }
        CoordinateTransformMode::Asymmetric => i / scale,
        _ => (i + 0.5) / scale - 0.5,
    }
}

fn nearest(x: f64, mode: &NearestMode) -> f64 {
    match mode {
        NearestMode::RoundPreferFloor => {
            if x.fract() == 0.5 {
                x.floor()
            } else {
                x.round()
            }
        }
        NearestMode::RoundPreferCeil => x.round(),
        NearestMode::Floor => x.floor(),
        NearestMode::Ceil => x.ceil(),
    }
}

fn select(t: Tensor<MAX_RANK>, axis: usize, idx: &[usize]) -> Tensor<MAX_RANK> {
    let data: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    let n = data.len();
    let device = t.device();
    t.select(
        axis,
        Tensor::<1, Int>::from_data(TensorData::new(data, [n]), &device),
    )
}

pub fn resize(c: &ResizeConfig, inputs: &Inputs) -> Result<Float> {
    let x = inputs.float(0)?;
    let dims = x.dims();
    let rank = dims.len();
    let sizes: Option<Vec<usize>> = match &c.sizes {
        Some(ResizeSizes::Static(s)) if !s.is_empty() => Some(s.clone()),
        Some(ResizeSizes::Runtime(r)) => Some(
            inputs
                .ints(r.input_index)?
                .data
                .iter()
                .map(|&v| v.max(0) as usize)
                .collect(),
        ),
        _ => None,
    };
    let scales: Option<Vec<f64>> = match &c.scales {
        Some(ResizeScales::Static(s)) if !s.is_empty() => {
            Some(s.iter().map(|&v| v as f64).collect())
        }
        Some(ResizeScales::Runtime(r)) => {
            let v = inputs.float(r.input_index)?;
            let host =
                v.t.clone()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .unwrap_or_default();
            Some(host.iter().map(|&v| v as f64).collect())
        }
        _ => None,
    };
    // onnx-ir keeps the spatial axes only (batch and channels never resize): put them back.
    let sizes = sizes.map(|s| {
        if s.len() + 2 == rank {
            [&dims[..2], &s[..]].concat()
        } else {
            s
        }
    });
    let scales = scales.map(|s| {
        if s.len() + 2 == rank {
            [&[1.0, 1.0][..], &s[..]].concat()
        } else {
            s
        }
    });
    let (out, scale): (Vec<usize>, Vec<f64>) = match (sizes, scales) {
        (Some(s), _) if s.len() == rank => {
            let sc = s
                .iter()
                .zip(&dims)
                .map(|(&o, &i)| o as f64 / i.max(1) as f64)
                .collect();
            (s, sc)
        }
        (_, Some(sc)) if sc.len() == rank && sc.iter().all(|&v| v > 0.0 && v.is_finite()) => {
            let o = dims
                .iter()
                .zip(&sc)
                .map(|(&d, &s)| (d as f64 * s).floor() as usize)
                .collect();
            (o, sc)
        }
        _ => return Err(inputs.error("Resize needs sizes or scales for every axis")),
    };
    if out.contains(&0) {
        return Err(inputs.error(format!("Resize of {dims:?} to {out:?}")));
    }
    inputs.check_output(dims[0].max(1), &out)?;
    let mut t = x.t.clone();
    let lead = MAX_RANK - rank;
    for a in 0..rank {
        let (from, to) = (dims[a], out[a]);
        if from == to {
            continue;
        }
        let axis = lead + a;
        let coords: Vec<f64> = (0..to)
            .map(|i| source(i, from, to, scale[a], &c.coordinate_transformation_mode))
            .collect();
        let last = (from - 1) as f64;
        t = match c.mode {
            ResizeMode::Nearest => {
                let idx: Vec<usize> = coords
                    .iter()
                    .map(|&s| nearest(s, &c.nearest_mode).clamp(0.0, last) as usize)
                    .collect();
                select(t, axis, &idx)
            }
            ResizeMode::Linear => {
                let clamped: Vec<f64> = coords.iter().map(|&s| s.clamp(0.0, last)).collect();
                let lo: Vec<usize> = clamped.iter().map(|&s| s.floor() as usize).collect();
                let hi: Vec<usize> = lo.iter().map(|&l| (l + 1).min(from - 1)).collect();
                let w: Vec<f32> = clamped
                    .iter()
                    .zip(&lo)
                    .map(|(&s, &l)| (s - l as f64) as f32)
                    .collect();
                let mut wshape = [1usize; MAX_RANK];
                wshape[axis] = to;
                let device = t.device();
                let w = Tensor::<MAX_RANK>::from_data(TensorData::new(w, wshape), &device);
                let (a0, a1) = (select(t.clone(), axis, &lo), select(t, axis, &hi));
                a0.clone() + (a1 - a0) * w
            }
            ResizeMode::Cubic => return Err(inputs.error("cubic Resize is not supported")),
        };
    }
    Ok(Float::padded(t, rank))
}
