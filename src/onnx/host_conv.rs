//! ONNX convolutions on the CPU through the host kernel ([`crate::kernel::conv_nd`]), as one op of
//! burn's autodiff graph with its own backward pass ([`super::host_op`]).
//!
//! burn-flex's generic convolution and its backward are the slow part of an interpreted graph
//! (docs/benchmarks.md, issue 14). When the input lives on the flex device and the weight and
//! bias are constants (untracked: the interpreter uploads a file's initialisers as plain
//! tensors), the convolution runs as im2col + GEMM on host memory, and so does its input
//! gradient. A tracked weight, another device or a non-f32 tensor gives `None`, and the caller
//! uses burn's generic convolution.

use super::host_op::{self, HostUnaryOp, constant, slice};
use crate::kernel::conv_nd::{ConvAxis, ConvGeometry, conv_forward, conv_input_grad};
use burn::backend::flex::FlexTensor;
use burn::tensor::Tensor;

/// A convolution's attributes as the interpreter resolved them (explicit `(begin, end)` pads).
pub(crate) struct ConvSpec<'a> {
    pub stride: &'a [usize],
    pub dilation: &'a [usize],
    pub pads: &'a [(usize, usize)],
    pub groups: usize,
    /// A ReLU on the output, in the same pass (the plan fused the graph's ReLU into this node).
    pub relu: bool,
}

/// `conv(x, w) + bias` through the host kernel, or `None` where it does not apply (see the
/// module's documentation, and [`host_op::generic_only`]).
pub(crate) fn conv<const D: usize>(
    x: &Tensor<D>,
    w: &Tensor<D>,
    bias: Option<&Tensor<1>>,
    spec: &ConvSpec,
) -> Option<Tensor<D>> {
    if host_op::generic_only() {
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
    let (x_dims, w_dims) = (x.dims(), w.dims());
    let geometry = geometry(&x_dims, &w_dims, spec)?;
    let mut out_dims = vec![x_dims[0], w_dims[0]];
    out_dims.extend(geometry.output_spatial(D - 2));
    let op = HostConv {
        geometry,
        weight,
        bias,
        relu: spec.relu,
        in_dims: x_dims.to_vec(),
        out_dims,
    };
    host_op::apply(x, op)
}

/// The kernel's geometry of an ONNX convolution of `x` `[N, C, *spatial]` with `w`
/// `[M, C / groups, *kernel]`; `None` where they do not fit each other.
fn geometry(x: &[usize], w: &[usize], spec: &ConvSpec) -> Option<ConvGeometry> {
    let axes = x.len().checked_sub(2)?;
    let fits = w.len() == x.len()
        && spec.stride.len() == axes
        && spec.dilation.len() == axes
        && spec.pads.len() == axes
        && w[1] * spec.groups == x[1];
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
    ConvGeometry::new(x[0], x[1], w[0], spec.groups, &axes).ok()
}

/// One convolution: its geometry and constants.
#[derive(Debug)]
struct HostConv {
    geometry: ConvGeometry,
    /// The weight and bias, contiguous f32.
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    relu: bool,
    in_dims: Vec<usize>,
    out_dims: Vec<usize>,
}

impl HostUnaryOp for HostConv {
    /// With a ReLU, which outputs it passed; otherwise nothing (the input gradient needs only
    /// the weight).
    type Saved = Vec<bool>;

    fn input_dims(&self) -> Vec<usize> {
        self.in_dims.clone()
    }

    fn output_dims(&self) -> Vec<usize> {
        self.out_dims.clone()
    }

    fn forward(&self, x: &[f32]) -> (Vec<f32>, Vec<bool>) {
        let bias = self.bias.as_ref().map(slice);
        let mut y = conv_forward(&self.geometry, x, slice(&self.weight), bias);
        if !self.relu {
            return (y, Vec::new());
        }
        // what stops at the ReLU is zero and passes no gradient (NaN passes, as in PyTorch);
        // branch-free, as which outputs stop is a coin toss
        let passed: Vec<bool> = y.iter().map(|&v| v > 0.0 || v.is_nan()).collect();
        y.iter_mut()
            .for_each(|v| *v = if *v <= 0.0 { 0.0 } else { *v });
        (y, passed)
    }

    fn input_grad(&self, passed: &Vec<bool>, dy: &[f32]) -> Vec<f32> {
        if !self.relu {
            return conv_input_grad(&self.geometry, slice(&self.weight), dy);
        }
        let dy: Vec<f32> = dy
            .iter()
            .zip(passed)
            .map(|(&d, &p)| if p { d } else { 0.0 })
            .collect();
        conv_input_grad(&self.geometry, slice(&self.weight), &dy)
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
            relu: false,
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

    /// With a fused ReLU: burn's ReLU after burn's convolution, in value and input gradient.
    #[test]
    fn a_fused_relu_matches_burns_relu_after_the_convolution() {
        use burn::tensor::activation::relu;
        let device = Device::flex();
        let x = random([2, 3, 5, 6, 7], &device);
        let w = random([4, 3, 3, 3, 3], &device);
        let b = random([4], &device);
        let spec = ConvSpec {
            stride: &[1, 2, 1],
            dilation: &[1, 1, 2],
            pads: &[(1, 1), (0, 0), (2, 2)],
            groups: 1,
            relu: true,
        };
        let options = ConvOptions {
            stride: [1, 2, 1],
            padding: [(1, 1), (0, 0), (2, 2)],
            dilation: [1, 1, 2],
            groups: 1,
        };
        let run = |host: bool| {
            let xt = x.clone().autodiff().require_grad();
            let y = if host {
                conv_on_host(&xt, &w, Some(&b), &spec).expect("the host path applies")
            } else {
                relu(conv3d(
                    xt.clone(),
                    w.clone(),
                    Some(b.clone()),
                    options.clone(),
                ))
            };
            let dy = Tensor::<5>::ones(y.dims(), &device);
            let grads = (y.clone() * dy).sum().backward();
            (y.detach(), xt.grad(&grads).expect("x is tracked"))
        };
        let ((y, g), (want_y, want_g)) = (run(true), run(false));
        let smallest: f32 = want_y.clone().min().into_scalar();
        assert!(smallest == 0.0, "the ReLU stops some outputs");
        assert!(relative_error(y, want_y) < 1e-5, "forward");
        assert!(relative_error(g, want_g) < 1e-5, "input gradient");
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
            relu: false,
        };
        assert!(conv_on_host(&x, &w, None, &spec).is_none());
        // and a weight that does not fit the input is refused rather than guessed
        let w = random([3, 4, 3], &device);
        assert!(conv_on_host(&x, &w, None, &spec).is_none());
    }
}
