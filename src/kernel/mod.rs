//! Host kernels: networks evaluated by hand on host memory, where burn's generic CPU path is slow.
//!
//! burn-flex's autodiff is the reference and runs everywhere; on the CPU a hand-written forward
//! pass and input gradient of a known shape of network is 2-5x faster (docs/benchmarks.md). This
//! module is the toolkit those kernels share, free of any model or burn type: the one
//! bounds-checked GEMM ([`gemm`]), kernel-3 one-dimensional convolutions ([`conv1d`]), N-d
//! convolutions of any geometry with their input gradient ([`conv_nd`], the ONNX interpreter's),
//! N-d max pooling ([`max_pool_nd`]), LSTM layers with backpropagation through time ([`lstm`]),
//! 3 × 3 patches ([`patches`]), fused max pool and ReLU ([`pool`]), the linear head ([`linear`]), and
//! [`clip::ClipKernel`], plain 3-D CNNs with every activation kept so that a few changed frames
//! cost only what they reach. A model family provides a [`HostKernel`] from these pieces
//! (`model::Network::host_kernel`); the classifier uses it on the CPU instead of burn's autodiff.

pub mod clip;
pub mod conv1d;
pub mod conv_nd;
pub mod gemm;
pub mod heap;
pub mod linear;
pub mod local1d;
pub mod lstm;
pub mod max_pool_nd;
pub mod patches;
pub mod pool;

/// A network's forward pass and input gradient on host memory. Inputs are flattened, already
/// standardised batches `[n, d]`; outputs are the network's scores `[n, S]` (S = frames × classes).
pub trait HostKernel: Send + Sync {
    /// Scores `[n, S]`.
    fn logits(&self, x: &[f32], n: usize) -> Vec<f32>;
    /// One example `x` (standardised) with its activations kept, for inputs that differ from it
    /// in a short stretch; `None` (the default) where the network has no cheaper way than
    /// [`logits`](Self::logits).
    fn local(&self, _x: &[f32]) -> Option<Box<dyn LocalKernel + '_>> {
        None
    }
    /// Scores `[n, S]` and the gradient `[n, d]` of an objective whose derivative with respect to
    /// example `i`'s scores is `dscores(i, scores_i)`.
    fn input_gradient(
        &self,
        x: &[f32],
        n: usize,
        dscores: &(dyn Fn(usize, &[f32]) -> Vec<f32> + Sync),
    ) -> (Vec<f32>, Vec<f32>);
}

/// One example evaluated with every activation kept (see [`HostKernel::local`]): the scores of an
/// input that differs from it only in a stretch cost only what that stretch reaches, and equal
/// [`HostKernel::logits`]'s to the bit.
pub trait LocalKernel: Send {
    /// The scores `[S]` of the kept input.
    fn scores(&self) -> Vec<f32>;
    /// The scores of `x`, recomputing only what the positions where it differs from the kept input
    /// reach; `x` is held aside until [`keep_last`](Self::keep_last) or the next try.
    fn try_input(&mut self, x: &[f32]) -> Vec<f32>;
    /// Makes the input last tried the kept one.
    fn keep_last(&mut self);
}
