//! Max and average pooling (1-D, 2-D, and 3-D composed from 2-D and 1-D, which is exact because
//! both reductions separate over axes), and global pooling. Max pooling runs through the host
//! kernel when its input is on the CPU ([`host_pool`]).

use super::conv::{pads1, pads2, pads3, resolve_pads};
use super::{Inputs, relu_if};
use crate::error::Result;
use crate::onnx::host_pool;
use crate::onnx::value::{Float, MAX_RANK};
use burn::tensor::Tensor;
use burn::tensor::module as burn_pool;
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use onnx_ir::node::avg_pool1d::AvgPool1dConfig;
use onnx_ir::node::avg_pool2d::AvgPool2dConfig;
use onnx_ir::node::avg_pool3d::AvgPool3dConfig;
use onnx_ir::node::max_pool1d::MaxPool1dConfig;
use onnx_ir::node::max_pool2d::MaxPool2dConfig;
use onnx_ir::node::max_pool3d::MaxPool3dConfig;

fn spatial<const N: usize, const D: usize>(x: &Tensor<D>) -> [usize; N] {
    let dims = x.dims();
    std::array::from_fn(|i| dims[2 + i])
}

/// Refuses windows larger than the padded input (burn would panic or return nothing), zero
/// strides, and padding as wide as the window (which ONNX forbids, and which would let an
/// attribute size the output).
fn check_window(
    inputs: &Inputs,
    input: &[usize],
    kernel: &[usize],
    pads: &[(usize, usize)],
    stride: &[usize],
) -> Result<()> {
    for i in 0..kernel.len() {
        let fits = kernel[i] > 0
            && stride[i] > 0
            && kernel[i] <= input[i] + pads[i].0 + pads[i].1
            && pads[i].0.max(pads[i].1) < kernel[i].max(2);
        if !fits {
            return Err(inputs.error(format!(
                "a pooling window of {kernel:?} with strides {stride:?} and pads {pads:?} does \
                 not fit the input's {input:?}"
            )));
        }
    }
    Ok(())
}

fn no_dilation(inputs: &Inputs, dilation: &[usize]) -> Result<()> {
    if dilation.iter().all(|&d| d == 1) {
        Ok(())
    } else {
        Err(inputs.error("average pooling with dilations is not supported"))
    }
}

pub fn max_pool1d(c: &MaxPool1dConfig, inputs: &Inputs, relu: bool) -> Result<Float> {
    let x = inputs.float(0)?.get::<3>("MaxPool")?;
    let input = spatial(&x);
    let padding = resolve_pads(
        pads1(&c.padding),
        &c.auto_pad,
        input,
        [c.kernel_size],
        [c.stride],
        [c.dilation],
    );
    check_window(inputs, &input, &[c.kernel_size], &padding, &[c.stride])?;
    let options = MaxPoolOptions {
        kernel_size: [c.kernel_size],
        stride: [c.stride],
        padding,
        dilation: [c.dilation],
        ceil_mode: c.ceil_mode,
    };
    if let Some(y) = host_pool::max_pool(&x, &options, relu) {
        return Ok(Float::new(y));
    }
    Ok(Float::new(relu_if(relu, burn_pool::max_pool1d(x, options))))
}

pub fn max_pool2d(c: &MaxPool2dConfig, inputs: &Inputs, relu: bool) -> Result<Float> {
    let x = inputs.float(0)?.get::<4>("MaxPool")?;
    let input = spatial(&x);
    let padding = resolve_pads(
        pads2(&c.padding),
        &c.auto_pad,
        input,
        c.kernel_size,
        c.strides,
        c.dilation,
    );
    check_window(inputs, &input, &c.kernel_size, &padding, &c.strides)?;
    let options = MaxPoolOptions {
        kernel_size: c.kernel_size,
        stride: c.strides,
        padding,
        dilation: c.dilation,
        ceil_mode: c.ceil_mode,
    };
    if let Some(y) = host_pool::max_pool(&x, &options, relu) {
        return Ok(Float::new(y));
    }
    Ok(Float::new(relu_if(relu, burn_pool::max_pool2d(x, options))))
}

/// 3-D max pooling on the host kernel, or (elsewhere) as 2-D pooling over (H, W) of every frame,
/// then 1-D pooling over T.
pub fn max_pool3d(c: &MaxPool3dConfig, inputs: &Inputs, relu: bool) -> Result<Float> {
    let x = inputs.float(0)?.get::<5>("MaxPool")?;
    let [n, ch, t, h, w] = x.dims();
    let input = [t, h, w];
    let p = resolve_pads(
        pads3(&c.padding),
        &c.auto_pad,
        input,
        c.kernel_size,
        c.strides,
        c.dilation,
    );
    check_window(inputs, &input, &c.kernel_size, &p, &c.strides)?;
    let on_host = MaxPoolOptions {
        kernel_size: c.kernel_size,
        stride: c.strides,
        padding: p,
        dilation: c.dilation,
        ceil_mode: c.ceil_mode,
    };
    if let Some(y) = host_pool::max_pool(&x, &on_host, relu) {
        return Ok(Float::new(y));
    }
    let [kt, kh, kw] = c.kernel_size;
    let [st, sh, sw] = c.strides;
    let [dt, dh, dw] = c.dilation;
    let frames = burn_pool::max_pool2d(
        x.reshape([n, ch * t, h, w]),
        MaxPoolOptions {
            kernel_size: [kh, kw],
            stride: [sh, sw],
            padding: [p[1], p[2]],
            dilation: [dh, dw],
            ceil_mode: c.ceil_mode,
        },
    );
    let [_, _, h2, w2] = frames.dims();
    let y = burn_pool::max_pool2d(
        frames.reshape([n, ch, t, h2 * w2]),
        MaxPoolOptions {
            kernel_size: [kt, 1],
            stride: [st, 1],
            padding: [p[0], (0, 0)],
            dilation: [dt, 1],
            ceil_mode: c.ceil_mode,
        },
    );
    let t2 = y.dims()[2];
    Ok(Float::new(relu_if(relu, y.reshape([n, ch, t2, h2, w2]))))
}

pub fn avg_pool1d(c: &AvgPool1dConfig, inputs: &Inputs) -> Result<Float> {
    no_dilation(inputs, &[c.dilation])?;
    let x = inputs.float(0)?.get::<3>("AveragePool")?;
    let input = spatial(&x);
    let padding = resolve_pads(
        pads1(&c.padding),
        &c.auto_pad,
        input,
        [c.kernel_size],
        [c.stride],
        [1],
    );
    check_window(inputs, &input, &[c.kernel_size], &padding, &[c.stride])?;
    let options = AvgPoolOptions {
        kernel_size: [c.kernel_size],
        stride: [c.stride],
        padding,
        count_include_pad: c.count_include_pad,
        ceil_mode: c.ceil_mode,
    };
    Ok(Float::new(burn_pool::avg_pool1d(x, options)))
}

pub fn avg_pool2d(c: &AvgPool2dConfig, inputs: &Inputs) -> Result<Float> {
    no_dilation(inputs, &c.dilation)?;
    let x = inputs.float(0)?.get::<4>("AveragePool")?;
    let input = spatial(&x);
    let padding = resolve_pads(
        pads2(&c.padding),
        &c.auto_pad,
        input,
        c.kernel_size,
        c.strides,
        [1, 1],
    );
    check_window(inputs, &input, &c.kernel_size, &padding, &c.strides)?;
    let options = AvgPoolOptions {
        kernel_size: c.kernel_size,
        stride: c.strides,
        padding,
        count_include_pad: c.count_include_pad,
        ceil_mode: c.ceil_mode,
    };
    Ok(Float::new(burn_pool::avg_pool2d(x, options)))
}

/// 3-D average pooling as 2-D pooling over (H, W), then over T: the mean over a box is the mean
/// of the per-frame means, and without counting padding the count of a box is the product of
/// its counts per axis, so both modes compose exactly.
pub fn avg_pool3d(c: &AvgPool3dConfig, inputs: &Inputs) -> Result<Float> {
    no_dilation(inputs, &c.dilation)?;
    let x = inputs.float(0)?.get::<5>("AveragePool")?;
    let [n, ch, t, h, w] = x.dims();
    let input = [t, h, w];
    let p = resolve_pads(
        pads3(&c.padding),
        &c.auto_pad,
        input,
        c.kernel_size,
        c.strides,
        [1; 3],
    );
    check_window(inputs, &input, &c.kernel_size, &p, &c.strides)?;
    let [kt, kh, kw] = c.kernel_size;
    let [st, sh, sw] = c.strides;
    let frames = burn_pool::avg_pool2d(
        x.reshape([n, ch * t, h, w]),
        AvgPoolOptions {
            kernel_size: [kh, kw],
            stride: [sh, sw],
            padding: [p[1], p[2]],
            count_include_pad: c.count_include_pad,
            ceil_mode: c.ceil_mode,
        },
    );
    let [_, _, h2, w2] = frames.dims();
    let y = burn_pool::avg_pool2d(
        frames.reshape([n, ch, t, h2 * w2]),
        AvgPoolOptions {
            kernel_size: [kt, 1],
            stride: [st, 1],
            padding: [p[0], (0, 0)],
            count_include_pad: c.count_include_pad,
            ceil_mode: c.ceil_mode,
        },
    );
    let t2 = y.dims()[2];
    Ok(Float::new(y.reshape([n, ch, t2, h2, w2])))
}

/// GlobalAveragePool / GlobalMaxPool: every axis after the channels reduced to size 1.
pub fn global(max: bool, x: &Float) -> Result<Float> {
    let first = MAX_RANK - x.rank() + 2;
    Ok(x.map(|mut t| {
        for axis in first..MAX_RANK {
            t = if max {
                t.max_dim(axis)
            } else {
                t.mean_dim(axis)
            };
        }
        t
    }))
}
