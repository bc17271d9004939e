//! The configurations a scenario measures on every example, each with a stable key.

use super::records::Kind;
use super::scenario::Scenario;

/// One thing measured per example.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Unique, stable key (`clean`, `clean|mp3`, `pgd|64|none`, `pgd|64|mp3|adaptive`,
    /// `noise|pgd|64|mp3`): what resuming and merging match records by.
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
}

/// Every configuration of `scenario`, in the order they run.
pub fn configs(scenario: &Scenario) -> Vec<Config> {
    let defences: Vec<Option<usize>> = std::iter::once(None)
        .chain((0..scenario.defences.len()).map(Some))
        .collect();
    let name = |d: Option<usize>| match d {
        None => "none".to_string(),
        Some(i) => scenario.defences[i].get_ref().label().to_string(),
    };
    let mut out = Vec::new();
    for &d in &defences {
        out.push(Config {
            key: match d {
                None => "clean".into(),
                Some(_) => format!("clean|{}", name(d)),
            },
            kind: Kind::Clean,
            attack: None,
            eps: None,
            defence: d,
            adaptive: false,
        });
    }
    for (a, attack) in scenario.attacks.iter().enumerate() {
        let attack = attack.get_ref();
        let label = attack.label();
        for (e, eps) in attack.eps.iter().enumerate() {
            for &d in &defences {
                out.push(Config {
                    key: format!("{label}|{eps}|{}", name(d)),
                    kind: Kind::Attack,
                    attack: Some(a),
                    eps: Some(e),
                    defence: d,
                    adaptive: false,
                });
            }
            for (i, entry) in scenario.defences.iter().enumerate() {
                if entry.get_ref().adaptive {
                    out.push(Config {
                        key: format!("{label}|{eps}|{}|adaptive", name(Some(i))),
                        kind: Kind::Attack,
                        attack: Some(a),
                        eps: Some(e),
                        defence: Some(i),
                        adaptive: true,
                    });
                }
            }
            if scenario.checks.noise {
                for &d in &defences {
                    out.push(Config {
                        key: format!("noise|{label}|{eps}|{}", name(d)),
                        kind: Kind::Noise,
                        attack: Some(a),
                        eps: Some(e),
                        defence: d,
                        adaptive: false,
                    });
                }
            }
        }
    }
    out
}
