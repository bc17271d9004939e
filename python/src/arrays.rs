//! numpy arrays to and from burn tensors of flattened examples (`[N, d]`).

use crate::errors::invalid;
use burn::tensor::{Device, Tensor, TensorData};
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// A batch `x` of examples of `shape` as a `[N, d]` tensor. The array must be float32 and
/// C-contiguous (the Python side converts other dtypes); its values are copied once, into the
/// tensor, and never written. With `range`, values outside it are refused, as the command line
/// refuses them: a model given int16 samples where it expects [0, 1] answers confidently and
/// wrongly.
pub fn batch(
    x: &PyReadonlyArrayDyn<'_, f32>,
    shape: &[usize],
    range: Option<(f32, f32)>,
    device: &Device,
) -> PyResult<(Tensor<2>, Vec<usize>)> {
    let dims = x.shape().to_vec();
    let d: usize = shape.iter().product();
    if dims.len() != shape.len() + 1 || dims[1..] != *shape {
        return Err(invalid(
            "x",
            format!(
                "expected a batch of examples of shape {shape:?}, i.e. [N, {}], got {dims:?}",
                shape
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let values = x
        .as_slice()
        .map_err(|_| invalid("x", "must be C-contiguous"))?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(invalid(
            "x",
            format!(
                "value at flat index {i} is {}; inputs must be finite",
                values[i]
            ),
        ));
    }
    if let Some((lo, hi)) = range
        && let Some(i) = values.iter().position(|v| !(lo..=hi).contains(v))
    {
        let outside = values.iter().filter(|v| !(lo..=hi).contains(*v)).count();
        return Err(invalid(
            "x",
            format!(
                "value {} at flat index {i} (and {} more) lies outside the model's input range \
                 [{lo}, {hi}] (clip_values); convert the input to the model's units, or clip it \
                 (np.clip)",
                values[i],
                outside - 1
            ),
        ));
    }
    let n = dims[0];
    if n == 0 {
        return Err(invalid("x", "holds no examples (its first axis is 0)"));
    }
    let tensor = Tensor::from_data(TensorData::new(values.to_vec(), [n, d]), device);
    Ok((tensor, dims))
}

/// `values` as a float32 array of `shape`.
pub fn array<'py>(
    py: Python<'py>,
    values: Vec<f32>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    PyArray1::from_vec(py, values).reshape(shape.to_vec())
}

/// A tensor's values as a float32 array of `shape`.
pub fn tensor_array<'py, const D: usize>(
    py: Python<'py>,
    tensor: Tensor<D>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    array(py, avfoil::array::tensor_to_vec(tensor), shape)
}
