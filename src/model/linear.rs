//! A linear softmax classifier, `logits = W·x + b`: the model with a closed-form input gradient
//! (`∂CE/∂x = Wᵀ(softmax(logits) − onehot)`) that the attack tests check against by hand.
//! Keys as PyTorch's `nn.Linear`: `weight` `[K, d]`, `bias` `[K]`.

use super::architecture::Architecture;
use super::network::{CompiledNetwork, Network};
use super::weights::Weights;
use crate::error::Result;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

/// `architecture = "linear"`.
pub static ARCHITECTURE: Architecture = Architecture {
    name: "linear",
    about: "logits = W·x + b on the flattened input (weight [K, d], bias [K])",
    needs_weights: true,
    check: |_| Ok(()),
    build: |config, files, device| {
        let (k, d) = (config.classes.len(), config.input.shape.iter().product());
        let net = LinearSoftmax::from_weights(files.weights()?, k, d, device)?;
        Ok(CompiledNetwork::new(net, device))
    },
    export: Some(export),
};

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

/// The model as an ONNX graph: Flatten, then Gemm with the weight as stored (`transB = 1`).
fn export(config: &super::ModelConfig, weights: &mut Weights) -> Result<Vec<u8>> {
    use crate::onnx::export::{Attr, GraphWriter};
    let k = config.classes.len();
    let shape = &config.input.shape;
    let d: usize = shape.iter().product();
    let mut g = GraphWriter::new("linear");
    let mut dims = vec![None];
    dims.extend(shape.iter().map(|&s| Some(s)));
    g.input("x", &dims);
    let x = g.node("Flatten", &["x"], &[("axis", Attr::Int(1))]);
    super::export::finish_with_linear_head(g, weights, &x, "", [d, k])
}
