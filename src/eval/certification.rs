//! `[[certify]]`: randomised-smoothing certificates in an evaluation, the one number in a report
//! that no stronger attack can lower. Each table certifies every example once (one record per
//! example, resumable and shardable like any other configuration); the summary turns the records
//! into the certified accuracy against radius ([`crate::certify::curve`]).
//!
//! The certificates are for the smoothed bare model: the defences of the scenario are not in
//! front of it (smoothing is its own defence, and a certificate for a pipeline with an MP3 round
//! trip inside would be a certificate for that pipeline only).

use super::records::{Kind, Record, RecordedCertificate};
use crate::certify::curve::{CurvePoint, DEFAULT_RADII_IN_SIGMA, certified_accuracy};
use crate::certify::{Certificate, SmoothingConfig, certify};
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A `[[certify]]` table as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifyTable {
    /// Name in reports (default `smoothing-SIGMA`).
    pub label: Option<String>,
    /// Noise std in input units.
    pub sigma: f32,
    #[serde(default = "default_n0")]
    pub n0: usize,
    #[serde(default = "default_n")]
    pub n: usize,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Noisy copies per forward pass.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Radii of the curve, in input units (default: 0 to 3 sigma).
    pub radii: Option<Vec<f64>>,
}

fn default_n0() -> usize {
    100
}
fn default_n() -> usize {
    10_000
}
fn default_alpha() -> f64 {
    0.001
}
fn default_batch() -> usize {
    100
}

/// A checked `[[certify]]` table.
#[derive(Clone, Debug)]
pub struct ScenarioCertify {
    pub label: String,
    /// Its seed is the scenario's, mixed with the table's position.
    pub config: SmoothingConfig,
    pub radii: Vec<f64>,
}

impl ScenarioCertify {
    /// Checks `table`, the `index`-th of a scenario seeded `seed`.
    pub fn parse(table: CertifyTable, index: usize, seed: u64) -> Result<Self> {
        let config = SmoothingConfig {
            sigma: table.sigma,
            n0: table.n0,
            n: table.n,
            alpha: table.alpha,
            batch_size: table.batch_size,
            seed: crate::seed::mix(seed, &[3, index as u64]),
        };
        config.validate()?;
        let label = table
            .label
            .unwrap_or_else(|| format!("smoothing-{}", table.sigma));
        if label.is_empty() || label.contains('|') {
            return Err(Error::invalid(
                "label",
                format!("{label:?}: a non-empty name without '|'"),
            ));
        }
        let radii = match table.radii {
            Some(r) => r,
            None => DEFAULT_RADII_IN_SIGMA
                .iter()
                .map(|k| k * f64::from(table.sigma))
                .collect(),
        };
        if radii.is_empty() || radii.iter().any(|r| !(r.is_finite() && *r >= 0.0)) {
            return Err(Error::invalid(
                "radii",
                "a non-empty list of finite radii >= 0 in input units",
            ));
        }
        Ok(Self {
            label,
            config,
            radii,
        })
    }

    /// The configuration key of its records.
    pub fn key(&self) -> String {
        format!("certify|{}", self.label)
    }
}

/// The record of certifying one example (`index` in the evaluation order, file `id`, true class
/// `label`, input `x` in input space) on the bare model `bare` under `spec`.
pub fn certify_example(
    spec: &ScenarioCertify,
    bare: &dyn Classifier,
    (index, id, label): (usize, &str, usize),
    x: &[f32],
) -> Result<Record> {
    let started = Instant::now();
    let cert = certify(bare, x, index as u64, &spec.config)?;
    Ok(Record {
        example: index,
        id: id.to_string(),
        label,
        config: spec.key(),
        kind: Kind::Certify,
        attack: None,
        eps: None,
        defence: None,
        adaptive: false,
        prediction: cert.selected,
        correct: cert.prediction == Some(label),
        linf: None,
        l2: None,
        snr_db: None,
        psnr_db: None,
        perturbed_frames: None,
        forwards: Some((spec.config.n0 + spec.config.n) as f64),
        gradients: None,
        fooled_by: None,
        fit_fooling_rate: None,
        pesq: None,
        stoi: None,
        seg_snr_db: None,
        masked_energy: None,
        ssim: None,
        flicker: None,
        certificate: Some(recorded(&cert)),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a record keeps of a certificate.
fn recorded(c: &Certificate) -> RecordedCertificate {
    RecordedCertificate {
        abstained: c.prediction.is_none(),
        count: c.count,
        p_lower: c.p_lower,
        radius: c.radius,
        radius_db: c.radius_db,
    }
}

/// One `[[certify]]` table's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertifiedRow {
    pub label: String,
    pub sigma: f32,
    pub n0: usize,
    pub n: usize,
    pub alpha: f64,
    pub examples: usize,
    /// Accuracy of the smoothed classifier (abstentions count as errors).
    pub accuracy: f64,
    pub abstained: usize,
    /// Median certified radius of the correct predictions relative to their signal, in dB.
    pub median_radius_db: Option<f64>,
    pub curve: Vec<CurvePoint>,
    pub seconds_per_example: f64,
}

/// The row of `spec` from its records (any order, any shards).
pub fn summarize(spec: &ScenarioCertify, records: &[&Record]) -> CertifiedRow {
    let certificates: Vec<Certificate> = records
        .iter()
        .filter_map(|r| {
            let c = r.certificate.as_ref()?;
            Some(Certificate {
                prediction: (!c.abstained).then_some(r.prediction),
                selected: r.prediction,
                count: c.count,
                n: spec.config.n,
                p_lower: c.p_lower,
                radius: c.radius,
                radius_db: c.radius_db,
                counts: Vec::new(),
            })
        })
        .collect();
    let labels: Vec<usize> = records.iter().map(|r| r.label).collect();
    let n = records.len().max(1) as f64;
    let mut db: Vec<f64> = records
        .iter()
        .filter(|r| r.correct)
        .filter_map(|r| r.certificate.as_ref()?.radius_db)
        .collect();
    db.sort_by(f64::total_cmp);
    CertifiedRow {
        label: spec.label.clone(),
        sigma: spec.config.sigma,
        n0: spec.config.n0,
        n: spec.config.n,
        alpha: spec.config.alpha,
        examples: records.len(),
        accuracy: records.iter().filter(|r| r.correct).count() as f64 / n,
        abstained: certificates
            .iter()
            .filter(|c| c.prediction.is_none())
            .count(),
        median_radius_db: (!db.is_empty()).then(|| db[db.len() / 2]),
        curve: certified_accuracy(&certificates, &labels, &spec.radii),
        seconds_per_example: records.iter().map(|r| r.seconds).sum::<f64>() / n,
    }
}
