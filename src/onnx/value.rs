//! The values an ONNX graph passes between its nodes while avfoil interprets it.
//!
//! Float tensors live on the device, inside burn's autodiff graph when the input is tracked, so
//! that every op's input gradient comes from burn. burn fixes a tensor's rank at compile time and
//! ONNX does not, so every float value is held as a rank-6 tensor whose leading axes have size 1
//! ([`Float`]); ops that need a given rank (convolutions, pooling) take the logical shape back out.
//! Integer values (shapes, axes, indices) never carry gradients and are computed on the host
//! ([`Ints`]).

use crate::error::{Error, Result};
use burn::tensor::{Device, Tensor, TensorData};

/// The highest rank a graph's float values may have.
pub const MAX_RANK: usize = 6;

/// A float tensor of rank `rank` ≤ [`MAX_RANK`], stored with leading axes of size 1.
#[derive(Clone, Debug)]
pub struct Float {
    pub(crate) t: Tensor<MAX_RANK>,
    pub(crate) rank: usize,
}

impl Float {
    /// Wraps `t`, whose logical rank is `D`.
    pub fn new<const D: usize>(t: Tensor<D>) -> Self {
        let dims = t.dims();
        let mut padded = [1usize; MAX_RANK];
        padded[MAX_RANK - D..].copy_from_slice(&dims);
        Self {
            t: t.reshape(padded),
            rank: D,
        }
    }

    /// A rank-6 tensor whose logical rank is `rank`.
    pub(crate) fn padded(t: Tensor<MAX_RANK>, rank: usize) -> Self {
        Self { t, rank }
    }

    /// A host array on `device`.
    pub fn from_host(values: Vec<f32>, shape: &[usize], device: &Device) -> Result<Self> {
        let padded = pad_shape(shape)?;
        let t = Tensor::from_data(TensorData::new(values, padded), device);
        Ok(Self::padded(t, shape.len()))
    }

    /// The logical shape.
    pub fn dims(&self) -> Vec<usize> {
        self.t.dims()[MAX_RANK - self.rank..].to_vec()
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The value as a burn tensor of rank `D`, which must be its rank.
    pub fn get<const D: usize>(&self, op: &str) -> Result<Tensor<D>> {
        if self.rank != D {
            return Err(Error::invalid(
                "onnx",
                format!("{op} expects a rank-{D} input, got shape {:?}", self.dims()),
            ));
        }
        let dims: [usize; D] = self.dims().try_into().expect("rank checked");
        Ok(self.t.clone().reshape(dims))
    }

    /// The same values with logical shape `shape` (same number of elements).
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        let count: usize = self.dims().iter().product();
        if shape.iter().product::<usize>() != count {
            return Err(Error::invalid(
                "onnx",
                format!("cannot reshape {:?} to {shape:?}", self.dims()),
            ));
        }
        Ok(Self::padded(
            self.t.clone().reshape(pad_shape(shape)?),
            shape.len(),
        ))
    }

    /// The same values with rank `rank` ≥ the current one (size-1 axes in front), for
    /// broadcasting.
    pub fn with_rank(&self, rank: usize) -> Self {
        Self::padded(self.t.clone(), rank.max(self.rank))
    }

    /// Applies an elementwise op (any op that does not care about shape).
    pub fn map(&self, f: impl FnOnce(Tensor<MAX_RANK>) -> Tensor<MAX_RANK>) -> Self {
        Self::padded(f(self.t.clone()), self.rank)
    }

    /// The physical axis of logical axis `axis` (negative counts from the end).
    pub fn axis(&self, axis: i64) -> Result<usize> {
        let rank = self.rank as i64;
        let a = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&a) {
            return Err(Error::invalid(
                "onnx",
                format!("axis {axis} is out of range for shape {:?}", self.dims()),
            ));
        }
        Ok(MAX_RANK - self.rank + a as usize)
    }
}

/// `shape` with leading 1s to rank [`MAX_RANK`].
pub fn pad_shape(shape: &[usize]) -> Result<[usize; MAX_RANK]> {
    if shape.len() > MAX_RANK {
        return Err(Error::Unsupported(format!(
            "ONNX tensors of rank {} (shape {shape:?}); avfoil interprets ranks up to {MAX_RANK}",
            shape.len()
        )));
    }
    let mut padded = [1usize; MAX_RANK];
    padded[MAX_RANK - shape.len()..].copy_from_slice(shape);
    Ok(padded)
}

/// An integer tensor on the host: shapes, axes, indices, sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct Ints {
    pub data: Vec<i64>,
    pub shape: Vec<usize>,
}

impl Ints {
    /// A 1-D list.
    pub fn list(data: Vec<i64>) -> Self {
        let n = data.len();
        Self {
            data,
            shape: vec![n],
        }
    }

    /// A scalar (rank 0).
    pub fn scalar(v: i64) -> Self {
        Self {
            data: vec![v],
            shape: vec![],
        }
    }
}

/// One value of the graph. (A burn tensor is large; a graph holds a few dozen live values at a
/// time, so boxing it would only add allocations.)
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Value {
    Float(Float),
    Int(Ints),
}

impl Value {
    pub fn float(&self, op: &str) -> Result<&Float> {
        match self {
            Value::Float(f) => Ok(f),
            Value::Int(_) => Err(Error::invalid(
                "onnx",
                format!("{op} expects a float input, got an integer one"),
            )),
        }
    }

    pub fn ints(&self, op: &str) -> Result<&Ints> {
        match self {
            Value::Int(i) => Ok(i),
            Value::Float(_) => Err(Error::invalid(
                "onnx",
                format!("{op} expects an integer input (a shape or indices), got a float one"),
            )),
        }
    }
}
