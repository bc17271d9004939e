//! `.npy` files: float32, float64 and int16 in, float32 out.
//!
//! Those three dtypes cover what ART users hand around (float32 tensors, float64 numpy defaults and
//! raw int16 PCM). Anything else, and Fortran-ordered arrays, get an error naming the file.

use crate::array::Array;
use crate::error::{Error, Result};
use crate::fs::write_atomic;
use npyz::WriterBuilder;
use std::path::Path;

/// Reads a C-ordered float32, float64 or int16 `.npy` file as float32.
pub fn read_npy(path: &Path) -> Result<Array> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes).map_err(|reason| Error::decode(path, reason))
}

/// Reads `.npy` bytes (an embedded example); `name` stands in for the path in errors.
pub fn npy_from_bytes(name: &str, bytes: &[u8]) -> Result<Array> {
    parse_npy(bytes).map_err(|reason| Error::decode(name, reason))
}

fn parse_npy(bytes: &[u8]) -> Result<Array, String> {
    let file = npyz::NpyFile::new(bytes).map_err(|e| format!("not a .npy file: {e}"))?;
    if file.order() == npyz::Order::Fortran {
        return Err(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    let descr = match file.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => {
            return Err(format!(
                "unsupported dtype {}; expected float32, float64 or int16",
                other.descr()
            ));
        }
    };
    let read_err = |e: std::io::Error| format!("truncated or corrupt data: {e}");
    let data: Vec<f32> = match descr.as_str() {
        "<f4" | ">f4" => file.into_vec::<f32>().map_err(read_err)?,
        "<f8" | ">f8" => file
            .into_vec::<f64>()
            .map_err(read_err)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        "<i2" | ">i2" => file
            .into_vec::<i16>()
            .map_err(read_err)?
            .into_iter()
            .map(f32::from)
            .collect(),
        other => {
            return Err(format!(
                "unsupported dtype {other}; expected float32, float64 or int16"
            ));
        }
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "value {i} is not finite ({}); inputs must be real numbers",
            data[i]
        ));
    }
    Array::new(shape, data).map_err(|e| e.to_string())
}

/// Writes `array` as a little-endian float32 `.npy` file, atomically.
pub fn write_npy(path: &Path, array: &Array) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let shape: Vec<u64> = array.shape.iter().map(|&d| d as u64).collect();
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut bytes)
            .begin_nd()
            .map_err(|e| Error::io(path, e))?;
        writer
            .extend(array.data.iter().copied())
            .map_err(|e| Error::io(path, e))?;
        writer.finish().map_err(|e| Error::io(path, e))?;
    }
    write_atomic(path, &bytes)
}
