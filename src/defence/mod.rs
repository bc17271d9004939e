//! Input-transformation defences (ART's preprocessor defences). Each implements
//! [`crate::classifier::Preprocessor`]: a forward transformation and, by default, an identity backward
//! pass (BPDA), which is what makes `attack --defence ...` the adaptive attack.

pub mod h264;
pub mod mp3;

pub use h264::{H264Backend, H264Compression, H264Quality, VideoScale};
pub use mp3::Mp3Compression;

use crate::error::Result;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

/// Applies a per-example codec to every row of a batch `[N, d]`, examples in parallel, on the host;
/// the input tensor is not touched. Codecs work on host buffers, so this is where every defence's
/// batch goes through them.
pub(crate) fn map_examples(
    x: Tensor<2>,
    f: impl Fn(&[f32]) -> Result<Vec<f32>> + Sync + Send,
) -> Result<Tensor<2>> {
    let [n, d] = x.dims();
    let device = x.device();
    let host = crate::array::tensor_to_vec(x);
    let rows: Vec<Vec<f32>> = host.par_chunks(d.max(1)).map(f).collect::<Result<_>>()?;
    Ok(Tensor::from_data(
        TensorData::new(rows.concat(), [n, d]),
        &device,
    ))
}
