//! Audio signals: WAV I/O, resampling, fitting to a model's length, and the units a model expects.

pub mod masking;
pub mod resample;
pub mod room;
pub mod wav;

use crate::error::{Error, Result};
use crate::scale::AudioScale;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// The sample rates avfoil accepts, from files and parameters alike: 1 kHz (below any speech
/// codec) to 768 kHz (the highest studio rate). A header outside them is corrupt or hostile, and the
/// resampler's buffers grow with the rates (a WAV claiming 2^31 − 1 Hz asked for 8 GB).
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

/// An error message unless `rate` lies in [`SAMPLE_RATES`].
pub fn check_sample_rate(rate: u32) -> std::result::Result<(), String> {
    if SAMPLE_RATES.contains(&rate) {
        return Ok(());
    }
    Err(format!(
        "a sample rate of {rate} Hz is outside the {}..={} Hz that audio uses",
        SAMPLE_RATES.start(),
        SAMPLE_RATES.end()
    ))
}

/// Where a clip shorter than the model's input goes inside the zero padding (and which part of a
/// longer clip is kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Centred (the default: deterministic).
    Centre,
    /// At the start, padding at the end.
    Start,
    /// At a uniformly random offset, as the ART notebook (`randint(total + 1)`), drawn from this seed
    /// and the clip's index, so one clip's placement does not depend on which others were read.
    Random { seed: u64 },
}

impl std::str::FromStr for Placement {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "centre" | "center" => Ok(Placement::Centre),
            "start" => Ok(Placement::Start),
            _ => Err(Error::invalid(
                "placement",
                format!("{s:?}: expected centre, start or random"),
            )),
        }
    }
}

/// Pads `samples` with zeros, or crops it, to exactly `len` samples. `index` identifies the clip for
/// [`Placement::Random`].
pub fn fit_length(samples: &[f32], len: usize, placement: Placement, index: u64) -> Vec<f32> {
    let n = samples.len();
    let slack = n.abs_diff(len);
    let offset = match placement {
        Placement::Start => 0,
        Placement::Centre => slack / 2,
        Placement::Random { seed } => {
            let mut rng =
                ChaCha8Rng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            rng.random_range(0..=slack)
        }
    };
    if n >= len {
        samples[offset..offset + len].to_vec()
    } else {
        let mut out = vec![0.0; len];
        out[offset..offset + n].copy_from_slice(samples);
        out
    }
}

/// How to turn a recording into one model input.
#[derive(Clone, Copy, Debug)]
pub struct ClipFormat {
    /// The model's sample rate.
    pub sample_rate: u32,
    /// Samples per input.
    pub len: usize,
    /// The model's units.
    pub scale: AudioScale,
    /// Where the recording goes when its length differs.
    pub placement: Placement,
}

impl ClipFormat {
    /// Reads a mono WAV, resamples it to the model's rate, fits it to the model's length and scales
    /// it to the model's units. `index` identifies the clip for random placement.
    pub fn load(&self, path: &Path, index: u64) -> Result<Vec<f32>> {
        let wav = wav::read_wav(path)?;
        let rate = wav.sample_rate;
        let mono = wav.into_mono(path)?;
        let resampled = resample::resample(&mono, rate, self.sample_rate)?;
        let factor = self.scale.factor();
        Ok(fit_length(&resampled, self.len, self.placement, index)
            .into_iter()
            .map(|s| s * factor)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_pads_and_crops_around_the_centre() {
        assert_eq!(
            fit_length(&[1.0, 2.0], 4, Placement::Centre, 0),
            [0.0, 1.0, 2.0, 0.0]
        );
        assert_eq!(
            fit_length(&[1.0, 2.0, 3.0, 4.0], 2, Placement::Centre, 0),
            [2.0, 3.0]
        );
        assert_eq!(fit_length(&[1.0], 3, Placement::Start, 0), [1.0, 0.0, 0.0]);
    }

    #[test]
    fn random_placement_depends_on_seed_and_index_only() {
        let x = [1.0; 10];
        let p = Placement::Random { seed: 7 };
        let a = fit_length(&x, 100, p, 3);
        assert_eq!(a, fit_length(&x, 100, p, 3));
        assert_eq!(a.iter().sum::<f32>(), 10.0);
        let offsets: std::collections::BTreeSet<usize> = (0..20)
            .map(|i| {
                fit_length(&x, 100, p, i)
                    .iter()
                    .position(|&v| v == 1.0)
                    .unwrap()
            })
            .collect();
        assert!(
            offsets.len() > 5,
            "offsets vary with the index: {offsets:?}"
        );
    }
}
