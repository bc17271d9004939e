//! Elementwise ops: activations, arithmetic with ONNX broadcasting, clipping, softmax.

use super::Inputs;
use crate::error::Result;
use crate::onnx::op::{Binary, Compare, Unary};
use crate::onnx::value::{Float, Ints, MAX_RANK, Value};
use burn::tensor::Tensor;
use burn::tensor::activation as act;

pub fn unary(op: Unary, x: &Float) -> Float {
    x.map(|t| match op {
        Unary::Relu => act::relu(t),
        Unary::Sigmoid => act::sigmoid(t),
        Unary::Tanh => act::tanh(t),
        Unary::Exp => t.exp(),
        Unary::Log => t.log(),
        Unary::Sqrt => t.sqrt(),
        Unary::Abs => t.abs(),
        Unary::Neg => t.neg(),
        Unary::Reciprocal => t.recip(),
        Unary::Erf => t.erf(),
        Unary::Softplus => act::softplus(t, 1.0),
        Unary::HardSwish => act::hard_swish(t),
        Unary::Selu => act::selu(t),
        Unary::LeakyRelu(alpha) => act::leaky_relu(t, alpha),
        Unary::Elu(alpha) => act::elu(t, alpha),
        Unary::HardSigmoid { alpha, beta } => act::hard_sigmoid(t, alpha, beta),
        Unary::Gelu { tanh: false } => act::gelu(t),
        Unary::Gelu { tanh: true } => act::gelu_approximate(t),
    })
}

fn apply(op: Binary, a: &Float, b: &Float) -> Float {
    let rank = a.rank().max(b.rank());
    let (a, b) = (a.t.clone(), b.t.clone());
    let t = match op {
        Binary::Add => a + b,
        Binary::Sub => a - b,
        Binary::Mul => a * b,
        Binary::Div => a / b,
        Binary::Pow => power(a, b),
        Binary::Max => a.max_pair(b),
        Binary::Min => a.min_pair(b),
    };
    Float::padded(t, rank)
}

/// `a ^ b` elementwise. A constant one-value exponent of 1, 2 or 3 is a product of `a` with
/// itself and 0.5 a square root: exact, and several times cheaper forwards and backwards than
/// burn's `powf` (`exp(b · ln a)` per element; a power spectrum's square was the largest single
/// cost of a log-mel graph's gradient). Same values otherwise, negative bases included.
fn power(a: Tensor<MAX_RANK>, b: Tensor<MAX_RANK>) -> Tensor<MAX_RANK> {
    let exponent = (b.dims().iter().product::<usize>() == 1)
        .then(|| crate::onnx::host_op::constant(&b))
        .flatten()
        .and_then(|b| crate::onnx::host_op::slice(&b).first().copied());
    // A one-value b is all size-1 axes in MAX_RANK: the result has a's shape either way.
    match exponent {
        Some(1.0) => a,
        Some(2.0) => a.clone() * a,
        Some(3.0) => a.clone() * a.clone() * a,
        Some(0.5) => a.sqrt(),
        _ => a.powf(b),
    }
}

/// Two floats, or two integer tensors (shape arithmetic), broadcast as ONNX does.
pub fn binary(op: Binary, inputs: &Inputs) -> Result<Value> {
    match (inputs.get(0)?, inputs.get(1)?) {
        (Value::Float(a), Value::Float(b)) => {
            check_broadcast(inputs, &a.dims(), &b.dims())?;
            Ok(Value::Float(apply(op, a, b)))
        }
        (Value::Int(a), Value::Int(b)) => int_binary(op, a, b, inputs).map(Value::Int),
        _ => Err(inputs.error("mixes float and integer inputs")),
    }
}

/// burn broadcasts size-1 axes silently and panics on others: check first, with the shapes.
fn check_broadcast(inputs: &Inputs, a: &[usize], b: &[usize]) -> Result<()> {
    let ok = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .all(|(&x, &y)| x == y || x == 1 || y == 1);
    if ok && a.len().max(b.len()) <= MAX_RANK {
        Ok(())
    } else {
        Err(inputs.error(format!("shapes {a:?} and {b:?} do not broadcast")))
    }
}

fn int_binary(op: Binary, a: &Ints, b: &Ints, inputs: &Inputs) -> Result<Ints> {
    let f = |x: i64, y: i64| -> Option<i64> {
        match op {
            Binary::Add => x.checked_add(y),
            Binary::Sub => x.checked_sub(y),
            Binary::Mul => x.checked_mul(y),
            Binary::Div => x.checked_div(y),
            Binary::Max => Some(x.max(y)),
            Binary::Min => Some(x.min(y)),
            Binary::Pow => u32::try_from(y).ok().and_then(|y| x.checked_pow(y)),
        }
    };
    let (long, short, swap) = if a.data.len() >= b.data.len() {
        (a, b, false)
    } else {
        (b, a, true)
    };
    if short.data.len() != 1 && short.data.len() != long.data.len() {
        return Err(inputs.error(format!(
            "integer shapes {:?} and {:?} do not broadcast",
            a.shape, b.shape
        )));
    }
    let data = long
        .data
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let y = short.data[if short.data.len() == 1 { 0 } else { i }];
            let (x, y) = if swap { (y, x) } else { (x, y) };
            f(x, y).ok_or_else(|| inputs.error(format!("integer overflow in {x} and {y}")))
        })
        .collect::<Result<_>>()?;
    Ok(Ints {
        data,
        shape: long.shape.clone(),
    })
}

/// Max, Min, Sum or Mean of any number of float inputs.
pub fn variadic(op: Binary, mean: bool, inputs: &Inputs) -> Result<Float> {
    let mut acc = inputs.float(0)?.clone();
    let n = inputs.values.len();
    for i in 1..n {
        let next = inputs.float(i)?;
        check_broadcast(inputs, &acc.dims(), &next.dims())?;
        acc = apply(op, &acc, next);
    }
    Ok(if mean { acc.map(|t| t / n as f32) } else { acc })
}

pub fn softmax(x: &Float, axis: usize, log: bool) -> Result<Float> {
    let dim = x.axis(axis as i64)?;
    Ok(x.map(|t| {
        if log {
            act::log_softmax(t, dim)
        } else {
            act::softmax(t, dim)
        }
    }))
}

pub fn clip(config: &onnx_ir::node::clip::ClipConfig, inputs: &Inputs) -> Result<Float> {
    use onnx_ir::node::clip::ClipInput;
    let bound = |b: &Option<ClipInput>| -> Result<Option<f32>> {
        match b {
            None => Ok(None),
            Some(ClipInput::Static(v)) => Ok(Some(*v as f32)),
            Some(ClipInput::Runtime(r)) => {
                let f = inputs.float(r.input_index)?;
                let v =
                    f.t.clone()
                        .into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .unwrap_or_default();
                Ok(v.first().copied())
            }
        }
    };
    let (lo, hi) = (bound(&config.min)?, bound(&config.max)?);
    Ok(inputs.float(0)?.map(|t| {
        let t = match lo {
            Some(lo) => t.clamp_min(lo),
            None => t,
        };
        match hi {
            Some(hi) => t.clamp_max(hi),
            None => t,
        }
    }))
}

/// PRelu: `x` where positive, `slope · x` elsewhere; the slope broadcasts (one per channel).
pub fn prelu(inputs: &Inputs) -> Result<Float> {
    let (x, slope) = (inputs.float(0)?, inputs.float(1)?);
    // A slope [C] applies per channel of [N, C, ...]: ONNX's unidirectional broadcasting of it.
    let slope = if slope.rank() == 1 && x.rank() > 2 && slope.dims()[0] == x.dims()[1] {
        let mut shape = vec![1; x.rank() - 1];
        shape[0] = slope.dims()[0];
        slope.reshape(&shape)?
    } else {
        slope.clone()
    };
    check_broadcast(inputs, &x.dims(), &slope.dims())?;
    let positive = act::relu(x.t.clone());
    let negative = x.t.clone() - positive.clone();
    Ok(Float::padded(positive + negative * slope.t, x.rank()))
}

pub fn compare(op: Compare, inputs: &Inputs) -> Result<Value> {
    match (inputs.get(0)?, inputs.get(1)?) {
        (Value::Float(a), Value::Float(b)) => {
            check_broadcast(inputs, &a.dims(), &b.dims())?;
            let rank = a.rank().max(b.rank());
            let (a, b) = (a.t.clone(), b.t.clone());
            let mask = match op {
                Compare::Equal => a.equal(b),
                Compare::Greater => a.greater(b),
                Compare::GreaterOrEqual => a.greater_equal(b),
                Compare::Less => a.lower(b),
                Compare::LessOrEqual => a.lower_equal(b),
            };
            Ok(Value::Float(Float::padded(mask.float(), rank)))
        }
        (Value::Int(a), Value::Int(b)) => {
            let f = |x: i64, y: i64| -> Option<i64> {
                Some(i64::from(match op {
                    Compare::Equal => x == y,
                    Compare::Greater => x > y,
                    Compare::GreaterOrEqual => x >= y,
                    Compare::Less => x < y,
                    Compare::LessOrEqual => x <= y,
                }))
            };
            int_map(a, b, f, inputs).map(Value::Int)
        }
        _ => Err(inputs.error("compares a float with an integer")),
    }
}

/// `a op b` elementwise over integers, broadcasting a scalar.
fn int_map(
    a: &Ints,
    b: &Ints,
    f: impl Fn(i64, i64) -> Option<i64>,
    inputs: &Inputs,
) -> Result<Ints> {
    let (n, m) = (a.data.len(), b.data.len());
    if n != m && n != 1 && m != 1 {
        return Err(inputs.error(format!("integer shapes {:?} and {:?}", a.shape, b.shape)));
    }
    let len = n.max(m);
    let data = (0..len)
        .map(|i| {
            let (x, y) = (
                a.data[if n == 1 { 0 } else { i }],
                b.data[if m == 1 { 0 } else { i }],
            );
            f(x, y).ok_or_else(|| inputs.error("integer overflow"))
        })
        .collect::<Result<_>>()?;
    let shape = if n >= m {
        a.shape.clone()
    } else {
        b.shape.clone()
    };
    Ok(Ints { data, shape })
}

/// Not of a 0/1 mask.
pub fn not(inputs: &Inputs) -> Result<Value> {
    match inputs.get(0)? {
        Value::Float(f) => Ok(Value::Float(f.map(|t| t.neg().add_scalar(1.0)))),
        Value::Int(i) => Ok(Value::Int(Ints {
            data: i.data.iter().map(|&v| i64::from(v == 0)).collect(),
            shape: i.shape.clone(),
        })),
    }
}

/// `And(a, b)` on masks: 1 where both are non-zero, broadcasting as ONNX does. Floats give a
/// float mask (no gradient flows through a mask), integers an integer one.
pub fn and(inputs: &Inputs) -> Result<Value> {
    match (inputs.get(0)?, inputs.get(1)?) {
        (Value::Float(a), Value::Float(b)) => {
            check_broadcast(inputs, &a.dims(), &b.dims())?;
            let rank = a.rank().max(b.rank());
            let nonzero = |t: &Float| t.t.clone().not_equal_elem(0.0).float();
            Ok(Value::Float(Float::padded(nonzero(a) * nonzero(b), rank)))
        }
        (Value::Int(a), Value::Int(b)) => {
            let f = |x: i64, y: i64| Some(i64::from(x != 0 && y != 0));
            int_map(a, b, f, inputs).map(Value::Int)
        }
        _ => Err(inputs.error("joins a float mask with an integer one")),
    }
}

/// `Where(cond, a, b)`: `a` where the mask is 1, `b` elsewhere, as `cond·a + (1 − cond)·b`, so
/// gradients reach `a` and `b` where each is chosen.
pub fn where_(inputs: &Inputs) -> Result<Value> {
    let cond = match inputs.get(0)? {
        Value::Float(f) => f.clone(),
        Value::Int(i) => {
            let v: Vec<f32> = i
                .data
                .iter()
                .map(|&v| if v != 0 { 1.0 } else { 0.0 })
                .collect();
            Float::from_host(v, &i.shape, inputs.device)?
        }
    };
    let (a, b) = (inputs.float(1)?, inputs.float(2)?);
    check_broadcast(inputs, &a.dims(), &b.dims())?;
    check_broadcast(inputs, &cond.dims(), &a.dims())?;
    let rank = cond.rank().max(a.rank()).max(b.rank());
    let keep = cond.t.clone();
    let t = keep.clone() * a.t.clone() + keep.neg().add_scalar(1.0) * b.t.clone();
    Ok(Value::Float(Float::padded(t, rank)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn tensor(values: &[f32], device: &Device) -> Tensor<MAX_RANK> {
        let mut dims = [1; MAX_RANK];
        dims[MAX_RANK - 1] = values.len();
        Tensor::from_data(TensorData::new(values.to_vec(), dims), device)
    }

    /// The special-cased exponents give powf's values and gradients, negative bases included;
    /// other exponents are powf itself.
    #[test]
    fn constant_exponents_match_powf_in_value_and_gradient() {
        let device = Device::flex();
        let base = [-1.5f32, -0.25, 0.5, 2.0, 3.0];
        for e in [1.0f32, 2.0, 3.0, 0.5, 1.7] {
            let values: Vec<f32> = if e.fract() == 0.0 {
                base.to_vec()
            } else {
                base.iter().map(|v| v.abs()).collect()
            };
            let gradient = |special: bool| {
                let a = tensor(&values, &device).autodiff().require_grad();
                let b = tensor(&[e], &device);
                let y = if special {
                    power(a.clone(), b)
                } else {
                    a.clone().powf(b)
                };
                let grads = y.clone().sum().backward();
                (
                    y.detach().into_data().try_to_vec::<f32>().unwrap(),
                    a.grad(&grads)
                        .unwrap()
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap(),
                )
            };
            let (y, dy) = gradient(true);
            let (want_y, want_dy) = gradient(false);
            for (got, want) in y.iter().zip(&want_y).chain(dy.iter().zip(&want_dy)) {
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "exponent {e}: {got} vs {want}"
                );
            }
        }
    }
}
