//! A linear softmax classifier, `logits = W·x + b`: the model with a closed-form input gradient
//! (`∂CE/∂x = Wᵀ(softmax(logits) − onehot)`) that the attack tests check against by hand.
//! Keys as PyTorch's `nn.Linear`: `weight` `[K, d]`, `bias` `[K]`.

use super::weights::Weights;
use crate::classifier::Network;
use crate::error::Result;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

/// See the module docs.
#[derive(Module, Debug)]
pub struct LinearSoftmax {
    weight: Param<Tensor<2>>,
    bias: Param<Tensor<1>>,
}

impl LinearSoftmax {
    /// From weights `weight` `[classes, features]` and `bias` `[classes]`.
    pub fn from_weights(
        weights: &mut Weights,
        classes: usize,
        features: usize,
        device: &Device,
    ) -> Result<Self> {
        Ok(Self {
            weight: weights.param("weight", [classes, features], device)?,
            bias: weights.param("bias", [classes], device)?,
        })
    }
}

impl Network for LinearSoftmax {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.val().transpose()) + self.bias.val().unsqueeze::<2>()
    }
}

/// A linear layer on the host, `y = W·x + b` with `W` `[K, d]` row-major: the head of the
/// hand-written CPU kernels.
pub struct HostLinear {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl HostLinear {
    /// From `weight` `[K, d]` and `bias` `[K]` (PyTorch's `nn.Linear` layout).
    pub fn new(weight: Vec<f32>, bias: Vec<f32>) -> Result<Self> {
        if bias.is_empty() || weight.is_empty() || !weight.len().is_multiple_of(bias.len()) {
            return Err(crate::error::Error::invalid(
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
