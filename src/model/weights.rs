//! Weight files: safetensors and PyTorch `.pt`/`.pth` state dicts, by PyTorch key name.
//!
//! Loading is by key and checked shape, so a notebook's own `state_dict` file loads unchanged and a
//! mismatch is reported as "key, expected shape, found shape" instead of a panic deep in a layer.

use crate::error::{Error, Result};
use burn::module::{Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A named float tensor on the host.
#[derive(Clone, Debug)]
pub struct HostTensor {
    /// Extents, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// All tensors of a weight file, consumed key by key while a model is built.
#[derive(Debug)]
pub struct Weights {
    path: PathBuf,
    tensors: BTreeMap<String, HostTensor>,
}

impl Weights {
    /// Reads a `.safetensors` file, or a PyTorch `.pt`/`.pth`/`.bin` state dict (a checkpoint whose
    /// top level holds a `state_dict` or `model_state_dict` entry also works).
    pub fn load(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let tensors = match ext.as_str() {
            "safetensors" => read_safetensors(path)?,
            "pt" | "pth" | "bin" => read_pytorch(path)?,
            other => {
                return Err(Error::decode(
                    path,
                    format!("unknown weight format {other:?}; expected .safetensors, .pt or .pth"),
                ));
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// Weights from tensors already in memory (tests, freshly trained models).
    pub fn from_tensors(path: impl Into<PathBuf>, tensors: BTreeMap<String, HostTensor>) -> Self {
        Self {
            path: path.into(),
            tensors,
        }
    }

    /// Removes `key`, checking its shape, and uploads it to `device`.
    pub fn take<const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>> {
        let t = self.take_host(key, &shape)?;
        Ok(Tensor::from_data(TensorData::new(t.data, shape), device))
    }

    /// Removes `key`, checking its shape and that its values are finite, on the host.
    pub fn take_host(&mut self, key: &str, shape: &[usize]) -> Result<HostTensor> {
        let t = self.tensors.remove(key).ok_or_else(|| Error::Weights {
            path: self.path.clone(),
            reason: format!("missing tensor {key:?} (expected shape {shape:?})"),
        })?;
        if t.shape != shape {
            return Err(Error::Weights {
                path: self.path.clone(),
                reason: format!("tensor {key:?} has shape {:?}, expected {shape:?}", t.shape),
            });
        }
        // A NaN or infinite weight makes every prediction NaN (argmax then says class 0): refuse
        // it here, where every family's weights pass.
        if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
            return Err(Error::Weights {
                path: self.path.clone(),
                reason: format!(
                    "tensor {key:?} holds a non-finite value ({}) at flat index {i}",
                    t.data[i]
                ),
            });
        }
        Ok(t)
    }

    /// [`take`](Self::take) as a trainable parameter.
    pub fn param<const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Param<Tensor<D>>> {
        Ok(Param::from_tensor(self.take(key, shape, device)?))
    }

    /// [`take`](Self::take) as non-trainable state (batch-norm statistics).
    pub fn state<const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<RunningState<Tensor<D>>> {
        Ok(RunningState::new(self.take(key, shape, device)?))
    }

    /// Fails if tensors are left over: a file with extra tensors was made for another architecture.
    /// PyTorch's `num_batches_tracked` counters are ignored.
    pub fn finish(self) -> Result<()> {
        let extra: Vec<&String> = self
            .tensors
            .keys()
            .filter(|k| !k.ends_with("num_batches_tracked"))
            .collect();
        if extra.is_empty() {
            return Ok(());
        }
        Err(Error::Weights {
            path: self.path.clone(),
            reason: format!(
                "unexpected tensors {extra:?}: the file was made for another architecture"
            ),
        })
    }

    /// Weights from the bytes of a safetensors file (shipped models embedded in the binary);
    /// `name` stands in for the path in errors.
    pub fn from_safetensors_bytes(name: &str, bytes: &[u8]) -> Result<Self> {
        let path = PathBuf::from(name);
        Ok(Self {
            tensors: parse_safetensors(&path, bytes)?,
            path,
        })
    }
}

fn read_safetensors(path: &Path) -> Result<BTreeMap<String, HostTensor>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_safetensors(path, &bytes)
}

fn parse_safetensors(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, HostTensor>> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| Error::decode(path, format!("not a safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        let data = match view.dtype() {
            safetensors::Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            safetensors::Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            safetensors::Dtype::I64 => view
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(Error::decode(
                    path,
                    format!("tensor {name:?} has dtype {other:?}; expected F32 or F64"),
                ));
            }
        };
        out.insert(
            name,
            HostTensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(out)
}

fn read_pytorch(path: &Path) -> Result<BTreeMap<String, HostTensor>> {
    let open = |key: Option<&str>| match key {
        None => pytorch_reader::PytorchReader::new(path),
        Some(k) => pytorch_reader::PytorchReader::with_top_level_key(path, k),
    };
    let mut reader =
        open(None).map_err(|e| Error::decode(path, format!("not a PyTorch state dict: {e}")))?;
    for key in ["state_dict", "model_state_dict"] {
        if reader
            .keys()
            .iter()
            .any(|k| k.starts_with(&format!("{key}.")))
        {
            reader = open(Some(key)).map_err(|e| Error::decode(path, e.to_string()))?;
            break;
        }
    }
    let mut out = BTreeMap::new();
    for (name, tensor) in reader.into_tensors() {
        let bytes = tensor
            .read()
            .map_err(|e| Error::decode(path, e.to_string()))?;
        use pytorch_reader::DType;
        let data: Vec<f32> = match tensor.dtype() {
            DType::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            DType::F64 => bytes
                .chunks_exact(8)
                .map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            DType::I64 => bytes
                .chunks_exact(8)
                .map(|b| i64::from_ne_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(Error::decode(
                    path,
                    format!("tensor {name:?} has dtype {other:?}; expected float32 or float64"),
                ));
            }
        };
        out.insert(
            name,
            HostTensor {
                shape: tensor.shape().to_vec(),
                data,
            },
        );
    }
    Ok(out)
}

/// Writes `tensors` as a float32 safetensors file, atomically.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, HostTensor>) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(k, t)| {
            let raw = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (k.clone(), raw, t.shape.clone())
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(k, raw, shape)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), raw)
                .map(|v| (k.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid("weights", e.to_string()))?;
    let data = safetensors::serialize(views, None)
        .map_err(|e| Error::invalid("weights", e.to_string()))?;
    crate::fs::write_atomic(path, &data)
}
