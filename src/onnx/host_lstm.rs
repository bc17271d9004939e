//! ONNX LSTM layers on the CPU through the host kernel ([`crate::kernel::lstm`]), as one op of
//! burn's autodiff graph with its own backward pass through time ([`super::host_op`]).
//!
//! Unrolled onto burn's ops an LSTM costs about fifteen graph nodes per time step, and the
//! backward pass through them was the slowest part of a CRNN's gradient (docs/benchmarks.md). When
//! the input lives on the flex device and the weights, biases and initial states are constants
//! (untracked: initialisers, or a model.toml's constant inputs), the whole layer, every direction,
//! is one host op. Anything else gives `None`, and the caller unrolls it on burn's ops.

use super::host_op::{self, HostUnaryOp, constant, slice};
use crate::kernel::lstm::{LstmShape, LstmTrace, LstmWeights, lstm_forward, lstm_input_grad};
use burn::backend::flex::FlexTensor;
use burn::tensor::Tensor;
use rayon::prelude::*;

/// An LSTM layer's operands in ONNX's layouts: `w` `[dirs, 4H, input]`, `r` `[dirs, 4H, H]`,
/// `b` `[dirs, 8H]`, `h0` and `c0` `[dirs, batch, H]`.
pub(crate) struct LstmOperands<'a> {
    pub w: &'a Tensor<3>,
    pub r: &'a Tensor<3>,
    pub b: Option<&'a Tensor<2>>,
    pub h0: Option<&'a Tensor<3>>,
    pub c0: Option<&'a Tensor<3>>,
    /// Per direction, whether it runs backwards in time.
    pub reverse: &'a [bool],
}

/// The layer over `x` `[seq, batch, input]`: `[seq + 1, dirs, batch, H]`, the hidden states of
/// every step followed by each direction's last cell state (one output, so that one op carries
/// both to burn's graph). `None` where the host path does not apply (see the module's
/// documentation, and [`host_op::generic_only`]).
pub(crate) fn lstm(x: &Tensor<3>, operands: &LstmOperands) -> Option<Tensor<4>> {
    if host_op::generic_only() {
        return None;
    }
    lstm_on_host(x, operands)
}

/// [`lstm`] without the environment switch (the tests compare it with the unrolled layer).
pub(crate) fn lstm_on_host(x: &Tensor<3>, operands: &LstmOperands) -> Option<Tensor<4>> {
    let [seq, batch, input] = x.dims();
    let [dirs, four_h, _] = operands.w.dims();
    let hidden = four_h / 4;
    if seq == 0 || dirs != operands.reverse.len() {
        return None;
    }
    let state = |s: Option<&Tensor<3>>| -> Option<Vec<f32>> {
        match s {
            Some(s) => Some(slice(&constant(s)?).to_vec()),
            None => Some(vec![0.0; dirs * batch * hidden]),
        }
    };
    let bias = match operands.b {
        // ONNX's input and recurrent biases act only as their sum.
        Some(b) => Some(
            slice(&constant(b)?)
                .chunks_exact(8 * hidden)
                .flat_map(|d| {
                    let (wb, rb) = d.split_at(4 * hidden);
                    wb.iter().zip(rb).map(|(a, b)| a + b).collect::<Vec<_>>()
                })
                .collect(),
        ),
        None => None,
    };
    let op = HostLstm {
        shape: LstmShape {
            seq,
            batch,
            input,
            hidden,
        },
        reverse: operands.reverse.to_vec(),
        w: constant(operands.w)?,
        r: constant(operands.r)?,
        bias,
        h0: state(operands.h0)?,
        c0: state(operands.c0)?,
    };
    host_op::apply(x, op)
}

/// One LSTM layer: its sizes and constants, contiguous f32.
#[derive(Debug)]
struct HostLstm {
    shape: LstmShape,
    reverse: Vec<bool>,
    w: FlexTensor,
    r: FlexTensor,
    /// Summed biases, `[dirs, 4H]`.
    bias: Option<Vec<f32>>,
    h0: Vec<f32>,
    c0: Vec<f32>,
}

impl HostLstm {
    fn dirs(&self) -> usize {
        self.reverse.len()
    }

    /// Direction `d`'s constants.
    fn weights<'a>(&'a self, d: usize) -> LstmWeights<'a> {
        let LstmShape {
            batch,
            input,
            hidden: h,
            ..
        } = self.shape;
        let part = |values: &'a [f32], len: usize| &values[d * len..(d + 1) * len];
        LstmWeights {
            w: part(slice(&self.w), 4 * h * input),
            r: part(slice(&self.r), 4 * h * h),
            bias: self.bias.as_deref().map(|b| part(b, 4 * h)),
            h0: part(&self.h0, batch * h),
            c0: part(&self.c0, batch * h),
        }
    }

    /// Where row `(row, d)` of the output `[seq + 1, dirs, batch, H]` starts.
    fn row(&self, row: usize, d: usize) -> usize {
        (row * self.dirs() + d) * self.shape.batch * self.shape.hidden
    }
}

impl HostUnaryOp for HostLstm {
    /// Each direction's gates and cell states.
    type Saved = Vec<LstmTrace>;

    fn input_dims(&self) -> Vec<usize> {
        let LstmShape {
            seq, batch, input, ..
        } = self.shape;
        vec![seq, batch, input]
    }

    fn output_dims(&self) -> Vec<usize> {
        let LstmShape {
            seq, batch, hidden, ..
        } = self.shape;
        vec![seq + 1, self.dirs(), batch, hidden]
    }

    fn forward(&self, x: &[f32]) -> (Vec<f32>, Vec<LstmTrace>) {
        let traces: Vec<LstmTrace> = (0..self.dirs())
            .into_par_iter()
            .map(|d| lstm_forward(self.shape, &self.weights(d), x, self.reverse[d]))
            .collect();
        let step = self.shape.batch * self.shape.hidden;
        let mut y = vec![0.0; self.output_dims().iter().product()];
        for (d, trace) in traces.iter().enumerate() {
            for (t, h) in trace.hidden.chunks_exact(step).enumerate() {
                let at = self.row(t, d);
                y[at..at + step].copy_from_slice(h);
            }
            let at = self.row(self.shape.seq, d);
            y[at..at + step].copy_from_slice(&trace.last_cell);
        }
        (y, traces)
    }

    fn input_grad(&self, traces: &Vec<LstmTrace>, dy: &[f32]) -> Vec<f32> {
        let LstmShape {
            seq, batch, input, ..
        } = self.shape;
        let step = batch * self.shape.hidden;
        let per_direction: Vec<Vec<f32>> = (0..self.dirs())
            .into_par_iter()
            .map(|d| {
                let dh: Vec<f32> = (0..seq)
                    .flat_map(|t| &dy[self.row(t, d)..self.row(t, d) + step])
                    .copied()
                    .collect();
                let last = self.row(seq, d);
                let mut dx = vec![0.0; seq * batch * input];
                lstm_input_grad(
                    self.shape,
                    &self.weights(d),
                    &traces[d],
                    self.reverse[d],
                    &dh,
                    &dy[last..last + step],
                    &mut dx,
                );
                dx
            })
            .collect();
        per_direction
            .into_iter()
            .reduce(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            })
            .expect("at least one direction")
    }
}
