//! The perceptual measures of each example of a batch, as `avfoil attack --json` and the eval
//! records report them.
//!
//! A measure that cannot score an example (PESQ on a clip under 0.25 s or without speech, STOI on
//! under 0.4 s of speech, SSIM on frames under 11 × 11) is left out (`None`) rather than failing the
//! run: the attack's outcome is still worth its record. The library functions in the sibling
//! files give the reason as an error.

use super::{
    flicker::flicker, pesq::pesq_mos, seg_snr::seg_snr_db, ssim::ssim_per_frame, stoi::stoi,
};
use crate::audio::masking::Masker;
use crate::scale::{AudioScale, VideoScale};
use rayon::prelude::*;
use serde::Serialize;

/// What the examples are, for the measures that depend on it.
#[derive(Clone, Copy, Debug)]
pub enum Media<'a> {
    /// Mono waveforms `[1, L]` at `sample_rate` Hz in `scale` units.
    Audio { sample_rate: u32, scale: AudioScale },
    /// Clips of `shape` `[C, T, H, W]` in `scale` units.
    Video {
        shape: &'a [usize],
        scale: VideoScale,
    },
}

/// One example's perceptual measures against its clean input (`None`: not this modality, or the
/// example cannot be scored by that measure).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Perceptual {
    /// Audio: PESQ narrow-band MOS-LQO (about 1 to 4.55).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pesq: Option<f32>,
    /// Audio: STOI (0 to 1; 1 for identical signals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stoi: Option<f32>,
    /// Audio: segmental SNR in dB (20 ms frames, each clamped to [−10, 35]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seg_snr_db: Option<f32>,
    /// Audio: the fraction of the perturbation's energy below the clean clip's masking threshold
    /// (Qin et al.'s psychoacoustic model, [`crate::audio::masking`], with the default window for
    /// the sample rate): 1 when all of it is masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked_energy: Option<f32>,
    /// Video: SSIM averaged over frames (1 for identical clips).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssim: Option<f32>,
    /// Video: mean absolute frame-to-frame change of the perturbation, full-scale units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flicker: Option<f32>,
}

/// The fraction of the energy of `adv − clean` below the masking threshold of `clean`, both mono
/// clips at `sample_rate` Hz; `None` for a clip shorter than the window or an unchanged one.
pub fn masked_energy(clean: &[f32], adv: &[f32], sample_rate: u32) -> Option<f32> {
    let masker = Masker::for_rate(sample_rate).ok()?;
    let threshold = masker.threshold(clean).ok()?;
    let delta: Vec<f32> = adv.iter().zip(clean).map(|(a, c)| a - c).collect();
    threshold
        .fraction_below(&masker, &delta)
        .ok()
        .flatten()
        .map(|v| v as f32)
}

/// The measures of each of the `n` examples of `adv` against `clean` (flattened, equal length);
/// examples are measured in parallel. A length that `n` does not divide gives `n` empty results.
pub fn perceptual(media: Media, clean: &[f32], adv: &[f32], n: usize) -> Vec<Perceptual> {
    let d = clean.len().checked_div(n).unwrap_or(0);
    if d == 0 || clean.len() != n * d || adv.len() != clean.len() {
        return vec![Perceptual::default(); n];
    }
    (0..n)
        .into_par_iter()
        .map(|i| {
            let (c, a) = (&clean[i * d..(i + 1) * d], &adv[i * d..(i + 1) * d]);
            match media {
                Media::Audio { sample_rate, scale } => Perceptual {
                    pesq: pesq_mos(c, a, sample_rate, scale).ok(),
                    stoi: stoi(c, a, sample_rate).ok().map(|v| v as f32),
                    seg_snr_db: seg_snr_db(c, a, sample_rate).ok().map(|v| v as f32),
                    masked_energy: masked_energy(c, a, sample_rate),
                    ..Perceptual::default()
                },
                Media::Video { shape, scale } => Perceptual {
                    ssim: ssim_per_frame(c, a, shape, f64::from(scale.factor()))
                        .ok()
                        .map(|f| (f.iter().sum::<f64>() / f.len() as f64) as f32),
                    flicker: flicker(c, a, shape, scale.factor()).ok().map(|v| v as f32),
                    ..Perceptual::default()
                },
            }
        })
        .collect()
}
