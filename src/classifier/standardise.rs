//! Per-channel standardisation `(x − mean)/std`, inside the classifier so that gradients flow
//! through it (ART's `preprocessing`): attacks and budgets stay in the user's units.

use crate::error::{Error, Result};
use burn::tensor::{Tensor, TensorData};

/// Per-channel standardisation `(x − mean)/std`, done inside the classifier so gradients flow through it.
#[derive(Clone, Debug)]
pub struct Standardise {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Standardise {
    /// Per-channel `mean` and `std` for examples of `input_shape` (channel axis first). A single
    /// value applies to every channel.
    pub fn new(mean: &[f32], std: &[f32], input_shape: &[usize]) -> Result<Self> {
        let channels = *input_shape.first().unwrap_or(&1);
        let per_channel: usize = input_shape.iter().skip(1).product();
        let expand = |name: &str, v: &[f32]| -> Result<Vec<f32>> {
            let v: Vec<f32> = match v.len() {
                1 => vec![v[0]; channels],
                n if n == channels => v.to_vec(),
                n => {
                    return Err(Error::invalid(
                        name,
                        format!("expected 1 or {channels} values (one per channel), got {n}"),
                    ));
                }
            };
            Ok(v.iter()
                .flat_map(|&c| std::iter::repeat_n(c, per_channel))
                .collect())
        };
        if std.iter().any(|&s| !s.is_finite() || s <= 0.0) {
            return Err(Error::invalid(
                "std",
                "every value must be positive and finite",
            ));
        }
        Ok(Self {
            mean: expand("mean", mean)?,
            std: expand("std", std)?,
        })
    }

    /// The standardised batch `[N, d]`, on `x`'s device (differentiable).
    pub fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        let d = self.mean.len();
        let device = x.device();
        let mean = Tensor::<2>::from_data(TensorData::new(self.mean.clone(), [1, d]), &device);
        let std = Tensor::<2>::from_data(TensorData::new(self.std.clone(), [1, d]), &device);
        (x - mean) / std
    }

    /// [`apply`](Self::apply) in place on host examples (`[n·d]`, flattened).
    pub fn apply_host(&self, x: &mut [f32]) {
        let d = self.mean.len();
        for (i, v) in x.iter_mut().enumerate() {
            *v = (*v - self.mean[i % d]) / self.std[i % d];
        }
    }

    /// Maps a gradient with respect to standardised host examples back to input space.
    pub fn backward_host(&self, grad: &mut [f32]) {
        let d = self.std.len();
        for (i, g) in grad.iter_mut().enumerate() {
            *g /= self.std[i % d];
        }
    }
}

/// `x` standardised on the host (unchanged without standardisation).
pub fn standardised_host(standardise: Option<&Standardise>, mut x: Vec<f32>) -> Vec<f32> {
    if let Some(s) = standardise {
        s.apply_host(&mut x);
    }
    x
}
