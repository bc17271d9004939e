//! Bit-depth reduction (feature squeezing, Xu et al. 2018; ART's `FeatureSqueezing`): every value
//! rounded to one of `2^bits` levels spread evenly over the model's input range. On audio it
//! coarsens the sample grid; on video it is colour-depth reduction (per channel), so one defence
//! serves both.
//!
//! The arithmetic is ART's, step for step: normalise to `[0, 1]` in f32, round half to even
//! (`np.rint`) at `2^bits - 1` in f64, scale back. Rounding has a zero gradient almost
//! everywhere, so the backward pass is BPDA's identity (ART's too).

use super::{DefenceEntry, DefenceSpec, map_examples};
use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::InputConfig;
use crate::params::Param;
use burn::tensor::Tensor;
use rand_chacha::ChaCha8Rng;

/// `bit-depth`.
pub static ENTRY: DefenceEntry = DefenceEntry {
    name: "bit-depth",
    about: "Bit-depth reduction over the model's range (ART's FeatureSqueezing): audio sample depth, or \
            colour depth per channel on video; BPDA gradient",
    params: &[Param {
        key: "bits",
        default: "8",
        about: "bits per value, 1-24 (2^bits levels across the model's clip range)",
    }],
    parse: |p| {
        let bits: u32 = p.take_or("bits", 8)?;
        if !(1..=24).contains(&bits) {
            return Err(Error::invalid(
                p.display("bits"),
                format!("1 to 24 bits (an f32 holds 24), got {bits}"),
            ));
        }
        Ok(Box::new(BitDepthSpec { bits }))
    },
};

/// The defence's parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BitDepthSpec {
    pub bits: u32,
}

impl DefenceSpec for BitDepthSpec {
    fn name(&self) -> &'static str {
        "bit-depth"
    }

    /// Fits any model with a clip range (the levels are spread over it).
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        let (lo, hi) = input.clip_range().ok_or_else(|| {
            Error::invalid(
                "defence",
                "bit-depth needs input.clip in the model's model.toml (the range its levels cover)",
            )
        })?;
        Ok(Box::new(BitDepth {
            bits: self.bits,
            range: (lo, hi),
        }))
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}

/// Every value rounded to `2^bits` levels over `range`.
#[derive(Clone, Debug)]
pub struct BitDepth {
    pub bits: u32,
    pub range: (f32, f32),
}

impl BitDepth {
    /// One value squeezed, as ART computes it.
    pub fn squeeze(&self, v: f32) -> f32 {
        let (lo, hi) = self.range;
        let levels = f64::from((1u32 << self.bits) - 1);
        let unit = f64::from((v - lo) / (hi - lo));
        let rounded = (unit * levels).round_ties_even() / levels;
        (rounded * f64::from(hi - lo) + f64::from(lo)) as f32
    }
}

impl Preprocessor for BitDepth {
    fn name(&self) -> &str {
        "bit-depth"
    }

    fn forward(&self, x: Tensor<2>, _rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        map_examples(x, |row| Ok(row.iter().map(|&v| self.squeeze(v)).collect()))
    }
}
