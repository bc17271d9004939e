//! c3d-lite: a small 3-D CNN that trains on two CPU cores in minutes (avfoil's own action model).
//!
//! ```text
//! clip [N, 3, F, H, W] in [0, 1]
//!   → consecutive-frame differences x[t+1] − x[t]    [N, 3, F−1, H, W]   (no parameters)
//!   → conv1 3→16   k3 p1, BN, ReLU, max pool (1, 2, 2)
//!   → conv2 16→32  k3 p1, BN, ReLU, max pool (2, 2, 2)
//!   → conv3 32→64  k3 p1, BN, ReLU, mean over time and space
//!   → fc 64→K
//! ```
//!
//! The difference step is what made the procedural action corpus learnable (notes/action-stand-in.md:
//! 0.74 on unseen groups against 0.17 on raw RGB): it removes the static background and figure and
//! leaves the motion. With a single frame (`F = 1`) there is nothing to difference, so the network
//! sees the frame itself and pools only in space: that is the single-frame baseline of the model card.
//!
//! burn has no `max_pool3d`; [`max_pool3d`] composes it (kernel = stride, an odd last frame dropped
//! as PyTorch's floor mode).
//! Key names are PyTorch's for blocks written as `nn.Sequential(nn.Conv3d, nn.BatchNorm3d)`
//! (`conv1.0.weight`, `conv1.1.running_mean`, …, `fc.weight`): `tools/make_c3d_lite_fixtures.py`
//! holds the PyTorch twin, and `tests/c3d_lite_parity.rs` checks both give the same logits and input
//! gradients from one state dict.

pub mod chunked;
mod export;

use super::architecture::Architecture;
use super::batch_stats::BatchStats;
use super::conv_bn::{BN_EPS, ConvBn, host_tensor, uniform};
use super::network::{CompiledNetwork, Network};
use super::pool3d::max_pool3d;
use super::weights::{HostTensor, Weights};
use crate::array::tensor_to_vec;
use crate::error::{Error, Result};
use crate::kernel::HostKernel;
use crate::kernel::clip::{ClipBlock, ClipKernel};
use crate::kernel::linear::HostLinear;
use burn::module::{Module, Param};
use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, activation::relu};
use chunked::{ChunkedC3dLite, worth_chunking};
use std::collections::BTreeMap;

/// Channels of the three convolutions.
pub const WIDTHS: [usize; 3] = [16, 32, 64];

/// One Conv3d → BatchNorm3d block (ReLU and pooling follow in the forward pass).
pub type Block = ConvBn<5>;

/// The network; see the module docs.
#[derive(Module, Debug)]
pub struct C3dLite {
    blocks: Vec<Block>,
    fc_weight: Param<Tensor<2>>,
    fc_bias: Param<Tensor<1>>,
    /// Example shape `[3, F, H, W]`.
    shape: [usize; 4],
}

/// `architecture = "c3d-lite"`.
pub static ARCHITECTURE: Architecture = Architecture {
    name: "c3d-lite",
    about: "avfoil's small 3-D CNN on frame differences: RGB clips [3, F, H ≥ 4, W ≥ 4]",
    needs_weights: true,
    check: |config| C3dLite::check_input(&config.input.shape).map(|_| ()),
    build: |config, files, device| {
        let k = config.classes.len();
        let net = C3dLite::from_weights(files.weights()?, k, &config.input.shape, device)?;
        Ok(CompiledNetwork::new(net, device))
    },
    export: Some(export::export),
};

impl C3dLite {
    /// Checks that examples of `shape` fit: RGB, at least 1 frame, at least 4 × 4 pixels.
    pub fn check_input(shape: &[usize]) -> Result<[usize; 4]> {
        match *shape {
            [3, f, h, w] if f >= 1 && h >= 4 && w >= 4 => Ok([3, f, h, w]),
            _ => Err(Error::invalid(
                "input.shape",
                format!(
                    "c3d-lite takes RGB clips [3, frames, height ≥ 4, width ≥ 4], got {shape:?}"
                ),
            )),
        }
    }

    /// Builds the network for `classes` outputs and examples of `shape` from PyTorch-named weights.
    pub fn from_weights(
        weights: &mut Weights,
        classes: usize,
        shape: &[usize],
        device: &Device,
    ) -> Result<Self> {
        let shape = Self::check_input(shape)?;
        let mut blocks = Vec::with_capacity(3);
        let mut cin = 3;
        for (i, &cout) in WIDTHS.iter().enumerate() {
            let prefix = format!("conv{}", i + 1);
            blocks.push(Block::load(weights, &prefix, [cout, cin, 3, 3, 3], device)?);
            cin = cout;
        }
        Ok(Self {
            blocks,
            fc_weight: weights.param("fc.weight", [classes, WIDTHS[2]], device)?,
            fc_bias: weights.param("fc.bias", [classes], device)?,
            shape,
        })
    }

    /// PyTorch's default initialisation (uniform ±1/√fan_in; batch norm at identity), from `seed`.
    pub fn init(classes: usize, shape: &[usize], device: &Device, seed: u64) -> Result<Self> {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut tensors = BTreeMap::new();
        let mut cin = 3;
        for (i, &cout) in WIDTHS.iter().enumerate() {
            let prefix = format!("conv{}", i + 1);
            Block::init_tensors(&mut rng, &prefix, [cout, cin, 3, 3, 3], &mut tensors);
            cin = cout;
        }
        let c = WIDTHS[2];
        tensors.insert("fc.weight".into(), uniform(&mut rng, vec![classes, c], c));
        tensors.insert("fc.bias".into(), uniform(&mut rng, vec![classes], c));
        Self::from_weights(
            &mut Weights::from_tensors("init", tensors),
            classes,
            shape,
            device,
        )
    }

    /// Logits for clips `[N, 3, F, H, W]`; batch norm with running statistics (evaluation), or with
    /// the batch's own statistics (training), which are then returned per block.
    fn run(&self, x: Tensor<5>, train: bool) -> (Tensor<2>, Vec<BatchStats>) {
        let (x, stats) = self.features(x, train);
        let [n, c, f, h, w] = x.dims();
        let pooled: Tensor<2> = x.reshape([n, c, f * h * w]).mean_dim(2).reshape([n, c]);
        (self.head(pooled), stats)
    }

    /// The last block's output `[N, 64, F', H', W']` before the mean over time and space.
    pub(crate) fn features(&self, x: Tensor<5>, train: bool) -> (Tensor<5>, Vec<BatchStats>) {
        let [n, c, f, h, w] = x.dims();
        let mut x = if f > 1 {
            x.clone().slice([0..n, 0..c, 1..f, 0..h, 0..w])
                - x.slice([0..n, 0..c, 0..f - 1, 0..h, 0..w])
        } else {
            x
        };
        let mut stats = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            x = conv3d(
                x,
                block.conv_weight.val(),
                Some(block.conv_bias.val()),
                ConvOptions::new([1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
            );
            let cout = x.dims()[1];
            let (scale, shift) = if train {
                let [n, _, f, h, w] = x.dims();
                let flat: Tensor<3> = x.clone().reshape([n, cout, f * h * w]);
                let mean = flat.clone().mean_dim(2).mean_dim(0);
                let var = (flat - mean.clone()).square().mean_dim(2).mean_dim(0);
                let count = (n * f * h * w) as f32;
                let mean = mean.reshape([cout]);
                let var = var.reshape([cout]);
                stats.push(BatchStats {
                    mean: tensor_to_vec(mean.clone().detach()),
                    var: tensor_to_vec(var.clone().detach())
                        .into_iter()
                        .map(|v| v * count / (count - 1.0).max(1.0))
                        .collect(),
                });
                let scale = block.bn_weight.val() / (var + BN_EPS).sqrt();
                let shift = block.bn_bias.val() - mean * scale.clone();
                (scale, shift)
            } else {
                block.eval_affine()
            };
            x = relu(x * scale.reshape([1, cout, 1, 1, 1]) + shift.reshape([1, cout, 1, 1, 1]));
            x = match i {
                0 => pool_space(x),
                1 => pool_time(pool_space(x)),
                _ => x,
            };
        }
        (x, stats)
    }

    /// The linear layer on pooled features `[N, 64]`.
    pub(crate) fn head(&self, pooled: Tensor<2>) -> Tensor<2> {
        pooled.matmul(self.fc_weight.val().transpose()) + self.fc_bias.val().unsqueeze::<2>()
    }

    /// Example shape `[3, F, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// The same network (evaluation mode, batch norm folded in) on the host with its activations
    /// kept, for frame-by-frame updates ([`ClipKernel`]).
    pub fn to_clip_kernel(&self) -> Result<ClipKernel> {
        let last = self.blocks.len() - 1;
        let blocks = self
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let (scale, shift) = b.eval_affine();
                let pool = match i {
                    0 => Some([1, 2, 2]),
                    _ if i == last => None,
                    _ => Some([2, 2, 2]),
                };
                ClipBlock::new(
                    &tensor_to_vec(b.conv_weight.val()),
                    &tensor_to_vec(b.conv_bias.val()),
                    Some((&tensor_to_vec(scale), &tensor_to_vec(shift))),
                    pool,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        ClipKernel::new(self.shape, self.shape[1] > 1, blocks, self.fc_host())
    }

    /// The linear layer (`[K, 64]` and `[K]`) on the host.
    pub(crate) fn fc_host(&self) -> HostLinear {
        HostLinear::new(
            tensor_to_vec(self.fc_weight.val()),
            tensor_to_vec(self.fc_bias.val()),
        )
        .expect("from_weights loaded a [K, 64] weight and K biases")
    }

    /// Training-mode forward pass: logits and each block's batch statistics (detached).
    pub fn forward_train(&self, x: Tensor<5>) -> (Tensor<2>, Vec<BatchStats>) {
        self.run(x, true)
    }

    /// Evaluation-mode logits for clips `[N, 3, F, H, W]`.
    pub fn forward_clip(&self, x: Tensor<5>) -> Tensor<2> {
        self.run(x, false).0
    }

    /// Replaces every block's running statistics.
    pub fn set_running_stats(&self, stats: &[BatchStats]) {
        for (block, s) in self.blocks.iter().zip(stats) {
            block.set_running_stats(s);
        }
    }

    /// Every block's running statistics.
    pub fn running_stats(&self) -> Vec<BatchStats> {
        self.blocks.iter().map(Block::running_stats).collect()
    }

    /// Every tensor under its PyTorch name, for saving.
    pub fn host_tensors(&self) -> BTreeMap<String, HostTensor> {
        let mut out = BTreeMap::new();
        for (i, b) in self.blocks.iter().enumerate() {
            b.host_tensors(&format!("conv{}", i + 1), &mut out);
        }
        out.insert("fc.weight".into(), host_tensor(self.fc_weight.val()));
        out.insert("fc.bias".into(), host_tensor(self.fc_bias.val()));
        out
    }
}

/// Max pool (1, 2, 2); a clip smaller than 2 × 2 passes.
fn pool_space(x: Tensor<5>) -> Tensor<5> {
    let [_, _, _, h, w] = x.dims();
    if h < 2 || w < 2 {
        return x;
    }
    max_pool3d(x, [1, 2, 2])
}

/// Max pool over time with kernel and stride 2 (an odd last frame dropped); a single frame passes.
fn pool_time(x: Tensor<5>) -> Tensor<5> {
    if x.dims()[2] < 2 {
        return x;
    }
    max_pool3d(x, [2, 1, 1])
}

impl Network for C3dLite {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, _] = x.dims();
        let [c, f, h, w] = self.shape;
        self.forward_clip(x.reshape([n, c, f, h, w]))
    }

    /// Long clips go through [`ChunkedC3dLite`] (the same numbers in bounded memory), the others
    /// through the [`ClipKernel`] (1.4-2.2x faster than burn's generic path on the CPU).
    fn host_kernel(&self) -> Option<Box<dyn HostKernel>> {
        if worth_chunking(self.shape[1]) {
            return Some(Box::new(ChunkedC3dLite::new(self)));
        }
        Some(Box::new(self.to_clip_kernel().ok()?))
    }

    fn clip_kernel(&self) -> Option<ClipKernel> {
        self.to_clip_kernel().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn clip(n: usize, shape: [usize; 4], seed: usize) -> Vec<f32> {
        let d: usize = shape.iter().product();
        (0..n * d)
            .map(|i| ((i * 2654435761 + seed * 97) % 1009) as f32 / 1009.0)
            .collect()
    }

    #[test]
    fn pooling_matches_a_direct_max() {
        let device = Device::flex();
        let (n, c, f, h, w) = (1, 2, 5, 4, 6);
        let data: Vec<f32> = (0..n * c * f * h * w)
            .map(|i| ((i * 37) % 101) as f32)
            .collect();
        let x = Tensor::<5>::from_data(TensorData::new(data.clone(), [n, c, f, h, w]), &device);
        let got = tensor_to_vec(pool_time(pool_space(x)));
        let at = |ci: usize, t: usize, y: usize, xx: usize| data[((ci * f + t) * h + y) * w + xx];
        let mut want = Vec::new();
        for ci in 0..c {
            for t in 0..f / 2 {
                for y in 0..h / 2 {
                    for xx in 0..w / 2 {
                        let mut m = f32::MIN;
                        for (dt, dy, dx) in (0..8).map(|k| (k / 4, (k / 2) % 2, k % 2)) {
                            m = m.max(at(ci, 2 * t + dt, 2 * y + dy, 2 * xx + dx));
                        }
                        want.push(m);
                    }
                }
            }
        }
        assert_eq!(got, want);
    }

    #[test]
    fn static_clips_give_the_same_logits_whatever_the_picture() {
        // Frame differences of a still clip are zero, so every still clip looks the same.
        let device = Device::flex();
        let shape = [3, 4, 8, 8];
        let net = C3dLite::init(5, &shape, &device, 1).unwrap();
        let still = |v: f32| {
            Tensor::<2>::from_data(TensorData::new(vec![v; 3 * 4 * 64], [1, 768]), &device)
        };
        let a = tensor_to_vec(net.forward(still(0.2)));
        let b = tensor_to_vec(net.forward(still(0.9)));
        assert_eq!(a, b);
        let moving = Tensor::<2>::from_data(TensorData::new(clip(1, shape, 3), [1, 768]), &device);
        assert_ne!(tensor_to_vec(net.forward(moving)), a);
    }

    #[test]
    fn training_mode_with_running_stats_set_to_the_batch_equals_evaluation_mode() {
        let device = Device::flex();
        let shape = [3, 6, 8, 12];
        let d: usize = shape.iter().product();
        let net = C3dLite::init(4, &shape, &device, 2).unwrap();
        let x = Tensor::<5>::from_data(
            TensorData::new(clip(1, shape, 5), [1, 3, 6, 8, 12]),
            &device,
        );
        let (train_logits, stats) = net.forward_train(x.clone());
        // With one example the unbiased correction differs; undo it before comparing.
        let counts = [5 * 8 * 12, 5 * 4 * 6, 2 * 2 * 3];
        let biased: Vec<BatchStats> = stats
            .iter()
            .zip(counts)
            .map(|(s, m)| BatchStats {
                mean: s.mean.clone(),
                var: s
                    .var
                    .iter()
                    .map(|v| v * (m as f32 - 1.0) / m as f32)
                    .collect(),
            })
            .collect();
        net.set_running_stats(&biased);
        let eval = tensor_to_vec(net.forward(x.reshape([1, d])));
        for (a, b) in tensor_to_vec(train_logits).iter().zip(&eval) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn a_single_frame_model_runs_and_weights_round_trip() {
        let device = Device::flex();
        let net = C3dLite::init(3, &[3, 1, 8, 8], &device, 4).unwrap();
        let x =
            Tensor::<2>::from_data(TensorData::new(clip(2, [3, 1, 8, 8], 1), [2, 192]), &device);
        assert_eq!(net.forward(x).dims(), [2, 3]);
        let mut w = Weights::from_tensors("t", net.host_tensors());
        C3dLite::from_weights(&mut w, 3, &[3, 16, 8, 8], &device).unwrap();
        w.finish().unwrap();
        assert!(C3dLite::check_input(&[1, 16, 8, 8]).is_err());
    }
}
