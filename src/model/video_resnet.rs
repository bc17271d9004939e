//! torchvision's video ResNets, `r3d_18` and `r2plus1d_18` (torchvision/models/video/resnet.py), so
//! that a user's PyTorch state dict (Kinetics-400 or fine-tuned) loads unchanged.
//!
//! Both are `VideoResNet` with four stages of two `BasicBlock`s, then a global average pool and
//! `fc`. They differ in the convolution: R3D uses full 3×3×3 kernels (`Conv3DSimple`, stem
//! 3×7×7), R(2+1)D factorises each into a 1×3×3 spatial convolution, batch norm, ReLU and a 3×1×1
//! temporal one (`Conv2Plus1D`, stem 1×7×7 → 45 channels → 3×1×1). Batch norm always runs with its
//! running statistics (eval mode, eps 1e-5): attacks differentiate a fixed function.
//!
//! Stage widths are a parameter ([`VideoResNetSpec::widths`]; torchvision's are 64/128/256/512)
//! only so that test fixtures made by torchvision's own code can be small enough to commit
//! (tools/make_video_resnet_fixtures.py); `model.toml`'s `r3d-18` and `r2plus1d-18` are always
//! torchvision's widths.
//!
//! Inputs are clips `[N, 3, F, H, W]`, already standardised (the classifier applies `input.mean` /
//! `input.std`). Every F, H, W ≥ 1 fits: each convolution pads enough to keep at least one output.

use super::architecture::{Architecture, ModelFiles};
use super::config::ModelConfig;
use super::network::{CompiledNetwork, Network};
use super::weights::{HostTensor, Weights};
use crate::error::{Error, Result};
use burn::module::{Module, Param, RunningState};
use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData, activation::relu};
use std::collections::BTreeMap;

const BN_EPS: f64 = 1e-5;
/// `BasicBlock`s per stage: `[2, 2, 2, 2]` is what makes these the "18" models.
const BLOCKS_PER_STAGE: usize = 2;

/// `architecture = "r3d-18"`: torchvision's `r3d_18`.
pub static R3D_18: Architecture = Architecture {
    name: "r3d-18",
    about: "torchvision's r3d_18 (load your Kinetics state dict): RGB clips [3, F, H, W]",
    needs_weights: true,
    check: |config| VideoResNet::check_input(&config.input.shape),
    build: |config, files, device| {
        build_torchvision(VideoResNetSpec::r3d_18(), config, files, device)
    },
    export: None,
};

/// `architecture = "r2plus1d-18"`: torchvision's `r2plus1d_18`.
pub static R2PLUS1D_18: Architecture = Architecture {
    name: "r2plus1d-18",
    about: "torchvision's r2plus1d_18 (load your Kinetics state dict): RGB clips [3, F, H, W]",
    needs_weights: true,
    check: |config| VideoResNet::check_input(&config.input.shape),
    build: |config, files, device| {
        build_torchvision(VideoResNetSpec::r2plus1d_18(), config, files, device)
    },
    export: None,
};

fn build_torchvision(
    spec: VideoResNetSpec,
    config: &ModelConfig,
    files: &mut ModelFiles,
    device: &Device,
) -> Result<CompiledNetwork> {
    let (k, shape) = (config.classes.len(), &config.input.shape);
    let net = VideoResNet::from_weights(files.weights()?, &spec, k, shape, device)?;
    Ok(CompiledNetwork::new(net, device))
}

/// Which convolution the network is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `r3d_18`: `BasicStem` and `Conv3DSimple`.
    R3d,
    /// `r2plus1d_18`: `R2Plus1dStem` and `Conv2Plus1D`.
    R2Plus1d,
}

/// Everything that fixes the architecture apart from the number of classes and the clip size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoResNetSpec {
    /// The convolution type.
    pub variant: Variant,
    /// Output channels of the four stages; the stem outputs `widths[0]`. torchvision: 64/128/256/512.
    pub widths: [usize; 4],
    /// Channels between the R(2+1)D stem's spatial and temporal convolutions (torchvision: 45;
    /// unused by R3D).
    pub stem_mid: usize,
}

impl VideoResNetSpec {
    /// torchvision's `r3d_18`.
    pub const fn r3d_18() -> Self {
        Self {
            variant: Variant::R3d,
            widths: [64, 128, 256, 512],
            stem_mid: 45,
        }
    }

    /// torchvision's `r2plus1d_18`.
    pub const fn r2plus1d_18() -> Self {
        Self {
            variant: Variant::R2Plus1d,
            widths: [64, 128, 256, 512],
            stem_mid: 45,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.widths.contains(&0) || self.stem_mid == 0 {
            return Err(Error::invalid(
                "widths",
                format!(
                    "every width must be positive, got {:?} (stem {})",
                    self.widths, self.stem_mid
                ),
            ));
        }
        Ok(())
    }
}

/// A bias-free `nn.Conv3d`, as everywhere in these networks.
#[derive(Module, Debug)]
struct Conv {
    weight: Param<Tensor<5>>,
    stride: [usize; 3],
    padding: [usize; 3],
}

impl Conv {
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let options = ConvOptions::new(self.stride, self.padding, [1, 1, 1], 1);
        conv3d(x, self.weight.val(), None, options)
    }
}

/// `nn.BatchNorm3d` in eval mode.
#[derive(Module, Debug)]
struct BatchNorm {
    weight: Param<Tensor<1>>,
    bias: Param<Tensor<1>>,
    running_mean: RunningState<Tensor<1>>,
    running_var: RunningState<Tensor<1>>,
}

impl BatchNorm {
    /// One per-channel affine map `x·scale + shift`, so the activations are read once.
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let scale = self.weight.val() / (self.running_var.value() + BN_EPS).sqrt();
        let shift = self.bias.val() - self.running_mean.value() * scale.clone();
        let [c] = scale.dims();
        x * scale.reshape([1, c, 1, 1, 1]) + shift.reshape([1, c, 1, 1, 1])
    }
}

/// A convolution followed by batch norm (a stem stage before its ReLU, or a `downsample`).
#[derive(Module, Debug)]
struct ConvNorm {
    conv: Conv,
    norm: BatchNorm,
}

impl ConvNorm {
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.norm.forward(self.conv.forward(x))
    }
}

/// What torchvision's `conv_builder` makes: `Conv3DSimple` is `first` alone; `Conv2Plus1D` is
/// `first` (the spatial 1×3×3 convolution), then `temporal`.
#[derive(Module, Debug)]
struct ConvUnit {
    first: Conv,
    temporal: Option<Temporal>,
}

/// The second half of `Conv2Plus1D`: batch norm, ReLU, then the temporal 3×1×1 convolution.
#[derive(Module, Debug)]
struct Temporal {
    norm: BatchNorm,
    conv: Conv,
}

impl ConvUnit {
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let x = self.first.forward(x);
        match &self.temporal {
            Some(t) => t.conv.forward(relu(t.norm.forward(x))),
            None => x,
        }
    }
}

/// torchvision's `BasicBlock`: two convolution units with a residual connection.
#[derive(Module, Debug)]
struct Block {
    conv1: ConvUnit,
    bn1: BatchNorm,
    conv2: ConvUnit,
    bn2: BatchNorm,
    downsample: Option<ConvNorm>,
}

impl Block {
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let out = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let out = self.bn2.forward(self.conv2.forward(out));
        let residual = match &self.downsample {
            Some(d) => d.forward(x),
            None => x,
        };
        relu(out + residual)
    }
}

/// The network; see the module docs.
#[derive(Module, Debug)]
pub struct VideoResNet {
    /// Each stage is followed by a ReLU.
    stem: Vec<ConvNorm>,
    blocks: Vec<Block>,
    fc_weight: Param<Tensor<2>>,
    fc_bias: Param<Tensor<1>>,
    /// `[F, H, W]` of the clips that [`Network::forward`] receives flattened.
    clip: [usize; 3],
}

impl VideoResNet {
    /// Builds the network for `classes` outputs and clips of `input_shape` (`[3, F, H, W]`) from
    /// PyTorch-named weights (`stem.0.weight`, `layer1.0.conv1.0.weight`, …, `fc.bias`). Every
    /// tensor is taken from `weights`; call [`Weights::finish`] afterwards to reject leftovers.
    pub fn from_weights(
        weights: &mut Weights,
        spec: &VideoResNetSpec,
        classes: usize,
        input_shape: &[usize],
        device: &Device,
    ) -> Result<Self> {
        build(
            &mut Source::File(weights),
            spec,
            classes,
            input_shape,
            device,
        )
    }

    /// A network initialised as torchvision initialises it (Kaiming-normal convolutions with
    /// fan-out, identity batch norm, `fc` weights N(0, 0.01) and zero bias), drawn from `seed`.
    pub fn init(
        spec: &VideoResNetSpec,
        classes: usize,
        input_shape: &[usize],
        device: &Device,
        seed: u64,
    ) -> Result<Self> {
        let mut source = Source::init(seed);
        build(&mut source, spec, classes, input_shape, device)
    }

    /// The tensors [`init`](Self::init) draws, under their PyTorch names, for writing a weight
    /// file or building through [`Weights::from_tensors`].
    pub fn init_tensors(
        spec: &VideoResNetSpec,
        classes: usize,
        seed: u64,
    ) -> Result<BTreeMap<String, HostTensor>> {
        let mut source = Source::init(seed);
        // The smallest clip; the tensors do not depend on it.
        build(&mut source, spec, classes, &[3, 1, 1, 1], &Device::flex())?;
        match source {
            Source::Init { made, .. } => Ok(made),
            Source::File(_) => unreachable!("an init source stays one"),
        }
    }

    /// Checks that clips of `shape` fit: `[3, F, H, W]` with F, H, W ≥ 1.
    pub fn check_input(shape: &[usize]) -> Result<()> {
        match shape {
            [3, f, h, w] if *f > 0 && *h > 0 && *w > 0 => Ok(()),
            _ => Err(Error::invalid(
                "input.shape",
                format!(
                    "video ResNets take RGB clips [3, frames, height, width] with every extent \
                     at least 1 (torchvision's are [3, 16, 112, 112]), got {shape:?}"
                ),
            )),
        }
    }

    /// Logits `[N, K]` for standardised clips `[N, 3, F, H, W]` of any F, H, W ≥ 1.
    pub fn forward_clip(&self, x: Tensor<5>) -> Tensor<2> {
        let mut x = x;
        for stage in &self.stem {
            x = relu(stage.forward(x));
        }
        for block in &self.blocks {
            x = block.forward(x);
        }
        // AdaptiveAvgPool3d(1) and flatten: the mean over all positions.
        let [n, c, f, h, w] = x.dims();
        let pooled: Tensor<2> = x.reshape([n, c, f * h * w]).mean_dim(2).reshape([n, c]);
        pooled.matmul(self.fc_weight.val().transpose()) + self.fc_bias.val().unsqueeze::<2>()
    }
}

impl Network for VideoResNet {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, _] = x.dims();
        let [f, h, w] = self.clip;
        self.forward_clip(x.reshape([n, 3, f, h, w]))
    }
}

/// Where the builder gets its tensors: a weight file, or a fresh initialisation (which keeps what
/// it drew, for [`VideoResNet::init_tensors`]).
enum Source<'a> {
    File(&'a mut Weights),
    Init {
        rng: Box<rand_chacha::ChaCha8Rng>,
        made: BTreeMap<String, HostTensor>,
    },
}

impl Source<'_> {
    fn init(seed: u64) -> Self {
        use rand::SeedableRng;
        Source::Init {
            rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
            made: BTreeMap::new(),
        }
    }

    fn tensor<const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>> {
        match self {
            Source::File(weights) => weights.take(key, shape, device),
            Source::Init { rng, made } => {
                let data = init_values(rng, key, &shape);
                let t = HostTensor {
                    shape: shape.to_vec(),
                    data,
                };
                let tensor = Tensor::from_data(TensorData::new(t.data.clone(), shape), device);
                made.insert(key.to_string(), t);
                Ok(tensor)
            }
        }
    }

    fn param<const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Param<Tensor<D>>> {
        Ok(Param::from_tensor(self.tensor(key, shape, device)?))
    }

    fn state<const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<RunningState<Tensor<D>>> {
        Ok(RunningState::new(self.tensor(key, shape, device)?))
    }
}

/// torchvision's initial value of tensor `key` (VideoResNet.__init__), told apart by name and rank.
fn init_values(rng: &mut rand_chacha::ChaCha8Rng, key: &str, shape: &[usize]) -> Vec<f32> {
    use rand::Rng;
    let n: usize = shape.iter().product();
    let normal = |rng: &mut rand_chacha::ChaCha8Rng, std: f32| -> Vec<f32> {
        let d = rand_distr::Normal::new(0.0, std).expect("a positive finite std");
        (0..n).map(|_| rng.sample(d)).collect()
    };
    if shape.len() == 5 {
        // kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = √(2 / (C_out · kernel)).
        let fan_out = shape[0] * shape[2] * shape[3] * shape[4];
        normal(rng, (2.0 / fan_out as f32).sqrt())
    } else if key == "fc.weight" {
        normal(rng, 0.01)
    } else if key.ends_with("running_var") || (shape.len() == 1 && key.ends_with(".weight")) {
        vec![1.0; n]
    } else {
        // Batch-norm bias and running mean, fc bias.
        vec![0.0; n]
    }
}

fn build(
    src: &mut Source,
    spec: &VideoResNetSpec,
    classes: usize,
    input_shape: &[usize],
    device: &Device,
) -> Result<VideoResNet> {
    VideoResNet::check_input(input_shape)?;
    spec.validate()?;
    if classes == 0 {
        return Err(Error::invalid("classes", "at least one class is needed"));
    }
    let mut b = Builder { src, device };
    let w0 = spec.widths[0];
    let stem = match spec.variant {
        Variant::R3d => vec![b.conv_norm("stem.0", "stem.1", 3, w0, [3, 7, 7], [1, 2, 2])?],
        Variant::R2Plus1d => vec![
            b.conv_norm("stem.0", "stem.1", 3, spec.stem_mid, [1, 7, 7], [1, 2, 2])?,
            b.conv_norm("stem.3", "stem.4", spec.stem_mid, w0, [3, 1, 1], [1, 1, 1])?,
        ],
    };
    let mut blocks = Vec::with_capacity(4 * BLOCKS_PER_STAGE);
    let mut inplanes = w0;
    for (stage, &planes) in spec.widths.iter().enumerate() {
        for i in 0..BLOCKS_PER_STAGE {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let prefix = format!("layer{}.{i}", stage + 1);
            blocks.push(b.block(&prefix, spec.variant, inplanes, planes, stride)?);
            inplanes = planes;
        }
    }
    let fc_weight = b.src.param("fc.weight", [classes, inplanes], device)?;
    let fc_bias = b.src.param("fc.bias", [classes], device)?;
    Ok(VideoResNet {
        stem,
        blocks,
        fc_weight,
        fc_bias,
        clip: [input_shape[1], input_shape[2], input_shape[3]],
    })
}

/// Builds the pieces under their PyTorch key prefixes.
struct Builder<'s, 'a, 'd> {
    src: &'s mut Source<'a>,
    device: &'d Device,
}

impl Builder<'_, '_, '_> {
    /// A convolution with "same" padding (`kernel / 2`), which every non-1×1 convolution here has.
    fn conv(
        &mut self,
        key: &str,
        cin: usize,
        cout: usize,
        kernel: [usize; 3],
        stride: [usize; 3],
    ) -> Result<Conv> {
        let [kd, kh, kw] = kernel;
        Ok(Conv {
            weight: self.src.param(
                &format!("{key}.weight"),
                [cout, cin, kd, kh, kw],
                self.device,
            )?,
            stride,
            padding: kernel.map(|k| k / 2),
        })
    }

    fn norm(&mut self, key: &str, c: usize) -> Result<BatchNorm> {
        let d = self.device;
        Ok(BatchNorm {
            weight: self.src.param(&format!("{key}.weight"), [c], d)?,
            bias: self.src.param(&format!("{key}.bias"), [c], d)?,
            running_mean: self.src.state(&format!("{key}.running_mean"), [c], d)?,
            running_var: self.src.state(&format!("{key}.running_var"), [c], d)?,
        })
    }

    fn conv_norm(
        &mut self,
        conv_key: &str,
        norm_key: &str,
        cin: usize,
        cout: usize,
        kernel: [usize; 3],
        stride: [usize; 3],
    ) -> Result<ConvNorm> {
        Ok(ConvNorm {
            conv: self.conv(conv_key, cin, cout, kernel, stride)?,
            norm: self.norm(norm_key, cout)?,
        })
    }

    /// `conv_builder(cin, cout, midplanes, stride)` under `key` (`layerL.B.convJ.0`).
    fn unit(
        &mut self,
        key: &str,
        variant: Variant,
        cin: usize,
        cout: usize,
        mid: usize,
        stride: usize,
    ) -> Result<ConvUnit> {
        let s = stride;
        Ok(match variant {
            Variant::R3d => ConvUnit {
                first: self.conv(key, cin, cout, [3, 3, 3], [s, s, s])?,
                temporal: None,
            },
            Variant::R2Plus1d => ConvUnit {
                first: self.conv(&format!("{key}.0"), cin, mid, [1, 3, 3], [1, s, s])?,
                temporal: Some(Temporal {
                    norm: self.norm(&format!("{key}.1"), mid)?,
                    conv: self.conv(&format!("{key}.3"), mid, cout, [3, 1, 1], [s, 1, 1])?,
                }),
            },
        })
    }

    fn block(
        &mut self,
        prefix: &str,
        variant: Variant,
        inplanes: usize,
        planes: usize,
        stride: usize,
    ) -> Result<Block> {
        // BasicBlock's midplanes: the R(2+1)D width that gives the factorised pair as many
        // parameters as one 3×3×3 convolution.
        let mid = (inplanes * planes * 27) / (inplanes * 9 + 3 * planes);
        let conv1 = self.unit(
            &format!("{prefix}.conv1.0"),
            variant,
            inplanes,
            planes,
            mid,
            stride,
        )?;
        let bn1 = self.norm(&format!("{prefix}.conv1.1"), planes)?;
        let conv2 = self.unit(
            &format!("{prefix}.conv2.0"),
            variant,
            planes,
            planes,
            mid,
            1,
        )?;
        let bn2 = self.norm(&format!("{prefix}.conv2.1"), planes)?;
        let downsample = if stride != 1 || inplanes != planes {
            // A strided 1×1×1 projection (all three axes for both variants).
            Some(self.conv_norm(
                &format!("{prefix}.downsample.0"),
                &format!("{prefix}.downsample.1"),
                inplanes,
                planes,
                [1, 1, 1],
                [stride; 3],
            )?)
        } else {
            None
        };
        Ok(Block {
            conv1,
            bn1,
            conv2,
            bn2,
            downsample,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::tensor_to_vec;

    /// Parameters (running statistics excluded) of `init_tensors`.
    fn parameter_count(spec: &VideoResNetSpec, classes: usize) -> usize {
        VideoResNet::init_tensors(spec, classes, 0)
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.contains("running_"))
            .map(|(_, t)| t.data.len())
            .sum()
    }

    #[test]
    fn full_size_parameter_counts_are_torchvisions() {
        // sum(p.numel() for p in torchvision.models.video.r3d_18(num_classes=5).parameters())
        assert_eq!(parameter_count(&VideoResNetSpec::r3d_18(), 5), 33_168_837);
        assert_eq!(
            parameter_count(&VideoResNetSpec::r2plus1d_18(), 5),
            31_302_690
        );
    }

    #[test]
    fn input_shapes_are_checked() {
        for good in [[3, 16, 112, 112], [3, 1, 1, 1], [3, 7, 30, 22]] {
            VideoResNet::check_input(&good).unwrap();
        }
        for bad in [
            &[3, 16, 112][..],
            &[1, 16, 112, 112],
            &[3, 0, 112, 112],
            &[],
        ] {
            let err = VideoResNet::check_input(bad).unwrap_err().to_string();
            assert!(
                err.contains("input.shape") && err.contains("[3, frames"),
                "{err}"
            );
        }
    }

    /// A small network whose widths all differ, so that a transposed axis cannot go unnoticed.
    fn tiny(variant: Variant) -> VideoResNetSpec {
        VideoResNetSpec {
            variant,
            widths: [4, 5, 6, 8],
            stem_mid: 3,
        }
    }

    #[test]
    fn init_is_seeded_and_init_tensors_build_the_same_network() {
        let device = Device::flex();
        let spec = tiny(Variant::R2Plus1d);
        let shape = [3, 3, 9, 7];
        let x = Tensor::<2>::from_data(
            TensorData::new(
                (0..2 * 3 * 3 * 9 * 7)
                    .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                    .collect::<Vec<f32>>(),
                [2, 3 * 3 * 9 * 7],
            ),
            &device,
        );
        let a = VideoResNet::init(&spec, 3, &shape, &device, 9).unwrap();
        let mut w = Weights::from_tensors("t", VideoResNet::init_tensors(&spec, 3, 9).unwrap());
        let b = VideoResNet::from_weights(&mut w, &spec, 3, &shape, &device).unwrap();
        w.finish().unwrap();
        let c = VideoResNet::init(&spec, 3, &shape, &device, 10).unwrap();
        let (la, lb, lc) = (
            tensor_to_vec(a.forward(x.clone())),
            tensor_to_vec(b.forward(x.clone())),
            tensor_to_vec(c.forward(x)),
        );
        assert_eq!(la, lb);
        assert_ne!(la, lc);
    }

    /// burn's autodiff input gradient through the whole forward pass against a central finite
    /// difference: attacks only ever need ∂loss/∂input. In float64, so that the step can be small
    /// enough to cross (almost) no ReLU kink while the difference stays far above rounding.
    #[test]
    fn input_gradient_matches_finite_differences() {
        use burn::module::ModuleMapper;
        use burn::tensor::DType;
        use burn::tensor::activation::log_softmax;
        use rand::{Rng, SeedableRng};

        struct ToF64;
        impl ModuleMapper for ToF64 {
            fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
                p.map(|t| t.cast(DType::F64))
            }
        }

        let ad = Device::flex().autodiff();
        let (n, shape, classes) = (2, [3usize, 4, 10, 9], 3);
        let d: usize = shape.iter().product();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut random =
            |len: usize| -> Vec<f64> { (0..len).map(|_| rng.random_range(-1.0..1.0)).collect() };
        // from_data alone would store the device's default float type.
        let upload = |v: Vec<f64>, shape: [usize; 2]| {
            Tensor::<2>::from_data(TensorData::new(v, shape), (&ad, DType::F64))
        };
        for variant in [Variant::R3d, Variant::R2Plus1d] {
            let spec = tiny(variant);
            let mut tensors = VideoResNet::init_tensors(&spec, classes, 4).unwrap();
            // Non-trivial batch norm and fc, or the check would mostly see identity maps.
            for (k, t) in tensors.iter_mut().filter(|(_, t)| t.shape.len() < 5) {
                let around_one =
                    k.ends_with("running_var") || (k.ends_with(".weight") && t.shape.len() == 1);
                let jitter = random(t.data.len());
                for (v, j) in t.data.iter_mut().zip(jitter) {
                    let j = j as f32;
                    *v = if around_one { 1.0 + 0.4 * j } else { 0.3 * j };
                }
            }
            let mut w = Weights::from_tensors("t", tensors);
            let net = VideoResNet::from_weights(&mut w, &spec, classes, &shape, &ad)
                .unwrap()
                .map(&mut ToF64);
            let labels = [2usize, 0];
            let onehot: Vec<f64> = (0..n * classes)
                .map(|i| (labels[i / classes] == i % classes) as u8 as f64)
                .collect();
            let loss = |x: Tensor<2>| {
                let oh = upload(onehot.clone(), [n, classes]);
                (log_softmax(net.forward(x), 1) * oh).sum().neg()
            };
            let x = random(n * d);
            let xt = upload(x.clone(), [n, d]).require_grad();
            let grads = loss(xt.clone()).backward();
            let grad: Vec<f64> = xt
                .grad(&grads)
                .expect("the input is tracked")
                .into_data()
                .convert::<f64>()
                .try_to_vec::<f64>()
                .unwrap();
            // FGSM's direction sign(∇), and a random one.
            let sign = grad.iter().map(|g| g.signum()).collect();
            for dir in [sign, random(n * d)] {
                let h = 1e-6;
                let at = |s: f64| -> f64 {
                    let xs = x.iter().zip(&dir).map(|(a, b)| a + s * h * b).collect();
                    loss(upload(xs, [n, d])).into_scalar::<f64>()
                };
                let numeric = (at(1.0) - at(-1.0)) / (2.0 * h);
                let analytic: f64 = grad.iter().zip(&dir).map(|(g, v)| g * v).sum();
                assert!(
                    (numeric - analytic).abs() <= 1e-5 * analytic.abs().max(1.0),
                    "{variant:?}: finite difference {numeric} vs autodiff {analytic}"
                );
            }
        }
    }
}
