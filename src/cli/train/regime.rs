//! The flags of `avfoil train` that harden a model: adversarial training, Gaussian noise for
//! randomised smoothing, and the held-out robustness check, shared by every architecture.

use anyhow::{Result, bail};
use avfoil::params::{KeyStyle, Params};
use avfoil::train::{Adversary, Budget, GaussianNoise, Regime, RobustEval, adversary};
use clap::Args;
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub struct RegimeArgs {
    /// Adversarial training, L∞ at --eps: pgd (Madry et al. 2018: --adv-steps PGD steps from a
    /// random start), fast (Wong et al. 2020: one FGSM step of 1.25·eps from a random start) or
    /// trades (Zhang et al. 2019: CE + --beta·KL(clean ‖ adversarial)). `avfoil list adversaries`
    /// has every parameter.
    #[arg(long, value_name = "NAME")]
    pub adversarial: Option<String>,
    /// L∞ budget in the model's input units (int16 samples with --scale int16, [0, 1] pixels for
    /// c3d-lite) of --adversarial and of the held-out robustness check. Without --adversarial the
    /// training is plain and the held-out robust accuracy is still measured.
    #[arg(long)]
    pub eps: Option<f32>,
    /// Steps of the training adversary (pgd, trades) [default: 10].
    #[arg(long, value_name = "K")]
    pub adv_steps: Option<usize>,
    /// Step size of the training adversary in input units [default: 2.5·eps/steps for pgd and
    /// trades, 1.25·eps for fast].
    #[arg(long, value_name = "SIZE")]
    pub adv_step: Option<f32>,
    /// Weight of TRADES's KL term [default: 6].
    #[arg(long)]
    pub beta: Option<f32>,
    /// Any parameter of the adversary as KEY=VALUE (e.g. random_start=false for pgd).
    #[arg(long, value_name = "KEY=VALUE")]
    pub adv_param: Vec<String>,
    /// Held-out examples per set attacked after every epoch for the robust accuracy: a fixed subset
    /// (the first of a permutation drawn from --seed), attacked by PGD at --eps with
    /// --robust-steps steps of 2.5·eps/steps from a random start.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub robust_subset: usize,
    /// PGD steps of the held-out robustness check.
    #[arg(long, default_value_t = 20, value_name = "K")]
    pub robust_steps: usize,
    /// Train the base classifier of randomised smoothing (Cohen et al. 2019): each training example
    /// plus N(0, SIGMA²) noise in input units, drawn from --seed, clipped to the input range.
    #[arg(long, value_name = "SIGMA")]
    pub gaussian_noise: Option<f32>,
}

/// What the flags built: the adversary, the noise and the robustness check.
pub struct Hardening {
    adversary: Option<Box<dyn Adversary>>,
    noise: Option<GaussianNoise>,
    robust: Option<RobustEval>,
}

impl RegimeArgs {
    /// Checks the flags and builds what they ask for, for a model whose inputs lie in `clip`.
    pub fn build(&self, seed: u64, clip: Option<(f32, f32)>) -> Result<Hardening> {
        let adversary = match (&self.adversarial, self.eps) {
            (Some(name), Some(eps)) => {
                let mut p = Params::new(KeyStyle::Flag);
                let flags = [
                    (
                        "steps",
                        "--adv-steps",
                        self.adv_steps.map(|v| toml::Value::Integer(v as i64)),
                    ),
                    (
                        "step",
                        "--adv-step",
                        self.adv_step.map(|v| toml::Value::Float(v.into())),
                    ),
                    (
                        "beta",
                        "--beta",
                        self.beta.map(|v| toml::Value::Float(v.into())),
                    ),
                ];
                for assignment in &self.adv_param {
                    p.insert_assignment(assignment)?;
                }
                for (key, flag, value) in flags {
                    if let Some(v) = value {
                        p.insert_shown(key, v, Some(flag.to_string()));
                    }
                }
                Some(adversary::parse(name, &mut p, Budget { eps, seed })?)
            }
            (Some(name), None) => {
                bail!("--adversarial {name} needs --eps, the L∞ budget in the model's input units")
            }
            (None, _) => {
                let given = [
                    ("--adv-steps", self.adv_steps.is_some()),
                    ("--adv-step", self.adv_step.is_some()),
                    ("--beta", self.beta.is_some()),
                    ("--adv-param", !self.adv_param.is_empty()),
                ];
                if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
                    bail!("{flag} configures --adversarial, which was not given");
                }
                None
            }
        };
        let noise = self
            .gaussian_noise
            .map(|sigma| GaussianNoise::new(sigma, clip))
            .transpose()?;
        let robust = self
            .eps
            .map(|eps| RobustEval::new(eps, self.robust_steps, self.robust_subset, seed))
            .transpose()?;
        let hardening = Hardening {
            adversary,
            noise,
            robust,
        };
        hardening.regime().validate()?;
        Ok(hardening)
    }
}

impl Hardening {
    /// The regime the trainer runs.
    pub fn regime(&self) -> Regime<'_> {
        Regime {
            adversary: self.adversary.as_deref(),
            noise: self.noise,
            robust: self.robust.as_ref(),
        }
    }

    /// What `training.json` records: the adversary and its parameters, the noise, and how robust
    /// accuracy was measured (`null` for what was not used).
    pub fn report(&self) -> Value {
        json!({
            "adversarial": self.adversary.as_ref().map(|a| json!({"name": a.name(), "params": a.params()})),
            "gaussian_noise": self.noise,
            "robust_evaluation": self.robust.as_ref().map(|r| {
                let mut v = serde_json::to_value(r).expect("plain data serialises");
                v["examples"] = json!(format!(
                    "a fixed subset of each held-out set: the first {} of a permutation drawn from \
                     the seed, the same every epoch",
                    r.subset
                ));
                v
            }),
        })
    }
}
