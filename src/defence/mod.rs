//! Input-transformation defences (ART's preprocessor defences). Each implements
//! [`crate::classifier::Preprocessor`]: a forward transformation and, by default, an identity backward
//! pass (BPDA), which is what makes `attack --defence ...` the adaptive attack.

pub mod h264;
pub mod mp3;

pub use h264::{H264Backend, H264Compression, H264Quality, VideoScale};
pub use mp3::Mp3Compression;

use crate::audio::AudioScale;
use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::{Modality, ModelConfig};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

/// A defence as a user names it (command line, scenario file), before it is built for a model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DefenceSpec {
    /// MP3 at `bitrate` kb/s (LAME's choice when `None`, as ART).
    Mp3 { bitrate: Option<u32> },
    /// H.264 at `quality` with `backend`.
    H264 {
        quality: H264Quality,
        backend: H264Backend,
    },
}

impl DefenceSpec {
    /// The defence for `model`'s inputs: MP3 needs a mono audio model with a sample rate, H.264 an
    /// RGB video model.
    pub fn build(&self, model: &ModelConfig) -> Result<Box<dyn Preprocessor>> {
        let input = &model.input;
        let clip = input.clip.map(|[a, b]| (a, b));
        match *self {
            DefenceSpec::Mp3 { bitrate } => {
                let rate = match (input.modality, input.sample_rate) {
                    (Modality::Audio, Some(rate)) => rate,
                    _ => {
                        return Err(Error::invalid(
                            "defence",
                            "mp3 needs an audio model with input.sample_rate",
                        ));
                    }
                };
                let scale = AudioScale::from_clip(clip);
                Ok(Box::new(Mp3Compression::new(
                    rate,
                    &input.shape,
                    scale,
                    bitrate,
                )?))
            }
            DefenceSpec::H264 { quality, backend } => {
                if input.modality != Modality::Video {
                    return Err(Error::invalid("defence", "h264 needs a video model"));
                }
                let scale = VideoScale::from_clip(clip);
                Ok(Box::new(
                    H264Compression::new(&input.shape, scale, quality)?.with_backend(backend)?,
                ))
            }
        }
    }
}

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
