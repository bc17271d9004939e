//! Certified accuracy against radius: the fraction of examples the smoothed classifier gets right
//! *and* certifies at least that far. It is what Cohen et al. plot, and a lower bound (at the
//! certificates' confidence) on the accuracy of the smoothed classifier under every L2 attack of
//! that size, with no attack run.

use super::Certificate;
use serde::{Deserialize, Serialize};

/// Certified accuracy at one radius.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// L2 radius in input units.
    pub radius: f64,
    /// Examples predicted correctly with a certified radius of at least `radius`.
    pub certified: usize,
    pub examples: usize,
    pub accuracy: f64,
}

/// The radii Cohen et al.'s curves span, as multiples of sigma: past about 3σ a certificate needs
/// more than 10,000 samples (at n = 10⁴ and alpha = 10⁻³ the largest possible radius is 3.2σ).
pub const DEFAULT_RADII_IN_SIGMA: [f64; 10] = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0];

/// Certified accuracy at each of `radii` for `certificates` against their true `labels`.
pub fn certified_accuracy(
    certificates: &[Certificate],
    labels: &[usize],
    radii: &[f64],
) -> Vec<CurvePoint> {
    let examples = certificates.len().min(labels.len());
    radii
        .iter()
        .map(|&radius| {
            let certified = certificates
                .iter()
                .zip(labels)
                .filter(|(c, label)| {
                    c.prediction == Some(**label) && c.radius.is_some_and(|r| r >= radius)
                })
                .count();
            CurvePoint {
                radius,
                certified,
                examples,
                accuracy: if examples == 0 {
                    0.0
                } else {
                    certified as f64 / examples as f64
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(prediction: Option<usize>, radius: Option<f64>) -> Certificate {
        Certificate {
            prediction,
            selected: prediction.unwrap_or(0),
            count: 0,
            n: 1,
            p_lower: 0.0,
            radius,
            radius_db: None,
            counts: vec![],
        }
    }

    #[test]
    fn counts_only_correct_certified_predictions_at_or_beyond_each_radius() {
        let certs = [
            cert(Some(1), Some(2.0)), // right, radius 2
            cert(Some(0), Some(5.0)), // wrong class, however far certified
            cert(None, None),         // abstains
            cert(Some(3), Some(0.5)), // right, radius 0.5
        ];
        let labels = [1, 1, 2, 3];
        let curve = certified_accuracy(&certs, &labels, &[0.0, 0.5, 1.0, 2.0, 2.5]);
        let got: Vec<usize> = curve.iter().map(|p| p.certified).collect();
        assert_eq!(got, vec![2, 2, 1, 1, 0]);
        assert_eq!(curve[0].accuracy, 0.5);
        assert!(curve.iter().all(|p| p.examples == 4));
    }
}
