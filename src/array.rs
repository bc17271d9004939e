//! A plain host-side float32 array: what `.npy` files hold and what the CLI hands to the library.
//!
//! Attacks and models work on device tensors flattened to `[N, features]`; this type is the boundary
//! between files and devices, and the caller's copy is never touched by anything downstream.

use crate::error::{Error, Result};
use burn::tensor::{Device, Tensor, TensorData};

/// A dense row-major float32 array.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Extents, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values in row-major order.
    pub data: Vec<f32>,
}

impl Array {
    /// An array, checking that `data` fills `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::invalid(
                "array",
                format!(
                    "shape {shape:?} holds {n} values but {} were given",
                    data.len()
                ),
            ));
        }
        Ok(Self { shape, data })
    }

    /// Interprets this array as a batch of examples of `example_shape`: either exactly one example
    /// (its shape equals `example_shape`) or a batch with one leading axis. Returns the batch size.
    pub fn batch_len(&self, example_shape: &[usize]) -> Result<usize> {
        if self.shape == example_shape {
            return Ok(1);
        }
        if self.shape.len() == example_shape.len() + 1 && self.shape[1..] == *example_shape {
            return Ok(self.shape[0]);
        }
        Err(Error::invalid(
            "input",
            format!(
                "expected one example of shape {example_shape:?} or a batch [N, {}], got {:?}",
                example_shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.shape
            ),
        ))
    }

    /// Uploads the array as a `[rows, len / rows]` tensor on `device`.
    pub fn to_tensor(&self, rows: usize, device: &Device) -> Tensor<2> {
        let cols = self.data.len().checked_div(rows).unwrap_or(0);
        Tensor::from_data(TensorData::new(self.data.clone(), [rows, cols]), device)
    }

    /// Downloads a tensor into an array of `shape` (which must hold as many values).
    pub fn from_tensor<const D: usize>(tensor: Tensor<D>, shape: Vec<usize>) -> Self {
        let data = tensor_to_vec(tensor);
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        Self { shape, data }
    }
}

/// The values of a float tensor, row-major, as f32.
pub fn tensor_to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a converted f32 tensor reads back as f32")
}

/// Which frame each feature of a flattened example belongs to, and the number of frames.
pub fn frame_index(shape: &[usize], axis: usize) -> Result<(Vec<usize>, usize)> {
    if shape.len() < 2 || axis >= shape.len() {
        return Err(Error::invalid(
            "frame_axis",
            format!("axis {axis} does not exist in examples of shape {shape:?}"),
        ));
    }
    let inner: usize = shape[axis + 1..].iter().product();
    let frames = shape[axis];
    let d: usize = shape.iter().product();
    Ok(((0..d).map(|i| (i / inner) % frames).collect(), frames))
}
