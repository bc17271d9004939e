//! From per-example records to the numbers a robustness claim rests on, and the sanity checks of
//! Carlini et al., "On Evaluating Adversarial Robustness" (2019), that say when not to trust them.

use super::certification::CertifiedRow;
use super::configs::{clean_key, configs, noise_key};
use super::records::{Kind, Record};
use super::scenario::Scenario;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The summary of a run (or of merged shards: the same records give the same summary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub model: String,
    /// `audio` or `video`.
    pub modality: String,
    /// Examples with results.
    pub examples: usize,
    /// Accuracy of the bare model on clean inputs.
    pub clean_accuracy: f64,
    /// Accuracy on clean inputs behind each defence, in scenario order.
    pub defended_clean_accuracy: Vec<DefenceAccuracy>,
    /// One row per attack, eps, defence and mode.
    pub rows: Vec<Row>,
    /// Randomised smoothing: one row per `[[certify]]` table, with its certified-accuracy curve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certified: Vec<CertifiedRow>,
    pub checks: Vec<Check>,
    /// What a reader must know before quoting a number.
    pub warnings: Vec<String>,
    pub timing: Timing,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenceAccuracy {
    pub defence: String,
    pub accuracy: f64,
}

/// How a defended row was attacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No defence: the attack on the bare model.
    Direct,
    /// Adversarial examples made for the bare model, then defended (what ART's notebook shows).
    Transfer,
    /// The attack run through the defence with identity gradients (BPDA).
    Adaptive,
}

impl Mode {
    /// Its name, as in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Transfer => "transfer",
            Mode::Adaptive => "adaptive",
        }
    }
}

/// Accuracy under one attack at one budget, behind one defence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub attack: String,
    pub eps: f32,
    /// `none` or the defence's name.
    pub defence: String,
    pub mode: Mode,
    pub examples: usize,
    /// Fraction still classified correctly.
    pub accuracy: f64,
    /// Among examples the (defended) model got right when clean, the fraction it now gets wrong.
    pub success_rate: f64,
    /// Accuracy under random noise of the same norm and budget (`null` without the noise check).
    pub noise_accuracy: Option<f64>,
    pub linf_mean: f64,
    pub linf_max: f64,
    pub l2_mean: f64,
    pub snr_db_mean: Option<f64>,
    pub psnr_db_mean: Option<f64>,
    pub perturbed_frames_mean: Option<f64>,
    /// Means of the records' perceptual measures (absent where no record has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pesq_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stoi_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seg_snr_db_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_energy_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssim_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flicker_mean: Option<f64>,
    /// Compute per example for this row (the attack, or the defended prediction for transfer rows).
    pub seconds_per_example: f64,
    /// The attack's queries per example: model outputs and input gradients it asked for (`null`
    /// for transfer rows, which reuse the direct attack's examples).
    #[serde(default)]
    pub forwards_per_example: Option<f64>,
    #[serde(default)]
    pub gradients_per_example: Option<f64>,
    /// Ensembles: each component in the order they ran, with the accuracy left after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentRow>,
    /// A universal perturbation fitted on the train part: its fooling rate there (the rate the
    /// fit reached on the examples it was fitted on, against the bare model for direct and
    /// transfer rows, through the defence for adaptive ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_fooling_rate: Option<f64>,
}

/// One component of an ensemble's row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentRow {
    pub name: String,
    /// Scores only: its successes where the gradient components failed signal masking.
    pub gradient_free: bool,
    /// Examples whose adversarial example it found (first).
    pub fooled: usize,
    /// Fraction still classified correctly after it and every component before it (AutoAttack's
    /// running robust accuracy; the last one's is the row's accuracy).
    pub accuracy: f64,
}

/// The running accuracy of an ensemble's `components` over a row's records: an example counts
/// as correct after component j when it is correct at the end or a later component fooled it.
fn component_rows(components: &[(&'static str, bool)], list: &[&Record]) -> Vec<ComponentRow> {
    let position = |name: &str| components.iter().position(|(c, _)| *c == name);
    components
        .iter()
        .enumerate()
        .map(|(j, &(name, gradient_free))| {
            let standing = |r: &&Record| {
                r.correct
                    || r.fooled_by
                        .as_deref()
                        .and_then(position)
                        .is_some_and(|p| p > j)
            };
            ComponentRow {
                name: name.to_string(),
                gradient_free,
                fooled: list
                    .iter()
                    .filter(|r| r.fooled_by.as_deref() == Some(name))
                    .count(),
                accuracy: list.iter().filter(|r| standing(r)).count() as f64
                    / list.len().max(1) as f64,
            }
        })
        .collect()
}

/// One sanity check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Compute measured in the records (attacks, defences, predictions), summed.
    pub compute_seconds: f64,
    /// Per example.
    pub seconds_per_example: f64,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn accuracy(records: &[&Record]) -> f64 {
    mean(records.iter().map(|r| f64::from(u8::from(r.correct)))).unwrap_or(0.0)
}

/// Summarises `records` of `scenario` (any order, from any number of shards).
pub fn summarize(scenario: &Scenario, model: &str, modality: &str, records: &[Record]) -> Summary {
    let mut by_config: HashMap<&str, Vec<&Record>> = HashMap::new();
    for r in records {
        by_config.entry(&r.config).or_default().push(r);
    }
    for list in by_config.values_mut() {
        list.sort_by_key(|r| r.example);
    }
    let empty = Vec::new();
    let get = |key: &str| by_config.get(key).unwrap_or(&empty);
    let mut examples: Vec<usize> = records.iter().map(|r| r.example).collect();
    examples.sort_unstable();
    examples.dedup();

    let defended_clean_accuracy = scenario
        .defences
        .iter()
        .map(|d| {
            let name = d.label().to_string();
            DefenceAccuracy {
                accuracy: accuracy(get(&clean_key(Some(&name)))),
                defence: name,
            }
        })
        .collect();
    let mut rows = Vec::new();
    for c in configs(scenario).iter().filter(|c| c.kind == Kind::Attack) {
        let list = get(&c.key);
        if list.is_empty() {
            continue;
        }
        let first = list[0];
        let defence = first.defence.clone();
        let clean_right: HashMap<usize, bool> = get(&clean_key(defence.as_deref()))
            .iter()
            .map(|r| (r.example, r.correct))
            .collect();
        let eligible: Vec<&&Record> = list
            .iter()
            .filter(|r| clean_right.get(&r.example).copied().unwrap_or(false))
            .collect();
        let success_rate =
            mean(eligible.iter().map(|r| f64::from(u8::from(!r.correct)))).unwrap_or(0.0);
        let noise = get(&noise_key(
            first.attack.as_deref().unwrap_or(""),
            first.eps.unwrap_or(0.0),
            defence.as_deref(),
        ));
        let values = |f: fn(&Record) -> Option<f64>| mean(list.iter().filter_map(|r| f(r)));
        rows.push(Row {
            attack: first.attack.clone().unwrap_or_default(),
            eps: first.eps.unwrap_or(0.0),
            defence: defence.clone().unwrap_or_else(|| "none".into()),
            mode: match (defence.is_some(), c.adaptive) {
                (false, _) => Mode::Direct,
                (true, false) => Mode::Transfer,
                (true, true) => Mode::Adaptive,
            },
            examples: list.len(),
            accuracy: accuracy(list),
            success_rate,
            noise_accuracy: (!noise.is_empty()).then(|| accuracy(noise)),
            linf_mean: values(|r| r.linf.map(f64::from)).unwrap_or(0.0),
            linf_max: list
                .iter()
                .filter_map(|r| r.linf)
                .fold(0.0f64, |m, v| m.max(f64::from(v))),
            l2_mean: values(|r| r.l2.map(f64::from)).unwrap_or(0.0),
            snr_db_mean: values(|r| r.snr_db.map(f64::from)),
            psnr_db_mean: values(|r| r.psnr_db.map(f64::from)),
            perturbed_frames_mean: values(|r| r.perturbed_frames.map(|f| f as f64)),
            pesq_mean: values(|r| r.pesq.map(f64::from)),
            stoi_mean: values(|r| r.stoi.map(f64::from)),
            seg_snr_db_mean: values(|r| r.seg_snr_db.map(f64::from)),
            masked_energy_mean: values(|r| r.masked_energy.map(f64::from)),
            ssim_mean: values(|r| r.ssim.map(f64::from)),
            flicker_mean: values(|r| r.flicker.map(f64::from)),
            seconds_per_example: values(|r| Some(r.seconds)).unwrap_or(0.0),
            forwards_per_example: values(|r| r.forwards),
            gradients_per_example: values(|r| r.gradients),
            // Transfer rows carry the bare model's examples: their components say nothing here.
            components: match (c.attack, defence.is_some() && !c.adaptive) {
                (Some(a), false) => component_rows(&scenario.attacks[a].spec.components(), list),
                _ => Vec::new(),
            },
            fit_fooling_rate: first.fit_fooling_rate,
        });
    }
    let certified = scenario
        .certifications
        .iter()
        .filter(|c| !get(&c.key()).is_empty())
        .map(|c| super::certification::summarize(c, get(&c.key())))
        .collect();
    let clean_accuracy = accuracy(get(&clean_key(None)));
    let (checks, warnings) = sanity_checks(scenario, clean_accuracy, &rows);
    let compute_seconds: f64 = records.iter().map(|r| r.seconds).sum();
    Summary {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        model: model.to_string(),
        modality: modality.to_string(),
        examples: examples.len(),
        clean_accuracy,
        defended_clean_accuracy,
        rows,
        certified,
        checks,
        warnings,
        timing: Timing {
            compute_seconds,
            seconds_per_example: compute_seconds / examples.len().max(1) as f64,
        },
    }
}

/// Random noise that keeps less than this fraction of the clean accuracy "breaks the model": at
/// such a budget no attack can show that it beats noise.
const NOISE_BREAKS: f64 = 0.5;

/// The checks, and a warning for each one that fails.
fn sanity_checks(scenario: &Scenario, clean: f64, rows: &[Row]) -> (Vec<Check>, Vec<String>) {
    let mut checks = Vec::new();
    let mut warn = Vec::new();
    let threshold = scenario.checks.large_eps_success;
    let direct = |attack: &str| -> Vec<&Row> {
        rows.iter()
            .filter(|r| r.mode == Mode::Direct && r.attack == attack)
            .collect()
    };
    let one_example = |r: &Row| 1.0 / r.examples.max(1) as f64;
    for spec in &scenario.attacks {
        let label = spec.label();
        let own = direct(label);
        // 1. A large enough budget must break (almost) everything.
        if let Some(top) = own.iter().max_by(|a, b| a.eps.total_cmp(&b.eps)) {
            let passed = top.success_rate >= threshold;
            let detail = format!(
                "{label} at its largest eps {}: success {:.1}% (expected >= {:.0}%)",
                top.eps,
                100.0 * top.success_rate,
                100.0 * threshold
            );
            if !passed {
                warn.push(format!(
                    "{detail}: the attack may be too weak (more iterations, a larger eps, random \
                     restarts) and its accuracies overestimate robustness"
                ));
            }
            checks.push(Check {
                name: "large-eps-success".into(),
                passed,
                detail,
            });
        }
        // 2. An attack must beat random noise of its own norm and budget, at a budget where noise
        //    alone leaves the model working: where noise breaks it, a tie says nothing.
        for r in &own {
            if let Some(noise) = r.noise_accuracy {
                let noise_breaks = noise < NOISE_BREAKS * clean;
                let passed = r.accuracy <= noise + 1e-9 && !noise_breaks;
                let detail = format!(
                    "{label} at eps {}: accuracy {:.1}% under attack, {:.1}% under random noise",
                    r.eps,
                    100.0 * r.accuracy,
                    100.0 * noise
                );
                if noise_breaks {
                    warn.push(format!(
                        "{detail}: random noise alone breaks the model at this budget (below \
                         {:.0}% of the clean {:.1}%), so the attack is not measured; use a \
                         smaller eps",
                        100.0 * NOISE_BREAKS,
                        100.0 * clean
                    ));
                } else if !passed {
                    warn.push(format!(
                        "{detail}: the attack does worse than noise; its gradients are likely \
                         wrong or masked"
                    ));
                }
                checks.push(Check {
                    name: "beats-random-noise".into(),
                    passed,
                    detail,
                });
            }
            // 3. An attack that changed nothing is not an evaluation.
            if r.linf_max == 0.0 || (r.eps > 0.0 && r.success_rate == 0.0 && r.accuracy >= clean) {
                let detail = format!(
                    "{label} at eps {} left accuracy at the clean {:.1}% (largest change {})",
                    r.eps,
                    100.0 * clean,
                    r.linf_max
                );
                warn.push(format!(
                    "{detail}: the attack changed nothing; check eps against the input units"
                ));
                checks.push(Check {
                    name: "attack-changed-something".into(),
                    passed: false,
                    detail,
                });
            }
        }
    }
    // 4. Iterative attacks must do at least as well as one-step ones at the same norm and eps.
    // A universal perturbation (one for every example) is not expected to match a per-example one.
    for it in scenario
        .attacks
        .iter()
        .filter(|a| a.iterative() && a.fit.is_none())
    {
        for one in scenario.attacks.iter().filter(|a| !a.iterative()) {
            if it.norm() != one.norm() {
                continue;
            }
            for r in direct(it.label()) {
                let Some(o) = direct(one.label()).into_iter().find(|o| o.eps == r.eps) else {
                    continue;
                };
                let passed = r.accuracy <= o.accuracy + one_example(r) + 1e-9;
                let detail = format!(
                    "eps {}: {} accuracy {:.1}%, {} {:.1}%",
                    r.eps,
                    it.label(),
                    100.0 * r.accuracy,
                    one.label(),
                    100.0 * o.accuracy
                );
                if !passed {
                    warn.push(format!(
                        "{detail}: the iterative attack is weaker than the one-step one; it is \
                         probably misconfigured (step size, iterations)"
                    ));
                }
                checks.push(Check {
                    name: "iterative-beats-one-step".into(),
                    passed,
                    detail,
                });
            }
        }
    }
    // 5. A defence is judged by the adaptive attack; a gap to the transfer attack is masking.
    for entry in &scenario.defences {
        let name = entry.label();
        let of = |mode: Mode| -> Vec<&Row> {
            rows.iter()
                .filter(|r| r.defence == name && r.mode == mode)
                .collect()
        };
        if !entry.adaptive {
            let detail = format!(
                "{name} was not attacked adaptively: its accuracies under attack are upper bounds"
            );
            warn.push(detail.clone());
            checks.push(Check {
                name: "adaptive-attack".into(),
                passed: false,
                detail,
            });
            continue;
        }
        // A randomised defence moves under a single-draw gradient: only EOT attacks it.
        if entry.chain.randomised() {
            let passed = entry.eot > 1;
            let detail = format!(
                "{name} is randomised; its adaptive attack averaged each gradient over {} draw{}",
                entry.eot,
                if entry.eot == 1 { "" } else { "s" }
            );
            if !passed {
                warn.push(format!(
                    "{detail}: without expectation over transformation its adaptive accuracies are \
                     upper bounds; set eot = 16 (or more) in its [[defence]] table"
                ));
            }
            checks.push(Check {
                name: "eot-on-randomised-defence".into(),
                passed,
                detail,
            });
        }
        for t in of(Mode::Transfer) {
            let Some(a) = of(Mode::Adaptive)
                .into_iter()
                .find(|a| a.attack == t.attack && a.eps == t.eps)
            else {
                continue;
            };
            let gap = t.accuracy - a.accuracy;
            let passed = gap < 0.2;
            let eot = if entry.eot > 1 {
                format!(" (EOT over {} draws)", entry.eot)
            } else {
                String::new()
            };
            let detail = format!(
                "{name} vs {} at eps {}: accuracy {:.1}% against the transfer attack, {:.1}% \
                 against the adaptive one{eot}",
                t.attack,
                t.eps,
                100.0 * t.accuracy,
                100.0 * a.accuracy
            );
            if !passed {
                warn.push(format!(
                    "{detail}: the defence looks strong only against the non-adaptive attack \
                     (gradient masking); quote the adaptive number"
                ));
            }
            checks.push(Check {
                name: "adaptive-attack".into(),
                passed,
                detail,
            });
        }
    }
    // 6. In an ensemble, a gradient-free component must find nothing the gradient ones missed.
    for r in rows.iter().filter(|r| !r.components.is_empty()) {
        let Some(first_gradient) = r.components.iter().position(|c| !c.gradient_free) else {
            continue;
        };
        let late: Vec<&ComponentRow> = r.components[first_gradient..]
            .iter()
            .filter(|c| c.gradient_free)
            .collect();
        if late.is_empty() {
            continue;
        }
        let found: usize = late.iter().map(|c| c.fooled).sum();
        let names: Vec<&str> = late.iter().map(|c| c.name.as_str()).collect();
        let detail = format!(
            "{} at eps {} ({}, {}): the gradient-free {} fooled {found} example(s) the gradient \
             components missed",
            r.attack,
            r.eps,
            r.defence,
            r.mode.name(),
            names.join(", ")
        );
        if found > 0 {
            warn.push(format!(
                "{detail}: the gradients are likely masked or obfuscated, so gradient attacks \
                 alone overstate robustness; quote the ensemble's accuracy"
            ));
        }
        checks.push(Check {
            name: "gradient-free-finds-nothing-new".into(),
            passed: found == 0,
            detail,
        });
    }
    (checks, warn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        let text = r#"
            name = "t"
            [model]
            path = "spoken-digits"
            [dataset]
            loader = "fsdd"
            root = "."
            [[attack]]
            name = "fgm"
            eps = [8]
        "#;
        Scenario::parse(text, std::path::Path::new("t.toml")).unwrap()
    }

    fn row(accuracy: f64, noise: f64) -> Row {
        Row {
            attack: "fgm".into(),
            eps: 8.0,
            defence: "none".into(),
            mode: Mode::Direct,
            examples: 40,
            accuracy,
            success_rate: 1.0 - accuracy,
            noise_accuracy: Some(noise),
            linf_mean: 8.0,
            linf_max: 8.0,
            l2_mean: 1.0,
            snr_db_mean: None,
            psnr_db_mean: None,
            perturbed_frames_mean: None,
            pesq_mean: None,
            stoi_mean: None,
            seg_snr_db_mean: None,
            masked_energy_mean: None,
            ssim_mean: None,
            flicker_mean: None,
            seconds_per_example: 0.0,
            forwards_per_example: None,
            gradients_per_example: None,
            components: Vec::new(),
            fit_fooling_rate: None,
        }
    }

    fn noise_check(clean: f64, attack: f64, noise: f64) -> (bool, Vec<String>) {
        let (checks, warnings) = sanity_checks(&scenario(), clean, &[row(attack, noise)]);
        let check = checks
            .iter()
            .find(|c| c.name == "beats-random-noise")
            .expect("the check ran");
        (check.passed, warnings)
    }

    /// The video scenario at 8/255: FGM and noise both left 7.5% of 90%, and the check passed.
    #[test]
    fn a_tie_where_noise_alone_breaks_the_model_is_flagged() {
        let (passed, warnings) = noise_check(0.9, 0.075, 0.075);
        assert!(!passed);
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("noise alone breaks the model")),
            "{warnings:?}"
        );
        // Noise keeping the model working: beating it passes, losing to it does not.
        assert!(noise_check(0.9, 0.2, 0.85).0);
        assert!(!noise_check(0.9, 0.86, 0.85).0);
    }

    #[test]
    fn a_randomised_defence_attacked_without_eot_is_flagged() {
        let check = |eot: usize| {
            let text = format!(
                "name = \"t\"\n[model]\npath = \"spoken-digits\"\n[dataset]\nloader = \"fsdd\"\n\
                 root = \".\"\n[[attack]]\nname = \"fgm\"\neps = [8]\n[[defence]]\n\
                 name = \"gaussian-noise\"\nsigma = 10\neot = {eot}\n"
            );
            let scenario = Scenario::parse(&text, std::path::Path::new("t.toml")).unwrap();
            let (checks, warnings) = sanity_checks(&scenario, 0.9, &[row(0.5, 0.8)]);
            let c = checks
                .iter()
                .find(|c| c.name == "eot-on-randomised-defence")
                .expect("the check ran")
                .clone();
            (c.passed, warnings)
        };
        let (passed, warnings) = check(1);
        assert!(!passed);
        assert!(
            warnings.iter().any(|w| w.contains("set eot = 16")),
            "{warnings:?}"
        );
        let (passed, warnings) = check(16);
        assert!(passed);
        assert!(!warnings.iter().any(|w| w.contains("eot")), "{warnings:?}");
        // A deterministic defence is not asked for EOT.
        let mp3 = "name = \"t\"\n[model]\npath = \"spoken-digits\"\n[dataset]\nloader = \"fsdd\"\n\
                   root = \".\"\n[[attack]]\nname = \"fgm\"\neps = [8]\n[[defence]]\nname = \"mp3\"\n";
        let scenario = Scenario::parse(mp3, std::path::Path::new("t.toml")).unwrap();
        let (checks, _) = sanity_checks(&scenario, 0.9, &[row(0.5, 0.8)]);
        assert!(!checks.iter().any(|c| c.name == "eot-on-randomised-defence"));
    }
}
