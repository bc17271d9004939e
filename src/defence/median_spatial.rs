//! Median smoothing of every frame (ART's `SpatialSmoothing`, Xu et al. 2018): each pixel of each
//! colour channel of each frame replaced by the median of the `window × window` square around it,
//! `scipy.ndimage.median_filter(x, size=(1, 1, window, window), mode="reflect")` on a
//! `[C, F, H, W]` clip, as ART calls it (edges and even windows as [`super::window`] says).
//!
//! Medians remove isolated changes and keep edges. They select input pixels, so the gradient is
//! either a selection or undefined; the backward pass is BPDA's identity, as ART's.

use super::window::{median, offsets, reflect};
use super::{DefenceEntry, DefenceSpec, map_runs};
use crate::classifier::Preprocessor;
use crate::error::Result;
use crate::model::InputConfig;
use crate::params::Param;
use burn::tensor::Tensor;
use rand_chacha::ChaCha8Rng;

/// `median-spatial`.
pub static ENTRY: DefenceEntry = DefenceEntry {
    name: "median-spatial",
    about: "Median of each window x window square of every video frame and channel (ART's SpatialSmoothing, \
            reflected edges); BPDA gradient",
    params: &[Param {
        key: "window",
        default: "3",
        about: "side of the square in pixels, 2 or more (even: the upper middle value, as scipy)",
    }],
    parse: |p| {
        let window = super::window::take_window(p, "pixels")?;
        Ok(Box::new(MedianSpatialSpec { window }))
    },
};

/// The defence's parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MedianSpatialSpec {
    pub window: usize,
}

impl DefenceSpec for MedianSpatialSpec {
    fn name(&self) -> &'static str {
        "median-spatial"
    }

    /// Needs a video model.
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        let [_, _, height, width] = super::video_shape(input, "median-spatial")?;
        Ok(Box::new(MedianSpatial {
            window: self.window,
            height,
            width,
        }))
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}

/// The `window × window` median of every `height × width` plane.
#[derive(Clone, Debug)]
pub struct MedianSpatial {
    pub window: usize,
    pub height: usize,
    pub width: usize,
}

impl Preprocessor for MedianSpatial {
    fn name(&self) -> &str {
        "median-spatial"
    }

    fn forward(&self, x: Tensor<2>, _rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        let (h, w) = (self.height, self.width);
        map_runs(x, h * w, |plane| {
            let mut values = Vec::with_capacity(self.window * self.window);
            let mut out = Vec::with_capacity(plane.len());
            for y in 0..h as isize {
                for x in 0..w as isize {
                    values.clear();
                    for dy in offsets(self.window) {
                        let row = reflect(y + dy, h) * w;
                        values
                            .extend(offsets(self.window).map(|dx| plane[row + reflect(x + dx, w)]));
                    }
                    out.push(median(&mut values));
                }
            }
            Ok(out)
        })
    }
}
