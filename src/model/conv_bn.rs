//! A convolution followed by a batch norm, the block both of avfoil's own networks are made of
//! (RawAudioCNN in 1-D, c3d-lite in 3-D), under PyTorch's key names for
//! `nn.Sequential(nn.ConvNd, nn.BatchNormNd)`: `{prefix}.0.weight`, `{prefix}.0.bias`,
//! `{prefix}.1.weight`, `{prefix}.1.bias`, `{prefix}.1.running_mean`, `{prefix}.1.running_var`.

use super::batch_stats::BatchStats;
use super::weights::{HostTensor, Weights};
use crate::array::tensor_to_vec;
use crate::error::Result;
use burn::module::{Module, Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use std::collections::BTreeMap;

/// PyTorch's batch-norm epsilon.
pub const BN_EPS: f64 = 1e-5;

/// Convolution weight (rank `D`: `[cout, cin, kernel…]`) and bias, batch-norm affine and running
/// statistics.
#[derive(Module, Debug)]
pub struct ConvBn<const D: usize> {
    pub conv_weight: Param<Tensor<D>>,
    pub conv_bias: Param<Tensor<1>>,
    pub bn_weight: Param<Tensor<1>>,
    pub bn_bias: Param<Tensor<1>>,
    pub bn_mean: RunningState<Tensor<1>>,
    pub bn_var: RunningState<Tensor<1>>,
}

impl<const D: usize> ConvBn<D> {
    /// Takes the block's six tensors from `weights`; `shape` is the convolution weight's.
    pub fn load(
        weights: &mut Weights,
        prefix: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Self> {
        let cout = shape[0];
        Ok(Self {
            conv_weight: weights.param(&format!("{prefix}.0.weight"), shape, device)?,
            conv_bias: weights.param(&format!("{prefix}.0.bias"), [cout], device)?,
            bn_weight: weights.param(&format!("{prefix}.1.weight"), [cout], device)?,
            bn_bias: weights.param(&format!("{prefix}.1.bias"), [cout], device)?,
            bn_mean: weights.state(&format!("{prefix}.1.running_mean"), [cout], device)?,
            bn_var: weights.state(&format!("{prefix}.1.running_var"), [cout], device)?,
        })
    }

    /// PyTorch's default initialisation of the block into `tensors`: convolution weight and bias
    /// uniform in ±1/√fan_in (fan_in = cin · kernel), batch norm at identity.
    pub fn init_tensors(
        rng: &mut impl Rng,
        prefix: &str,
        shape: [usize; D],
        tensors: &mut BTreeMap<String, HostTensor>,
    ) {
        let cout = shape[0];
        let fan_in: usize = shape[1..].iter().product();
        tensors.insert(
            format!("{prefix}.0.weight"),
            uniform(rng, shape.to_vec(), fan_in),
        );
        tensors.insert(format!("{prefix}.0.bias"), uniform(rng, vec![cout], fan_in));
        let constant = |v: f32| HostTensor {
            shape: vec![cout],
            data: vec![v; cout],
        };
        tensors.insert(format!("{prefix}.1.weight"), constant(1.0));
        tensors.insert(format!("{prefix}.1.bias"), constant(0.0));
        tensors.insert(format!("{prefix}.1.running_mean"), constant(0.0));
        tensors.insert(format!("{prefix}.1.running_var"), constant(1.0));
    }

    /// Evaluation-mode batch norm as the per-channel affine map `x·scale + shift`.
    pub fn eval_affine(&self) -> (Tensor<1>, Tensor<1>) {
        let scale = self.bn_weight.val() / (self.bn_var.value() + BN_EPS).sqrt();
        let shift = self.bn_bias.val() - self.bn_mean.value() * scale.clone();
        (scale, shift)
    }

    /// Replaces the running statistics.
    pub fn set_running_stats(&self, stats: &BatchStats) {
        let device = self.bn_mean.value().device();
        let c = stats.mean.len();
        let upload = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [c]), &device);
        self.bn_mean.update(upload(&stats.mean));
        self.bn_var.update(upload(&stats.var));
        // `update` records a per-thread value that `value()` only sees after a sync.
        self.bn_mean.value_sync();
        self.bn_var.value_sync();
    }

    /// The running statistics.
    pub fn running_stats(&self) -> BatchStats {
        BatchStats {
            mean: tensor_to_vec(self.bn_mean.value()),
            var: tensor_to_vec(self.bn_var.value()),
        }
    }

    /// The six tensors under their PyTorch names, into `out`.
    pub fn host_tensors(&self, prefix: &str, out: &mut BTreeMap<String, HostTensor>) {
        out.insert(
            format!("{prefix}.0.weight"),
            host_tensor(self.conv_weight.val()),
        );
        out.insert(
            format!("{prefix}.0.bias"),
            host_tensor(self.conv_bias.val()),
        );
        out.insert(
            format!("{prefix}.1.weight"),
            host_tensor(self.bn_weight.val()),
        );
        out.insert(format!("{prefix}.1.bias"), host_tensor(self.bn_bias.val()));
        out.insert(
            format!("{prefix}.1.running_mean"),
            host_tensor(self.bn_mean.value()),
        );
        out.insert(
            format!("{prefix}.1.running_var"),
            host_tensor(self.bn_var.value()),
        );
    }
}

/// A tensor's values and shape on the host.
pub fn host_tensor<const R: usize>(t: Tensor<R>) -> HostTensor {
    HostTensor {
        shape: t.dims().to_vec(),
        data: tensor_to_vec(t),
    }
}

/// A tensor of `shape` uniform in ±1/√fan_in (PyTorch's default for convolution and linear layers).
pub fn uniform(rng: &mut impl Rng, shape: Vec<usize>, fan_in: usize) -> HostTensor {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let n = shape.iter().product();
    HostTensor {
        data: (0..n).map(|_| rng.random_range(-bound..bound)).collect(),
        shape,
    }
}
