//! Moving-average smoothing of the waveform: `scipy.ndimage.uniform_filter1d(x, size,
//! mode="reflect")` on each channel (edges and even windows as [`super::window`] says).
//!
//! A local mean removes the high-frequency part of a perturbation at little cost to speech. It is
//! linear, so its gradient is exact: each output's gradient spread back evenly over the samples
//! its window read (mirror images included). No clip is needed: a mean of samples in the model's
//! range stays in it.

use super::window::{offsets, reflect};
use super::{DefenceEntry, DefenceSpec, backward_runs, map_runs};
use crate::classifier::Preprocessor;
use crate::error::Result;
use crate::model::InputConfig;
use crate::params::Param;
use burn::tensor::Tensor;
use rand_chacha::ChaCha8Rng;

/// `moving-average`.
pub static ENTRY: DefenceEntry = DefenceEntry {
    name: "moving-average",
    about: "Moving average over the waveform (scipy.ndimage.uniform_filter1d, reflected edges); exact gradient",
    params: &[Param {
        key: "window",
        default: "3",
        about: "samples averaged, 2 or more (an even window reaches one sample further back)",
    }],
    parse: |p| {
        let window = super::window::take_window(p, "samples")?;
        Ok(Box::new(MovingAverageSpec { window }))
    },
};

/// The defence's parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MovingAverageSpec {
    pub window: usize,
}

impl DefenceSpec for MovingAverageSpec {
    fn name(&self) -> &'static str {
        "moving-average"
    }

    /// Needs an audio model.
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        let [_, samples] = super::audio_shape(input, "moving-average")?;
        Ok(Box::new(MovingAverage {
            window: self.window,
            samples,
        }))
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}

/// The mean of `window` samples around each sample of every channel of `samples`.
#[derive(Clone, Debug)]
pub struct MovingAverage {
    pub window: usize,
    pub samples: usize,
}

impl Preprocessor for MovingAverage {
    fn name(&self) -> &str {
        "moving-average"
    }

    fn forward(&self, x: Tensor<2>, _rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        let scale = 1.0 / self.window as f64;
        map_runs(x, self.samples, |run| {
            let n = run.len();
            Ok((0..n as isize)
                .map(|i| {
                    let sum: f64 = offsets(self.window)
                        .map(|o| f64::from(run[reflect(i + o, n)]))
                        .sum();
                    (sum * scale) as f32
                })
                .collect())
        })
    }

    /// The transpose: each output's gradient, divided by the window, added to every sample its
    /// window read.
    fn backward(&self, x_in: &Tensor<2>, grad: Tensor<2>) -> Tensor<2> {
        let scale = 1.0 / self.window as f64;
        backward_runs(x_in, grad, self.samples, |_, g| {
            let n = g.len();
            let mut gx = vec![0f64; n];
            for (i, &gi) in g.iter().enumerate() {
                for o in offsets(self.window) {
                    gx[reflect(i as isize + o, n)] += f64::from(gi) * scale;
                }
            }
            gx.into_iter().map(|v| v as f32).collect()
        })
    }
}
