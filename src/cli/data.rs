//! `avfoil data`: generate stand-in datasets in published layouts.

use anyhow::{Context, Result, bail};
use avfoil::data::tts::{Engine, SpokenDigitsOptions, SpokenDigitsPlan, Summary};
use clap::{Args, Subcommand};
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
    /// Render procedural action clips of 10 UCF101 classes in UCF101's layout:
    /// OUT/UCF-101/<Class>/v_<Class>_gGG_cCC.{mp4|avi} and OUT/ucfTrainTestlist/*.txt.
    Actions(ActionsArgs),
}

#[derive(Args, Debug)]
pub struct ActionsArgs {
    /// Output folder (created; clips of the same names are replaced).
    #[arg(long)]
    out: PathBuf,
    /// Groups (UCF101 has 25; its split k tests on the k-th 7/25 of them).
    #[arg(long, default_value_t = 25)]
    groups: usize,
    /// Clips per group and class.
    #[arg(long, default_value_t = 4)]
    clips: usize,
    /// Frames per clip.
    #[arg(long, default_value_t = 48)]
    frames: usize,
    /// Frame size, WIDTHxHEIGHT (UCF101's is 320x240).
    #[arg(long, default_value = "320x240", value_parser = parse_size)]
    size: (usize, usize),
    /// Frames per second.
    #[arg(long, default_value_t = 25.0)]
    fps: f64,
    /// Container and codec: mp4 (H.264, built in) or avi (MPEG-4 part 2 like UCF101's, needs the
    /// `ffmpeg` feature). Default: avi with the feature, mp4 without.
    #[arg(long)]
    format: Option<String>,
    /// Seed for every random choice; the same seed renders the same frames.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub(super) fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {s:?}"))?;
    let p = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("expected WIDTHxHEIGHT, got {s:?}"))
    };
    Ok((p(w)?, p(h)?))
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
        DataCommand::Actions(args) => actions(args),
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
    let bar = super::progress_bar(
        plan.clip_count() as u64,
        "{bar:40} {pos}/{len} clips, {elapsed} (eta {eta})",
    );
    let start = Instant::now();
    let summary = plan.run(&|| bar.inc(1));
    bar.finish_and_clear();
    let summary = summary?;
    report(&summary, &args.out, start.elapsed().as_secs_f64());
    Ok(())
}

fn actions(args: ActionsArgs) -> Result<()> {
    use avfoil::data::actions::{ActionsConfig, CLASSES};
    use rayon::prelude::*;
    let config = ActionsConfig {
        groups: args.groups,
        clips: args.clips,
        frames: args.frames,
        width: args.size.0,
        height: args.size.1,
        fps: args.fps,
        seed: args.seed,
    };
    config.validate()?;
    let default_format = if cfg!(feature = "ffmpeg") {
        "avi"
    } else {
        "mp4"
    };
    let ext = args
        .format
        .as_deref()
        .unwrap_or(default_format)
        .to_lowercase();
    if ext != "mp4" && ext != "avi" {
        bail!("--format: expected mp4 or avi, got {ext:?}");
    }
    // A real UCF101 folder has the same file names: never write into one.
    for part in ["UCF-101", "ucfTrainTestlist"] {
        let existing = args.out.join(part);
        if !avfoil::fs::is_missing_or_empty(&existing) {
            bail!(
                "--out: {} already exists; `avfoil data actions` never writes into an existing \
                 corpus (real UCF101 clips have the same names): choose a new folder or remove it",
                existing.display()
            );
        }
    }
    // Built in a hidden folder inside --out, moved into place once every clip is written.
    let staging = avfoil::fs::StagingDir::new(&args.out)?;
    let videos = staging.path().join("UCF-101");
    let lists = staging.path().join("ucfTrainTestlist");
    for class in CLASSES {
        std::fs::create_dir_all(videos.join(class))
            .with_context(|| format!("--out: creating {}", videos.join(class).display()))?;
    }
    std::fs::create_dir_all(&lists)
        .with_context(|| format!("--out: creating {}", lists.display()))?;
    let items: Vec<(usize, usize, usize)> = (0..CLASSES.len())
        .flat_map(|k| {
            (1..=config.groups).flat_map(move |g| (1..=config.clips).map(move |c| (k, g, c)))
        })
        .collect();
    let bar = super::progress_bar(
        items.len() as u64,
        "{bar:40} {pos}/{len} clips, {elapsed} (eta {eta})",
    );
    let start = Instant::now();
    items
        .par_iter()
        .try_for_each(|&(k, g, c)| -> avfoil::Result<()> {
            let video = config.render(k, g, c)?;
            let path = videos.join(format!("{}.{ext}", ActionsConfig::clip_stem(k, g, c)));
            avfoil::video::io::write_video(&path, &video)?;
            bar.inc(1);
            Ok(())
        })?;
    bar.finish_and_clear();
    for (name, text) in config.lists(&ext) {
        avfoil::fs::write_atomic(&lists.join(name), text.as_bytes())?;
    }
    for part in ["UCF-101", "ucfTrainTestlist"] {
        // An empty folder left by the user is replaced.
        let dest = args.out.join(part);
        if dest.is_dir() {
            std::fs::remove_dir(&dest).with_context(|| format!("--out: {}", dest.display()))?;
        }
        staging.move_into_place(part, &dest)?;
    }
    println!(
        "wrote {} clips ({} classes x {} groups x {}) of {} frames {}x{} to {} in {:.1} s",
        items.len(),
        CLASSES.len(),
        config.groups,
        config.clips,
        config.frames,
        config.width,
        config.height,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    for k in 1..=3 {
        let test = config.test_groups(k);
        println!("split {k}: test groups {}-{}", test.start, test.end - 1);
    }
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
