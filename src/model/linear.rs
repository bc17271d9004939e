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
