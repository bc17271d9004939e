//! Gaussian data augmentation for randomised smoothing (Cohen et al. 2019): the base classifier of
//! a smoothed classifier is trained on its inputs plus `N(0, σ²)` noise, the noise it will be
//! certified under, so that it classifies noisy inputs well; the smoothed classifier's certified
//! radius grows with σ and with how often the base classifier is right under noise.
//!
//! Each training example gets fresh noise every time it is drawn, from its own stream of the run's
//! seed (the augmentation's stream is left alone, so the same seed draws the same batches and
//! shifts with or without noise), and the result is clipped to the model's input range: the base
//! classifier never sees inputs the certificate's noise could not produce after clipping.

use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Noise of standard deviation `sigma` (input units), clipped to `clip`.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct GaussianNoise {
    pub sigma: f32,
    pub clip: Option<(f32, f32)>,
}

impl GaussianNoise {
    /// Checks `sigma` (`--gaussian-noise`): positive and finite.
    pub fn new(sigma: f32, clip: Option<(f32, f32)>) -> Result<Self> {
        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(Error::invalid(
                "gaussian-noise",
                format!("a positive standard deviation in input units, got {sigma}"),
            ));
        }
        Ok(Self { sigma, clip })
    }

    /// `x` (`[n·d]`) plus noise, each example on its own random `stream` of `seed`; `x` itself is
    /// left as it was.
    pub fn apply(&self, x: &[f32], streams: &[u64], seed: u64) -> Vec<f32> {
        let d = x.len() / streams.len().max(1);
        let mut out = Vec::with_capacity(x.len());
        for (row, &stream) in x.chunks(d.max(1)).zip(streams) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(stream);
            out.extend(row.iter().map(|v| {
                let noisy = v + self.sigma * rng.sample::<f32, _>(StandardNormal);
                match self.clip {
                    Some((lo, hi)) => noisy.clamp(lo, hi),
                    None => noisy,
                }
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_has_its_sigma_is_seeded_clipped_and_leaves_the_input() {
        let noise = GaussianNoise::new(0.5, None).unwrap();
        let x = vec![1.0f32; 2 * 5000];
        let a = noise.apply(&x, &[7, 8], 3);
        assert_eq!(a, noise.apply(&x, &[7, 8], 3));
        assert_ne!(a, noise.apply(&x, &[7, 9], 3));
        assert_ne!(a[..5000], a[5000..]);
        assert!(x.iter().all(|&v| v == 1.0));
        let mean = a.iter().map(|v| (v - 1.0) as f64).sum::<f64>() / a.len() as f64;
        let sd =
            (a.iter().map(|v| ((v - 1.0) as f64).powi(2)).sum::<f64>() / a.len() as f64).sqrt();
        assert!(
            mean.abs() < 0.02 && (sd - 0.5).abs() < 0.02,
            "mean {mean} sd {sd}"
        );
        let clipped = GaussianNoise::new(0.5, Some((0.0, 1.2)))
            .unwrap()
            .apply(&x, &[7, 8], 3);
        assert!(clipped.iter().all(|&v| (0.0..=1.2).contains(&v)));
        assert!(clipped.contains(&1.2) && clipped.iter().any(|&v| v < 1.0));
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let err = GaussianNoise::new(bad, None).unwrap_err().to_string();
            assert!(err.contains("gaussian-noise"), "{err}");
        }
    }
}
