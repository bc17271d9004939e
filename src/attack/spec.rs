//! Attacks as users configure them: a typed spec per attack, parsed from a scenario table or
//! command-line flags ([`crate::params`]), and the registry of attacks.
//!
//! An attack is one file: the [`Attack`] itself, its spec (the parameters a user sets, their
//! defaults and validation, how it is built for a run, whether it iterates) and an
//! [`AttackEntry`]. One line in `attack/mod.rs` registers it; from outside this crate,
//! `ATTACKS.register(&ENTRY)`. What a run decides (the budget, targeting, the seed, the batch size)
//! comes with [`RunSettings`], so a scenario can sweep an eps grid with one spec.

use super::{ATTACKS, Attack, Common, Eps, Norm, Projection};
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::params::{Param, Params};
use crate::registry::Entry;

/// What a run decides for every attack.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    /// The budget (one value, or one per example).
    pub eps: Eps,
    /// Move towards the given labels instead of away from them.
    pub targeted: bool,
    /// Seed of every random choice.
    pub seed: u64,
    /// Examples per gradient computation.
    pub batch_size: usize,
    /// The random stream of each example (`None`: its index; see [`Common::streams`]).
    pub streams: Option<Vec<u64>>,
}

/// An attack as a user configured it, before a run gives it its budget.
pub trait AttackSpec: std::fmt::Debug + Send + Sync {
    /// The registered name (`pgd`).
    fn name(&self) -> &'static str;
    /// The geometry of its budget (random-noise baselines are drawn in it).
    fn norm(&self) -> Norm;
    /// Whether iterations drive it (the sanity checks expect an iterative attack to do at least as
    /// well as a one-step one).
    fn iterative(&self) -> bool;
    /// Checks that it applies to a model with these inputs (frame saliency needs video).
    fn check_input(&self, _input: &InputConfig) -> Result<()> {
        Ok(())
    }
    /// An ensemble's components in the order they run, each with whether it is gradient-free
    /// (empty for a single attack).
    fn components(&self) -> Vec<(&'static str, bool)> {
        Vec::new()
    }
    /// Whether its attacks fit one perturbation to the whole batch ([`Attack::fitted`]), which
    /// front ends then write out too.
    fn fits_one_perturbation(&self) -> bool {
        false
    }
    /// The attack for one run, validated.
    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>>;
}

/// Refuses a model whose inputs are not of `modality`, with `reason` (the attack's own words) as
/// the error: the check every single-modality attack's [`AttackSpec::check_input`] starts with.
pub fn require_modality(input: &InputConfig, modality: Modality, reason: &str) -> Result<()> {
    if input.modality != modality {
        return Err(Error::invalid("attack", reason));
    }
    Ok(())
}

/// An attack in the registry.
pub struct AttackEntry {
    pub name: &'static str,
    /// One line for listings and docs.
    pub about: &'static str,
    /// What [`parse`](Self::parse) reads, for listings and docs.
    pub params: &'static [Param],
    /// Reads the attack's parameters from `params` (unread keys are refused afterwards).
    pub parse: fn(&mut Params) -> Result<Box<dyn AttackSpec>>,
}

impl Entry for AttackEntry {
    fn name(&self) -> &'static str {
        self.name
    }
}

/// The attack called `name` configured by `params`, every key of which it must read.
pub fn parse(name: &str, params: &mut Params) -> Result<Box<dyn AttackSpec>> {
    let entry = ATTACKS.find(name)?;
    let spec = (entry.parse)(params)?;
    params.finish(entry.name, entry.params)?;
    Ok(spec)
}

/// How big each step is.
#[derive(Clone, Debug, PartialEq)]
pub enum StepSize {
    /// A fraction of each example's eps (a zero eps steps by 1: nothing moves either way).
    Fraction(f32),
    /// In input units, one value or one per example.
    Absolute(Eps),
}

/// The parameters gradient attacks share ([`Common`] less what a run decides).
#[derive(Clone, Debug, PartialEq)]
pub struct CommonSpec {
    pub norm: Norm,
    pub step: StepSize,
    pub random_init: usize,
    pub projection: Projection,
}

/// [`CommonSpec`]'s parameters; `default_step` is the attack's default fraction of eps.
pub const fn common_params(default_step: &'static str) -> [Param; 5] {
    [
        Param {
            key: "norm",
            default: "inf",
            about: "geometry of the budget: inf, 1, 2 or any real p >= 1",
        },
        Param {
            key: "step",
            default: default_step,
            about: "step size as a fraction of eps",
        },
        Param {
            key: "eps_step",
            default: "none",
            about: "step size in input units instead (one value, or a list with one per example)",
        },
        Param {
            key: "random_init",
            default: "0",
            about: "random starts inside the eps-ball, the best kept per example (0: start at the input)",
        },
        Param {
            key: "exact_l1",
            default: "false",
            about: "project L1 perturbations exactly (ART rescales radially)",
        },
    ]
}

impl CommonSpec {
    /// Reads the shared parameters; steps default to `default_step` × eps.
    pub fn take(p: &mut Params, default_step: f32) -> Result<Self> {
        let norm = take_norm(p)?;
        let fraction: Option<f32> = p.take("step")?;
        let absolute = p.take::<toml::Value>("eps_step")?;
        let step = match (fraction, absolute) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    p.display("eps_step"),
                    format!("give {} or eps_step, not both", p.display("step")),
                ));
            }
            (Some(f), None) if !(f.is_finite() && f > 0.0) => {
                return Err(Error::invalid(
                    p.display("step"),
                    format!("a positive fraction of eps, got {f}"),
                ));
            }
            (Some(f), None) => StepSize::Fraction(f),
            (None, Some(v)) => StepSize::Absolute(eps_value(&v, &p.display("eps_step"))?),
            (None, None) => StepSize::Fraction(default_step),
        };
        Ok(Self {
            norm,
            step,
            random_init: p.take_or("random_init", 0)?,
            projection: if p.take_or("exact_l1", false)? {
                Projection::ExactL1
            } else {
                Projection::Radial
            },
        })
    }

    /// [`Common`] for `run`, validated.
    pub fn common(&self, run: &RunSettings) -> Result<Common> {
        let eps_step = match &self.step {
            StepSize::Absolute(e) => e.clone(),
            StepSize::Fraction(f) => {
                let step = |e: f32| if e > 0.0 { f * e } else { 1.0 };
                match &run.eps {
                    Eps::Scalar(e) => Eps::Scalar(step(*e)),
                    Eps::PerExample(v) => Eps::PerExample(v.iter().map(|&e| step(e)).collect()),
                }
            }
        };
        let common = Common {
            norm: self.norm,
            eps: run.eps.clone(),
            eps_step,
            targeted: run.targeted,
            num_random_init: self.random_init,
            batch_size: run.batch_size,
            seed: run.seed,
            projection: self.projection,
            streams: run.streams.clone(),
        };
        common.validate()?;
        Ok(common)
    }
}

/// [`Common`] for attacks with no step size and no random starts (score-based and minimal-norm
/// ones): `norm` and the run's settings.
pub fn stepless_common(norm: Norm, run: &RunSettings) -> Common {
    Common {
        norm,
        eps: run.eps.clone(),
        eps_step: run.eps.clone(),
        targeted: run.targeted,
        num_random_init: 0,
        batch_size: run.batch_size,
        seed: run.seed,
        projection: Projection::Radial,
        streams: run.streams.clone(),
    }
}

/// The norm of an attack that has only the norms in `allowed` (in the order its error lists
/// them): `inf`, or p as a string or an integer; `default` when the key is absent.
pub fn take_norm_among(p: &mut Params, default: Norm, allowed: &[Norm], who: &str) -> Result<Norm> {
    let value = p.take_or::<toml::Value>("norm", toml::Value::String(default.to_string()))?;
    let found = allowed.iter().copied().find(|n| match (&value, n) {
        (toml::Value::String(s), n) => *s == n.to_string(),
        (toml::Value::Integer(i), Norm::P(q)) => *i as f64 == *q,
        _ => false,
    });
    found.ok_or_else(|| {
        let names: Vec<String> = allowed.iter().map(Norm::to_string).collect();
        let list = match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        Error::invalid(
            p.display("norm"),
            format!("{who} takes {list}, got {value}"),
        )
    })
}

/// The norm: `inf`, or p as a number or a string.
fn take_norm(p: &mut Params) -> Result<Norm> {
    let name = p.display("norm");
    let text = match p.take::<toml::Value>("norm")? {
        None => return Ok(Norm::Inf),
        Some(toml::Value::String(s)) => s,
        Some(toml::Value::Integer(i)) => i.to_string(),
        Some(toml::Value::Float(f)) => f.to_string(),
        Some(other) => {
            return Err(Error::invalid(
                name,
                format!("expected inf, 1, 2 or a real p >= 1, got {other}"),
            ));
        }
    };
    text.parse()
}

/// A budget given as a number or a list of numbers (one per example).
pub fn eps_value(value: &toml::Value, key: &str) -> Result<Eps> {
    let number = |v: &toml::Value| match v {
        toml::Value::Integer(i) => Ok(*i as f32),
        toml::Value::Float(f) => Ok(*f as f32),
        other => Err(Error::invalid(
            key,
            format!("expected a number, got {other}"),
        )),
    };
    match value {
        toml::Value::Array(values) => Ok(Eps::PerExample(
            values.iter().map(number).collect::<Result<_>>()?,
        )),
        v => Ok(Eps::Scalar(number(v)?)),
    }
}
