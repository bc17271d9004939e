//! Sample-rate conversion with rubato's synchronous FFT resampler.
//!
//! rubato trims its own start-up delay, but that delay is `fft_size_out / 2` rounded down: with an odd
//! output FFT size the result lags half a sample, which costs ~10 dB of agreement with sox (measured,
//! ../shared/notes/codecs.md). So the FFT is sized here to make the output side even.

use crate::error::{Error, Result};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

/// Input frames per FFT block we aim for: long enough for a sharp anti-aliasing filter.
const TARGET_BLOCK: usize = 1024;

/// Resamples a mono signal from `from` Hz to `to` Hz; the output has `ceil(len · to / from)` samples
/// and is time-aligned with the input.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    for rate in [from, to] {
        super::check_sample_rate(rate).map_err(|e| Error::invalid("sample_rate", e))?;
    }
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let (from, to) = (from as usize, to as usize);
    let g = gcd(from, to);
    let (min_in, min_out) = (from / g, to / g);
    let mut blocks = TARGET_BLOCK.div_ceil(min_in).max(1);
    if (blocks * min_out) % 2 == 1 {
        blocks += 1;
    }
    let mut resampler = Fft::<f32>::new_custom(
        from,
        to,
        blocks * min_in,
        1,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
    .map_err(|e| Error::invalid("sample_rate", format!("{from} Hz -> {to} Hz: {e}")))?;
    let input = InterleavedSlice::new(samples, 1, samples.len())
        .map_err(|e| Error::invalid("samples", e.to_string()))?;
    let out = resampler
        .process_all(&input, samples.len(), None)
        .map_err(|e| Error::invalid("samples", format!("resampling failed: {e}")))?;
    Ok(out.take_data())
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_the_ceiling_of_the_ratio() {
        for len in [1usize, 5, 6, 7, 4799, 48000] {
            let x = vec![0.1f32; len];
            let y = resample(&x, 48000, 8000).unwrap();
            assert_eq!(y.len(), len.div_ceil(6), "len {len}");
        }
    }

    #[test]
    fn a_low_tone_survives_without_delay() {
        let tone = |rate: f32, n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate).sin() * 0.5)
                .collect()
        };
        let y = resample(&tone(48000.0, 48000), 48000, 8000).unwrap();
        let want = tone(8000.0, 8000);
        let inner = 200..7800;
        let err: f32 = inner
            .clone()
            .map(|i| (y[i] - want[i]).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-2, "max error {err}");
    }

    #[test]
    fn zero_rate_is_an_error() {
        assert!(resample(&[0.0], 0, 8000).is_err());
    }
}
