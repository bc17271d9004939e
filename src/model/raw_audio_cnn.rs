//! RawAudioCNN, the ART audio notebook's raw-waveform classifier (an AudioNet adaptation).
//!
//! Eight blocks of Conv1d(kernel 3) → BatchNorm1d → ReLU → MaxPool1d, then a linear layer:
//! 8000 samples → 8002 → 4000 → 2000 → … → 62 → 60 (the unpadded conv8) → 30; 32·30 = 960 → K.
//! Key names are PyTorch's (`conv1.0.weight`, `conv1.1.running_mean`, …, `fc.bias`).

use super::raw_audio_cnn_cpu::{BlockParams, RawAudioCnnCpu};
use super::weights::Weights;
use crate::array::tensor_to_vec;
use crate::classifier::{CpuKernel, Network};
use crate::error::{Error, Result};
use burn::module::{Module, Param, RunningState};
use burn::tensor::module::{conv1d, max_pool1d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, activation::relu};

/// Channels in and out, conv padding, pool kernel and stride of each block.
pub(super) const BLOCKS: [(usize, usize, usize, usize, usize); 8] = [
    (1, 100, 2, 3, 2),
    (100, 64, 1, 2, 2),
    (64, 128, 1, 2, 2),
    (128, 128, 1, 2, 2),
    (128, 128, 1, 2, 2),
    (128, 128, 1, 2, 2),
    (128, 64, 1, 2, 2),
    (64, 32, 0, 2, 2),
];

/// Samples per example the architecture is built for (1 s at 8 kHz).
pub const INPUT_LEN: usize = 8000;
pub(super) const FC_IN: usize = 32 * 30;
const BN_EPS: f64 = 1e-5;

/// One Conv → BatchNorm → ReLU → MaxPool block.
#[derive(Module, Debug)]
pub struct Block {
    conv_weight: Param<Tensor<3>>,
    conv_bias: Param<Tensor<1>>,
    bn_weight: Param<Tensor<1>>,
    bn_bias: Param<Tensor<1>>,
    bn_mean: RunningState<Tensor<1>>,
    bn_var: RunningState<Tensor<1>>,
}

/// The network; see the module docs.
#[derive(Module, Debug)]
pub struct RawAudioCnn {
    blocks: Vec<Block>,
    fc_weight: Param<Tensor<2>>,
    fc_bias: Param<Tensor<1>>,
}

impl RawAudioCnn {
    /// Builds the network for `classes` outputs from PyTorch-named weights.
    pub fn from_weights(weights: &mut Weights, classes: usize, device: &Device) -> Result<Self> {
        let mut blocks = Vec::with_capacity(BLOCKS.len());
        for (i, &(cin, cout, ..)) in BLOCKS.iter().enumerate() {
            let p = format!("conv{}", i + 1);
            blocks.push(Block {
                conv_weight: weights.param(&format!("{p}.0.weight"), [cout, cin, 3], device)?,
                conv_bias: weights.param(&format!("{p}.0.bias"), [cout], device)?,
                bn_weight: weights.param(&format!("{p}.1.weight"), [cout], device)?,
                bn_bias: weights.param(&format!("{p}.1.bias"), [cout], device)?,
                bn_mean: weights.state(&format!("{p}.1.running_mean"), [cout], device)?,
                bn_var: weights.state(&format!("{p}.1.running_var"), [cout], device)?,
            });
        }
        let fc_weight = weights.param("fc.weight", [classes, FC_IN], device)?;
        let fc_bias = weights.param("fc.bias", [classes], device)?;
        Ok(Self {
            blocks,
            fc_weight,
            fc_bias,
        })
    }

    /// Checks that examples of `shape` fit the architecture.
    pub fn check_input(shape: &[usize]) -> Result<()> {
        if shape != [1, INPUT_LEN] {
            return Err(Error::invalid(
                "input.shape",
                format!("raw-audio-cnn takes [1, {INPUT_LEN}], got {shape:?}"),
            ));
        }
        Ok(())
    }

    /// Logits `[N, K]` for waveforms `[N, 1, 8000]` (batch norm with running statistics).
    pub fn forward_waveform(&self, x: Tensor<3>) -> Tensor<2> {
        let mut x = x;
        for (block, &(_, _, pad, kernel, stride)) in self.blocks.iter().zip(BLOCKS.iter()) {
            x = conv1d(
                x,
                block.conv_weight.val(),
                Some(block.conv_bias.val()),
                ConvOptions::new([1], [pad], [1], 1),
            );
            x = batch_norm_eval(
                x,
                block.bn_weight.val(),
                block.bn_bias.val(),
                block.bn_mean.value(),
                block.bn_var.value(),
            );
            x = max_pool1d(relu(x), MaxPoolOptions::new([kernel]).with_stride([stride]));
        }
        let [n, _, _] = x.dims();
        let flat: Tensor<2> = x.reshape([n, FC_IN]);
        flat.matmul(self.fc_weight.val().transpose()) + self.fc_bias.val().unsqueeze::<2>()
    }
}

impl Network for RawAudioCnn {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, d] = x.dims();
        self.forward_waveform(x.reshape([n, 1, d]))
    }

    fn cpu_kernel(&self) -> Option<Box<dyn CpuKernel>> {
        let host = |t: Tensor<1>| tensor_to_vec(t);
        let blocks = self
            .blocks
            .iter()
            .map(|b| BlockParams {
                conv_w: tensor_to_vec(b.conv_weight.val()),
                conv_b: host(b.conv_bias.val()),
                bn_w: host(b.bn_weight.val()),
                bn_b: host(b.bn_bias.val()),
                bn_mean: host(b.bn_mean.value()),
                bn_var: host(b.bn_var.value()),
            })
            .collect();
        Some(Box::new(RawAudioCnnCpu::new(
            blocks,
            tensor_to_vec(self.fc_weight.val()),
            host(self.fc_bias.val()),
            BN_EPS,
        )))
    }
}

/// Batch norm with running statistics as one per-channel affine map `x·scale + shift`.
fn batch_norm_eval(
    x: Tensor<3>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    mean: Tensor<1>,
    var: Tensor<1>,
) -> Tensor<3> {
    let scale = gamma / (var + BN_EPS).sqrt();
    let shift = beta - mean * scale.clone();
    let [c] = scale.dims();
    x * scale.reshape([1, c, 1]) + shift.reshape([1, c, 1])
}
