//! `auto`: an AutoAttack-style ensemble (Croce & Hein, ICML 2020), the evaluation default.
//!
//! Its components run one after the other, each only on the examples every earlier one left
//! correctly classified, and an example keeps the first adversarial example found for it: the
//! worst case per example over the components. The standard list is AutoAttack's: APGD-CE,
//! APGD-T (targeted DLR over the top classes), FAB-T (minimal-norm, targeted) and Square (scores
//! only). The last one matters beyond its own successes: a gradient-free attack that fools
//! examples the gradient attacks missed is the sign of masked gradients, and the report says so.
//!
//! Each component is a registered attack configured from a small table, and sees each example
//! with the random stream it would have in a run on the whole batch, so the ensemble fools every
//! example its components fool when run alone, whatever runs before them. Examples no component
//! fools come back unchanged (as AutoAttack returns them), so their perturbation is zero.

use super::spec::{AttackEntry, AttackSpec, RunSettings, take_norm_among};
use super::{
    Attack, AttackOutput, ComponentOutcome, Eps, Mask, Norm, check_attack_labels, progress,
    put_rows, take_rows,
};
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::model::InputConfig;
use crate::params::{Param, Params};
use burn::tensor::Tensor;
use std::sync::Arc;
use std::time::Instant;

/// `auto`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "auto",
    about: "AutoAttack-style ensemble: APGD-CE, APGD-T, FAB-T, Square, each on the examples still correct, worst case per example",
    params: &PARAMS,
    parse: |p| Ok(Box::new(AutoSpec::take(p)?)),
};

const PARAMS: [Param; 6] = [
    Param {
        key: "norm",
        default: "inf",
        about: "inf, 2 or 1, for every component",
    },
    Param {
        key: "components",
        default: "[\"apgd-ce\", \"apgd-t\", \"fab-t\", \"square\"]",
        about: "in order, from apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square",
    },
    Param {
        key: "max_iter",
        default: "100",
        about: "iterations of the APGD and FAB components",
    },
    Param {
        key: "max_queries",
        default: "5000",
        about: "score queries per example of the Square component",
    },
    Param {
        key: "target_classes",
        default: "9",
        about: "APGD-T and FAB-T: targets tried per example (the most likely other classes)",
    },
    Param {
        key: "restarts",
        default: "1",
        about: "runs of each APGD and FAB component (per target), each from a random start, the best kept",
    },
];

/// AutoAttack's standard version (for every norm: each component has an L1 version).
const STANDARD: [&str; 4] = ["apgd-ce", "apgd-t", "fab-t", "square"];

/// What the components' tables are made from.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Settings {
    norm: Norm,
    max_iter: usize,
    max_queries: usize,
    target_classes: usize,
    restarts: usize,
}

/// A component: the name users write, the registered attack behind it, its table, the classes
/// it needs, and whether it follows gradients.
struct Component {
    name: &'static str,
    attack: &'static str,
    min_classes: usize,
    gradient_free: bool,
    table: fn(&Settings) -> toml::Table,
}

fn table(pairs: &[(&str, toml::Value)]) -> toml::Table {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn norm_value(n: Norm) -> toml::Value {
    toml::Value::String(n.to_string())
}

fn int(v: usize) -> toml::Value {
    toml::Value::Integer(v.min(i64::MAX as usize) as i64)
}

fn text(v: &str) -> toml::Value {
    toml::Value::String(v.into())
}

const COMPONENTS: [Component; 6] = [
    Component {
        name: "apgd-ce",
        attack: "apgd",
        min_classes: 2,
        gradient_free: false,
        table: |s| {
            table(&[
                ("norm", norm_value(s.norm)),
                ("max_iter", int(s.max_iter)),
                ("random_init", int(s.restarts)),
                ("loss", text("ce")),
            ])
        },
    },
    Component {
        name: "apgd-dlr",
        attack: "apgd",
        min_classes: 3,
        gradient_free: false,
        table: |s| {
            table(&[
                ("norm", norm_value(s.norm)),
                ("max_iter", int(s.max_iter)),
                ("random_init", int(s.restarts)),
                ("loss", text("dlr")),
            ])
        },
    },
    Component {
        name: "apgd-t",
        attack: "apgd",
        min_classes: 4,
        gradient_free: false,
        table: |s| {
            table(&[
                ("norm", norm_value(s.norm)),
                ("max_iter", int(s.max_iter)),
                ("random_init", int(s.restarts)),
                ("loss", text("dlr")),
                ("target_classes", int(s.target_classes)),
            ])
        },
    },
    Component {
        name: "fab",
        attack: "fab",
        min_classes: 2,
        gradient_free: false,
        table: |s| {
            table(&[
                ("norm", norm_value(s.norm)),
                ("max_iter", int(s.max_iter)),
                ("n_restarts", int(s.restarts)),
            ])
        },
    },
    Component {
        name: "fab-t",
        attack: "fab",
        min_classes: 3,
        gradient_free: false,
        table: |s| {
            table(&[
                ("norm", norm_value(s.norm)),
                ("max_iter", int(s.max_iter)),
                ("n_restarts", int(s.restarts)),
                ("target_classes", int(s.target_classes)),
            ])
        },
    },
    Component {
        name: "square",
        attack: "square",
        min_classes: 2,
        gradient_free: true,
        table: |s| {
            table(&[
                ("norm", norm_value(s.norm)),
                ("max_queries", int(s.max_queries)),
            ])
        },
    },
];

/// The ensemble as a user configured it.
#[derive(Clone, Debug)]
pub struct AutoSpec {
    norm: Norm,
    components: Vec<(&'static str, Arc<dyn AttackSpec>)>,
}

fn component(name: &str) -> Option<&'static Component> {
    COMPONENTS.iter().find(|c| c.name == name)
}

impl AutoSpec {
    /// Reads the ensemble's parameters and configures each component through the registry.
    pub fn take(p: &mut Params) -> Result<Self> {
        let norm = take_norm_among(
            p,
            Norm::Inf,
            &[Norm::Inf, Norm::L2, Norm::L1],
            "the ensemble",
        )?;
        let names: Vec<String> = p
            .take("components")?
            .unwrap_or_else(|| STANDARD.iter().map(|s| s.to_string()).collect());
        let settings = Settings {
            norm,
            max_iter: p.take_or("max_iter", 100)?,
            max_queries: p.take_or("max_queries", 5000)?,
            target_classes: p.take_or("target_classes", 9)?,
            restarts: p.take_or("restarts", 1)?,
        };
        for (key, v) in [
            ("max_iter", settings.max_iter),
            ("max_queries", settings.max_queries),
            ("target_classes", settings.target_classes),
            ("restarts", settings.restarts),
        ] {
            if v == 0 {
                return Err(Error::invalid(p.display(key), "at least 1"));
            }
        }
        if names.is_empty() {
            return Err(Error::invalid(
                p.display("components"),
                "at least one component",
            ));
        }
        let mut components = Vec::with_capacity(names.len());
        for name in &names {
            let Some(c) = component(name) else {
                let known: Vec<&str> = COMPONENTS.iter().map(|c| c.name).collect();
                return Err(Error::invalid(
                    p.display("components"),
                    format!("unknown component {name:?}; expected one of {known:?}"),
                ));
            };
            if components.iter().any(|(n, _)| n == &c.name) {
                return Err(Error::invalid(
                    p.display("components"),
                    format!("{name:?} is listed twice"),
                ));
            }
            let mut params = Params::from_inline((c.table)(&settings));
            let spec = super::spec::parse(c.attack, &mut params)
                .map_err(|e| Error::invalid(p.display("components"), format!("{name}: {e}")))?;
            components.push((c.name, Arc::from(spec)));
        }
        Ok(Self { norm, components })
    }
}

impl AttackSpec for AutoSpec {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn iterative(&self) -> bool {
        true
    }

    fn check_input(&self, input: &InputConfig) -> Result<()> {
        self.components
            .iter()
            .try_for_each(|(_, s)| s.check_input(input))
    }

    fn components(&self) -> Vec<(&'static str, bool)> {
        self.components
            .iter()
            .map(|(name, _)| (*name, component(name).is_some_and(|c| c.gradient_free)))
            .collect()
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        if run.targeted {
            return Err(Error::invalid(
                "targeted",
                "the ensemble is untargeted (APGD-T and FAB-T choose their own targets)",
            ));
        }
        // Built once with the whole run, to validate each and report its parameters.
        let params = self
            .components
            .iter()
            .map(|(name, spec)| {
                let mut p = spec.build(run)?.params();
                p["component"] = serde_json::json!(name);
                Ok(p)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Auto {
            spec: self.clone(),
            run: run.clone(),
            params,
        }))
    }
}

/// The ensemble for one run.
pub struct Auto {
    spec: AutoSpec,
    run: RunSettings,
    params: Vec<serde_json::Value>,
}

impl Attack for Auto {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "norm": self.spec.norm.to_string(),
            "eps": self.run.eps,
            "seed": self.run.seed,
            "batch_size": self.run.batch_size,
            "components": self.params,
        })
    }

    fn targeted(&self) -> bool {
        false
    }

    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
    ) -> Result<AttackOutput> {
        let [n, d] = x.dims();
        let k = classifier.num_classes();
        let bs = self.run.batch_size;
        check_attack_labels(classifier, labels, n, false)?;
        let eps = self.run.eps.per_example(n, "eps")?;
        let clean = classifier.predict_labels(x, bs)?;
        let labels = labels.map_or_else(|| clean.clone(), <[usize]>::to_vec);
        let streams: Vec<u64> = match &self.run.streams {
            Some(s) if s.len() == n => s.clone(),
            Some(s) => {
                return Err(Error::invalid(
                    "streams",
                    format!("{} random streams given for {n} examples", s.len()),
                ));
            }
            None => (0..n as u64).collect(),
        };
        // Examples the model gets wrong when clean need no attack.
        let mut robust: Vec<bool> = (0..n).map(|i| clean[i] == labels[i]).collect();
        let mut adversarial = x.clone();
        let mut success_iteration = vec![None; n];
        let mut components = Vec::with_capacity(self.spec.components.len());
        for (name, spec) in &self.spec.components {
            let c = component(name).expect("parsed from the table");
            let rows: Vec<usize> = (0..n).filter(|&i| robust[i]).collect();
            let mut outcome = ComponentOutcome {
                name: name.to_string(),
                gradient_free: c.gradient_free,
                attacked: rows.len(),
                fooled: Vec::new(),
                skipped: None,
                seconds: 0.0,
            };
            if k < c.min_classes {
                outcome.attacked = 0;
                outcome.skipped = Some(format!(
                    "needs at least {} classes; the model has {k}",
                    c.min_classes
                ));
            }
            if outcome.skipped.is_some() || rows.is_empty() {
                components.push(outcome);
                continue;
            }
            let started = Instant::now();
            let run = RunSettings {
                eps: match &self.run.eps {
                    Eps::Scalar(e) => Eps::Scalar(*e),
                    Eps::PerExample(_) => Eps::PerExample(rows.iter().map(|&i| eps[i]).collect()),
                },
                targeted: false,
                seed: self.run.seed,
                batch_size: bs,
                streams: Some(rows.iter().map(|&i| streams[i]).collect()),
            };
            let attack = spec.build(&run)?;
            let xs = take_rows(x, &rows);
            let ys: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
            let ms = mask.map(|m| m.select(n, d, &rows)).transpose()?;
            let out = progress::with_progress(
                |_, _| {},
                || attack.generate(classifier, &xs, Some(&ys), ms.as_ref()),
            )?;
            let predicted = classifier.predict_labels(&out.adversarial, bs)?;
            let fooled: Vec<usize> = (0..rows.len()).filter(|&j| predicted[j] != ys[j]).collect();
            if !fooled.is_empty() {
                let global: Vec<usize> = fooled.iter().map(|&j| rows[j]).collect();
                adversarial = put_rows(adversarial, &global, take_rows(&out.adversarial, &fooled));
                for (&j, &i) in fooled.iter().zip(&global) {
                    robust[i] = false;
                    success_iteration[i] = out.success_iteration.get(j).copied().flatten();
                }
                outcome.fooled = global;
            }
            outcome.seconds = started.elapsed().as_secs_f64();
            components.push(outcome);
            progress::report(robust.iter().filter(|r| !**r).count(), n);
        }
        progress::report(n, n);
        Ok(AttackOutput {
            adversarial,
            success_iteration,
            eps,
            components,
        })
    }
}

/// The warning an ensemble's outcome calls for: a gradient-free component fooled examples that
/// every gradient component before it missed.
pub fn masking_warning(components: &[ComponentOutcome]) -> Option<String> {
    let mut gradient_ran = false;
    for c in components {
        if !c.gradient_free {
            gradient_ran |= c.attacked > 0;
        } else if gradient_ran && !c.fooled.is_empty() {
            return Some(format!(
                "{} (gradient-free) fooled {} example(s) that the gradient attacks before it \
                 missed: the model's gradients may be masked or obfuscated (a defence without a \
                 useful backward pass, saturated scores); the gradient attacks' numbers alone \
                 overstate robustness, quote the ensemble's",
                c.name,
                c.fooled.len()
            ));
        }
    }
    None
}
