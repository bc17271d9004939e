//! `avfoil list`: what the registries hold, with every parameter and its default.

use anyhow::Result;
use avfoil::catalog::{Section, markdown};
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum What {
    Attacks,
    Defences,
    Models,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only these [default: attacks, defences and model families].
    what: Option<What>,
}

pub fn run(args: ListArgs) -> Result<()> {
    let sections = match args.what {
        None => vec![Section::Attacks, Section::Defences, Section::Architectures],
        Some(What::Attacks) => vec![Section::Attacks],
        Some(What::Defences) => vec![Section::Defences],
        Some(What::Models) => vec![Section::Architectures],
    };
    print!("{}", markdown(&sections));
    Ok(())
}
