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
            return Err(not_mono(path, self.channels));
        }
        Ok(self.samples)
    }
}

/// Reads a WAV file. Errors name the file: not RIFF/WAVE, truncated, empty, unsupported format.
pub fn read_wav(path: &Path) -> Result<Wav> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_wav(&bytes).map_err(|reason| Error::decode(path, reason))
}

/// Checks that `path` is a mono WAV at a sample rate audio uses, reading its header only: what a
/// data set's examples are checked with before an evaluation starts work.
pub fn check_mono_wav(path: &Path) -> Result<()> {
    let reader = WavReader::open(path)
        .map_err(|e| Error::decode(path, format!("not a readable WAV: {e}")))?;
    let spec = reader.spec();
    super::check_sample_rate(spec.sample_rate).map_err(|e| Error::decode(path, e))?;
    if spec.channels != 1 {
        return Err(not_mono(path, spec.channels));
    }
    Ok(())
}

/// The error for a WAV of `channels` channels where mono is expected.
fn not_mono(path: &Path, channels: u16) -> Error {
    Error::decode(
        path,
        format!(
            "expected a mono WAV, got {channels} channels (downmix it first, e.g. `sox in.wav -c 1 out.wav`)"
        ),
    )
}

/// Reads WAV bytes; `name` stands in for the path in errors.
pub fn wav_from_bytes(name: &str, bytes: &[u8]) -> Result<Wav> {
    parse_wav(bytes).map_err(|reason| Error::decode(name, reason))
}

fn parse_wav(bytes: &[u8]) -> Result<Wav, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a WAV file (no RIFF/WAVE header)".into());
    }
    let reader = WavReader::new(Cursor::new(bytes)).map_err(|e| match format_chunk(bytes) {
        // hound names the 64-bit float case "bits per sample is not 32".
        Some(format) if format.is_float() && format.bits != 32 => format!(
            "unsupported sample format: {}-bit float; expected PCM 8/16/24/32-bit or float \
             32-bit (convert with `sox in.wav -e floating-point -b 32 out.wav`)",
            format.bits
        ),
        _ => format!("unreadable WAV header: {e}"),
    })?;
    let spec = reader.spec();
    if spec.channels == 0 {
        return Err("invalid WAV format: 0 channels".into());
    }
    super::check_sample_rate(spec.sample_rate)?;
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

/// The fields of a `fmt ` chunk that error messages need.
struct Format {
    /// 1 PCM, 3 float, 0xFFFE extensible (then `sub` says which).
    tag: u16,
    bits: u16,
    /// The first two bytes of an extensible format's sub-format GUID (1 PCM, 3 float).
    sub: Option<u16>,
}

impl Format {
    fn is_float(&self) -> bool {
        self.tag == 3 || (self.tag == 0xFFFE && self.sub == Some(3))
    }
}

/// The `fmt ` chunk of RIFF/WAVE `bytes`, if one can be found by walking the chunk list.
fn format_chunk(bytes: &[u8]) -> Option<Format> {
    let mut at = 12usize;
    while at.checked_add(8)? <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let end = at.checked_add(8)?.checked_add(size)?;
        if &bytes[at..at + 4] == b"fmt " {
            let body = bytes.get(at + 8..end.min(bytes.len()))?;
            let u16_at = |i: usize| body.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
            return Some(Format {
                tag: u16_at(0)?,
                bits: u16_at(14)?,
                sub: u16_at(24),
            });
        }
        at = end.checked_add(size % 2)?;
    }
    None
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
    super::check_sample_rate(sample_rate).map_err(|e| Error::invalid("sample_rate", e))?;
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
