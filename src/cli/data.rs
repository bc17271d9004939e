//! `avfoil data`: generate stand-in datasets in published layouts.

use anyhow::Result;
use avfoil::data::tts::{Engine, SpokenDigitsOptions, SpokenDigitsPlan, Summary};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Synthesise spoken digits with Debian's TTS engines in AudioMNIST's layout:
    /// OUT/data/NN/<digit>_NN_<rep>.wav (48 kHz 16-bit mono) and OUT/data/audioMNIST_meta.txt.
    SpokenDigits(SpokenDigitsArgs),
}

#[derive(Args, Debug)]
pub struct SpokenDigitsArgs {
    /// Output folder (created; existing clips of the same speakers are replaced, the meta file is
    /// merged).
    #[arg(long)]
    out: PathBuf,
    /// Number of speakers, each one engine voice with its own pitch and rate (ids up to 99).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=99))]
    speakers: u32,
    /// Repetitions of each digit per speaker.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    repetitions: u32,
    /// Seed for every random choice; the same seed writes the same bytes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Comma-separated engines (espeak-ng, flite, festival); default: every one installed.
    #[arg(long, value_delimiter = ',', value_parser = parse_engine)]
    engines: Option<Vec<Engine>>,
    /// Id of the first speaker, to extend an existing corpus (speaker K always gets the same voice
    /// and draws for a given seed and engine set).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=99))]
    first_speaker: u32,
}

fn parse_engine(s: &str) -> Result<Engine, String> {
    Engine::parse(s).map_err(|e| e.to_string())
}

pub fn run(args: DataArgs) -> Result<()> {
    match args.command {
        DataCommand::SpokenDigits(args) => spoken_digits(args),
    }
}

fn spoken_digits(args: SpokenDigitsArgs) -> Result<()> {
    let mut options = SpokenDigitsOptions::new(&args.out, args.speakers, args.repetitions);
    options.seed = args.seed;
    options.engines = args.engines;
    options.first_speaker = args.first_speaker;
    let plan = SpokenDigitsPlan::new(options)?;
    for note in plan.skipped() {
        eprintln!("skipped {note}");
    }
    let bar = ProgressBar::new(plan.clip_count() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} clips, {elapsed} (eta {eta})")
            .expect("a valid template"),
    );
    let start = Instant::now();
    let summary = plan.run(&|| bar.inc(1));
    bar.finish_and_clear();
    let summary = summary?;
    report(&summary, &args.out, start.elapsed().as_secs_f64());
    Ok(())
}

/// Prints what was written, how long it took, and per-engine speech durations.
fn report(summary: &Summary, out: &std::path::Path, seconds: f64) {
    println!(
        "wrote {} clips of {} speakers to {} in {seconds:.1} s",
        summary.clips,
        summary.speakers,
        out.join("data").display()
    );
    println!(
        "fitting in 0.99 s: {} padding shortened, {} re-synthesised faster, {} cropped",
        summary.pads_shortened, summary.resynthesised, summary.cropped
    );
    for d in &summary.durations {
        println!(
            "  {:<10} {:>5} clips, speech {:.2} / {:.2} / {:.2} s (min / median / max)",
            d.engine.name(),
            d.clips,
            d.min,
            d.median,
            d.max
        );
    }
}
