//! Resampling down and back up (ART's `Resample`, made a round trip so the model keeps its rate):
//! the waveform goes to a lower sample rate and back with rubato's FFT resampler (the one avfoil
//! reads WAV files with, [`crate::audio::resample`]), which removes everything above half the
//! lower rate, perturbation included. The output keeps the input's length and alignment and is
//! clipped to the model's range.
//!
//! The backward pass is BPDA's identity: the exact transpose of two block FFT resamplers is
//! possible but not cheap, and below the lower Nyquist frequency the round trip is close to the
//! identity anyway.

use super::{DefenceEntry, DefenceSpec, map_runs};
use crate::audio::resample::resample;
use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::InputConfig;
use crate::params::Param;
use burn::tensor::Tensor;
use rand_chacha::ChaCha8Rng;

/// `resample`.
pub static ENTRY: DefenceEntry = DefenceEntry {
    name: "resample",
    about: "Resampling of the waveform down to a lower rate and back up (rubato; ART's Resample as a round trip); BPDA gradient",
    params: &[Param {
        key: "rate",
        default: "half the model's sample rate",
        about: "the lower sample rate in Hz, at least 1000 and below the model's",
    }],
    parse: |p| {
        Ok(Box::new(ResampleSpec {
            rate: p.take("rate")?,
            shown: p.display("rate"),
        }))
    },
};

/// The defence's parameters; `shown` is how the user wrote `rate`, for errors once the model is
/// known.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ResampleSpec {
    pub rate: Option<u32>,
    #[serde(skip)]
    shown: String,
}

impl DefenceSpec for ResampleSpec {
    fn name(&self) -> &'static str {
        "resample"
    }

    /// Needs an audio model with a sample rate above the lower one.
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        let [_, samples] = super::audio_shape(input, "resample")?;
        let model_rate = super::sample_rate(input, "resample")?;
        let rate = self.rate.unwrap_or(model_rate / 2);
        crate::audio::check_sample_rate(rate).map_err(|e| Error::invalid(&self.shown, e))?;
        if rate >= model_rate {
            return Err(Error::invalid(
                &self.shown,
                format!("a rate below the model's {model_rate} Hz, got {rate} Hz"),
            ));
        }
        Ok(Box::new(Resample {
            model_rate,
            rate,
            samples,
            clip: input.clip_range(),
        }))
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}

/// Every channel of `samples` at `model_rate` Hz taken to `rate` Hz and back.
#[derive(Clone, Debug)]
pub struct Resample {
    pub model_rate: u32,
    pub rate: u32,
    pub samples: usize,
    pub clip: Option<(f32, f32)>,
}

impl Preprocessor for Resample {
    fn name(&self) -> &str {
        "resample"
    }

    fn forward(&self, x: Tensor<2>, _rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        map_runs(x, self.samples, |run| {
            let down = resample(run, self.model_rate, self.rate)?;
            let mut up = resample(&down, self.rate, self.model_rate)?;
            up.resize(run.len(), 0.0);
            if let Some((lo, hi)) = self.clip {
                up.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
            }
            Ok(up)
        })
    }
}
