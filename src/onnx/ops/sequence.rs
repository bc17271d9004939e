//! Recurrent layers: LSTM (gates i, o, f, c) and GRU (gates z, r, h) as ONNX defines them, forward,
//! reverse or both directions, initial states, sequence-major or batch-major layout, unrolled over
//! time on burn tensors so that their input gradients are exact.

use super::Inputs;
use crate::error::Result;
use crate::onnx::host_lstm::{self, LstmOperands};
use crate::onnx::value::{Float, Value};
use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, tanh};
use onnx_ir::node::gru::{GruActivationFunction, GruConfig, GruDirection};
use onnx_ir::node::lstm::{LstmActivationFunction, LstmConfig, LstmDirection};

/// Returns Y `[seq, dirs, batch, H]`, Y_h and Y_c `[dirs, batch, H]` (batch-major layouts
/// transposed as ONNX's `layout = 1` says).
pub fn lstm(c: &LstmConfig, inputs: &Inputs, outputs: usize) -> Result<Vec<Value>> {
    let default = LstmActivationFunction::Sigmoid;
    let plain = c.gate_activation == default
        && c.cell_activation == LstmActivationFunction::Tanh
        && c.hidden_activation == LstmActivationFunction::Tanh;
    if !plain || c.has_peephole || c.clip.is_some() || c.input_forget {
        return Err(inputs.error(
            "LSTM with activations other than sigmoid/tanh, peepholes, clipping or coupled \
             gates is not supported",
        ));
    }
    if inputs.values.get(4).copied().flatten().is_some() {
        return Err(inputs.error("LSTM with sequence_lens is not supported"));
    }
    let mut x = inputs.float(0)?.get::<3>("LSTM")?;
    if c.batch_first {
        x = x.swap_dims(0, 1);
    }
    let [_, _, input] = x.dims();
    let w = inputs.float(1)?.get::<3>("LSTM W")?;
    let r = inputs.float(2)?.get::<3>("LSTM R")?;
    let hidden = c.hidden_size;
    let dirs = if c.direction == LstmDirection::Bidirectional {
        2
    } else {
        1
    };
    if w.dims() != [dirs, 4 * hidden, input] || r.dims() != [dirs, 4 * hidden, hidden] {
        return Err(inputs.error(format!(
            "LSTM weights W {:?} and R {:?} do not fit input size {input}, hidden size {hidden}",
            w.dims(),
            r.dims()
        )));
    }
    let b = inputs
        .optional_float(3)?
        .map(|b| b.get::<2>("LSTM B"))
        .transpose()?;
    let state = |i: usize| -> Result<Option<Tensor<3>>> {
        inputs
            .optional_float(i)?
            .map(|s| s.get::<3>("LSTM state"))
            .transpose()
    };
    let (h0, c0) = (state(5)?, state(6)?);
    let reverse: Vec<bool> = (0..dirs)
        .map(|d| c.direction == LstmDirection::Reverse || d == 1)
        .collect();
    let operands = LstmOperands {
        w: &w,
        r: &r,
        b: b.as_ref(),
        h0: h0.as_ref(),
        c0: c0.as_ref(),
        reverse: &reverse,
    };
    let (mut y, mut yh, mut yc) = match host_lstm::lstm(&x, &operands) {
        Some(out) => split_host_output(out, &reverse),
        None => lstm_unrolled(&x, &operands, hidden),
    };
    if c.batch_first {
        y = y.permute([2, 0, 1, 3]); // [batch, seq, dirs, H]
        yh = yh.swap_dims(0, 1);
        yc = yc.swap_dims(0, 1);
    }
    let mut out = vec![
        Value::Float(Float::new(y)),
        Value::Float(Float::new(yh)),
        Value::Float(Float::new(yc)),
    ];
    out.truncate(outputs.max(1));
    Ok(out)
}

/// Y, Y_h and Y_c from the host layer's one output `[seq + 1, dirs, batch, H]` (the hidden states,
/// then the last cell states); Y_h is Y at each direction's last step.
fn split_host_output(out: Tensor<4>, reverse: &[bool]) -> (Tensor<4>, Tensor<3>, Tensor<3>) {
    let seq = out.dims()[0] - 1;
    let y = out.clone().narrow(0, 0, seq);
    let yh: Vec<Tensor<3>> = reverse
        .iter()
        .enumerate()
        .map(|(d, &reverse)| {
            let last = if reverse { 0 } else { seq - 1 };
            y.clone()
                .narrow(0, last, 1)
                .narrow(1, d, 1)
                .squeeze_dim::<3>(0)
        })
        .collect();
    (
        y,
        Tensor::cat(yh, 0),
        out.narrow(0, seq, 1).squeeze_dim::<3>(0),
    )
}

/// The LSTM layer unrolled over time on burn's ops (any device, tracked weights or states):
/// Y `[seq, dirs, batch, H]`, Y_h and Y_c `[dirs, batch, H]`.
fn lstm_unrolled(
    x: &Tensor<3>,
    operands: &LstmOperands,
    hidden: usize,
) -> (Tensor<4>, Tensor<3>, Tensor<3>) {
    let LstmOperands {
        w,
        r,
        b,
        h0,
        c0,
        reverse,
    } = operands;
    let [seq, batch, _] = x.dims();
    let device = x.device();
    let mut ys = Vec::new();
    let mut hs = Vec::new();
    let mut cs = Vec::new();
    for (d, &reverse) in reverse.iter().enumerate() {
        let pick = |t: &Tensor<3>| t.clone().narrow(0, d, 1).squeeze_dim::<2>(0);
        let (wd, rd) = (pick(w).transpose(), pick(r).transpose()); // [in, 4H], [H, 4H]
        let bias = b.map(|b| {
            let b = b.clone().narrow(0, d, 1); // [1, 8H]
            b.clone().narrow(1, 0, 4 * hidden) + b.narrow(1, 4 * hidden, 4 * hidden)
        });
        let mut h = match h0 {
            Some(h) => pick(h),
            None => Tensor::zeros([batch, hidden], &device),
        };
        let mut cell = match c0 {
            Some(c) => pick(c),
            None => Tensor::zeros([batch, hidden], &device),
        };
        let mut outs = vec![None; seq];
        for step in 0..seq {
            let t = if reverse { seq - 1 - step } else { step };
            let xt = x.clone().narrow(0, t, 1).squeeze_dim::<2>(0); // [batch, in]
            let mut gates = xt.matmul(wd.clone()) + h.clone().matmul(rd.clone());
            if let Some(bias) = &bias {
                gates = gates + bias.clone();
            }
            let gate = |k: usize| gates.clone().narrow(1, k * hidden, hidden);
            let (i, o, f, g) = (
                sigmoid(gate(0)),
                sigmoid(gate(1)),
                sigmoid(gate(2)),
                tanh(gate(3)),
            );
            cell = f * cell + i * g;
            h = o * tanh(cell.clone());
            outs[t] = Some(h.clone());
        }
        let y: Vec<Tensor<2>> = outs
            .into_iter()
            .map(|o| o.expect("every step ran"))
            .collect();
        ys.push(Tensor::stack::<3>(y, 0)); // [seq, batch, H]
        hs.push(h);
        cs.push(cell);
    }
    (
        Tensor::stack::<4>(ys, 1),
        Tensor::stack::<3>(hs, 0),
        Tensor::stack::<3>(cs, 0),
    )
}

/// Returns Y `[seq, dirs, batch, H]` and Y_h `[dirs, batch, H]` (batch-major with `layout = 1`).
/// `linear_before_reset` chooses where the reset gate applies, as ONNX (PyTorch exports 1).
pub fn gru(c: &GruConfig, inputs: &Inputs, outputs: usize) -> Result<Vec<Value>> {
    let plain = c.gate_activation == GruActivationFunction::Sigmoid
        && c.hidden_activation == GruActivationFunction::Tanh;
    if !plain || c.clip.is_some() {
        return Err(inputs
            .error("GRU with activations other than sigmoid/tanh, or clipping, is not supported"));
    }
    if inputs.values.get(4).copied().flatten().is_some() {
        return Err(inputs.error("GRU with sequence_lens is not supported"));
    }
    let mut x = inputs.float(0)?.get::<3>("GRU")?;
    if c.batch_first {
        x = x.swap_dims(0, 1);
    }
    let [seq, batch, input] = x.dims();
    let w = inputs.float(1)?.get::<3>("GRU W")?;
    let r = inputs.float(2)?.get::<3>("GRU R")?;
    let hidden = c.hidden_size;
    let dirs = if c.direction == GruDirection::Bidirectional {
        2
    } else {
        1
    };
    if w.dims() != [dirs, 3 * hidden, input] || r.dims() != [dirs, 3 * hidden, hidden] {
        return Err(inputs.error(format!(
            "GRU weights W {:?} and R {:?} do not fit input size {input}, hidden size {hidden}",
            w.dims(),
            r.dims()
        )));
    }
    let b = inputs
        .optional_float(3)?
        .map(|b| b.get::<2>("GRU B"))
        .transpose()?;
    let h0 = inputs
        .optional_float(5)?
        .map(|s| s.get::<3>("GRU state"))
        .transpose()?;
    let device = x.device();
    let (mut ys, mut hs) = (Vec::new(), Vec::new());
    for d in 0..dirs {
        let pick = |t: &Tensor<3>| t.clone().narrow(0, d, 1).squeeze_dim::<2>(0);
        let (wd, rd) = (pick(&w), pick(&r)); // [3H, in], [3H, H]
        let part = |m: &Tensor<2>, k: usize| m.clone().narrow(0, k * hidden, hidden).transpose();
        let (wz, wr, wh) = (part(&wd, 0), part(&wd, 1), part(&wd, 2));
        let (rz, rr, rh) = (part(&rd, 0), part(&rd, 1), part(&rd, 2));
        let bias = |k: usize| -> Option<Tensor<2>> {
            b.as_ref()
                .map(|b| b.clone().narrow(0, d, 1).narrow(1, k * hidden, hidden))
        };
        let (wbz, wbr, wbh) = (bias(0), bias(1), bias(2));
        let (rbz, rbr, rbh) = (bias(3), bias(4), bias(5));
        let add = |t: Tensor<2>, b: &Option<Tensor<2>>| match b {
            Some(b) => t + b.clone(),
            None => t,
        };
        let mut h = match &h0 {
            Some(h) => pick(h),
            None => Tensor::zeros([batch, hidden], &device),
        };
        let reverse = c.direction == GruDirection::Reverse || d == 1;
        let mut outs = vec![None; seq];
        for step in 0..seq {
            let t = if reverse { seq - 1 - step } else { step };
            let xt = x.clone().narrow(0, t, 1).squeeze_dim::<2>(0);
            let z = sigmoid(add(
                add(xt.clone().matmul(wz.clone()), &wbz) + h.clone().matmul(rz.clone()),
                &rbz,
            ));
            let rg = sigmoid(add(
                add(xt.clone().matmul(wr.clone()), &wbr) + h.clone().matmul(rr.clone()),
                &rbr,
            ));
            let candidate = if c.linear_before_reset {
                add(xt.matmul(wh.clone()), &wbh) + rg * add(h.clone().matmul(rh.clone()), &rbh)
            } else {
                add(xt.matmul(wh.clone()), &wbh) + add((rg * h.clone()).matmul(rh.clone()), &rbh)
            };
            let candidate = tanh(candidate);
            h = (z.clone().neg().add_scalar(1.0)) * candidate + z * h;
            outs[t] = Some(h.clone());
        }
        let y: Vec<Tensor<2>> = outs
            .into_iter()
            .map(|o| o.expect("every step ran"))
            .collect();
        ys.push(Tensor::stack::<3>(y, 0));
        hs.push(h);
    }
    let mut y = Tensor::stack::<4>(ys, 1);
    let mut yh = Tensor::stack::<3>(hs, 0);
    if c.batch_first {
        y = y.permute([2, 0, 1, 3]);
        yh = yh.swap_dims(0, 1);
    }
    let mut out = vec![Value::Float(Float::new(y)), Value::Float(Float::new(yh))];
    out.truncate(outputs.max(1));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    fn random<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(dims, Distribution::Uniform(-1.0, 1.0), device)
    }

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// The host layer (one op, backward through time on the host) against the layer unrolled on
    /// burn's ops: Y, Y_h, Y_c and the input gradient of a random weighting of all three, one
    /// direction each way and both, with and without biases and initial states.
    #[test]
    fn the_host_lstm_matches_the_unrolled_layer() {
        let device = Device::flex();
        let (seq, batch, input, hidden) = (6, 3, 5, 4);
        for (reverse, with_constants) in [
            (vec![false], true),
            (vec![true], false),
            (vec![false, true], true),
            (vec![false, true], false),
        ] {
            let dirs = reverse.len();
            let w = random([dirs, 4 * hidden, input], &device);
            let r = random([dirs, 4 * hidden, hidden], &device);
            let b = random([dirs, 8 * hidden], &device);
            let h0 = random([dirs, batch, hidden], &device);
            let c0 = random([dirs, batch, hidden], &device);
            let operands = LstmOperands {
                w: &w,
                r: &r,
                b: with_constants.then_some(&b),
                h0: with_constants.then_some(&h0),
                c0: with_constants.then_some(&c0),
                reverse: &reverse,
            };
            let x = random([seq, batch, input], &device);
            let (dy, dh, dc) = (
                random([seq, dirs, batch, hidden], &device),
                random([dirs, batch, hidden], &device),
                random([dirs, batch, hidden], &device),
            );
            let run = |host: bool| {
                let xt = x.clone().autodiff().require_grad();
                let (y, yh, yc) = if host {
                    let out = host_lstm::lstm_on_host(&xt, &operands).expect("host path applies");
                    split_host_output(out, &reverse)
                } else {
                    lstm_unrolled(&xt, &operands, hidden)
                };
                let loss = (y.clone() * dy.clone()).sum()
                    + (yh.clone() * dh.clone()).sum()
                    + (yc.clone() * dc.clone()).sum();
                let grads = loss.backward();
                let grad = xt.grad(&grads).expect("x is tracked");
                (y.detach(), yh.detach(), yc.detach(), grad)
            };
            let (y, yh, yc, grad) = run(true);
            let (y0, yh0, yc0, grad0) = run(false);
            let case = format!("reverse {reverse:?}, constants {with_constants}");
            assert!(max_abs_diff(y, y0) < 1e-5, "{case}: Y");
            assert!(max_abs_diff(yh, yh0) < 1e-5, "{case}: Y_h");
            assert!(max_abs_diff(yc, yc0) < 1e-5, "{case}: Y_c");
            assert!(max_abs_diff(grad, grad0) < 1e-4, "{case}: input gradient");
        }
    }
}
