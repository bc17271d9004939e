//! RawAudioCNN, the ART audio notebook's raw-waveform classifier (an AudioNet adaptation).
//!
//! Eight blocks of Conv1d(kernel 3) → BatchNorm1d → ReLU → MaxPool1d, then a linear layer:
//! 8000 samples → 8002 → 4000 → 2000 → … → 62 → 60 (the unpadded conv8) → 30; 32·30 = 960 → K.
//! Key names are PyTorch's (`conv1.0.weight`, `conv1.1.running_mean`, …, `fc.bias`).

pub mod host;
pub mod layout;

pub use layout::INPUT_LEN;

use super::architecture::Architecture;
use super::batch_stats::BatchStats;
use super::conv_bn::{BN_EPS, ConvBn, host_tensor, uniform};
use super::network::{CompiledNetwork, Network};
use super::weights::{HostTensor, Weights};
use crate::array::tensor_to_vec;
use crate::error::{Error, Result};
use crate::kernel::HostKernel;
use crate::kernel::linear::HostLinear;
use burn::module::{Module, Param};
use burn::tensor::module::{conv1d, max_pool1d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, activation::relu};
use host::{BlockParams, RawAudioCnnHost};
use layout::{BLOCKS, FC_IN};

mod export;

/// `architecture = "raw-audio-cnn"`.
pub static ARCHITECTURE: Architecture = Architecture {
    name: "raw-audio-cnn",
    about: "the ART audio notebook's raw-waveform CNN: 8 conv blocks on [1, 8000] (1 s at 8 kHz)",
    needs_weights: true,
    check: |config| RawAudioCnn::check_input(&config.input.shape),
    build: |config, files, device| {
        RawAudioCnn::check_input(&config.input.shape)?;
        let net = RawAudioCnn::from_weights(files.weights()?, config.classes.len(), device)?;
        Ok(CompiledNetwork::new(net, device))
    },
    export: Some(export::export),
};

/// One Conv1d → BatchNorm1d block (ReLU and max pool follow in the forward pass).
pub type Block = ConvBn<3>;

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
            let prefix = format!("conv{}", i + 1);
            blocks.push(Block::load(weights, &prefix, [cout, cin, 3], device)?);
        }
        let fc_weight = weights.param("fc.weight", [classes, FC_IN], device)?;
        let fc_bias = weights.param("fc.bias", [classes], device)?;
        Ok(Self {
            blocks,
            fc_weight,
            fc_bias,
        })
    }

    /// Number of outputs.
    pub fn classes(&self) -> usize {
        self.fc_bias.dims()[0]
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
            let (scale, shift) = block.eval_affine();
            let [c] = scale.dims();
            x = x * scale.reshape([1, c, 1]) + shift.reshape([1, c, 1]);
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

    fn host_kernel(&self) -> Option<Box<dyn HostKernel>> {
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
        let fc = HostLinear::new(
            tensor_to_vec(self.fc_weight.val()),
            host(self.fc_bias.val()),
        )
        .ok()?;
        Some(Box::new(RawAudioCnnHost::new(blocks, fc, BN_EPS)))
    }
}

impl RawAudioCnn {
    /// A freshly initialised network, as PyTorch initialises it (uniform ±1/√fan_in for convolution
    /// and linear weights and biases, batch norm at identity), drawn from `seed`.
    pub fn init(classes: usize, device: &Device, seed: u64) -> Self {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut tensors = std::collections::BTreeMap::new();
        for (i, &(cin, cout, ..)) in BLOCKS.iter().enumerate() {
            Block::init_tensors(
                &mut rng,
                &format!("conv{}", i + 1),
                [cout, cin, 3],
                &mut tensors,
            );
        }
        tensors.insert(
            "fc.weight".into(),
            uniform(&mut rng, vec![classes, FC_IN], FC_IN),
        );
        tensors.insert("fc.bias".into(), uniform(&mut rng, vec![classes], FC_IN));
        let mut weights = Weights::from_tensors("init", tensors);
        Self::from_weights(&mut weights, classes, device).expect("shapes are the architecture's")
    }

    /// Training-mode forward pass on `[N, 1, 8000]`: batch norm normalises with the batch's own
    /// statistics (returned per block, detached, for the running averages).
    ///
    /// Pooling is written as a maximum over strided slices: burn-flex's `max_pool1d` costs more than
    /// all the convolutions (docs/benchmarks.md), and the two agree except on the gradient of exact
    /// ties, which only occur at ReLU's zeros where the gradient is zero anyway.
    pub fn forward_train(&self, x: Tensor<3>) -> (Tensor<2>, Vec<BatchStats>) {
        let mut x = x;
        let mut stats = Vec::with_capacity(self.blocks.len());
        for (block, &(_, _, pad, kernel, stride)) in self.blocks.iter().zip(BLOCKS.iter()) {
            x = conv1d(
                x,
                block.conv_weight.val(),
                Some(block.conv_bias.val()),
                ConvOptions::new([1], [pad], [1], 1),
            );
            let [n, c, l] = x.dims();
            let mean = x.clone().mean_dim(2).mean_dim(0);
            let centred = x - mean.clone();
            let var = centred.clone().square().mean_dim(2).mean_dim(0);
            let count = (n * l) as f32;
            stats.push(BatchStats {
                mean: tensor_to_vec(mean.detach().reshape([c])),
                var: tensor_to_vec(var.clone().detach().reshape([c]))
                    .into_iter()
                    .map(|v| v * count / (count - 1.0).max(1.0))
                    .collect(),
            });
            let normalised = centred / (var + BN_EPS).sqrt();
            x = normalised * block.bn_weight.val().reshape([1, c, 1])
                + block.bn_bias.val().reshape([1, c, 1]);
            x = max_pool_strided(relu(x), kernel, stride);
        }
        let [n, _, _] = x.dims();
        let flat: Tensor<2> = x.reshape([n, FC_IN]);
        let logits =
            flat.matmul(self.fc_weight.val().transpose()) + self.fc_bias.val().unsqueeze::<2>();
        (logits, stats)
    }

    /// Replaces every block's running statistics.
    pub fn set_running_stats(&self, stats: &[BatchStats]) {
        for (block, s) in self.blocks.iter().zip(stats) {
            block.set_running_stats(s);
        }
    }

    /// Every tensor under its PyTorch name, for saving.
    pub fn host_tensors(&self) -> std::collections::BTreeMap<String, HostTensor> {
        let mut out = std::collections::BTreeMap::new();
        for (i, b) in self.blocks.iter().enumerate() {
            b.host_tensors(&format!("conv{}", i + 1), &mut out);
        }
        out.insert("fc.weight".into(), host_tensor(self.fc_weight.val()));
        out.insert("fc.bias".into(), host_tensor(self.fc_bias.val()));
        out
    }
}

/// Max pooling along the last axis (no padding) as a maximum of `kernel` strided slices.
fn max_pool_strided(x: Tensor<3>, kernel: usize, stride: usize) -> Tensor<3> {
    let [n, c, l] = x.dims();
    let out = (l - kernel) / stride + 1;
    if kernel == stride {
        let x = x.slice([0..n, 0..c, 0..out * kernel]);
        return x
            .reshape([n, c, out, kernel])
            .max_dim(3)
            .reshape([n, c, out]);
    }
    (0..kernel)
        .map(|k| {
            x.clone()
                .slice(burn::tensor::s![.., .., k..k + (out - 1) * stride + 1;stride])
        })
        .reduce(|a, b| a.max_pair(b))
        .expect("kernel >= 1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn strided_pool_equals_max_pool1d() {
        let device = Device::flex();
        for (l, kernel, stride) in [(8002, 3, 2), (125, 2, 2), (60, 2, 2), (9, 3, 2)] {
            let data: Vec<f32> = (0..2 * 3 * l).map(|i| ((i * 7919) % 1013) as f32).collect();
            let x = Tensor::<3>::from_data(TensorData::new(data, [2, 3, l]), &device);
            let want = max_pool1d(
                x.clone(),
                MaxPoolOptions::new([kernel]).with_stride([stride]),
            );
            let got = max_pool_strided(x, kernel, stride);
            assert_eq!(tensor_to_vec(got), tensor_to_vec(want), "l {l} k {kernel}");
        }
    }

    /// The host kernel's local pass (kept activations, a changed stretch recomputed) gives the full
    /// pass's scores to the bit, for stretches anywhere (both ends too), kept or dropped in turn.
    #[test]
    fn local_forward_equals_the_full_pass_to_the_bit() {
        let device = Device::flex();
        let kernel = RawAudioCnn::init(10, &device, 3).host_kernel().unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        let x: Vec<f32> = (0..INPUT_LEN)
            .map(|i| (((i * 7919) % 1013) as f32 - 506.0) / 300.0)
            .collect();
        let mut local = kernel.local(&x).unwrap();
        assert_eq!(bits(&local.scores()), bits(&kernel.logits(&x, 1)));
        let mut kept = x;
        let windows = [
            (0, 1),
            (7999, 1),
            (3000, 62),
            (0, 400),
            (7900, 100),
            (1234, 8),
            (10, 4000),
            (4001, 2),
        ];
        for (t, &(lo, len)) in windows.iter().enumerate() {
            let mut y = kept.clone();
            for (j, v) in y.iter_mut().enumerate().skip(lo).take(len) {
                *v = ((j * 31 + t * 17) % 97) as f32 / 50.0 - 1.0;
            }
            let got = local.try_input(&y);
            assert_eq!(bits(&got), bits(&kernel.logits(&y, 1)), "{len} at {lo}");
            if t % 2 == 0 {
                local.keep_last();
                kept = y;
            }
        }
        assert_eq!(
            bits(&local.try_input(&kept)),
            bits(&kernel.logits(&kept, 1))
        );
    }

    #[test]
    fn init_is_seeded_and_round_trips_through_host_tensors() {
        let device = Device::flex();
        let a = RawAudioCnn::init(10, &device, 3).host_tensors();
        let b = RawAudioCnn::init(10, &device, 3).host_tensors();
        assert_eq!(a["conv1.0.weight"].data, b["conv1.0.weight"].data);
        let c = RawAudioCnn::init(10, &device, 4).host_tensors();
        assert_ne!(a["fc.weight"].data, c["fc.weight"].data);
        let mut w = Weights::from_tensors("t", a.clone());
        let net = RawAudioCnn::from_weights(&mut w, 10, &device).unwrap();
        w.finish().unwrap();
        assert_eq!(
            net.host_tensors()["conv8.1.running_var"].data,
            vec![1.0; 32]
        );
    }

    #[test]
    fn hand_written_training_step_matches_autodiff() {
        step_matches_autodiff(None);
    }

    /// TRADES: two passes (the clean batch and a perturbed twin), each with its own batch
    /// statistics, under CE + β·KL(p(x) ‖ p(x')), against the same loss written in burn.
    #[test]
    fn hand_written_trades_step_matches_autodiff() {
        step_matches_autodiff(Some(6.0));
    }

    /// The host step's loss and gradients against burn's autodiff of the same model, for the
    /// cross-entropy (`beta` = `None`) or TRADES at `beta`.
    fn step_matches_autodiff(beta: Option<f32>) {
        use crate::train::loss::{CrossEntropyLoss, TradesLoss, TrainingLoss};
        use burn::tensor::activation::{log_softmax, softmax};
        let device = Device::flex();
        let ad = device.clone().autodiff();
        let model = RawAudioCnn::init(10, &ad, 5);
        let params = model.host_tensors();
        let n = 3;
        let x: Vec<f32> = (0..n * INPUT_LEN)
            .map(|i| (((i * 2654435761) % 20011) as f32 - 10005.0) * 0.1)
            .collect();
        // A second batch unlike the first: a twin close to it would make the two passes' KL
        // gradients nearly cancel, leaving float noise to compare.
        let twin: Vec<f32> = (0..n * INPUT_LEN)
            .map(|i| (((i * 40503) % 16381) as f32 - 8190.0) * 0.3)
            .collect();
        let labels = [1usize, 4, 7];
        let trades = beta.map(|beta| TradesLoss { beta });
        let (passes, host_loss): (Vec<Vec<f32>>, &dyn TrainingLoss) = match &trades {
            None => (vec![x.clone()], &CrossEntropyLoss),
            Some(t) => (vec![x.clone(), twin.clone()], t),
        };
        let step = crate::train::raw_audio_cnn::host_step::train_step(
            &params, &passes, &labels, host_loss,
        );

        let forward = |v: Vec<f32>| {
            model.forward_train(Tensor::<3>::from_data(
                TensorData::new(v, [n, 1, INPUT_LEN]),
                &ad,
            ))
        };
        let (logits, stats) = forward(x);
        let mut onehot = vec![0f32; n * 10];
        for (i, &l) in labels.iter().enumerate() {
            onehot[i * 10 + l] = 1.0;
        }
        let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [n, 10]), &ad);
        let mut loss = (log_softmax(logits.clone(), 1) * onehot).sum().neg() / n as f32;
        if let Some(beta) = beta {
            let (adv_logits, adv_stats) = forward(twin);
            let p = softmax(logits.clone(), 1);
            let kl = (p * (log_softmax(logits, 1) - log_softmax(adv_logits, 1))).sum() / n as f32;
            loss = loss + kl * beta;
            for (a, b) in adv_stats[2].mean.iter().zip(&step.stats[1][2].mean) {
                assert!(
                    (a - b).abs() <= 1e-3 * a.abs().max(1.0),
                    "twin mean {a} vs {b}"
                );
            }
        }
        let loss_value = tensor_to_vec(loss.clone().detach())[0];
        assert!(
            (loss_value - step.loss).abs() < 1e-4 * loss_value.abs().max(1.0),
            "loss {} vs autodiff {loss_value}",
            step.loss
        );
        let grads = loss.backward();
        let close = |name: &str, want: Vec<f32>| {
            let got = &step.grads[name];
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let err = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= 2e-3 * scale,
                "{name}: max error {err} vs scale {scale}"
            );
        };
        for (i, b) in model.blocks.iter().enumerate() {
            let p = format!("conv{}", i + 1);
            close(
                &format!("{p}.0.weight"),
                tensor_to_vec(b.conv_weight.val().grad(&grads).unwrap()),
            );
            // Batch norm removes a bias before it: both gradients are rounding noise around 0
            // (larger under TRADES, whose two passes' gradients are larger).
            let db = &step.grads[&format!("{p}.0.bias")];
            let noise = if beta.is_some() { 2e-4 } else { 1e-5 };
            assert!(
                db.iter().all(|v| v.abs() < noise),
                "{p} bias gradient {db:?}"
            );
            close(
                &format!("{p}.1.weight"),
                tensor_to_vec(b.bn_weight.val().grad(&grads).unwrap()),
            );
            close(
                &format!("{p}.1.bias"),
                tensor_to_vec(b.bn_bias.val().grad(&grads).unwrap()),
            );
            for (a, b) in stats[i].var.iter().zip(&step.stats[0][i].var) {
                assert!(
                    (a - b).abs() <= 1e-3 * a.abs().max(1e-3),
                    "running var {a} vs {b}"
                );
            }
        }
        close(
            "fc.weight",
            tensor_to_vec(model.fc_weight.val().grad(&grads).unwrap()),
        );
        close(
            "fc.bias",
            tensor_to_vec(model.fc_bias.val().grad(&grads).unwrap()),
        );
    }
}
