//! Resize (and Upsample): nearest, linear and cubic interpolation on any axes, with ONNX's
//! coordinate transformations, as index selections and weighted sums of burn tensors (so
//! gradients flow to the input). Linear and cubic are applied one axis at a time, which is
//! exactly how ONNX defines them (separable kernels).

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
        CoordinateTransformMode::TfHalfPixelForNn => (i + 0.5) / scale,
        // Refused in `resize` before any coordinate is asked for.
        CoordinateTransformMode::TfCropAndResize => unreachable!("tf_crop_and_resize"),
    }
}

/// The four weights of ONNX's cubic kernel (Keys, with coefficient `a`) for the samples at
/// `floor(x) - 1 ..= floor(x) + 2`, where `t = x - floor(x)`.
fn cubic_weights(t: f64, a: f64) -> [f64; 4] {
    let far = |d: f64| ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a; // 1 <= d < 2
    let near = |d: f64| ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0; // 0 <= d < 1
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
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

/// One tap of an interpolation along an axis: per output index, the input index it reads and
/// that sample's weight.
struct Tap {
    index: Vec<usize>,
    weight: Vec<f32>,
}

impl Tap {
    fn new(len: usize) -> Self {
        Self {
            index: Vec::with_capacity(len),
            weight: Vec::with_capacity(len),
        }
    }

    fn push(&mut self, index: usize, weight: f64) {
        self.index.push(index);
        self.weight.push(weight as f32);
    }
}

/// `Σ_k weight_k · t[index_k]` along `axis`: the interpolation, differentiable in `t`.
fn weighted_sum<const K: usize>(
    t: Tensor<MAX_RANK>,
    axis: usize,
    taps: [Tap; K],
) -> Tensor<MAX_RANK> {
    let device = t.device();
    let mut shape = [1usize; MAX_RANK];
    taps.into_iter()
        .map(|tap| {
            shape[axis] = tap.weight.len();
            let w = Tensor::<MAX_RANK>::from_data(TensorData::new(tap.weight, shape), &device);
            select(t.clone(), axis, &tap.index) * w
        })
        .reduce(|a, b| a + b)
        .expect("at least one tap")
}

pub fn resize(c: &ResizeConfig, inputs: &Inputs) -> Result<Float> {
    if c.coordinate_transformation_mode == CoordinateTransformMode::TfCropAndResize {
        return Err(inputs.error(
            "Resize with coordinate_transformation_mode tf_crop_and_resize is not supported",
        ));
    }
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
                let (mut lo, mut hi) = (Tap::new(to), Tap::new(to));
                for &s in &coords {
                    let s = s.clamp(0.0, last);
                    let l = s.floor() as usize;
                    lo.push(l, 1.0 - (s - l as f64));
                    hi.push((l + 1).min(from - 1), s - l as f64);
                }
                weighted_sum(t, axis, [lo, hi])
            }
            ResizeMode::Cubic => {
                let mut taps: [Tap; 4] = std::array::from_fn(|_| Tap::new(to));
                for &s in &coords {
                    let x0 = s.floor();
                    // exclude_outside = 1 is refused by onnx-ir when it reads the file: samples
                    // outside the axis repeat its edge.
                    let w = cubic_weights(s - x0, f64::from(c.cubic_coeff_a));
                    let at = |k: usize| x0 as i64 - 1 + k as i64;
                    for (k, tap) in taps.iter_mut().enumerate() {
                        tap.push(at(k).clamp(0, from as i64 - 1) as usize, w[k]);
                    }
                }
                weighted_sum(t, axis, taps)
            }
        };
    }
    Ok(Float::padded(t, rank))
}

#[cfg(test)]
mod tests {
    use super::cubic_weights;

    #[test]
    fn the_cubic_kernel_interpolates_and_keeps_constants() {
        for a in [-0.75, -0.5] {
            assert_eq!(
                cubic_weights(0.0, a),
                [0.0, 1.0, 0.0, 0.0],
                "a sample is itself"
            );
            for t in [0.1, 0.25, 0.5, 0.9] {
                let w = cubic_weights(t, a);
                assert!(
                    (w.iter().sum::<f64>() - 1.0).abs() < 1e-12,
                    "weights sum to 1"
                );
                let mirrored = cubic_weights(1.0 - t, a);
                for k in 0..4 {
                    assert!((w[k] - mirrored[3 - k]).abs() < 1e-12, "symmetric kernel");
                }
            }
        }
        // Keys' kernel at the half-way point with a = -0.75.
        let w = cubic_weights(0.5, -0.75);
        assert!((w[0] + 0.09375).abs() < 1e-12 && (w[1] - 0.59375).abs() < 1e-12);
    }
}
