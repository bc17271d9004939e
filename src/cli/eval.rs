//! `avfoil eval`: a scenario over a data set, resumable and shardable; `avfoil eval merge`.

use anyhow::{Context, Result, bail};
use avfoil::eval::summary::Mode;
use avfoil::eval::{Options, Outcome, Shard};
use burn::tensor::Device;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvalArgs {
    #[command(subcommand)]
    command: Option<EvalCommand>,
    /// The scenario file (TOML): model, data set, attacks with eps grids, defences, seed. See
    /// scenarios/ for examples.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Output folder: results.jsonl (one line per example and configuration), summary.json,
    /// report.md, report.html.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue an interrupted run in --out without redoing finished work.
    #[arg(long)]
    resume: bool,
    /// Run only part i of n (0-based: 0/3, 1/3, 2/3); combine the parts with `avfoil eval merge`.
    #[arg(long, default_value = "0/1")]
    shard: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Subcommand, Debug)]
enum EvalCommand {
    /// Combine the output folders of all shards into one summary and report.
    Merge(MergeArgs),
}

#[derive(clap::Args, Debug)]
struct MergeArgs {
    /// Output folder for the merged results, summary and report.
    #[arg(long)]
    out: PathBuf,
    /// The shards' output folders.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args, Debug, Clone, Copy)]
struct OutputArgs {
    /// Print the summary as one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvalArgs, device: &Device) -> Result<()> {
    if let Some(EvalCommand::Merge(m)) = args.command {
        let outcome = avfoil::eval::merge(&m.shards, &m.out)?;
        return print(&outcome, m.output);
    }
    let (Some(scenario), Some(out)) = (args.scenario, args.out) else {
        bail!("give --scenario FILE and --out DIR (or use `avfoil eval merge`)");
    };
    let shard: Shard = args.shard.parse().context("--shard")?;
    let options = Options {
        out,
        resume: args.resume,
        shard,
    };
    let bar = super::progress_bar(
        0,
        "{bar:40} {pos}/{len} measurements, {elapsed} (eta {eta})",
    );
    let outcome = avfoil::eval::evaluate(&scenario, &options, device, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .with_context(|| format!("--scenario {}", scenario.display()))?;
    bar.finish_and_clear();
    print(&outcome, args.output)
}

fn print(outcome: &Outcome, output: OutputArgs) -> Result<()> {
    let s = &outcome.summary;
    if output.json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    if super::quiet() {
        return Ok(()); // `--quiet`: no summary table either
    }
    println!(
        "{}: {} examples, clean accuracy {:.1}%",
        s.scenario,
        s.examples,
        100.0 * s.clean_accuracy
    );
    for d in &s.defended_clean_accuracy {
        println!("  behind {}: {:.1}%", d.defence, 100.0 * d.accuracy);
    }
    println!(
        "{:<16} {:>10} {:<10} {:<9} {:>9} {:>9} {:>9}",
        "attack", "eps", "defence", "mode", "accuracy", "success", "noise"
    );
    for r in &s.rows {
        let mode = match r.mode {
            Mode::Direct => "direct",
            Mode::Transfer => "transfer",
            Mode::Adaptive => "adaptive",
        };
        println!(
            "{:<16} {:>10} {:<10} {:<9} {:>8.1}% {:>8.1}% {:>9}",
            r.attack,
            r.eps,
            r.defence,
            mode,
            100.0 * r.accuracy,
            100.0 * r.success_rate,
            r.noise_accuracy
                .map_or("-".into(), |a| format!("{:.1}%", 100.0 * a))
        );
    }
    let failed = s.checks.iter().filter(|c| !c.passed).count();
    println!(
        "sanity checks: {} passed, {failed} failed",
        s.checks.len() - failed
    );
    for w in &s.warnings {
        println!("warning: {w}");
    }
    println!(
        "wrote {} ({} new measurements)",
        outcome.dir.join("report.html").display(),
        outcome.measured
    );
    Ok(())
}
