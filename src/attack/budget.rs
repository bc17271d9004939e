//! Budgets in physical units: an audio budget as a signal-to-noise ratio or a level in dBFS, a
//! video budget in 8-bit pixel steps, turned into the eps (in the model's input units) that every
//! attack takes.
//!
//! Why: an eps of 64 in int16 units is 36 dB below one clip and 10 dB below a quiet one; a
//! listener judges the perturbation against the clip. `--snr-db` gives each example the eps that
//! keeps it at that SNR at least, whatever the attack does within its budget; `--dbfs` caps the
//! perturbation's level on the recording's scale; `--eps-uint8` says "N grey levels" whether the
//! model's pixels are in [0, 1] or [0, 255].

use super::{Eps, Norm};
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::scale::{AudioScale, VideoScale};

/// A budget in physical units.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhysicalBudget {
    /// Audio: every perturbation within the budget leaves the clip at least this many dB above
    /// it, SNR = 20·log10(‖x‖₂ / ‖δ‖₂). Per example: eps_i = ‖x_i‖₂ · d^min(0, 1/p − 1/2) ·
    /// 10^(−SNR/20), the largest ℓp radius whose ball lies inside the ℓ2 ball of that SNR. For ℓ∞
    /// that is RMS(x_i)·10^(−SNR/20), and a full-budget sign perturbation (FGSM, PGD) meets the
    /// SNR exactly; for ℓ2 it is ‖x_i‖₂·10^(−SNR/20); for p ≤ 2 the same as ℓ2.
    SnrDb(f64),
    /// Audio: the perturbation's level relative to full scale (32768 int16 steps, or 1.0), at most
    /// 0 dBFS: for ℓ∞ its peak, eps = FS·10^(dBFS/20); for ℓ2 its RMS, eps = FS·10^(dBFS/20)·√d.
    /// Other norms are refused (no level is their natural reading).
    Dbfs(f64),
    /// Video: N steps of an 8-bit pixel, N/255 in [0, 1] units or N in [0, 255] ones.
    Uint8(f64),
}

impl PhysicalBudget {
    /// The flag that gives it, for errors.
    pub fn flag(&self) -> &'static str {
        match self {
            PhysicalBudget::SnrDb(_) => "--snr-db",
            PhysicalBudget::Dbfs(_) => "--dbfs",
            PhysicalBudget::Uint8(_) => "--eps-uint8",
        }
    }

    /// The eps of each of the `n` examples of `x` (flattened, in input units) for a model with
    /// these inputs and an attack of this norm.
    pub fn eps(&self, input: &InputConfig, norm: Norm, x: &[f32], n: usize) -> Result<Eps> {
        let flag = self.flag();
        let want = match self {
            PhysicalBudget::Uint8(_) => Modality::Video,
            _ => Modality::Audio,
        };
        if input.modality != want {
            return Err(Error::invalid(
                flag,
                format!(
                    "applies to {} models; this one is {}",
                    modality_name(want),
                    modality_name(input.modality)
                ),
            ));
        }
        let d = x.len().checked_div(n).unwrap_or(0);
        if d == 0 || n * d != x.len() {
            return Err(Error::invalid(flag, "no examples to size a budget for"));
        }
        match *self {
            PhysicalBudget::SnrDb(snr) => {
                if !snr.is_finite() {
                    return Err(Error::invalid(flag, format!("a finite number, got {snr}")));
                }
                let exponent = match norm {
                    Norm::Inf => -0.5,
                    Norm::P(p) => (1.0 / p - 0.5).min(0.0),
                };
                let factor = (d as f64).powf(exponent) * 10f64.powf(-snr / 20.0);
                Ok(Eps::PerExample(
                    x.chunks(d)
                        .map(|row| {
                            let energy: f64 = row.iter().map(|v| f64::from(*v).powi(2)).sum();
                            (energy.sqrt() * factor) as f32
                        })
                        .collect(),
                ))
            }
            PhysicalBudget::Dbfs(level) => {
                if !(level.is_finite() && level <= 0.0) {
                    return Err(Error::invalid(
                        flag,
                        format!("a level of at most 0 dBFS, got {level}"),
                    ));
                }
                let full_scale = f64::from(AudioScale::from_clip(input.clip_range()).factor());
                let peak = full_scale * 10f64.powf(level / 20.0);
                let eps = match norm {
                    Norm::Inf => peak,
                    Norm::P(2.0) => peak * (d as f64).sqrt(),
                    Norm::P(p) => {
                        return Err(Error::invalid(
                            flag,
                            format!(
                                "a level bounds an L-inf (peak) or L2 (RMS) perturbation, not L{p}"
                            ),
                        ));
                    }
                };
                Ok(Eps::Scalar(eps as f32))
            }
            PhysicalBudget::Uint8(steps) => {
                if !(steps.is_finite() && steps >= 0.0) {
                    return Err(Error::invalid(
                        flag,
                        format!("a non-negative number of 8-bit steps, got {steps}"),
                    ));
                }
                let scale = f64::from(VideoScale::from_clip(input.clip_range()).factor());
                Ok(Eps::Scalar((steps * scale / 255.0) as f32))
            }
        }
    }
}

fn modality_name(m: Modality) -> &'static str {
    match m {
        Modality::Audio => "audio",
        Modality::Video => "video",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(modality: Modality, clip: [f32; 2]) -> InputConfig {
        InputConfig {
            modality,
            shape: vec![1, 4],
            clip: Some(clip),
            sample_rate: Some(8000),
            mean: None,
            std: None,
            sampling: None,
        }
    }

    #[test]
    fn snr_gives_each_clip_its_own_eps_and_full_budget_perturbations_meet_it() {
        let audio = input(Modality::Audio, [-32768.0, 32767.0]);
        let x = [100.0f32, -100.0, 100.0, -100.0, 10.0, 0.0, 0.0, 0.0];
        let Eps::PerExample(e) = PhysicalBudget::SnrDb(20.0)
            .eps(&audio, Norm::Inf, &x, 2)
            .unwrap()
        else {
            panic!("per example")
        };
        // RMS 100 and 5, 20 dB below.
        assert!(
            (e[0] - 10.0).abs() < 1e-4 && (e[1] - 0.5).abs() < 1e-5,
            "{e:?}"
        );
        let Eps::PerExample(e) = PhysicalBudget::SnrDb(20.0)
            .eps(&audio, Norm::L2, &x, 2)
            .unwrap()
        else {
            panic!("per example")
        };
        assert!(
            (e[0] - 20.0).abs() < 1e-4 && (e[1] - 1.0).abs() < 1e-5,
            "{e:?}"
        );
        let e = PhysicalBudget::Dbfs(-20.0)
            .eps(&audio, Norm::Inf, &x, 2)
            .unwrap();
        assert_eq!(e, Eps::Scalar(3276.8));
        let unit = input(Modality::Audio, [-1.0, 1.0]);
        let e = PhysicalBudget::Dbfs(-20.0)
            .eps(&unit, Norm::L2, &x, 2)
            .unwrap();
        assert_eq!(e, Eps::Scalar(0.2));
        assert!(
            PhysicalBudget::Dbfs(3.0)
                .eps(&audio, Norm::Inf, &x, 2)
                .is_err()
        );
        assert!(
            PhysicalBudget::Dbfs(-3.0)
                .eps(&audio, Norm::L1, &x, 2)
                .is_err()
        );
        let e = PhysicalBudget::Uint8(8.0)
            .eps(&audio, Norm::Inf, &x, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--eps-uint8") && e.contains("video"), "{e}");
        let video = input(Modality::Video, [0.0, 1.0]);
        let bytes = input(Modality::Video, [0.0, 255.0]);
        let e = PhysicalBudget::Uint8(8.0)
            .eps(&video, Norm::Inf, &x, 2)
            .unwrap();
        assert_eq!(e, Eps::Scalar(8.0 / 255.0));
        let e = PhysicalBudget::Uint8(8.0)
            .eps(&bytes, Norm::Inf, &x, 2)
            .unwrap();
        assert_eq!(e, Eps::Scalar(8.0));
        assert!(
            PhysicalBudget::SnrDb(30.0)
                .eps(&video, Norm::Inf, &x, 2)
                .is_err()
        );
    }
}
