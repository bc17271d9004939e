//! The configurations a scenario measures on every example, each with a stable key.

use super::records::Kind;
use super::scenario::Scenario;

/// One thing measured per example.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Unique, stable key (`clean`, `clean|mp3`, `pgd|64|none`, `pgd|64|mp3|adaptive`,
    /// `noise|pgd|64|mp3`, `certify|smoothing-250`): what resuming and merging match records by.
    pub key: String,
    pub kind: Kind,
    /// Index into the scenario's attacks (attack and noise).
    pub attack: Option<usize>,
    /// Index into the attack's eps list.
    pub eps: Option<usize>,
    /// Index into the scenario's defences; `None`: the bare model.
    pub defence: Option<usize>,
    /// Crafted through the defence (BPDA).
    pub adaptive: bool,
    /// Index into the scenario's `[[certify]]` tables (certify records).
    pub certify: Option<usize>,
}

/// `clean` (the bare model) or `clean|DEFENCE`.
pub fn clean_key(defence: Option<&str>) -> String {
    match defence {
        None => "clean".into(),
        Some(d) => format!("clean|{d}"),
    }
}

/// `ATTACK|EPS|none` (direct), `ATTACK|EPS|DEFENCE` (transfer) or `ATTACK|EPS|DEFENCE|adaptive`.
pub fn attack_key(label: &str, eps: f32, defence: Option<&str>, adaptive: bool) -> String {
    let suffix = if adaptive { "|adaptive" } else { "" };
    format!("{label}|{eps}|{}{suffix}", defence.unwrap_or("none"))
}

/// `noise|ATTACK|EPS|DEFENCE` (`none` for the bare model): noise of the attack's norm and budget.
pub fn noise_key(label: &str, eps: f32, defence: Option<&str>) -> String {
    format!("noise|{label}|{eps}|{}", defence.unwrap_or("none"))
}

/// Every configuration of `scenario`, in the order they run.
pub fn configs(scenario: &Scenario) -> Vec<Config> {
    let defences: Vec<Option<usize>> = std::iter::once(None)
        .chain((0..scenario.defences.len()).map(Some))
        .collect();
    let name = |d: Option<usize>| d.map(|i| scenario.defences[i].label());
    let mut out = Vec::new();
    for &d in &defences {
        out.push(Config {
            key: clean_key(name(d)),
            kind: Kind::Clean,
            attack: None,
            eps: None,
            defence: d,
            adaptive: false,
            certify: None,
        });
    }
    for (a, attack) in scenario.attacks.iter().enumerate() {
        let label = attack.label();
        for (e, &eps) in attack.eps.iter().enumerate() {
            for &d in &defences {
                out.push(Config {
                    key: attack_key(label, eps, name(d), false),
                    kind: Kind::Attack,
                    attack: Some(a),
                    eps: Some(e),
                    defence: d,
                    adaptive: false,
                    certify: None,
                });
            }
            for (i, entry) in scenario.defences.iter().enumerate() {
                if entry.adaptive {
                    out.push(Config {
                        key: attack_key(label, eps, name(Some(i)), true),
                        kind: Kind::Attack,
                        attack: Some(a),
                        eps: Some(e),
                        defence: Some(i),
                        adaptive: true,
                        certify: None,
                    });
                }
            }
            if scenario.checks.noise {
                for &d in &defences {
                    out.push(Config {
                        key: noise_key(label, eps, name(d)),
                        kind: Kind::Noise,
                        attack: Some(a),
                        eps: Some(e),
                        defence: d,
                        adaptive: false,
                        certify: None,
                    });
                }
            }
        }
    }
    for (i, c) in scenario.certifications.iter().enumerate() {
        out.push(Config {
            key: c.key(),
            kind: Kind::Certify,
            attack: None,
            eps: None,
            defence: None,
            adaptive: false,
            certify: Some(i),
        });
    }
    out
}
