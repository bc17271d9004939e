//! JPEG compression of every frame (ART's `JpegCompression`, Das et al. 2017): each frame
//! encoded with the `jpeg-encoder` crate at a quality, with libjpeg's defaults as Pillow (and so
//! ART) uses them (4:2:0 chroma, each chroma sample the mean of its 2 × 2 block, not the crate's
//! default top-left pixel), and decoded with zune-jpeg. Quantising the DCT coefficients drops the fine texture a small
//! perturbation lives in.
//!
//! A different encoder from ART's Pillow/libjpeg (same quantisation tables and quality scaling,
//! other rounding in the DCT and colour conversion), so outputs differ by a few levels: the tests
//! bound the PSNR between the two. ART's conversion bug is fixed as for H.264: pixels are rounded
//! and saturated to bytes from the model's scale instead of truncated. Rounding has no useful
//! gradient, so the backward pass is BPDA's identity.

use super::{DefenceEntry, DefenceSpec, map_examples};
use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::InputConfig;
use crate::params::Param;
use crate::scale::VideoScale;
use crate::video::yuv::round_u8;
use burn::tensor::Tensor;
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};
use rand_chacha::ChaCha8Rng;

/// `jpeg`.
pub static ENTRY: DefenceEntry = DefenceEntry {
    name: "jpeg",
    about: "JPEG compression of every video frame (jpeg-encoder, 4:2:0 as libjpeg; ART's JpegCompression); BPDA gradient",
    params: &[Param {
        key: "quality",
        default: "50",
        about: "JPEG quality, 1 (coarsest) to 100",
    }],
    parse: |p| {
        let quality: u8 = p.take_or("quality", 50)?;
        if !(1..=100).contains(&quality) {
            return Err(Error::invalid(
                p.display("quality"),
                format!("a JPEG quality from 1 to 100, got {quality}"),
            ));
        }
        Ok(Box::new(JpegSpec { quality }))
    },
};

/// The defence's parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct JpegSpec {
    pub quality: u8,
}

impl DefenceSpec for JpegSpec {
    fn name(&self) -> &'static str {
        "jpeg"
    }

    /// Needs an RGB video model with frames of at most 65535 pixels a side.
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        let [channels, frames, height, width] = super::video_shape(input, "jpeg")?;
        if channels != 3 || height.max(width) > usize::from(u16::MAX) {
            return Err(Error::invalid(
                "input.shape",
                format!(
                    "jpeg needs RGB frames of at most 65535 pixels a side, got {:?}",
                    input.shape
                ),
            ));
        }
        Ok(Box::new(Jpeg {
            quality: self.quality,
            frames,
            height,
            width,
            scale: VideoScale::from_clip(input.clip_range()),
        }))
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}

/// Every frame of `3 × frames × height × width` clips (channels first) through JPEG at `quality`.
#[derive(Clone, Debug)]
pub struct Jpeg {
    pub quality: u8,
    pub frames: usize,
    pub height: usize,
    pub width: usize,
    pub scale: VideoScale,
}

impl Jpeg {
    /// One clip, compressed frame by frame, in the same units and layout.
    pub fn compress(&self, clip: &[f32]) -> Result<Vec<f32>> {
        let (plane, k) = (self.height * self.width, 255.0 / self.scale.factor());
        let channel = self.frames * plane;
        let mut out = vec![0f32; clip.len()];
        for f in 0..self.frames {
            let at = |c: usize, i: usize| c * channel + f * plane + i;
            let rgb: Vec<u8> = (0..plane)
                .flat_map(|i| (0..3).map(move |c| (c, i)))
                .map(|(c, i)| round_u8(clip[at(c, i)] * k))
                .collect();
            let decoded = self.round_trip(&rgb)?;
            for (i, px) in decoded.chunks_exact(3).enumerate() {
                for (c, &v) in px.iter().enumerate() {
                    out[at(c, i)] = f32::from(v) / k;
                }
            }
        }
        Ok(out)
    }

    /// Encodes and decodes one interleaved RGB frame.
    fn round_trip(&self, rgb: &[u8]) -> Result<Vec<u8>> {
        use zune_jpeg::zune_core::{
            bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions,
        };
        let failed = |e: String| Error::invalid("jpeg", format!("JPEG round trip failed: {e}"));
        let mut bytes = Vec::new();
        let mut encoder = Encoder::new(&mut bytes, self.quality);
        encoder.set_sampling_factor(SamplingFactor::F_2_2);
        encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
        let (w, h) = (self.width as u16, self.height as u16);
        encoder
            .encode(rgb, w, h, ColorType::Rgb)
            .map_err(|e| failed(e.to_string()))?;
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&bytes), options);
        let pixels = decoder.decode().map_err(|e| failed(e.to_string()))?;
        if pixels.len() != rgb.len() {
            return Err(failed(format!(
                "{} bytes decoded for {}",
                pixels.len(),
                rgb.len()
            )));
        }
        Ok(pixels)
    }
}

impl Preprocessor for Jpeg {
    fn name(&self) -> &str {
        "jpeg"
    }

    fn forward(&self, x: Tensor<2>, _rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        map_examples(x, |clip| self.compress(clip))
    }
}
