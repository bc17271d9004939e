//! STOI, the short-time objective intelligibility measure (Taal et al., ICASSP 2010 and IEEE TASLP
//! 2011), ported from `pystoi.stoi` (classical, not extended) step by step so that scores agree with
//! it: people compare intelligibility numbers across papers, and those come from pystoi.
//!
//! The pipeline: resample to 10 kHz with pystoi's Octave-compatible polyphase resampler, drop the
//! frames more than 40 dB below the loudest clean frame (from both signals, judged on the clean
//! one), take 256-sample Hann frames at hop 128 zero-padded to a 512-point FFT, pool the bins into
//! 15 one-third-octave bands from 150 Hz, and correlate clean and degraded band envelopes over
//! 30-frame segments after scaling the degraded envelope to the clean one's energy and clipping it
//! at a signal-to-distortion ratio of −15 dB. The score is the mean correlation, 1 for identical
//! signals, lower as intelligibility drops.

use crate::error::{Error, Result};
use realfft::RealFftPlanner;

/// The rate STOI works at.
const FS: u32 = 10_000;
/// Frame length (and Hann window length) in samples at 10 kHz.
const N_FRAME: usize = 256;
/// FFT size: frames are zero-padded to it.
const NFFT: usize = 512;
/// One-third-octave bands.
const NUM_BANDS: usize = 15;
/// Centre of the lowest band, Hz.
const MIN_FREQ: f64 = 150.0;
/// Frames per segment of the intermediate intelligibility measure (384 ms).
const N_SEGMENT: usize = 30;
/// Lower signal-to-distortion bound, dB.
const BETA_DB: f64 = -15.0;
/// Frames this far below the loudest clean frame count as silence, dB.
const DYN_RANGE_DB: f64 = 40.0;
/// numpy's `finfo(float).eps`, which pystoi adds to norms; kept so near-silent inputs score alike.
const EPS: f64 = f64::EPSILON;

/// STOI of `degraded` against `clean`, both mono at `sample_rate` Hz in the same units (any scale:
/// the measure is scale-invariant). Errors: different lengths, an unusable rate, or fewer than 30
/// non-silent STFT frames at 10 kHz (about 0.4 s of speech), where pystoi warns and returns 1e-5;
/// here that is an error naming the count, so that no made-up score reaches a report.
pub fn stoi(clean: &[f32], degraded: &[f32], sample_rate: u32) -> Result<f64> {
    if clean.len() != degraded.len() {
        return Err(Error::invalid(
            "stoi",
            format!(
                "clean and degraded differ in length ({} and {} samples)",
                clean.len(),
                degraded.len()
            ),
        ));
    }
    crate::audio::check_sample_rate(sample_rate).map_err(|e| Error::invalid("sample_rate", e))?;
    let as_f64 = |s: &[f32]| s.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
    let (mut x, mut y) = (as_f64(clean), as_f64(degraded));
    if sample_rate != FS {
        x = resample_oct(&x, FS, sample_rate);
        y = resample_oct(&y, FS, sample_rate);
    }
    let (x, y) = remove_silent_frames(&x, &y)?;
    let x_tob = third_octave_envelopes(&x);
    let y_tob = third_octave_envelopes(&y);
    let frames = x_tob.len();
    if frames < N_SEGMENT {
        return Err(Error::invalid(
            "stoi",
            format!(
                "only {frames} non-silent STFT frames at 10 kHz, STOI needs {N_SEGMENT} \
                 (about 0.4 s of speech)"
            ),
        ));
    }
    let clip = 1.0 + 10f64.powf(-BETA_DB / 20.0);
    let mut total = 0.0;
    let segments = frames - N_SEGMENT + 1;
    for m in N_SEGMENT..=frames {
        for band in 0..NUM_BANDS {
            let xs: Vec<f64> = (m - N_SEGMENT..m).map(|f| x_tob[f][band]).collect();
            let ys: Vec<f64> = (m - N_SEGMENT..m).map(|f| y_tob[f][band]).collect();
            let alpha = norm(&xs) / (norm(&ys) + EPS);
            let mut yp: Vec<f64> = ys
                .iter()
                .zip(&xs)
                .map(|(&y, &x)| (y * alpha).min(x * clip))
                .collect();
            let mut xc = xs;
            centre_and_normalise(&mut yp);
            centre_and_normalise(&mut xc);
            total += yp.iter().zip(&xc).map(|(a, b)| a * b).sum::<f64>();
        }
    }
    Ok(total / (segments * NUM_BANDS) as f64)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Subtracts the mean, then divides by the norm plus EPS (pystoi's order of operations).
fn centre_and_normalise(v: &mut [f64]) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter_mut().for_each(|a| *a -= mean);
    let n = norm(v) + EPS;
    v.iter_mut().for_each(|a| *a /= n);
}

/// `numpy.hanning(len + 2)[1:-1]`: MATLAB's `hanning(len)`, without the zero end points.
fn hann(len: usize) -> Vec<f64> {
    let m = (len + 1) as f64;
    (1..=len)
        .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / m).cos())
        .collect()
}

/// Start of each frame as pystoi takes them: `range(0, len - N_FRAME, hop)` (a frame ending exactly
/// at the last sample is left out, as there).
fn frame_starts(len: usize, hop: usize) -> impl Iterator<Item = usize> {
    (0..len.saturating_sub(N_FRAME)).step_by(hop)
}

/// pystoi's `remove_silent_frames`: Hann-windowed frames of the clean signal more than 40 dB below
/// its loudest are dropped from both signals, and the rest overlap-added back at hop 128.
fn remove_silent_frames(x: &[f64], y: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
    let hop = N_FRAME / 2;
    let w = hann(N_FRAME);
    let starts: Vec<usize> = frame_starts(x.len(), hop).collect();
    if starts.is_empty() {
        return Err(Error::invalid(
            "stoi",
            format!(
                "{} samples at 10 kHz: shorter than one {N_FRAME}-sample frame",
                x.len()
            ),
        ));
    }
    let energy = |s: usize| {
        let e: f64 = (0..N_FRAME).map(|j| (w[j] * x[s + j]).powi(2)).sum();
        20.0 * (e.sqrt() + EPS).log10()
    };
    let energies: Vec<f64> = starts.iter().map(|&s| energy(s)).collect();
    let max = energies.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let kept: Vec<usize> = starts
        .iter()
        .zip(&energies)
        .filter(|&(_, &e)| max - DYN_RANGE_DB - e < 0.0)
        .map(|(&s, _)| s)
        .collect();
    let len = (kept.len() - 1) * hop + N_FRAME;
    let overlap_add = |sig: &[f64]| {
        let mut out = vec![0.0; len];
        for (k, &s) in kept.iter().enumerate() {
            for j in 0..N_FRAME {
                out[k * hop + j] += w[j] * sig[s + j];
            }
        }
        out
    };
    Ok((overlap_add(x), overlap_add(y)))
}

/// The one-third-octave band envelopes of each STFT frame (`sqrt(OBM · |X|²)`), frames first.
fn third_octave_envelopes(x: &[f64]) -> Vec<[f64; NUM_BANDS]> {
    let bands = band_edges();
    let w = hann(N_FRAME);
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(NFFT);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    frame_starts(x.len(), N_FRAME / 2)
        .map(|s| {
            input.iter_mut().for_each(|v| *v = 0.0);
            for j in 0..N_FRAME {
                input[j] = w[j] * x[s + j];
            }
            fft.process(&mut input, &mut spectrum)
                .expect("buffers come from the plan");
            let mut env = [0.0; NUM_BANDS];
            for (e, &(lo, hi)) in env.iter_mut().zip(&bands) {
                *e = spectrum[lo..hi]
                    .iter()
                    .map(|c| c.norm_sqr())
                    .sum::<f64>()
                    .sqrt();
            }
            env
        })
        .collect()
}

/// pystoi's `thirdoct`: each band's FFT bins `[lo, hi)`, its edges `150·2^((2k∓1)/6)` Hz moved to
/// the nearest bin (the lower bin on a tie, as `argmin` picks).
fn band_edges() -> [(usize, usize); NUM_BANDS] {
    let bins = NFFT / 2 + 1;
    let freq = |k: usize| k as f64 * f64::from(FS) / NFFT as f64;
    let nearest = |f: f64| {
        (0..bins)
            .min_by(|&a, &b| {
                let (da, db) = ((freq(a) - f).powi(2), (freq(b) - f).powi(2));
                da.partial_cmp(&db).expect("finite").then(a.cmp(&b))
            })
            .expect("bins exist")
    };
    std::array::from_fn(|k| {
        let k = k as f64;
        (
            nearest(MIN_FREQ * 2f64.powf((2.0 * k - 1.0) / 6.0)),
            nearest(MIN_FREQ * 2f64.powf((2.0 * k + 1.0) / 6.0)),
        )
    })
}

/// pystoi's `resample_oct(x, p, q)`: Octave's `resample` filter (a Kaiser-windowed sinc with 60 dB
/// rejection, normalised to unit sum) applied by `scipy.signal.resample_poly`, i.e. upsample by `p`,
/// filter (times `p`), keep every `q`-th sample, aligned on the filter's centre; the output has
/// `ceil(len · p / q)` samples. Written here because the project's resampler (rubato) uses another
/// filter, and STOI's agreement with pystoi depends on this one.
fn resample_oct(x: &[f64], p: u32, q: u32) -> Vec<f64> {
    let g = gcd(p, q);
    let (up, down) = ((p / g) as usize, (q / g) as usize);
    let h = octave_filter(up, down);
    let half = (h.len() - 1) / 2;
    let n_out = (x.len() * up).div_ceil(down);
    (0..n_out)
        .map(|k| {
            // Output k sits at position k·down of the upsampled signal; tap i reads position
            // k·down + half − i, which holds x[(that) / up] when it is a multiple of up.
            let centre = k * down + half;
            let first = centre % up;
            (first..h.len().min(centre + 1))
                .step_by(up)
                .filter_map(|i| x.get((centre - i) / up).map(|&v| h[i] * v))
                .sum::<f64>()
        })
        .collect()
}

/// The filter of pystoi's `_resample_window_oct`, divided by its sum and multiplied by `up` as
/// `resample_poly` does.
fn octave_filter(up: usize, down: usize) -> Vec<f64> {
    let rejection_db = 60.0;
    let cutoff = 1.0 / (2.0 * up.max(down) as f64);
    let roll_off = cutoff / 10.0;
    let l = ((rejection_db - 8.0) / (28.714 * roll_off)).ceil() as i64;
    let beta = 0.1102 * (rejection_db - 8.7);
    let m = (2 * l + 1) as usize;
    let h: Vec<f64> = (-l..=l)
        .enumerate()
        .map(|(n, t)| {
            let arg = 2.0 * cutoff * t as f64;
            let sinc = if t == 0 {
                1.0
            } else {
                (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
            };
            kaiser(n, m, beta) * 2.0 * up as f64 * cutoff * sinc
        })
        .collect();
    let sum: f64 = h.iter().sum();
    h.iter().map(|v| v / sum * up as f64).collect()
}

/// `numpy.kaiser(m, beta)[n]`.
fn kaiser(n: usize, m: usize, beta: f64) -> f64 {
    let alpha = (m - 1) as f64 / 2.0;
    let r = (n as f64 - alpha) / alpha;
    bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(beta)
}

/// The modified Bessel function I0 by its power series `Σ ((x/2)^k / k!)²`, which converges to
/// machine precision within a few dozen terms for the arguments a Kaiser window uses (|x| < 20).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut term, mut sum) = (1.0, 1.0);
    for k in 1..200 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bessel_i0_matches_known_values() {
        // I0(0) = 1, I0(1) = 1.2660658777520082, I0(5) = 27.239871823604442 (Abramowitz & Stegun).
        assert_eq!(bessel_i0(0.0), 1.0);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_2).abs() < 1e-14);
        assert!((bessel_i0(5.0) - 27.239_871_823_604_442).abs() < 1e-11);
    }

    #[test]
    fn band_edges_match_pystoi() {
        // pystoi.utils.thirdoct(10000, 512, 15, 150): first and last band's nonzero columns.
        let b = band_edges();
        assert_eq!(b[0], (7, 9));
        assert_eq!(b[7], (34, 43));
        assert_eq!(b[14], (174, 219));
    }

    #[test]
    fn resampling_keeps_a_tone_and_the_length() {
        let x: Vec<f64> = (0..8000)
            .map(|i| (2.0 * std::f64::consts::PI * 300.0 * i as f64 / 8000.0).sin())
            .collect();
        let y = resample_oct(&x, 10_000, 8000);
        assert_eq!(y.len(), 10_000);
        let want = |i: usize| (2.0 * std::f64::consts::PI * 300.0 * i as f64 / 10_000.0).sin();
        let err = (500..9500)
            .map(|i| (y[i] - want(i)).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-2, "max error {err}");
    }

    #[test]
    fn unequal_lengths_and_short_clips_are_errors() {
        let e = stoi(&[0.0; 10], &[0.0; 11], 8000).unwrap_err().to_string();
        assert!(e.contains("differ in length"), "{e}");
        let short: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.3).sin()).collect();
        let e = stoi(&short, &short, 8000).unwrap_err().to_string();
        assert!(e.contains("non-silent STFT frames"), "{e}");
    }
}
