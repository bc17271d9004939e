//! MP3 compression: LAME encode, minimp3 decode, in process (ART's `Mp3Compression`).
//!
//! ART pipes every clip through three ffmpeg/ffprobe processes. Here the same encoder (LAME 3.100,
//! configured as ffmpeg does: output rate = input rate, LAME's own bitrate choice, CBR, no VBR tag)
//! runs in memory and gives the same bitstream (../shared/notes/codecs.md). ART's conversion bugs are
//! fixed: the int16 scale comes from the model's clip range instead of the data (ART multiplies
//! clips within ±1 by 2^15 and truncates everything else), samples are rounded and saturated instead
//! of truncated and wrapped (ART turns +1.0 into -32768), and the output is cut to the input's exact
//! length and alignment.

use super::{DefenceEntry, DefenceSpec};
use crate::audio::wav::to_i16;
use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::params::Param;
use crate::scale::AudioScale;
use burn::tensor::Tensor;
use mp3lame_encoder::{Bitrate, Builder, FlushGap, InterleavedPcm, MonoPcm};
use rand_chacha::ChaCha8Rng;

/// LAME's encoder delay (576) plus the layer III decoder delay (529): where the input's first sample
/// lands in the decoded stream. ffmpeg removes it through the LAME header's gapless info.
pub const CODEC_DELAY: usize = 576 + 529;

/// Sample rates an MP3 stream can carry (MPEG-1, -2 and -2.5).
pub const MP3_RATES: [u32; 9] = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];

/// Bitrates LAME accepts, in kb/s.
pub const MP3_BITRATES: [u32; 16] = [
    8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];

/// `mp3`: ART's `Mp3Compression`.
pub static ENTRY: DefenceEntry = DefenceEntry {
    name: "mp3",
    about: "MP3 compression (LAME encode, minimp3 decode), ART's Mp3Compression with its bugs fixed",
    params: &[Param {
        key: "bitrate",
        default: "LAME's choice (8 kb/s at 8 kHz mono, as ART)",
        about: "bitrate in kb/s: 8, 16, 24, 32, 40, 48, 64, 80, …, 320",
    }],
    parse: |p| {
        let spec = Mp3Spec {
            bitrate: p.take("bitrate")?,
        };
        if let Some(b) = spec.bitrate
            && !MP3_BITRATES.contains(&b)
        {
            return Err(Error::invalid(
                p.display("bitrate"),
                format!("{b} kb/s is not an MP3 bitrate; expected one of {MP3_BITRATES:?}"),
            ));
        }
        Ok(Box::new(spec))
    },
};

/// The MP3 defence's parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Mp3Spec {
    /// kb/s; `None`: LAME's choice, as ART.
    pub bitrate: Option<u32>,
}

impl DefenceSpec for Mp3Spec {
    fn name(&self) -> &'static str {
        "mp3"
    }

    /// Needs a mono or stereo audio model with a sample rate.
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        let rate = match (input.modality, input.sample_rate) {
            (Modality::Audio, Some(rate)) => rate,
            _ => {
                return Err(Error::invalid(
                    "defence",
                    "mp3 needs an audio model with input.sample_rate",
                ));
            }
        };
        let scale = AudioScale::from_clip(input.clip_range());
        Ok(Box::new(Mp3Compression::new(
            rate,
            &input.shape,
            scale,
            self.bitrate,
        )?))
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}

/// The MP3 defence for examples of `channels × samples` (channels first), in a model's units.
#[derive(Clone, Debug)]
pub struct Mp3Compression {
    sample_rate: u32,
    channels: usize,
    samples: usize,
    scale: AudioScale,
    bitrate_kbps: Option<u32>,
}

impl Mp3Compression {
    /// A defence for examples of `shape = [channels, samples]` at `sample_rate` Hz in `scale` units.
    /// `bitrate_kbps: None` leaves the choice to LAME, as ART does (8 kb/s for 8 kHz mono).
    pub fn new(
        sample_rate: u32,
        shape: &[usize],
        scale: AudioScale,
        bitrate_kbps: Option<u32>,
    ) -> Result<Self> {
        if !MP3_RATES.contains(&sample_rate) {
            return Err(Error::invalid(
                "sample_rate",
                format!("{sample_rate} Hz cannot be stored in MP3; expected one of {MP3_RATES:?}"),
            ));
        }
        let &[channels, samples] = shape else {
            return Err(Error::invalid(
                "input.shape",
                format!("MP3 compression needs [channels, samples] examples, got {shape:?}"),
            ));
        };
        if !(1..=2).contains(&channels) || samples == 0 {
            return Err(Error::invalid(
                "input.shape",
                format!("MP3 carries 1 or 2 channels of at least 1 sample, got {shape:?}"),
            ));
        }
        if let Some(b) = bitrate_kbps
            && !MP3_BITRATES.contains(&b)
        {
            return Err(Error::invalid(
                "bitrate",
                format!("{b} kb/s is not an MP3 bitrate; expected one of {MP3_BITRATES:?}"),
            ));
        }
        Ok(Self {
            sample_rate,
            channels,
            samples,
            scale,
            bitrate_kbps,
        })
    }

    /// Compresses every example of a batch `[N, d]`, in parallel; the input tensor is not touched.
    pub fn compress_batch(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        super::map_examples(x, |row| self.compress(row))
    }

    /// Compresses one example (`channels × samples`, channels first) and returns it decoded, in the
    /// same units, length and alignment.
    pub fn compress(&self, example: &[f32]) -> Result<Vec<f32>> {
        let (c, n) = (self.channels, self.samples);
        if example.len() != c * n {
            return Err(Error::invalid(
                "input",
                format!(
                    "expected {} values ({c} × {n}), got {}",
                    c * n,
                    example.len()
                ),
            ));
        }
        if let Some(i) = example.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid("input", format!("value {i} is not finite")));
        }
        // int16 steps per model unit.
        let k = 32768.0 / self.scale.factor();
        // Channels first in, interleaved for the codec.
        let pcm: Vec<i16> = (0..n * c)
            .map(|j| to_i16(example[(j % c) * n + j / c] * k))
            .collect();
        let mp3 = self.encode(&pcm)?;
        let decoded = decode(&mp3, c)?;
        let mut out = vec![0.0; c * n];
        for t in 0..n {
            for ch in 0..c {
                let s = decoded
                    .get((CODEC_DELAY + t) * c + ch)
                    .copied()
                    .unwrap_or(0);
                out[ch * n + t] = s as f32 / k;
            }
        }
        Ok(out)
    }

    fn encode(&self, pcm: &[i16]) -> Result<Vec<u8>> {
        let codec = |e: String| Error::invalid("mp3", format!("LAME: {e}"));
        let mut builder = Builder::new().ok_or_else(|| codec("out of memory".into()))?;
        builder
            .set_num_channels(self.channels as u8)
            .map_err(|e| codec(format!("{e:?}")))?;
        builder
            .set_sample_rate(self.sample_rate)
            .map_err(|e| codec(format!("{e:?}")))?;
        builder
            .set_output_sample_rate(std::num::NonZeroU32::new(self.sample_rate))
            .map_err(|e| codec(format!("{e:?}")))?;
        builder
            .set_to_write_vbr_tag(false)
            .map_err(|e| codec(format!("{e:?}")))?;
        if let Some(kbps) = self.bitrate_kbps {
            builder
                .set_brate(bitrate(kbps))
                .map_err(|e| codec(format!("{e:?}")))?;
        }
        let mut encoder = builder.build().map_err(|e| codec(format!("{e:?}")))?;
        let frames = pcm.len() / self.channels;
        let mut out = Vec::with_capacity(frames * 5 / 4 + 7200 + 1152);
        let written = if self.channels == 1 {
            encoder.encode_to_vec(MonoPcm(pcm), &mut out)
        } else {
            encoder.encode_to_vec(InterleavedPcm(pcm), &mut out)
        };
        written.map_err(|e| codec(format!("{e:?}")))?;
        out.reserve(7200);
        encoder
            .flush_to_vec::<FlushGap>(&mut out)
            .map_err(|e| codec(format!("{e:?}")))?;
        Ok(out)
    }
}

fn bitrate(kbps: u32) -> Bitrate {
    match kbps {
        8 => Bitrate::Kbps8,
        16 => Bitrate::Kbps16,
        24 => Bitrate::Kbps24,
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        _ => Bitrate::Kbps320,
    }
}

/// Decodes a raw MP3 stream to interleaved int16 samples.
fn decode(mp3: &[u8], channels: usize) -> Result<Vec<i16>> {
    let mut decoder = minimp3::Decoder::new(mp3);
    let mut pcm = Vec::new();
    loop {
        match decoder.next_frame() {
            Ok(frame) => {
                if frame.channels != channels {
                    return Err(Error::invalid(
                        "mp3",
                        format!("decoded {} channels, expected {channels}", frame.channels),
                    ));
                }
                pcm.extend_from_slice(&frame.data);
            }
            Err(minimp3::Error::Eof) => break,
            Err(e) => return Err(Error::invalid("mp3", format!("minimp3: {e}"))),
        }
    }
    Ok(pcm)
}

impl Preprocessor for Mp3Compression {
    fn name(&self) -> &str {
        "mp3"
    }

    /// Compresses every example of the batch, in parallel; the input tensor is not touched.
    fn forward(&self, x: Tensor<2>, _: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        self.compress_batch(x)
    }
}
