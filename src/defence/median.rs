//! Median smoothing of the waveform: `scipy.ndimage.median_filter(x, size=(1, window),
//! mode="reflect")` on each channel (edges and even windows as [`super::window`] says).
//!
//! A running median removes isolated spikes and much of a small dense perturbation while keeping
//! the edges of speech, which a mean would blur. It has no useful gradient (it is piecewise a
//! selection of one input sample), so the backward pass is BPDA's identity.

use super::window::{median, offsets, reflect};
use super::{DefenceEntry, DefenceSpec, map_runs};
use crate::classifier::Preprocessor;
use crate::error::Result;
use crate::model::InputConfig;
use crate::params::Param;
use burn::tensor::Tensor;
use rand_chacha::ChaCha8Rng;

/// `median`.
pub static ENTRY: DefenceEntry = DefenceEntry {
    name: "median",
    about: "Running median over the waveform (scipy.ndimage.median_filter, reflected edges; median-spatial for video); BPDA gradient",
    params: &[Param {
        key: "window",
        default: "3",
        about: "samples per median, 2 or more (even: the upper middle value, as scipy)",
    }],
    parse: |p| {
        let window = super::window::take_window(p, "samples")?;
        Ok(Box::new(MedianSpec { window }))
    },
};

/// The defence's parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MedianSpec {
    pub window: usize,
}

impl DefenceSpec for MedianSpec {
    fn name(&self) -> &'static str {
        "median"
    }

    /// Needs an audio model (`median-spatial` is the video one).
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        let [_, samples] = super::audio_shape(input, "median")?;
        Ok(Box::new(Median {
            window: self.window,
            samples,
        }))
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}

/// The median of `window` samples around each sample of every channel of `samples`.
#[derive(Clone, Debug)]
pub struct Median {
    pub window: usize,
    pub samples: usize,
}

impl Preprocessor for Median {
    fn name(&self) -> &str {
        "median"
    }

    fn forward(&self, x: Tensor<2>, _rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        map_runs(x, self.samples, |run| {
            let n = run.len();
            let mut values = Vec::with_capacity(self.window);
            Ok((0..n as isize)
                .map(|i| {
                    values.clear();
                    values.extend(offsets(self.window).map(|o| run[reflect(i + o, n)]));
                    median(&mut values)
                })
                .collect())
        })
    }
}
