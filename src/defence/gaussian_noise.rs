//! Additive Gaussian noise at prediction time (ART's `GaussianAugmentation` with
//! `augmentation=False, apply_predict=True`): the simplest randomised defence, and the one
//! randomised smoothing builds on.
//!
//! Each pass draws fresh noise from its random stream (seeded, see [`crate::classifier::Defended`]),
//! so an attacker following single-draw gradients sees a moving target; expectation over
//! transformation (`--eot N`) averages it away. The backward pass is exact: adding noise has the
//! identity Jacobian, and the clip to the model's range is treated as the identity, as for every
//! other attack step here.

use super::{DefenceEntry, DefenceSpec};
use crate::array::tensor_to_vec;
use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::InputConfig;
use crate::params::Param;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// `gaussian-noise`.
pub static ENTRY: DefenceEntry = DefenceEntry {
    name: "gaussian-noise",
    about: "additive Gaussian noise on every prediction (ART's GaussianAugmentation at predict time); randomised, seeded",
    params: &[Param {
        key: "sigma",
        default: "required",
        about: "standard deviation in the model's input units (int16 steps, pixels in [0, 1], ...)",
    }],
    parse: |p| {
        let sigma: f32 = p
            .take("sigma")?
            .ok_or_else(|| Error::invalid(p.display("sigma"), "missing: the noise's std"))?;
        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(Error::invalid(
                p.display("sigma"),
                format!("a positive finite std, got {sigma}"),
            ));
        }
        Ok(Box::new(GaussianNoiseSpec { sigma }))
    },
};

/// The defence's parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GaussianNoiseSpec {
    pub sigma: f32,
}

impl DefenceSpec for GaussianNoiseSpec {
    fn name(&self) -> &'static str {
        "gaussian-noise"
    }

    /// Fits any model; the noisy input is clipped to the model's range when it has one.
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        Ok(Box::new(GaussianNoise {
            sigma: self.sigma,
            clip: input.clip_range(),
        }))
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }

    fn randomised(&self) -> bool {
        true
    }
}

/// `x + N(0, sigma²)`, clipped to `clip`.
#[derive(Clone, Debug)]
pub struct GaussianNoise {
    pub sigma: f32,
    pub clip: Option<(f32, f32)>,
}

impl Preprocessor for GaussianNoise {
    fn name(&self) -> &str {
        "gaussian-noise"
    }

    /// One draw for the whole batch from `rng`; the input tensor is not touched.
    fn forward(&self, x: Tensor<2>, rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        let dims = x.dims();
        let device = x.device();
        let noisy: Vec<f32> = tensor_to_vec(x)
            .into_iter()
            .map(|v| {
                let z: f32 = rng.sample(StandardNormal);
                let y = v + self.sigma * z;
                match self.clip {
                    Some((lo, hi)) => y.clamp(lo, hi),
                    None => y,
                }
            })
            .collect();
        Ok(Tensor::from_data(TensorData::new(noisy, dims), &device))
    }

    fn randomised(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn noise_has_the_asked_std_stays_in_range_and_depends_on_the_stream() {
        let device = Default::default();
        let n = 20_000;
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; n], [1, n]), &device);
        let d = GaussianNoise {
            sigma: 0.1,
            clip: Some((0.0, 1.0)),
        };
        let draw = |stream: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            rng.set_stream(stream);
            tensor_to_vec(d.forward(x.clone(), &mut rng).unwrap())
        };
        let a = draw(0);
        let mean = a.iter().sum::<f32>() / n as f32;
        let std = (a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
        assert!((std - 0.1).abs() < 0.005, "std {std}");
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(a, draw(0), "same stream, same draw");
        assert_ne!(a, draw(1), "another stream, another draw");
        assert_eq!(tensor_to_vec(x), vec![0.5f32; n], "input untouched");
    }
}
