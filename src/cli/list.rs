//! `avfoil list`: what the registries hold, with every parameter and its default.

use anyhow::Result;
use avfoil::catalog::{Section, markdown};
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum What {
    Attacks,
    Defences,
    Models,
    Adversaries,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only these [default: attacks, defences, model families and adversarial training].
    what: Option<What>,
}

pub fn run(args: ListArgs) -> Result<()> {
    let sections = match args.what {
        None => vec![
            Section::Attacks,
            Section::Defences,
            Section::Architectures,
            Section::Adversaries,
        ],
        Some(What::Attacks) => vec![Section::Attacks],
        Some(What::Defences) => vec![Section::Defences],
        Some(What::Models) => vec![Section::Architectures],
        Some(What::Adversaries) => vec![Section::Adversaries],
    };
    print!("{}", markdown(&sections));
    Ok(())
}
