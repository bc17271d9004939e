//! ONNX convolutions on the CPU through the host kernel ([`crate::kernel::conv_nd`]), as one op of
//! burn's autodiff graph with its own backward pass.
//!
//! burn-flex's generic convolution and its backward are the slow part of an interpreted graph
//! (docs/benchmarks.md, issue 14). When the input lives on the flex device, plain or inside
//! burn's autodiff, and the weight and bias are constants (untracked: the interpreter uploads a
//! file's initialisers as plain tensors), the convolution runs as im2col + GEMM on host memory
//! and registers a backward step that computes the input gradient the same way. burn's
//! gradients then flow through it exactly as through its own conv op, so
//! `NeuralClassifier::burn_gradient` is unchanged. Anything else (another device, a tracked
//! weight, a non-f32 tensor) returns `None` and the caller uses burn's generic convolution.
//!
//! `AVFOIL_ONNX_GENERIC_CONV=1` turns this path off, for measuring and checking one against the
//! other.

use crate::kernel::conv_nd::{ConvAxis, ConvGeometry, conv_forward, conv_input_grad};
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
use std::sync::{Arc, OnceLock};

/// A convolution's attributes as the interpreter resolved them (explicit `(begin, end)` pads).
pub(crate) struct ConvSpec<'a> {
    pub stride: &'a [usize],
    pub dilation: &'a [usize],
    pub pads: &'a [(usize, usize)],
    pub groups: usize,
}

/// Whether `AVFOIL_ONNX_GENERIC_CONV` asks for burn's generic convolution everywhere.
fn generic_only() -> bool {
    static GENERIC: OnceLock<bool> = OnceLock::new();
    *GENERIC.get_or_init(|| {
        std::env::var("AVFOIL_ONNX_GENERIC_CONV").is_ok_and(|v| !v.is_empty() && v != "0")
    })
}

/// `conv(x, w) + bias` through the host kernel, or `None` where it does not apply (see the
/// module's documentation); shapes must already be checked against each other by the caller.
pub(crate) fn conv<const D: usize>(
    x: &Tensor<D>,
    w: &Tensor<D>,
    bias: Option<&Tensor<1>>,
    spec: &ConvSpec,
) -> Option<Tensor<D>> {
    if generic_only() {
        return None;
    }
    conv_on_host(x, w, bias, spec)
}

/// [`conv`] without the environment switch (the tests compare it with burn's).
fn conv_on_host<const D: usize>(
    x: &Tensor<D>,
    w: &Tensor<D>,
    bias: Option<&Tensor<1>>,
    spec: &ConvSpec,
) -> Option<Tensor<D>> {
    let weight = constant(w)?;
    let bias = match bias {
        Some(b) => Some(constant(b)?),
        None => None,
    };
    let geometry = Arc::new(HostConv {
        geometry: geometry(&x.dims(), &w.dims(), spec)?,
        weight,
        out_dims: out_dims(&x.dims(), &w.dims(), spec)?,
    });
    if let Ok(plain) = x.clone().try_into_primitive::<Flex>() {
        let y = geometry.forward(&f32_contiguous(plain)?, bias.as_ref());
        return Some(Tensor::from_primitive::<Flex>(y));
    }
    tracked::<D, NoCheckpointing>(x, &geometry, bias.as_ref())
        .or_else(|| tracked::<D, BalancedCheckpointing>(x, &geometry, bias.as_ref()))
}

/// The forward pass on an input inside burn's autodiff (checkpointing strategy `C`), with the
/// backward step registered when the input is tracked.
fn tracked<const D: usize, C: CheckpointStrategy>(
    x: &Tensor<D>,
    conv: &Arc<HostConv>,
    bias: Option<&FlexTensor>,
) -> Option<Tensor<D>>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let ad = x.clone().try_into_primitive::<Autodiff<Flex, C>>().ok()?;
    let input = f32_contiguous(ad.primitive().clone())?;
    let output = conv.forward(&input, bias);
    let y = match HostConvBackward
        .prepare::<C>([ad.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Arc::clone(conv), output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex, C>>(y))
}

/// A constant operand (weight or bias) as a contiguous f32 flex tensor: a plain flex tensor, or
/// an untracked one inside the autodiff graph. `None` for a tracked one (its gradient is not
/// computed here) or one on another device.
fn constant<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
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

/// The kernel's geometry of an ONNX convolution of `x` `[N, C, *spatial]` with `w`
/// `[M, C / groups, *kernel]`.
fn geometry(x: &[usize], w: &[usize], spec: &ConvSpec) -> Option<ConvGeometry> {
    let axes = x.len().checked_sub(2)?;
    let fits = w.len() == x.len()
        && spec.stride.len() == axes
        && spec.dilation.len() == axes
        && spec.pads.len() == axes;
    if !fits {
        return None;
    }
    let axes: Vec<ConvAxis> = (0..axes)
        .map(|i| ConvAxis {
            input: x[2 + i],
            kernel: w[2 + i],
            stride: spec.stride[i],
            dilation: spec.dilation[i],
            pads: spec.pads[i],
        })
        .collect();
    let g = ConvGeometry::new(x[0], x[1], w[0], spec.groups, &axes).ok()?;
    // the weight's channels must be the input's per group
    (w[1] * spec.groups == x[1]).then_some(g)
}

/// The output's shape `[N, M, *out]`.
fn out_dims(x: &[usize], w: &[usize], spec: &ConvSpec) -> Option<Vec<usize>> {
    let g = geometry(x, w, spec)?;
    let mut dims = vec![x[0], w[0]];
    dims.extend(g.output_spatial(x.len() - 2));
    Some(dims)
}

/// One convolution's constants, shared by its forward pass and its backward step.
#[derive(Debug)]
struct HostConv {
    geometry: ConvGeometry,
    /// The weight, contiguous f32.
    weight: FlexTensor,
    out_dims: Vec<usize>,
}

impl HostConv {
    fn weight(&self) -> &[f32] {
        self.weight
            .as_slice::<f32>()
            .expect("the weight was made contiguous f32")
    }

    /// `conv(x) + bias` of a contiguous f32 input.
    fn forward(&self, x: &FlexTensor, bias: Option<&FlexTensor>) -> FlexTensor {
        let x = x
            .as_slice::<f32>()
            .expect("the input was made contiguous f32");
        let bias = bias.map(|b| {
            b.as_slice::<f32>()
                .expect("the bias was made contiguous f32")
        });
        let y = conv_forward(&self.geometry, x, self.weight(), bias);
        FlexTensor::from_data(TensorData::new(y, self.out_dims.clone()))
    }

    /// The input's gradient given the output's.
    fn input_grad(&self, dy: FlexTensor) -> FlexTensor {
        let dy = f32_contiguous(dy).expect("the output's gradient is f32 like the output");
        let dy = dy.as_slice::<f32>().expect("made contiguous f32");
        let dx = conv_input_grad(&self.geometry, self.weight(), dy);
        let [n, c] = [self.geometry.batch, self.geometry.in_channels];
        let spatial = self.geometry.input_spatial(self.out_dims.len() - 2);
        let mut dims = vec![n, c];
        dims.extend(spatial);
        FlexTensor::from_data(TensorData::new(dx, dims))
    }
}

/// The backward step of [`HostConv`]: the input gradient through the host kernel.
#[derive(Debug)]
struct HostConvBackward;

impl Backward<Flex, 1> for HostConvBackward {
    type State = Arc<HostConv>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let conv = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |dy| conv.input_grad(dy));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::{conv1d, conv2d, conv3d};
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Distribution};

    /// One case of the grid: batch, input channels, output channels, groups, input size, kernel,
    /// stride, dilation and `(begin, end)` pads per spatial axis.
    struct Case<const N: usize> {
        batch: usize,
        cin: usize,
        cout: usize,
        groups: usize,
        input: [usize; N],
        kernel: [usize; N],
        stride: [usize; N],
        dilation: [usize; N],
        pads: [(usize, usize); N],
    }

    fn random<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(dims, Distribution::Uniform(-1.0, 1.0), device)
    }

    /// The largest difference between `got` and `want`, relative to `want`'s largest entry.
    fn relative_error<const D: usize>(got: Tensor<D>, want: Tensor<D>) -> f32 {
        assert_eq!(got.dims(), want.dims());
        let scale: f32 = want.clone().abs().max().into_scalar();
        let diff: f32 = (got - want).abs().max().into_scalar();
        diff / scale.max(1e-12)
    }

    /// The host convolution's output and input gradient against burn's generic convolution,
    /// both inside burn's autodiff on the CPU, with a random output gradient.
    fn check<const N: usize, const D: usize>(
        case: &Case<N>,
        generic: impl Fn(Tensor<D>, Tensor<D>, Option<Tensor<1>>, ConvOptions<N>) -> Tensor<D>,
    ) {
        let device = Device::flex();
        let mut x_dims = [0; D];
        let mut w_dims = [0; D];
        x_dims[..2].copy_from_slice(&[case.batch, case.cin]);
        x_dims[2..].copy_from_slice(&case.input);
        w_dims[..2].copy_from_slice(&[case.cout, case.cin / case.groups]);
        w_dims[2..].copy_from_slice(&case.kernel);
        let x = random(x_dims, &device);
        let w = random(w_dims, &device);
        let b = random([case.cout], &device);
        let spec = ConvSpec {
            stride: &case.stride,
            dilation: &case.dilation,
            pads: &case.pads,
            groups: case.groups,
        };
        let options = ConvOptions {
            stride: case.stride,
            padding: case.pads,
            dilation: case.dilation,
            groups: case.groups,
        };

        // untracked: plain flex tensors
        let host = conv_on_host(&x, &w, Some(&b), &spec).expect("the host path applies");
        let want = generic(x.clone(), w.clone(), Some(b.clone()), options.clone());
        let e = relative_error(host, want.clone());
        assert!(
            e < 1e-5,
            "forward {x_dims:?} * {w_dims:?}: relative error {e}"
        );

        // tracked input, weights as the interpreter holds them (plain constants)
        let dy = random(want.dims(), &device);
        let gradient = |y: Tensor<D>, x: &Tensor<D>| {
            let grads = (y * dy.clone()).sum().backward();
            x.grad(&grads).expect("x is tracked")
        };
        let xt = x.clone().autodiff().require_grad();
        let host = conv_on_host(&xt, &w, Some(&b), &spec).expect("the host path applies");
        let e = relative_error(host.clone().detach(), want.clone());
        assert!(
            e < 1e-5,
            "tracked forward {x_dims:?} * {w_dims:?}: relative error {e}"
        );
        let host_grad = gradient(host, &xt);
        let xg = x.autodiff().require_grad();
        let want_grad = gradient(generic(xg.clone(), w, Some(b), options), &xg);
        let e = relative_error(host_grad, want_grad);
        assert!(
            e < 1e-5,
            "input gradient {x_dims:?} * {w_dims:?}: relative error {e}"
        );
    }

    #[test]
    fn one_dimensional_convolutions_match_burns_output_and_input_gradient() {
        let cases = [
            // M5's first layer, shortened: 80 taps, stride 4
            Case {
                batch: 1,
                cin: 1,
                cout: 4,
                groups: 1,
                input: [400],
                kernel: [80],
                stride: [4],
                dilation: [1],
                pads: [(0, 0)],
            },
            // RawAudioCNN's: kernel 3, same padding
            Case {
                batch: 3,
                cin: 4,
                cout: 6,
                groups: 1,
                input: [50],
                kernel: [3],
                stride: [1],
                dilation: [1],
                pads: [(1, 1)],
            },
            // groups, dilation 2, asymmetric pads
            Case {
                batch: 3,
                cin: 4,
                cout: 6,
                groups: 2,
                input: [31],
                kernel: [3],
                stride: [2],
                dilation: [2],
                pads: [(2, 1)],
            },
            // depthwise with a channel multiplier
            Case {
                batch: 1,
                cin: 3,
                cout: 6,
                groups: 3,
                input: [20],
                kernel: [5],
                stride: [1],
                dilation: [1],
                pads: [(0, 3)],
            },
            // pointwise
            Case {
                batch: 3,
                cin: 5,
                cout: 2,
                groups: 1,
                input: [9],
                kernel: [1],
                stride: [1],
                dilation: [1],
                pads: [(0, 0)],
            },
        ];
        for case in &cases {
            check(case, conv1d);
        }
    }

    #[test]
    fn two_and_three_dimensional_convolutions_match_burns_output_and_input_gradient() {
        let cases = [
            Case {
                batch: 1,
                cin: 3,
                cout: 4,
                groups: 1,
                input: [9, 8],
                kernel: [3, 3],
                stride: [1, 1],
                dilation: [1, 1],
                pads: [(1, 1), (1, 1)],
            },
            Case {
                batch: 3,
                cin: 4,
                cout: 4,
                groups: 4,
                input: [10, 11],
                kernel: [3, 2],
                stride: [2, 4],
                dilation: [2, 1],
                pads: [(0, 2), (1, 0)],
            },
            Case {
                batch: 3,
                cin: 6,
                cout: 4,
                groups: 2,
                input: [12, 7],
                kernel: [2, 3],
                stride: [4, 2],
                dilation: [1, 2],
                pads: [(1, 0), (2, 1)],
            },
            Case {
                batch: 1,
                cin: 2,
                cout: 3,
                groups: 1,
                input: [5, 6],
                kernel: [1, 1],
                stride: [1, 1],
                dilation: [1, 1],
                pads: [(0, 0), (0, 0)],
            },
        ];
        for case in &cases {
            check(case, conv2d);
        }
        let cube = Case {
            batch: 3,
            cin: 2,
            cout: 4,
            groups: 2,
            input: [4, 5, 6],
            kernel: [2, 3, 3],
            stride: [1, 2, 2],
            dilation: [1, 1, 2],
            pads: [(1, 1), (1, 1), (2, 2)],
        };
        check(&cube, conv3d);
    }

    #[test]
    fn a_tracked_weight_is_left_to_burn() {
        let device = Device::flex();
        let x = random([1, 2, 8], &device);
        let w = random([3, 2, 3], &device).autodiff().require_grad();
        let spec = ConvSpec {
            stride: &[1],
            dilation: &[1],
            pads: &[(0, 0)],
            groups: 1,
        };
        assert!(conv_on_host(&x, &w, None, &spec).is_none());
        // and a weight that does not fit the input is refused rather than guessed
        let w = random([3, 4, 3], &device);
        assert!(conv_on_host(&x, &w, None, &spec).is_none());
    }
}
