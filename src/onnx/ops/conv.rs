//! Convolutions (1-D, 2-D, 3-D; groups, dilation, strides, explicit and automatic padding).
//!
//! Conv runs through the host kernel when its input is on the CPU ([`host_conv`]), through burn's
//! generic convolution otherwise; ConvTranspose always through burn's.

use super::{Inputs, relu_if};
use crate::error::Result;
use crate::onnx::host_conv::{self, ConvSpec};
use crate::onnx::value::Float;
use burn::tensor::Tensor;
use burn::tensor::module::{conv1d as burn_conv1d, conv2d as burn_conv2d, conv3d as burn_conv3d};
use burn::tensor::ops::{ConvOptions, PadMode};
use onnx_ir::node::conv1d::Conv1dConfig;
use onnx_ir::node::conv2d::Conv2dConfig;
use onnx_ir::node::conv3d::Conv3dConfig;
use onnx_ir::node::padding::{AutoPad, PaddingConfig1d, PaddingConfig2d, PaddingConfig3d};

/// The `(begin, end)` padding of each spatial axis: explicit, or what `auto_pad` asks for given
/// the input's size (SAME_*: output = ceil(input / stride), the odd pixel at the end for UPPER).
pub fn resolve_pads<const N: usize>(
    explicit: [(usize, usize); N],
    auto_pad: &AutoPad,
    input: [usize; N],
    kernel: [usize; N],
    stride: [usize; N],
    dilation: [usize; N],
) -> [(usize, usize); N] {
    let same = |upper: bool| {
        std::array::from_fn(|i| {
            let out = input[i].div_ceil(stride[i].max(1));
            let span = (kernel[i] - 1) * dilation[i] + 1;
            let total = ((out.saturating_sub(1)) * stride[i] + span).saturating_sub(input[i]);
            let (small, big) = (total / 2, total - total / 2);
            if upper { (small, big) } else { (big, small) }
        })
    };
    match auto_pad {
        AutoPad::NotSet => explicit,
        AutoPad::Valid => [(0, 0); N],
        AutoPad::SameUpper => same(true),
        AutoPad::SameLower => same(false),
    }
}

pub fn pads1(p: &PaddingConfig1d) -> [(usize, usize); 1] {
    match *p {
        PaddingConfig1d::Valid => [(0, 0)],
        PaddingConfig1d::Explicit(l, r) => [(l, r)],
    }
}

pub fn pads2(p: &PaddingConfig2d) -> [(usize, usize); 2] {
    match *p {
        PaddingConfig2d::Valid => [(0, 0); 2],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
    }
}

pub fn pads3(p: &PaddingConfig3d) -> [(usize, usize); 3] {
    match *p {
        PaddingConfig3d::Valid => [(0, 0); 3],
        PaddingConfig3d::Explicit(f, t, l, b, bo, r) => [(f, b), (t, bo), (l, r)],
    }
}

/// The spatial sizes of an `[N, C, ...]` input.
fn spatial<const N: usize, const D: usize>(x: &Tensor<D>) -> [usize; N] {
    let dims = x.dims();
    std::array::from_fn(|i| dims[2 + i])
}

/// Checks the weight's channels against the input's and the groups before burn would panic.
fn check_channels(inputs: &Inputs, x: &[usize], w: &[usize], groups: usize) -> Result<()> {
    let ok =
        groups > 0 && x.len() == w.len() && x[1] == w[1] * groups && w[0].is_multiple_of(groups);
    if ok {
        Ok(())
    } else {
        Err(inputs.error(format!(
            "a convolution of input {x:?} with weight {w:?} in {groups} groups does not fit"
        )))
    }
}

/// The output's shape, checked against the size limit before the convolution allocates it.
fn check_conv_output(
    inputs: &Inputs,
    x: &[usize],
    w: &[usize],
    pads: &[(usize, usize)],
    stride: &[usize],
    dilation: &[usize],
) -> Result<()> {
    let mut dims = vec![x[0], w[0]];
    for i in 0..pads.len() {
        let span = (w[2 + i].max(1) - 1) * dilation[i] + 1;
        let padded = x[2 + i] + pads[i].0 + pads[i].1;
        if padded < span || stride[i] == 0 {
            return Err(inputs.error(format!(
                "a kernel of {:?} does not fit the input {x:?} with pads {pads:?}",
                &w[2..]
            )));
        }
        dims.push((padded - span) / stride[i] + 1);
    }
    inputs.check_output(x[0], &dims)
}

fn bias(inputs: &Inputs) -> Result<Option<Tensor<1>>> {
    inputs
        .optional_float(2)?
        .map(|b| b.get::<1>("Conv bias"))
        .transpose()
}

pub fn conv1d(c: &Conv1dConfig, inputs: &Inputs, relu: bool) -> Result<Float> {
    let x = inputs.float(0)?.get::<3>("Conv")?;
    let w = inputs.float(1)?.get::<3>("Conv weight")?;
    check_channels(inputs, &x.dims(), &w.dims(), c.groups)?;
    let pads = resolve_pads(
        pads1(&c.padding),
        &c.auto_pad,
        spatial(&x),
        [c.kernel_size],
        [c.stride],
        [c.dilation],
    );
    check_conv_output(
        inputs,
        &x.dims(),
        &w.dims(),
        &pads,
        &[c.stride],
        &[c.dilation],
    )?;
    let bias = bias(inputs)?;
    let spec = ConvSpec {
        stride: &[c.stride],
        dilation: &[c.dilation],
        pads: &pads,
        groups: c.groups,
        relu,
    };
    if let Some(y) = host_conv::conv(&x, &w, bias.as_ref(), &spec) {
        return Ok(Float::new(y));
    }
    let options = ConvOptions {
        stride: [c.stride],
        padding: pads,
        dilation: [c.dilation],
        groups: c.groups,
    };
    Ok(Float::new(relu_if(relu, burn_conv1d(x, w, bias, options))))
}

pub fn conv2d(c: &Conv2dConfig, inputs: &Inputs, relu: bool) -> Result<Float> {
    let x = inputs.float(0)?.get::<4>("Conv")?;
    let w = inputs.float(1)?.get::<4>("Conv weight")?;
    check_channels(inputs, &x.dims(), &w.dims(), c.groups)?;
    let pads = resolve_pads(
        pads2(&c.padding),
        &c.auto_pad,
        spatial(&x),
        c.kernel_size,
        c.stride,
        c.dilation,
    );
    check_conv_output(inputs, &x.dims(), &w.dims(), &pads, &c.stride, &c.dilation)?;
    let bias = bias(inputs)?;
    let spec = ConvSpec {
        stride: &c.stride,
        dilation: &c.dilation,
        pads: &pads,
        groups: c.groups,
        relu,
    };
    if let Some(y) = host_conv::conv(&x, &w, bias.as_ref(), &spec) {
        return Ok(Float::new(y));
    }
    let options = ConvOptions {
        stride: c.stride,
        padding: pads,
        dilation: c.dilation,
        groups: c.groups,
    };
    Ok(Float::new(relu_if(relu, burn_conv2d(x, w, bias, options))))
}

/// burn's 3-D convolution takes symmetric padding only: asymmetric padding is applied to the
/// input first (zeros, as the convolution's own padding would be). The host kernel takes it as
/// it is.
pub fn conv3d(c: &Conv3dConfig, inputs: &Inputs, relu: bool) -> Result<Float> {
    let mut x = inputs.float(0)?.get::<5>("Conv")?;
    let w = inputs.float(1)?.get::<5>("Conv weight")?;
    check_channels(inputs, &x.dims(), &w.dims(), c.groups)?;
    let mut pads = resolve_pads(
        pads3(&c.padding),
        &c.auto_pad,
        spatial(&x),
        c.kernel_size,
        c.stride,
        c.dilation,
    );
    check_conv_output(inputs, &x.dims(), &w.dims(), &pads, &c.stride, &c.dilation)?;
    let bias = bias(inputs)?;
    let spec = ConvSpec {
        stride: &c.stride,
        dilation: &c.dilation,
        pads: &pads,
        groups: c.groups,
        relu,
    };
    if let Some(y) = host_conv::conv(&x, &w, bias.as_ref(), &spec) {
        return Ok(Float::new(y));
    }
    if pads.iter().any(|(b, e)| b != e) {
        x = x.pad(pads, PadMode::Constant(0.0));
        pads = [(0, 0); 3];
    }
    let options = ConvOptions {
        stride: c.stride,
        padding: pads,
        dilation: c.dilation,
        groups: c.groups,
    };
    Ok(Float::new(relu_if(relu, burn_conv3d(x, w, bias, options))))
}

/// The output of a transposed convolution, checked against the size limit before burn allocates.
fn check_transposed_output(inputs: &Inputs, x: &[usize], w: &[usize], out: &[usize]) -> Result<()> {
    let mut dims = vec![x[0], w[1]];
    dims.extend_from_slice(out);
    inputs.check_output(x[0], &dims)
}

/// Output size of a transposed convolution on one axis (ONNX's formula without output_shape).
fn transposed_size(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
    out_pad: usize,
) -> Option<usize> {
    ((input.checked_sub(1)? * stride + out_pad + (kernel - 1) * dilation + 1).checked_sub(2 * pad))
        .filter(|&s| s > 0)
}

pub fn conv_transpose1d(
    c: &onnx_ir::node::conv_transpose1d::ConvTranspose1dConfig,
    inputs: &Inputs,
) -> Result<Float> {
    if c.output_shape.is_some() || c.auto_pad != AutoPad::NotSet {
        return Err(inputs.error("ConvTranspose with output_shape or auto_pad is not supported"));
    }
    let x = inputs.float(0)?.get::<3>("ConvTranspose")?;
    let w = inputs.float(1)?.get::<3>("ConvTranspose weight")?;
    let (xd, wd) = (x.dims(), w.dims());
    if c.groups == 0 || xd[1] != wd[0] || !xd[1].is_multiple_of(c.groups) {
        return Err(inputs.error(format!("ConvTranspose of {xd:?} with weight {wd:?}")));
    }
    let out = transposed_size(
        xd[2],
        c.kernel_size,
        c.stride,
        c.dilation,
        c.padding,
        c.padding_out,
    )
    .ok_or_else(|| inputs.error("ConvTranspose to an empty output"))?;
    check_transposed_output(inputs, &xd, &[wd[0], wd[1] * c.groups], &[out])?;
    let options = burn::tensor::ops::ConvTransposeOptions::new(
        [c.stride],
        [c.padding],
        [c.padding_out],
        [c.dilation],
        c.groups,
    );
    Ok(Float::new(burn::tensor::module::conv_transpose1d(
        x,
        w,
        bias(inputs)?,
        options,
    )))
}

pub fn conv_transpose2d(
    c: &onnx_ir::node::conv_transpose2d::ConvTranspose2dConfig,
    inputs: &Inputs,
) -> Result<Float> {
    if c.output_shape.is_some() || c.auto_pad != AutoPad::NotSet {
        return Err(inputs.error("ConvTranspose with output_shape or auto_pad is not supported"));
    }
    let x = inputs.float(0)?.get::<4>("ConvTranspose")?;
    let w = inputs.float(1)?.get::<4>("ConvTranspose weight")?;
    let (xd, wd) = (x.dims(), w.dims());
    if c.groups == 0 || xd[1] != wd[0] || !xd[1].is_multiple_of(c.groups) {
        return Err(inputs.error(format!("ConvTranspose of {xd:?} with weight {wd:?}")));
    }
    let mut out = [0; 2];
    for i in 0..2 {
        out[i] = transposed_size(
            xd[2 + i],
            c.kernel_size[i],
            c.stride[i],
            c.dilation[i],
            c.padding[i],
            c.padding_out[i],
        )
        .ok_or_else(|| inputs.error("ConvTranspose to an empty output"))?;
    }
    check_transposed_output(inputs, &xd, &[wd[0], wd[1] * c.groups], &out)?;
    let options = burn::tensor::ops::ConvTransposeOptions::new(
        c.stride,
        c.padding,
        c.padding_out,
        c.dilation,
        c.groups,
    );
    Ok(Float::new(burn::tensor::module::conv_transpose2d(
        x,
        w,
        bias(inputs)?,
        options,
    )))
}

pub fn conv_transpose3d(
    c: &onnx_ir::node::conv_transpose3d::ConvTranspose3dConfig,
    inputs: &Inputs,
) -> Result<Float> {
    if c.output_shape.is_some() || c.auto_pad != AutoPad::NotSet {
        return Err(inputs.error("ConvTranspose with output_shape or auto_pad is not supported"));
    }
    let x = inputs.float(0)?.get::<5>("ConvTranspose")?;
    let w = inputs.float(1)?.get::<5>("ConvTranspose weight")?;
    let (xd, wd) = (x.dims(), w.dims());
    if c.groups == 0 || xd[1] != wd[0] || !xd[1].is_multiple_of(c.groups) {
        return Err(inputs.error(format!("ConvTranspose of {xd:?} with weight {wd:?}")));
    }
    let mut out = [0; 3];
    for i in 0..3 {
        out[i] = transposed_size(
            xd[2 + i],
            c.kernel_size[i],
            c.stride[i],
            c.dilation[i],
            c.padding[i],
            c.padding_out[i],
        )
        .ok_or_else(|| inputs.error("ConvTranspose to an empty output"))?;
    }
    check_transposed_output(inputs, &xd, &[wd[0], wd[1] * c.groups], &out)?;
    let options = burn::tensor::ops::ConvTransposeOptions::new(
        c.stride,
        c.padding,
        c.padding_out,
        c.dilation,
        c.groups,
    );
    Ok(Float::new(burn::tensor::module::conv_transpose3d(
        x,
        w,
        bias(inputs)?,
        options,
    )))
}
