//! Matrix products: MatMul (numpy semantics), Gemm, and onnx-ir's Linear (a Gemm or MatMul whose
//! weight is a constant).

use super::Inputs;
use crate::error::{Error, Result};
use crate::onnx::value::Float;
use onnx_ir::node::gemm::GemmConfig;

fn bad(what: String) -> Error {
    Error::invalid("onnx", what)
}

/// `a @ b` with numpy's rules: batch axes broadcast, a 1-D operand is a row (left) or a column
/// (right) vector whose axis is dropped from the result.
pub fn matmul(a: &Float, b: &Float) -> Result<Float> {
    let (mut da, mut db) = (a.dims(), b.dims());
    let (vec_a, vec_b) = (da.len() == 1, db.len() == 1);
    if vec_a {
        da.insert(0, 1);
    }
    if vec_b {
        db.push(1);
    }
    let (a, b) = (a.reshape(&da)?, b.reshape(&db)?);
    if da[da.len() - 1] != db[db.len() - 2] {
        return Err(bad(format!(
            "MatMul of {da:?} and {db:?}: inner sizes differ"
        )));
    }
    let batch_ok = da[..da.len() - 2]
        .iter()
        .rev()
        .zip(db[..db.len() - 2].iter().rev())
        .all(|(&x, &y)| x == y || x == 1 || y == 1);
    if !batch_ok {
        return Err(bad(format!(
            "MatMul of {da:?} and {db:?}: batch axes do not broadcast"
        )));
    }
    let rank = da.len().max(db.len());
    let y = Float::padded(a.t.clone().matmul(b.t.clone()), rank);
    let mut dims = y.dims();
    if vec_b {
        dims.pop();
    }
    if vec_a {
        dims.remove(dims.len() - if vec_b { 1 } else { 2 });
    }
    y.reshape(&dims)
}

/// `x @ W (+ b)` over the last axis of `x`; `transpose`: `W` is stored `[out, in]`.
pub fn linear(transpose: bool, inputs: &Inputs) -> Result<Float> {
    let x = inputs.float(0)?;
    let w = inputs.float(1)?.get::<2>("Linear weight")?;
    let w = if transpose { w.transpose() } else { w };
    let [k, out] = w.dims();
    let dims = x.dims();
    let Some((&last, lead)) = dims.split_last() else {
        return Err(inputs.error("Linear of a scalar"));
    };
    if last != k {
        return Err(inputs.error(format!("Linear of {dims:?} with a {k} × {out} weight")));
    }
    let rows: usize = lead.iter().product();
    let mut y = x.reshape(&[rows, k])?.get::<2>("Linear")?.matmul(w);
    if let Some(b) = inputs.optional_float(2)? {
        y = y + b.get::<1>("Linear bias")?.unsqueeze::<2>();
    }
    let mut shape = lead.to_vec();
    shape.push(out);
    Float::new(y).reshape(&shape)
}

/// `alpha · A' B' + beta · C` with `A'`, `B'` optionally transposed; `C` broadcasts.
pub fn gemm(c: &GemmConfig, inputs: &Inputs) -> Result<Float> {
    let a = inputs.float(0)?.get::<2>("Gemm")?;
    let b = inputs.float(1)?.get::<2>("Gemm")?;
    let a = if c.trans_a != 0 { a.transpose() } else { a };
    let b = if c.trans_b != 0 { b.transpose() } else { b };
    if a.dims()[1] != b.dims()[0] {
        return Err(inputs.error(format!("Gemm of {:?} and {:?}", a.dims(), b.dims())));
    }
    let mut y = Float::new(a.matmul(b) * c.alpha);
    if let Some(bias) = inputs.optional_float(2)? {
        let y2 = y.dims();
        let b2 = bias.dims();
        let fits = b2.len() <= 2
            && b2
                .iter()
                .rev()
                .zip(y2.iter().rev())
                .all(|(&p, &q)| p == q || p == 1);
        if !fits {
            return Err(inputs.error(format!("Gemm bias {b2:?} does not broadcast to {y2:?}")));
        }
        let beta = c.beta;
        y = Float::padded(y.t + bias.t.clone() * beta, 2);
    }
    Ok(y)
}
