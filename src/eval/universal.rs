//! Universal perturbations of a scenario fitted on the train part (`fit = "train"`).
//!
//! For each budget of such an attack, one perturbation `v` is fitted on the train examples (the
//! first `fit_limit` of the train part in the seeded order) against the bare model, and one per
//! adaptive defence through that defence (BPDA, with its EOT draws). The fit's random streams come
//! from `mix(seed, [3, attack, eps, defence])`: it depends on neither the test chunking nor the
//! shard nor an interruption. Each fit is kept in the output folder
//! (`universal/<label>-<eps>[-<defence>].npy`, one example's shape, with a `.json` beside it holding
//! the fit's fooling rate on the train examples), written atomically; a resumed run reads it back
//! (after checking that it is this scenario's fit) instead of fitting again.

use super::dataset::Example;
use super::run::Models;
use super::scenario::Scenario;
use crate::array::Array;
use crate::attack::Eps;
use crate::attack::spec::RunSettings;
use crate::attack::universal::{self, UniversalSpec};
use crate::classifier::{Classifier, Eot};
use crate::error::{Error, Result};
use crate::seed::mix;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder of the fits under an output folder.
pub const DIR: &str = "universal";

/// A fit as kept beside its perturbation (`universal/<name>.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitInfo {
    /// The attack's label, budget and the defence it was fitted through (adaptive; `None`: bare).
    pub attack: String,
    pub eps: f32,
    pub defence: Option<String>,
    /// The scenario's seed and the train examples fitted on.
    pub seed: u64,
    pub examples: usize,
    /// Features of `v`.
    pub features: usize,
    /// Fraction of the train examples `x + v` fools (see [`universal::Fit`]).
    pub fooling_rate: f64,
    pub passes: usize,
    pub converged: bool,
}

/// A fitted perturbation.
#[derive(Clone, Debug)]
pub struct Fitted {
    pub v: Vec<f32>,
    pub info: FitInfo,
}

/// The train examples loaded (as many as the largest fit uses).
struct TrainSet {
    x: Tensor<2>,
    labels: Vec<usize>,
}

/// The fits of a run, made (or read back) when first needed.
pub struct Fits<'a> {
    scenario: &'a Scenario,
    models: &'a Models,
    /// The train part in the seeded order (empty when no attack fits on it).
    train: Vec<Example>,
    loaded: Option<TrainSet>,
    out: PathBuf,
    device: Device,
    done: HashMap<(usize, usize, Option<usize>), Arc<Fitted>>,
}

/// `label` as a file name: anything but letters, digits, `.`, `-` and `_` becomes `_`.
fn file_part(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `universal/<label>-<eps>[-<defence>]` (without extension), relative to the output folder.
pub fn stem(label: &str, eps: f32, defence: Option<&str>) -> String {
    let mut s = format!("{DIR}/{}-{eps}", file_part(label));
    if let Some(d) = defence {
        s.push('-');
        s.push_str(&file_part(d));
    }
    s
}

impl<'a> Fits<'a> {
    /// The fits of `scenario`, fitted on `train` (the train part in the seeded order), kept under
    /// `out`.
    pub fn new(
        scenario: &'a Scenario,
        models: &'a Models,
        train: Vec<Example>,
        out: &Path,
        device: &Device,
    ) -> Self {
        Self {
            scenario,
            models,
            train,
            loaded: None,
            out: out.to_path_buf(),
            device: device.clone(),
            done: HashMap::new(),
        }
    }

    /// Loads the train examples the fits use (the largest `fit_limit`, or all).
    fn train_set(&mut self) -> Result<&TrainSet> {
        if self.loaded.is_none() {
            let mut n = 0;
            for a in self.scenario.attacks.iter().filter(|a| a.fits_on_train()) {
                n = n.max(a.fit_limit().unwrap_or(usize::MAX).min(self.train.len()));
            }
            let chunk = super::run::load_chunk(0, &self.train[..n], self.models, &self.device)?;
            self.loaded = Some(TrainSet {
                x: chunk.x,
                labels: chunk.labels,
            });
        }
        Ok(self.loaded.as_ref().expect("loaded"))
    }

    /// The perturbation of attack `a` at its budget `e`, fitted against the bare model (`d`:
    /// `None`) or through defence `d` (adaptive): read back from the output folder when an earlier
    /// (interrupted) run of this scenario fitted it, else fitted now and kept there.
    pub fn get(&mut self, a: usize, e: usize, d: Option<usize>) -> Result<Arc<Fitted>> {
        if let Some(f) = self.done.get(&(a, e, d)) {
            return Ok(f.clone());
        }
        let scenario = self.scenario;
        let spec = &scenario.attacks[a];
        let eps = spec.eps[e];
        let defence = d.map(|i| scenario.defences[i].label().to_string());
        let n = spec.fit_limit().unwrap_or(usize::MAX).min(self.train.len());
        let features = self.models.bare.features();
        let name = stem(spec.label(), eps, defence.as_deref());
        let (npy, json) = (
            self.out.join(format!("{name}.npy")),
            self.out.join(format!("{name}.json")),
        );
        let expected = |info: &FitInfo| {
            (
                &info.attack,
                info.eps.to_bits(),
                &info.defence,
                info.seed,
                info.examples,
                info.features,
            ) == (
                &spec.label,
                eps.to_bits(),
                &defence,
                scenario.seed,
                n,
                features,
            )
        };
        let fitted = if json.is_file() {
            // Kept by an earlier run in this folder: it is this scenario's fit, or the folder was
            // tampered with and its records cannot be trusted either.
            let text = std::fs::read_to_string(&json).map_err(|e| Error::io(&json, e))?;
            let info: FitInfo =
                serde_json::from_str(&text).map_err(|e| Error::decode(&json, e.to_string()))?;
            let v = crate::media::npy::read_npy(&npy)?.data;
            if !expected(&info) || v.len() != features {
                return Err(Error::decode(
                    &json,
                    format!(
                        "is not the fit of {} at eps {eps} on {n} train examples of this \
                         scenario (seed {}); this folder's results were made with another \
                         perturbation: start a new run in another folder",
                        spec.label, scenario.seed
                    ),
                ));
            }
            Fitted { v, info }
        } else {
            let fitted = self.fit(a, e, d, n)?;
            let info = FitInfo {
                attack: spec.label.clone(),
                eps,
                defence,
                seed: scenario.seed,
                examples: n,
                features,
                fooling_rate: fitted.fooling_rate,
                passes: fitted.passes,
                converged: fitted.converged,
            };
            let dir = self.out.join(DIR);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let shape = self.models.bare.input_shape().to_vec();
            let array = Array::new(shape, fitted.perturbation.clone())?;
            crate::fs::write_atomic_with(&npy, |tmp| crate::media::npy::write_npy(tmp, &array))?;
            // The JSON last: its presence says the pair is complete.
            let text = serde_json::to_string_pretty(&info).expect("plain data");
            crate::fs::write_atomic(&json, text.as_bytes())?;
            Fitted {
                v: fitted.perturbation,
                info,
            }
        };
        let fitted = Arc::new(fitted);
        self.done.insert((a, e, d), fitted.clone());
        Ok(fitted)
    }

    /// Fits the perturbation of attack `a` at budget `e` (through defence `d`) on the first `n`
    /// train examples.
    fn fit(&mut self, a: usize, e: usize, d: Option<usize>, n: usize) -> Result<universal::Fit> {
        let scenario = self.scenario;
        let spec = &scenario.attacks[a];
        let universal_spec: &UniversalSpec = spec
            .universal
            .as_ref()
            .ok_or_else(|| Error::invalid("fit", "applies to the universal attack only"))?;
        let seed = mix(
            scenario.seed,
            &[3, a as u64, e as u64, d.map_or(0, |i| i as u64 + 1)],
        );
        let attack = universal_spec.build_universal(&RunSettings {
            eps: Eps::Scalar(spec.eps[e]),
            targeted: false,
            seed,
            batch_size: scenario.batch_size(),
            streams: None,
        })?;
        let models = self.models;
        let eot = d.map_or(1, |i| models.eot[i]);
        let train = self.train_set()?;
        let x = train.x.clone().narrow(0, 0, n);
        let labels = &train.labels[..n];
        let classifier = models.classifier(d);
        let wrapped;
        let classifier: &dyn Classifier = if eot > 1 {
            wrapped = Eot::new(classifier, eot)?;
            &wrapped
        } else {
            classifier
        };
        attack.fit(classifier, &x, labels, None)
    }
}

impl super::run::TrainFits for Fits<'_> {
    fn perturbation(&mut self, a: usize, e: usize, d: Option<usize>) -> Result<(Vec<f32>, f64)> {
        let fitted = self.get(a, e, d)?;
        Ok((fitted.v.clone(), fitted.info.fooling_rate))
    }
}

/// `v` on every row of `x` (no mask), clipped to the model's range.
pub fn apply(classifier: &dyn Classifier, x: &Tensor<2>, v: &[f32]) -> Result<Tensor<2>> {
    universal::apply(classifier, x, v, None)
}
