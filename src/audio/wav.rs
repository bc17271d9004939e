//! WAV files through `hound`: any PCM depth or 32-bit float in, 32-bit float or 16-bit PCM out.
//!
//! Samples are handed around normalised to full scale ±1 (an int16 sample `s` is `s / 32768`), so
//! that a float WAV and a 16-bit WAV of the same sound read the same. Models that work in int16 units
//! rescale with [`super::AudioScale`].

use crate::error::{Error, Result};
use crate::fs::write_atomic;
use hound::{SampleFormat, WavReader, WavSpec, WavWriter};
use std::io::Cursor;
use std::path::Path;

/// A decoded WAV file.
#[derive(Clone, Debug, PartialEq)]
pub struct Wav {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Interleaved samples, full scale ±1.
    pub samples: Vec<f32>,
}

impl Wav {
    /// The single channel of a mono file; stereo and beyond are an error naming `path`.
    pub fn into_mono(self, path: &Path) -> Result<Vec<f32>> {
        if self.channels != 1 {
            return Err(Error::decode(
                path,
                format!(
                    "expected a mono WAV, got {} channels (downmix it first, e.g. `sox in.wav -c 1 out.wav`)",
                    self.channels
                ),
            ));
        }
        Ok(self.samples)
    }
}

/// Reads a WAV file. Errors name the file: not RIFF/WAVE, truncated, empty, unsupported format.
pub fn read_wav(path: &Path) -> Result<Wav> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_wav(&bytes).map_err(|reason| Error::decode(path, reason))
}

/// Reads WAV bytes; `name` stands in for the path in errors.
pub fn wav_from_bytes(name: &str, bytes: &[u8]) -> Result<Wav> {
    parse_wav(bytes).map_err(|reason| Error::decode(name, reason))
}

fn parse_wav(bytes: &[u8]) -> Result<Wav, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a WAV file (no RIFF/WAVE header)".into());
    }
    let reader =
        WavReader::new(Cursor::new(bytes)).map_err(|e| format!("unreadable WAV header: {e}"))?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(format!(
            "invalid WAV format: {} channels at {} Hz",
            spec.channels, spec.sample_rate
        ));
    }
    let declared = reader.len() as usize;
    let truncated = |e: hound::Error| {
        format!("truncated or corrupt sample data ({declared} samples declared): {e}")
    };
    let samples: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(truncated)?,
        (SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let full_scale = (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| s as f32 / full_scale))
                .collect::<Result<_, _>>()
                .map_err(truncated)?
        }
        (format, bits) => {
            return Err(format!(
                "unsupported sample format {format:?} {bits}-bit; expected PCM 8/16/24/32-bit or float 32-bit"
            ));
        }
    };
    if samples.is_empty() {
        return Err("the WAV file holds no samples".into());
    }
    if samples.len() != declared {
        return Err(format!(
            "truncated: {} of {declared} declared samples present",
            samples.len()
        ));
    }
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(format!("sample {i} is not a finite number"));
    }
    Ok(Wav {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        samples,
    })
}

/// How a WAV file stores its samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WavEncoding {
    /// 32-bit float: keeps any perturbation exactly (values are divided by a power of two).
    Float32,
    /// 16-bit PCM: what players and datasets use; rounds to the nearest step, saturating.
    Int16,
}

/// Writes mono `samples` (full scale ±1) atomically.
pub fn write_wav(
    path: &Path,
    sample_rate: u32,
    samples: &[f32],
    encoding: WavEncoding,
) -> Result<()> {
    if sample_rate == 0 {
        return Err(Error::invalid("sample_rate", "must be positive"));
    }
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(Error::invalid(
            "samples",
            format!("sample {i} of {} is not finite", path.display()),
        ));
    }
    let spec = WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: match encoding {
            WavEncoding::Float32 => 32,
            WavEncoding::Int16 => 16,
        },
        sample_format: match encoding {
            WavEncoding::Float32 => SampleFormat::Float,
            WavEncoding::Int16 => SampleFormat::Int,
        },
    };
    let mut buf = Cursor::new(Vec::with_capacity(44 + samples.len() * 4));
    let encode = |buf: &mut Cursor<Vec<u8>>| -> hound::Result<()> {
        let mut writer = WavWriter::new(buf, spec)?;
        for &s in samples {
            match encoding {
                WavEncoding::Float32 => writer.write_sample(s)?,
                WavEncoding::Int16 => writer.write_sample(to_i16(s * 32768.0))?,
            }
        }
        writer.finalize()
    };
    encode(&mut buf).map_err(|e| Error::decode(path, format!("cannot encode WAV: {e}")))?;
    write_atomic(path, buf.get_ref())
}

/// Rounds a sample in int16 units to the nearest int16, saturating (no wrap-around at full scale).
pub fn to_i16(v: f32) -> i16 {
    v.round().clamp(-32768.0, 32767.0) as i16
}
