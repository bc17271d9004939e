//! A linear layer on host memory: the head of the hand-written kernels.

use crate::error::{Error, Result};

/// `y = W·x + b` with `W` `[K, d]` row-major.
pub struct HostLinear {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl HostLinear {
    /// From `weight` `[K, d]` and `bias` `[K]` (PyTorch's `nn.Linear` layout).
    pub fn new(weight: Vec<f32>, bias: Vec<f32>) -> Result<Self> {
        if bias.is_empty() || weight.is_empty() || !weight.len().is_multiple_of(bias.len()) {
            return Err(Error::invalid(
                "fc",
                format!(
                    "expected a [K, d] weight and K biases, got {} weights and {} biases",
                    weight.len(),
                    bias.len()
                ),
            ));
        }
        Ok(Self { weight, bias })
    }

    /// K, the number of outputs.
    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// d, the number of inputs.
    pub fn inputs(&self) -> usize {
        self.weight.len() / self.bias.len()
    }

    /// `W·x + b`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let d = self.inputs();
        self.bias
            .iter()
            .zip(self.weight.chunks(d))
            .map(|(b, row)| b + row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>())
            .collect()
    }

    /// The gradient with respect to `x` of an objective whose gradient with respect to `y` is
    /// `dy`: `Wᵀ·dy`.
    pub fn backward(&self, dy: &[f32]) -> Vec<f32> {
        let d = self.inputs();
        let mut dx = vec![0f32; d];
        for (g, row) in dy.iter().zip(self.weight.chunks(d)) {
            for (o, w) in dx.iter_mut().zip(row) {
                *o += g * w;
            }
        }
        dx
    }
}
