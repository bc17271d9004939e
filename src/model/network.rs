//! What a model family provides: a network on burn tensors, and optionally host kernels of it.
//!
//! [`Network`] is the one contract every family implements (a burn module with a forward pass on
//! flattened inputs). [`CompiledNetwork`] is that network made ready to evaluate on a device, with
//! the type erased: burn's forward pass for predictions, its autodiff twin for input gradients, and
//! the family's host kernels when the device is the CPU. A classifier adds standardisation and the
//! input description on top (`crate::classifier::NeuralClassifier`).

use crate::kernel::HostKernel;
use crate::kernel::clip::ClipKernel;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

/// A network: flattened, already standardised inputs `[N, d]` to scores `[N, F·K]`: `F` score
/// vectors of `K` classes per example (F = 1 for a classifier of whole examples; one per window or
/// frame for a detector such as a voice-activity model).
pub trait Network: Send + Sync {
    /// The forward pass. Must accept inputs on a plain device and, for a network built for
    /// gradients, on its autodiff twin.
    fn forward(&self, x: Tensor<2>) -> Tensor<2>;

    /// A hand-written implementation of the same network on host memory, used instead of burn's
    /// autodiff when the network runs on the flex (CPU) device. `None` (the default) always uses
    /// burn.
    fn host_kernel(&self) -> Option<Box<dyn HostKernel>> {
        None
    }

    /// The same network as a [`ClipKernel`], for clip sessions (a few frames of a clip changed at
    /// a time) on the flex device. `None` (the default) where the network is not of that form.
    fn clip_kernel(&self) -> Option<ClipKernel> {
        None
    }
}

/// The most memory one clip session may hold; networks whose sessions need more take the ordinary
/// passes (c3d-lite on long clips, which it evaluates in chunks for that reason).
const CLIP_SESSION_BYTES: usize = 1 << 30;

/// A network ready to evaluate on one device; see the module docs.
pub struct CompiledNetwork {
    eval: Box<dyn Network>,
    grad: Box<dyn Network>,
    host: Option<Box<dyn HostKernel>>,
    clip: Option<ClipKernel>,
    device: Device,
    /// Score vectors per example (1 for a classifier of whole examples).
    frames: usize,
}

impl CompiledNetwork {
    /// Wraps `network` (built on `device`) for inference and for input gradients.
    ///
    /// The module is put in evaluation mode (batch norm uses its running statistics) and its
    /// autodiff twin is frozen: attacks need ∂objective/∂input only, so no weight gradient is
    /// ever computed.
    pub fn new<M>(network: M, device: &Device) -> Self
    where
        M: Module + Network + 'static,
    {
        crate::kernel::heap::keep_freed_buffers();
        let grad = network.valid().fork(&device.clone().autodiff()).freeze();
        let eval = network.valid();
        let on_cpu = *device == Device::flex();
        let host = if on_cpu { eval.host_kernel() } else { None };
        let clip = if on_cpu { eval.clip_kernel() } else { None }
            .filter(|k| k.state_bytes() <= CLIP_SESSION_BYTES);
        Self {
            eval: Box::new(eval),
            grad: Box::new(grad),
            host,
            clip,
            device: device.clone(),
            frames: 1,
        }
    }

    /// A network that is not a burn module (an interpreted ONNX graph): `eval` built on `device`,
    /// `grad` the same network on its autodiff twin. No host kernels.
    pub fn from_networks(eval: Box<dyn Network>, grad: Box<dyn Network>, device: &Device) -> Self {
        crate::kernel::heap::keep_freed_buffers();
        Self {
            eval,
            grad,
            host: None,
            clip: None,
            device: device.clone(),
            frames: 1,
        }
    }

    /// Declares that the network gives `frames` score vectors per example (a detector's windows).
    pub fn with_output_frames(mut self, frames: usize) -> Self {
        self.frames = frames.max(1);
        self
    }

    /// Score vectors per example.
    pub fn output_frames(&self) -> usize {
        self.frames
    }

    /// Always burn's autodiff, even where a host kernel exists (for checking one against the
    /// other, and for benchmarks); no clip sessions either.
    pub fn without_host_kernel(mut self) -> Self {
        self.host = None;
        self.clip = None;
        self
    }

    /// The device it computes on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The host kernel, when the network runs on the CPU and has one.
    pub fn host_kernel(&self) -> Option<&dyn HostKernel> {
        self.host.as_deref()
    }

    /// The clip kernel, when the network runs on the CPU and has one small enough for sessions.
    pub fn clip_kernel(&self) -> Option<&ClipKernel> {
        self.clip.as_ref()
    }

    /// burn's forward pass on standardised inputs `x`: scores `[N, F·K]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.eval.forward(x)
    }

    /// The network's forward pass on its autodiff device: for callers that differentiate through
    /// something in front of it (standardisation) with burn.
    pub fn forward_tracked(&self, x: Tensor<2>) -> Tensor<2> {
        self.grad.forward(x)
    }

    /// `scores` (host values `[n·S]`) as an `[n, S]` tensor on the device.
    pub fn upload(&self, scores: Vec<f32>, n: usize) -> Tensor<2> {
        let s = scores.len() / n.max(1);
        Tensor::from_data(TensorData::new(scores, [n, s]), &self.device)
    }
}
