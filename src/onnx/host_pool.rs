//! ONNX max pooling on the CPU through the host kernel ([`crate::kernel::max_pool_nd`]), as one op
//! of burn's autodiff graph ([`super::host_op`]): once convolutions run on the host, burn-flex's
//! max pooling and its backward are what is left of a CNN's time. `ceil_mode`, another device or
//! a non-f32 tensor gives `None`, and the caller uses burn's max pooling.

use super::host_op::{self, HostUnaryOp};
use crate::kernel::conv_nd::{ConvAxis, ConvGeometry};
use crate::kernel::max_pool_nd::{max_pool_forward, max_pool_input_grad, relu_after};
use burn::tensor::Tensor;
use burn::tensor::ops::MaxPoolOptions;

/// Max pooling of `x` `[N, C, *spatial]` with burn's options, through the host kernel where it
/// applies (see the module's documentation, and [`host_op::generic_only`]), followed by a ReLU
/// when `relu` (the plan moved the graph's ReLU from before the pool to after it: the two
/// commute, gradients included).
pub(crate) fn max_pool<const N: usize, const D: usize>(
    x: &Tensor<D>,
    options: &MaxPoolOptions<N>,
    relu: bool,
) -> Option<Tensor<D>> {
    if host_op::generic_only() {
        return None;
    }
    max_pool_on_host(x, options, relu)
}

/// [`max_pool`] without the environment switch (the tests compare it with burn's).
fn max_pool_on_host<const N: usize, const D: usize>(
    x: &Tensor<D>,
    options: &MaxPoolOptions<N>,
    relu: bool,
) -> Option<Tensor<D>> {
    let dims = x.dims();
    if options.ceil_mode || D != N + 2 {
        return None;
    }
    let axes: Vec<ConvAxis> = (0..N)
        .map(|i| ConvAxis {
            input: dims[2 + i],
            kernel: options.kernel_size[i],
            stride: options.stride[i],
            dilation: options.dilation[i],
            pads: options.padding[i],
        })
        .collect();
    let planes = dims[0] * dims[1];
    let geometry = ConvGeometry::new(planes, 1, 1, 1, &axes).ok()?;
    let mut out_dims = vec![dims[0], dims[1]];
    out_dims.extend(geometry.output_spatial(N));
    let op = HostMaxPool {
        geometry,
        relu,
        in_dims: dims.to_vec(),
        out_dims,
    };
    host_op::apply(x, op)
}

/// One max pooling: its geometry over single-channel planes (examples × channels).
#[derive(Debug)]
struct HostMaxPool {
    geometry: ConvGeometry,
    relu: bool,
    in_dims: Vec<usize>,
    out_dims: Vec<usize>,
}

impl HostUnaryOp for HostMaxPool {
    /// Where each output came from.
    type Saved = Vec<usize>;

    fn input_dims(&self) -> Vec<usize> {
        self.in_dims.clone()
    }

    fn output_dims(&self) -> Vec<usize> {
        self.out_dims.clone()
    }

    fn forward(&self, x: &[f32]) -> (Vec<f32>, Vec<usize>) {
        let (mut y, mut argmax) = max_pool_forward(&self.geometry, x);
        if self.relu {
            relu_after(&mut y, &mut argmax);
        }
        (y, argmax)
    }

    fn input_grad(&self, argmax: &Vec<usize>, dy: &[f32]) -> Vec<f32> {
        max_pool_input_grad(&self.geometry, argmax, dy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::{max_pool1d, max_pool2d};
    use burn::tensor::{Device, Distribution};

    /// The host pooling's output and input gradient against burn's, on a tracked input.
    fn check<const N: usize, const D: usize>(
        dims: [usize; D],
        options: MaxPoolOptions<N>,
        generic: impl Fn(Tensor<D>, MaxPoolOptions<N>) -> Tensor<D>,
    ) {
        let device = Device::flex();
        let x = Tensor::<D>::random(dims, Distribution::Uniform(-1.0, 1.0), &device);
        let host = max_pool_on_host(&x, &options, false).expect("the host path applies");
        let want = generic(x.clone(), options.clone());
        assert_eq!(host.dims(), want.dims());
        let d: f32 = (host - want.clone()).abs().max().into_scalar();
        assert!(d == 0.0, "forward {dims:?} {options:?}: differs by {d}");

        let dy = Tensor::<D>::random(want.dims(), Distribution::Uniform(-1.0, 1.0), &device);
        let gradient = |y: Tensor<D>, x: &Tensor<D>| {
            let grads = (y * dy.clone()).sum().backward();
            x.grad(&grads).expect("x is tracked")
        };
        let xt = x.clone().autodiff().require_grad();
        let host = max_pool_on_host(&xt, &options, false).expect("the host path applies");
        let host_grad = gradient(host, &xt);
        let xg = x.autodiff().require_grad();
        let want_grad = gradient(generic(xg.clone(), options.clone()), &xg);
        let d: f32 = (host_grad - want_grad).abs().max().into_scalar();
        assert!(
            d < 1e-6,
            "input gradient {dims:?} {options:?}: differs by {d}"
        );
    }

    fn options<const N: usize>(
        kernel_size: [usize; N],
        stride: [usize; N],
        padding: [(usize, usize); N],
        dilation: [usize; N],
    ) -> MaxPoolOptions<N> {
        MaxPoolOptions {
            kernel_size,
            stride,
            padding,
            dilation,
            ceil_mode: false,
        }
    }

    #[test]
    fn max_pooling_matches_burns_output_and_input_gradient() {
        // RawAudioCNN's and M5's
        check([3, 4, 41], options([3], [2], [(0, 0)], [1]), max_pool1d);
        check([1, 2, 40], options([4], [4], [(0, 0)], [1]), max_pool1d);
        // overlapping, padded, dilated
        check([3, 2, 23], options([3], [1], [(1, 2)], [2]), max_pool1d);
        check(
            [1, 3, 9, 10],
            options([2, 3], [2, 1], [(1, 0), (1, 1)], [1, 2]),
            max_pool2d,
        );
        check(
            [3, 2, 8, 8],
            options([2, 2], [2, 2], [(0, 0), (0, 0)], [1, 1]),
            max_pool2d,
        );
    }

    #[test]
    fn ceil_mode_is_left_to_burn() {
        let x = Tensor::<3>::zeros([1, 1, 5], &Device::flex());
        let mut o = options([2], [2], [(0, 0)], [1]);
        o.ceil_mode = true;
        assert!(max_pool_on_host(&x, &o, false).is_none());
    }
}
