//! The one STFT frame of a perturbation a listener is likeliest to hear, beside the clean clip's
//! masking threshold: what `avfoil attack --plots` draws as `<name>.masking.png` and the
//! evaluation report shows next to its players.
//!
//! A whole clip's threshold is a spectrogram; plotting one frame of it as a spectrum reads at a
//! glance (the perturbation's curve under the threshold's is inaudible there). The frame shown is
//! the one with the most perturbation power above the threshold, so that a plot of a well-hidden
//! perturbation is not a flattering choice; when nothing exceeds it anywhere, the frame where the
//! perturbation is loudest.

use crate::audio::masking::Masker;
use crate::error::Result;

/// One frame: the clean clip's PSD, the masking threshold and the perturbation's PSD per frequency
/// bin, in the threshold's dB scale (the clip's loudest bin at 96 dB).
#[derive(Clone, Debug, PartialEq)]
pub struct MaskingFrame {
    /// Where the frame starts, in seconds.
    pub start_s: f64,
    /// Each bin's frequency in Hz.
    pub hz: Vec<f64>,
    pub clean_db: Vec<f64>,
    pub threshold_db: Vec<f64>,
    pub perturbation_db: Vec<f64>,
    /// Over the whole clip: the fraction of the perturbation's energy below the threshold (`None`
    /// for a perturbation without energy).
    pub masked_energy: Option<f64>,
}

/// The most audible frame of `adv − clean` (mono clips of equal length at `sample_rate` Hz), with
/// the default masking model for the rate. An error for a clip shorter than one window or clips
/// of different lengths.
pub fn most_audible_frame(clean: &[f32], adv: &[f32], sample_rate: u32) -> Result<MaskingFrame> {
    let masker = Masker::for_rate(sample_rate)?;
    let threshold = masker.threshold(clean)?;
    let delta: Vec<f32> = adv.iter().zip(clean).map(|(a, c)| a - c).collect();
    let perturbation = threshold.perturbation_db(&masker, &delta)?;
    let bins = threshold.bins;
    let power = |db: f64| 10f64.powf(db / 10.0);
    let per_frame = |score: &dyn Fn(usize) -> f64| -> Vec<f64> {
        (0..threshold.frames)
            .map(|f| (f * bins..(f + 1) * bins).map(score).sum())
            .collect()
    };
    let audible = per_frame(&|c| (power(perturbation[c]) - power(threshold.threshold[c])).max(0.0));
    let scores = if audible.iter().any(|&v| v > 0.0) {
        audible
    } else {
        per_frame(&|c| power(perturbation[c]))
    };
    let frame = scores
        .iter()
        .enumerate()
        .fold(0, |best, (f, &v)| if v > scores[best] { f } else { best });
    let cells = frame * bins..(frame + 1) * bins;
    let (clean_psd, _) = masker.power_spectral_density(clean);
    Ok(MaskingFrame {
        start_s: (frame * masker.hop()) as f64 / f64::from(sample_rate),
        hz: (0..bins)
            .map(|k| k as f64 * f64::from(sample_rate) / masker.window() as f64)
            .collect(),
        clean_db: clean_psd[cells.clone()].to_vec(),
        threshold_db: threshold.threshold[cells.clone()].to_vec(),
        perturbation_db: perturbation[cells].to_vec(),
        masked_energy: threshold.fraction_below(&masker, &delta)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loud 400 Hz tone over the whole clip, and a perturbation: a quiet tone everywhere plus a
    /// loud 3 kHz burst in one stretch, which must be the frame chosen.
    #[test]
    fn the_frame_shown_is_where_the_perturbation_is_audible() {
        let rate = 8000;
        let tone = |hz: f64, amp: f64, i: usize| {
            (amp * (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin()) as f32
        };
        let clean: Vec<f32> = (0..8000).map(|i| tone(400.0, 8000.0, i)).collect();
        let adv: Vec<f32> = (0..8000)
            .map(|i| {
                let burst = if (4000..4600).contains(&i) {
                    tone(3000.0, 2000.0, i)
                } else {
                    0.0
                };
                clean[i] + tone(410.0, 2.0, i) + burst
            })
            .collect();
        let f = most_audible_frame(&clean, &adv, rate).unwrap();
        assert!((0.45..0.58).contains(&f.start_s), "{}", f.start_s);
        let (k, _) = f
            .perturbation_db
            .iter()
            .enumerate()
            .fold((0, f64::MIN), |b, (k, &v)| if v > b.1 { (k, v) } else { b });
        assert!((f.hz[k] - 3000.0).abs() < 40.0, "{}", f.hz[k]);
        assert!(f.perturbation_db[k] > f.threshold_db[k]);
        let e = f.masked_energy.unwrap();
        assert!(e > 0.0 && e < 0.5, "{e}");
        assert_eq!(f.hz.len(), f.clean_db.len());
        // The clean clip's loudest bin sits at the 96 dB reference.
        assert!(f.clean_db.iter().cloned().fold(f64::MIN, f64::max) <= 96.0 + 1e-9);
    }

    #[test]
    fn short_or_unequal_clips_are_errors() {
        assert!(most_audible_frame(&[0.0; 100], &[0.0; 100], 8000).is_err());
        assert!(most_audible_frame(&[0.0; 8000], &[0.0; 7999], 8000).is_err());
    }
}
