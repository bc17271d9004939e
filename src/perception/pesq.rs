//! PESQ (ITU-T P.862), narrow-band, as MOS-LQO (P.862.1): the speech-quality score telephony and
//! speech-enhancement papers report, computed by the pure-Rust `pesq` crate so that no C library
//! is needed.
//!
//! P.862 is defined at 8 and 16 kHz only: other rates are resampled first (to 8 kHz below 16 kHz,
//! to 16 kHz above, so no band is invented or thrown away needlessly). The score is
//! narrow-band either way, comparable with the Python `pesq` package's mode `'nb'`.

use crate::audio::resample::resample;
use crate::error::{Error, Result};
use crate::scale::AudioScale;

/// PESQ MOS-LQO (about 1.0 to 4.55; identical signals give 4.55) of `degraded` against `clean`,
/// both mono at `sample_rate` Hz in the model's units `scale`.
///
/// Errors, naming the reason: a rate audio does not use, unequal lengths (a perturbation keeps
/// the length, so that is a caller's mistake), a clip shorter than 0.25 s at the PESQ rate, a clean
/// clip that is silent (every sample rounds to 0 at 16 bits), and a clip in which P.862's voice
/// activity detector finds no utterance.
pub fn pesq_mos(
    clean: &[f32],
    degraded: &[f32],
    sample_rate: u32,
    scale: AudioScale,
) -> Result<f32> {
    if clean.len() != degraded.len() {
        return Err(Error::invalid(
            "pesq",
            format!(
                "clean and degraded differ in length ({} and {} samples)",
                clean.len(),
                degraded.len()
            ),
        ));
    }
    crate::audio::check_sample_rate(sample_rate).map_err(|e| Error::invalid("sample_rate", e))?;
    let target = match sample_rate {
        8000 | 16_000 => sample_rate,
        r if r < 16_000 => 8000,
        _ => 16_000,
    };
    let pcm = |s: &[f32]| -> Result<Vec<i16>> {
        let s = resample(s, sample_rate, target)?;
        let k = 32768.0 / scale.factor();
        Ok(s.iter()
            .map(|&v| crate::audio::wav::to_i16(v * k))
            .collect())
    };
    let (r, d) = (pcm(clean)?, pcm(degraded)?);
    // The pesq crate scores an all-zero pair 4.55 (no utterance, no disturbance): a made-up score
    // for a clip with nothing to judge, so a silent reference is refused here.
    if r.iter().all(|&v| v == 0) {
        return Err(Error::invalid(
            "pesq",
            "PESQ cannot score this clip: the clean clip is silent at 16-bit resolution",
        ));
    }
    let raw = if target == 8000 {
        pesq::pesq_8k(&r, &d)
    } else {
        pesq::pesq(&r, &d)
    }
    .map_err(|e| Error::invalid("pesq", format!("PESQ cannot score this clip: {e}")))?;
    Ok(pesq::score::mos_lqo(f64::from(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_silent_and_mismatched_clips_are_errors() {
        let short: Vec<f32> = (0..100).map(|i| (i as f32 * 0.3).sin() * 0.5).collect();
        let e = pesq_mos(&short, &short, 8000, AudioScale::Unit)
            .unwrap_err()
            .to_string();
        assert!(e.contains("below the minimum"), "{e}");
        let e = pesq_mos(&[0.0; 8000], &[0.0; 8000], 8000, AudioScale::Unit)
            .unwrap_err()
            .to_string();
        assert!(e.contains("silent"), "{e}");
        let e = pesq_mos(&[0.0; 10], &[0.0; 11], 8000, AudioScale::Unit)
            .unwrap_err()
            .to_string();
        assert!(e.contains("differ in length"), "{e}");
    }
}
