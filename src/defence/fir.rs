//! Low-pass and band-pass FIR filters (ART's `LFilter` with windowed-sinc taps).
//!
//! The taps are `scipy.signal.firwin`'s (a Hamming-windowed ideal filter, scaled to unit gain at
//! DC or at the pass band's centre) and the filter runs as `scipy.signal.lfilter(b, 1, x)` with a
//! zero initial state, as ART applies it: causal, so the output lags by `(taps - 1) / 2` samples,
//! which is what a deployed streaming filter does. The output is clipped to the model's range.
//!
//! The filter is linear, so its gradient is exact and cheap: the transpose of the filter (a
//! correlation with the same taps) of the gradient where the output was not clipped. An attack
//! through it needs no BPDA, so its adaptive rows are a true white-box attack.

use super::{DefenceEntry, DefenceSpec, backward_runs, map_runs};
use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::InputConfig;
use crate::params::{Param, Params};
use burn::tensor::Tensor;
use rand_chacha::ChaCha8Rng;

const TAPS: Param = Param {
    key: "taps",
    default: "101",
    about: "filter length (2-4096); longer is sharper and delays by (taps - 1) / 2 samples",
};

/// `lowpass`.
pub static LOWPASS: DefenceEntry = DefenceEntry {
    name: "lowpass",
    about: "Low-pass FIR filter of the waveform (scipy firwin taps, applied as lfilter: ART's LFilter); exact gradient",
    params: &[
        Param {
            key: "cutoff",
            default: "required",
            about: "cut-off frequency in Hz, below half the model's sample rate",
        },
        TAPS,
    ],
    parse: |p| {
        let cutoff = hertz(p, "cutoff")?;
        Ok(Box::new(FirSpec {
            name: "lowpass",
            band: (None, cutoff),
            taps: taps(p)?,
        }))
    },
};

/// `bandpass`.
pub static BANDPASS: DefenceEntry = DefenceEntry {
    name: "bandpass",
    about: "Band-pass FIR filter of the waveform (scipy firwin taps, applied as lfilter: ART's LFilter); exact gradient",
    params: &[
        Param {
            key: "low",
            default: "required",
            about: "lower edge of the pass band in Hz",
        },
        Param {
            key: "high",
            default: "required",
            about: "upper edge of the pass band in Hz, above low and below half the sample rate",
        },
        TAPS,
    ],
    parse: |p| {
        let low = hertz(p, "low")?;
        let high = hertz(p, "high")?;
        if high.value <= low.value {
            return Err(Error::invalid(
                high.shown,
                format!("above low ({} Hz), got {} Hz", low.value, high.value),
            ));
        }
        Ok(Box::new(FirSpec {
            name: "bandpass",
            band: (Some(low), high),
            taps: taps(p)?,
        }))
    },
};

/// A frequency parameter and how the user wrote its key, for errors found when the model is known.
#[derive(Clone, Debug, PartialEq)]
struct Hertz {
    value: f64,
    shown: String,
}

fn hertz(p: &mut Params, key: &str) -> Result<Hertz> {
    let shown = p.display(key);
    let value: f64 = p
        .take(key)?
        .ok_or_else(|| Error::invalid(&shown, "missing: a frequency in Hz"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::invalid(
            shown,
            format!("a positive frequency in Hz, got {value}"),
        ));
    }
    Ok(Hertz { value, shown })
}

fn taps(p: &mut Params) -> Result<usize> {
    let taps: usize = p.take_or("taps", 101)?;
    if !(2..=4096).contains(&taps) {
        return Err(Error::invalid(
            p.display("taps"),
            format!("a filter length from 2 to 4096, got {taps}"),
        ));
    }
    Ok(taps)
}

/// A filter's parameters: the pass band `(low, high)` in Hz (`low: None` for a low-pass).
#[derive(Clone, Debug, PartialEq)]
struct FirSpec {
    name: &'static str,
    band: (Option<Hertz>, Hertz),
    taps: usize,
}

impl DefenceSpec for FirSpec {
    fn name(&self) -> &'static str {
        self.name
    }

    /// Needs an audio model with a sample rate above twice the band's upper edge.
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        let [_, samples] = super::audio_shape(input, self.name)?;
        let nyquist = f64::from(super::sample_rate(input, self.name)?) / 2.0;
        let (low, high) = &self.band;
        if high.value >= nyquist {
            return Err(Error::invalid(
                &high.shown,
                format!(
                    "below half the model's sample rate ({nyquist} Hz), got {} Hz",
                    high.value
                ),
            ));
        }
        let left = low.as_ref().map_or(0.0, |l| l.value / nyquist);
        Ok(Box::new(FirFilter {
            name: self.name,
            taps: firwin(self.taps, left, high.value / nyquist),
            samples,
            clip: input.clip_range(),
        }))
    }

    fn params(&self) -> serde_json::Value {
        let mut p = serde_json::json!({ "taps": self.taps });
        match &self.band {
            (None, cutoff) => p["cutoff"] = cutoff.value.into(),
            (Some(low), high) => {
                p["low"] = low.value.into();
                p["high"] = high.value.into();
            }
        }
        p
    }
}

/// `scipy.signal.firwin(taps, [left, right], pass_zero=(left == 0))` with band edges in units of
/// the Nyquist frequency: the ideal pass band's impulse response, Hamming-windowed, scaled to unit
/// gain at DC (a low-pass) or at the band's centre.
pub fn firwin(taps: usize, left: f64, right: f64) -> Vec<f64> {
    use std::f64::consts::PI;
    let sinc = |x: f64| {
        if x == 0.0 {
            1.0
        } else {
            (PI * x).sin() / (PI * x)
        }
    };
    let alpha = 0.5 * (taps as f64 - 1.0);
    let m = |i: usize| i as f64 - alpha;
    let hamming = |i: usize| 0.54 - 0.46 * (2.0 * PI * i as f64 / (taps as f64 - 1.0)).cos();
    let mut h: Vec<f64> = (0..taps)
        .map(|i| (right * sinc(right * m(i)) - left * sinc(left * m(i))) * hamming(i))
        .collect();
    let centre = if left == 0.0 {
        0.0
    } else {
        0.5 * (left + right)
    };
    let gain: f64 = (0..taps).map(|i| h[i] * (PI * m(i) * centre).cos()).sum();
    h.iter_mut().for_each(|v| *v /= gain);
    h
}

/// A causal FIR filter on every channel of waveforms of `samples`, clipped to `clip`.
#[derive(Clone, Debug)]
pub struct FirFilter {
    name: &'static str,
    taps: Vec<f64>,
    samples: usize,
    clip: Option<(f32, f32)>,
}

impl FirFilter {
    /// `lfilter(taps, 1, x)` with zero initial state, in f64 as scipy.
    fn filter(&self, x: &[f32]) -> Vec<f64> {
        (0..x.len())
            .map(|n| {
                let k_max = n.min(self.taps.len() - 1);
                (0..=k_max)
                    .map(|k| self.taps[k] * f64::from(x[n - k]))
                    .sum()
            })
            .collect()
    }

    fn clipped(&self, y: f64) -> (f32, bool) {
        let y = y as f32;
        match self.clip {
            Some((lo, _)) if y < lo => (lo, true),
            Some((_, hi)) if y > hi => (hi, true),
            _ => (y, false),
        }
    }
}

impl Preprocessor for FirFilter {
    fn name(&self) -> &str {
        self.name
    }

    fn forward(&self, x: Tensor<2>, _rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        map_runs(x, self.samples, |run| {
            Ok(self
                .filter(run)
                .into_iter()
                .map(|y| self.clipped(y).0)
                .collect())
        })
    }

    /// The filter's transpose (`gx[m] = Σ_k b[k] g[m + k]`) of the gradient where the output was
    /// not clipped (where it was, the output does not depend on the input).
    fn backward(&self, x_in: &Tensor<2>, grad: Tensor<2>) -> Tensor<2> {
        backward_runs(x_in, grad, self.samples, |x, g| {
            let live: Vec<f64> = self
                .filter(x)
                .into_iter()
                .zip(g)
                .map(|(y, &g)| if self.clipped(y).1 { 0.0 } else { f64::from(g) })
                .collect();
            (0..live.len())
                .map(|m| {
                    let k_max = (live.len() - 1 - m).min(self.taps.len() - 1);
                    (0..=k_max).map(|k| self.taps[k] * live[m + k]).sum::<f64>() as f32
                })
                .collect()
        })
    }
}
