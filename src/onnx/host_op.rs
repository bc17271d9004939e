//! Host kernels as ops of burn's autodiff graph: what the interpreter's per-op kernels on the CPU
//! ([`super::host_conv`], [`super::host_pool`]) share.
//!
//! burn 0.22's tensors dispatch at run time; with its `extension` feature a tensor on the flex
//! (CPU) device gives up its primitive (`Tensor::try_into_primitive`), plain or wrapped in
//! `Autodiff<Flex>`. A [`HostUnaryOp`] runs on that primitive's host memory and, when the input is
//! tracked, registers a backward step in burn's graph (`burn_autodiff::ops::Backward`, as burn's own
//! ops do) that computes the input gradient on the host too. burn's gradients then flow through it
//! as through any other op, so `NeuralClassifier::burn_gradient` is unchanged. Anything else
//! (another device, a non-f32 tensor) gives `None`, and the caller uses burn's generic op.
//!
//! `AVFOIL_ONNX_GENERIC_OPS=1` turns every host op off, for measuring and checking one against the
//! other.

use burn::backend::DispatchKindConversion;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, DispatchTensor, Tensor, TensorData};
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// A differentiable function of one float tensor, computed on host memory.
pub(crate) trait HostUnaryOp: Debug + Send + Sync + 'static {
    /// What the forward pass keeps for the backward one (nothing for a convolution, whose input
    /// gradient needs only its weights; the argmax for max pooling).
    type Saved: Debug + Send + Sync + 'static;

    fn input_dims(&self) -> Vec<usize>;

    fn output_dims(&self) -> Vec<usize>;

    /// The output of a contiguous input of [`Self::input_dims`].
    fn forward(&self, x: &[f32]) -> (Vec<f32>, Self::Saved);

    /// The input's gradient given the output's.
    fn input_grad(&self, saved: &Self::Saved, dy: &[f32]) -> Vec<f32>;
}

/// Whether `AVFOIL_ONNX_GENERIC_OPS` asks for burn's generic ops everywhere.
pub(crate) fn generic_only() -> bool {
    static GENERIC: OnceLock<bool> = OnceLock::new();
    *GENERIC.get_or_init(|| {
        std::env::var("AVFOIL_ONNX_GENERIC_OPS").is_ok_and(|v| !v.is_empty() && v != "0")
    })
}

/// `op(x)` on the host when `x` lives on the flex device (plain, or in burn's autodiff with
/// either checkpointing strategy); `None` otherwise. The output's rank `E` is the length of
/// [`HostUnaryOp::output_dims`].
pub(crate) fn apply<const D: usize, const E: usize, O: HostUnaryOp>(
    x: &Tensor<D>,
    op: O,
) -> Option<Tensor<E>> {
    assert_eq!(op.output_dims().len(), E, "a host op's output rank");
    let op = Arc::new(op);
    if let Ok(plain) = x.clone().try_into_primitive::<Flex>() {
        let (y, _) = op.forward(slice(&f32_contiguous(plain)?));
        return Some(Tensor::from_primitive::<Flex>(flex(y, op.output_dims())));
    }
    tracked::<D, E, O, NoCheckpointing>(x, &op)
        .or_else(|| tracked::<D, E, O, BalancedCheckpointing>(x, &op))
}

/// The forward pass on an input inside burn's autodiff (strategy `C`), with the backward step
/// registered when the input is tracked.
fn tracked<const D: usize, const E: usize, O: HostUnaryOp, C: CheckpointStrategy>(
    x: &Tensor<D>,
    op: &Arc<O>,
) -> Option<Tensor<E>>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let ad = x.clone().try_into_primitive::<Autodiff<Flex, C>>().ok()?;
    let input = f32_contiguous(ad.primitive().clone())?;
    let (y, saved) = op.forward(slice(&input));
    let y = flex(y, op.output_dims());
    let out = match HostBackward::<O>(PhantomData)
        .prepare::<C>([ad.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Step {
                op: Arc::clone(op),
                saved: Arc::new(saved),
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex, C>>(out))
}

/// A constant operand (a weight, a bias) as a contiguous f32 flex tensor: a plain flex tensor, or
/// an untracked one inside the autodiff graph. `None` for a tracked one (host ops compute no
/// gradient for it) or one on another device.
pub(crate) fn constant<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    let inner = match t.clone().try_into_primitive::<Flex>() {
        Ok(plain) => plain,
        Err(_) => untracked::<D, NoCheckpointing>(t)
            .or_else(|| untracked::<D, BalancedCheckpointing>(t))?,
    };
    f32_contiguous(inner)
}

/// The flex tensor inside `t` when `t` is an untracked tensor of burn's autodiff (strategy `C`).
fn untracked<const D: usize, C: CheckpointStrategy>(t: &Tensor<D>) -> Option<FlexTensor>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let ad = t.clone().try_into_primitive::<Autodiff<Flex, C>>().ok()?;
    (!ad.is_tracked()).then(|| ad.into_primitive())
}

/// `t` with contiguous f32 storage (a copy only when its layout is strided), `None` for another
/// dtype.
fn f32_contiguous(t: FlexTensor) -> Option<FlexTensor> {
    if t.dtype() != DType::F32 {
        return None;
    }
    if t.as_slice::<f32>().is_some() {
        Some(t)
    } else {
        Some(t.to_contiguous())
    }
}

/// The values of a tensor [`f32_contiguous`] returned.
pub(crate) fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("made contiguous f32 by f32_contiguous")
}

fn flex(values: Vec<f32>, dims: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, dims))
}

/// The state of a tracked host op's backward step.
#[derive(Debug)]
struct Step<O: HostUnaryOp> {
    op: Arc<O>,
    saved: Arc<O::Saved>,
}

impl<O: HostUnaryOp> Clone for Step<O> {
    fn clone(&self) -> Self {
        Self {
            op: Arc::clone(&self.op),
            saved: Arc::clone(&self.saved),
        }
    }
}

/// The backward step of a [`HostUnaryOp`]: its input gradient on the host.
#[derive(Debug)]
struct HostBackward<O>(PhantomData<O>);

impl<O: HostUnaryOp> Backward<Flex, 1> for HostBackward<O> {
    type State = Step<O>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let Step { op, saved } = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |dy| {
            let dy = f32_contiguous(dy).expect("the output's gradient is f32 like the output");
            flex(op.input_grad(&saved, slice(&dy)), op.input_dims())
        });
    }
}
