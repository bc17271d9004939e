//! Everything the registries hold, as one page: every model family, attack and defence with its
//! parameters and their defaults. `avfoil list` prints it and `docs/catalog.md` is it (a test keeps
//! the two equal), so the documentation of a parameter is the one its code declares.

use crate::attack::ATTACKS;
use crate::defence::DEFENCES;
use crate::model::ARCHITECTURES;
use crate::params::Param;
use crate::train::ADVERSARIES;
use std::fmt::Write;

/// Which registries to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Attacks,
    Defences,
    Architectures,
    Adversaries,
}

/// The Markdown page of `sections` (all four, in this order, for the docs).
pub fn markdown(sections: &[Section]) -> String {
    let mut out = String::new();
    for section in sections {
        match section {
            Section::Attacks => {
                out.push_str("## Attacks\n\n");
                out.push_str(
                    "`avfoil attack --attack NAME` (parameters as flags, or `--param KEY=VALUE`) \
                     and a scenario's `[[attack]]` table (`name`, `label`, `eps` and these keys) \
                     take the same parameters.\n\n",
                );
                for e in ATTACKS.all() {
                    entry(&mut out, e.name, e.about, e.params);
                }
            }
            Section::Defences => {
                out.push_str("## Defences\n\n");
                out.push_str(
                    "`--defence NAME` (parameters as flags, or `--defence-param NAME.KEY=VALUE`) \
                     and a scenario's `[[defence]]` table (`name`, `label`, `adaptive` and these \
                     keys, or a `chain` of such tables) take the same parameters.\n\n",
                );
                for e in DEFENCES.all() {
                    entry(&mut out, e.name, e.about, e.params);
                }
            }
            Section::Architectures => {
                out.push_str("## Model families\n\n");
                out.push_str("`architecture = \"NAME\"` in a model directory's `model.toml`.\n\n");
                for a in ARCHITECTURES.all() {
                    let weights = if a.needs_weights {
                        "needs a weights file"
                    } else {
                        "carries its own weights"
                    };
                    let _ = writeln!(out, "- `{}`: {} ({weights}).", a.name, a.about);
                }
                out.push('\n');
            }
            Section::Adversaries => {
                out.push_str("## Adversarial training\n\n");
                out.push_str(
                    "`avfoil train --adversarial NAME --eps E` (L-inf, eps in the model's input \
                     units; parameters as `--adv-steps`, `--adv-step`, `--beta`, or \
                     `--adv-param KEY=VALUE`).\n\n",
                );
                for e in ADVERSARIES.all() {
                    entry(&mut out, e.name, e.about, e.params);
                }
            }
        }
    }
    out
}

fn entry(out: &mut String, name: &str, about: &str, params: &[Param]) {
    let _ = writeln!(out, "### `{name}`\n\n{about}.\n");
    if params.is_empty() {
        out.push_str("No parameters.\n\n");
        return;
    }
    out.push_str("| key | default | meaning |\n|---|---|---|\n");
    for p in params {
        let _ = writeln!(out, "| `{}` | {} | {} |", p.key, p.default, p.about);
    }
    out.push('\n');
}
