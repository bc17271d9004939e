//! Argument definitions and the code shared by subcommands (loading inputs, resolving the model).
//! No attack or model logic lives here.

mod attack;
mod data;
mod defend;
mod demo;
mod demo_video;
mod eval;

mod predict;
mod train;
mod train_video;

use anyhow::{Context, Result, bail};
use avfoil::array::Array;
use avfoil::audio::wav::{WavEncoding, write_wav};
use avfoil::classifier::Preprocessor;
use avfoil::defence::DefenceSpec;
use avfoil::defence::h264::{H264Backend, H264Quality};
use avfoil::media::npy::{read_npy, write_npy};
use avfoil::model::Model;
use burn::tensor::{Device, Tensor};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// Attack and defend audio and video classifiers.
#[derive(Parser, Debug)]
#[command(name = "avfoil", version, about, long_about = None)]
pub struct Cli {
    /// Compute device: cpu (burn-flex), cuda or wgpu (when built with that feature).
    #[arg(long, global = true, default_value = "cpu")]
    device: String,

    /// No progress bars (long commands draw one with an ETA on stderr otherwise).
    #[arg(long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Classify inputs and print the top classes.
    Predict(predict::PredictArgs),
    /// Craft adversarial examples: FGM, PGD, frame saliency.
    Attack(Box<attack::AttackArgs>),
    /// Apply defences (MP3, H.264 compression) to inputs and compare predictions.
    Defend(defend::DefendArgs),
    /// Train a model from recordings (AudioMNIST or FSDD layout).
    Train(train::TrainArgs),
    /// Run the main job on the shipped model and bundled inputs.
    Demo(demo::DemoArgs),
    /// Generate stand-in datasets (spoken digits from TTS engines).
    Data(data::DataArgs),
    /// Evaluate robustness over a data set from a scenario file (resumable, shardable).
    Eval(eval::EvalArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let device = avfoil::device::parse_device(&cli.device)?;
    QUIET.set(cli.quiet).expect("run once");
    match cli.command {
        Command::Predict(args) => predict::run(args, &device),
        Command::Attack(args) => attack::run(*args, &device),
        Command::Defend(args) => defend::run(args, &device),
        Command::Train(args) => train::run(args, &device),
        Command::Demo(args) => demo::run(args, &device),
        Command::Data(args) => data::run(args),
        Command::Eval(args) => eval::run(args, &device),
    }
}

static QUIET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether `--quiet` was given.
fn quiet() -> bool {
    QUIET.get().copied().unwrap_or(false)
}

/// A progress bar of `len` steps drawn with `template` on stderr, hidden under `--quiet` (and by
/// indicatif when stderr is not a terminal).
fn progress_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = if quiet() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(len)
    };
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("a valid template"));
    bar
}

/// Loads `--model`: a model directory or the name of a shipped model.
fn load_model(spec: &Path, device: &Device) -> Result<Model> {
    Ok(avfoil::model::shipped::open(
        &spec.to_string_lossy(),
        device,
    )?)
}

/// What an input file was, so that outputs are written in the same form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Npy,
    /// A WAV file, read as one example at the model's rate and length.
    Wav,
    /// A video (MP4, GIF, a folder of frames; AVI and more with the `ffmpeg` feature), read as one
    /// clip through the model's frame sampling. Written back as `.npy` (exact) plus an `.mp4` to
    /// watch (H.264 at high quality, which does not keep a perturbation of a few grey levels).
    Video,
}

/// Extensions read as videos (a folder of frames is a video too).
const VIDEO_EXTENSIONS: [&str; 7] = ["mp4", "m4v", "mov", "avi", "mkv", "gif", "webm"];

/// One input file: its examples `[rows, ...]` in the model's units.
struct InputFile {
    path: PathBuf,
    array: Array,
    rows: usize,
    source: Source,
}

/// All inputs stacked into one batch, remembering which file and item each row came from.
struct Inputs {
    files: Vec<InputFile>,
    batch: Tensor<2>,
}

impl Inputs {
    /// Reads `.npy` files (one example of the model's input shape, or a batch with a leading axis)
    /// and, for audio models, WAV files (mono; resampled to the model's rate, centred and padded or
    /// cropped to its length, scaled to its units).
    fn load(paths: &[PathBuf], model: &Model, device: &Device) -> Result<Self> {
        if paths.is_empty() {
            bail!("no INPUT given");
        }
        let shape = &model.config.input.shape;
        let mut files = Vec::new();
        let mut flat = Vec::new();
        for path in paths {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let (array, source) = match ext.as_str() {
                "npy" => (read_npy(path)?, Source::Npy),
                "wav" => (
                    Array::new(
                        shape.clone(),
                        model.config.input.audio_format()?.load(path, 0)?,
                    )?,
                    Source::Wav,
                ),
                e if VIDEO_EXTENSIONS.contains(&e) || path.is_dir() => (
                    Array::new(shape.clone(), model.config.input.video_clip(path)?)?,
                    Source::Video,
                ),
                _ => bail!(
                    "{}: expected a .npy, .wav or video file ({}) or a folder of frames",
                    path.display(),
                    VIDEO_EXTENSIONS.join(", ")
                ),
            };
            let rows = array
                .batch_len(shape)
                .with_context(|| path.display().to_string())?;
            flat.extend_from_slice(&array.data);
            files.push(InputFile {
                path: path.clone(),
                array,
                rows,
                source,
            });
        }
        let rows: usize = files.iter().map(|f| f.rows).sum();
        let batch = Array {
            shape: vec![rows, flat.len() / rows.max(1)],
            data: flat,
        }
        .to_tensor(rows, device);
        Ok(Self { files, batch })
    }

    fn rows(&self) -> usize {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// (input path, item within that input) for each row.
    fn origins(&self) -> Vec<(String, usize)> {
        self.files
            .iter()
            .flat_map(|f| (0..f.rows).map(move |i| (f.path.display().to_string(), i)))
            .collect()
    }

    /// Writes `values` (`[rows, d]`, in input order) as one output per input file, in the input's
    /// form: `.npy`, or WAV at the model's rate. `suffix` names the outputs in a folder
    /// (`clip.adv.wav`); a single input may go to `out` itself when it has the right extension.
    fn write_outputs(
        &self,
        values: &[f32],
        out: &Path,
        suffix: &str,
        model: &Model,
        encoding: WavEncoding,
    ) -> Result<Vec<PathBuf>> {
        let d = values.len() / self.rows().max(1);
        let single = self.files.len() == 1;
        let mut offset = 0;
        let mut written = Vec::new();
        for f in &self.files {
            let ext = match f.source {
                Source::Npy | Source::Video => "npy",
                Source::Wav => "wav",
            };
            let path = if single && out.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
                out.to_path_buf()
            } else {
                let stem = f
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| "input".into());
                out.join(format!("{stem}.{suffix}.{ext}"))
            };
            let part = &values[offset * d..(offset + f.rows) * d];
            match f.source {
                Source::Npy => {
                    write_npy(&path, &Array::new(f.array.shape.clone(), part.to_vec())?)?
                }
                Source::Wav => {
                    let format = model.config.input.audio_format()?;
                    let unit: Vec<f32> = part.iter().map(|v| v / format.scale.factor()).collect();
                    write_wav(&path, format.sample_rate, &unit, encoding)?;
                }
                Source::Video => {
                    let shape = &model.config.input.shape;
                    write_npy(&path, &Array::new(shape.clone(), part.to_vec())?)?;
                    let max = model.config.input.video_scale().factor();
                    let fps =
                        25.0 / model.config.input.sampling.as_ref().map_or(1, |s| s.stride) as f64;
                    let video = avfoil::video::Video::from_clip(part, shape, max, fps)?;
                    // OpenH264 needs 16 × 16 at least: enlarge tiny clips by pixel repetition.
                    let video = enlarge(&video, 16);
                    let mp4 = path.with_extension("mp4");
                    avfoil::video::io::write_video(&mp4, &video)?;
                    written.push(mp4);
                }
            }
            written.push(path);
            offset += f.rows;
        }
        Ok(written)
    }

    /// Creates `out` as a folder unless a single input goes to `out` itself.
    fn prepare_out(&self, out: &Path) -> Result<()> {
        let is_file = self.files.len() == 1
            && out.extension().is_some_and(|e| {
                let e = e.to_ascii_lowercase();
                (e == "npy" && self.files[0].source != Source::Wav)
                    || (e == "wav" && self.files[0].source == Source::Wav)
            });
        if !is_file {
            std::fs::create_dir_all(out).with_context(|| format!("--out {}", out.display()))?;
        }
        Ok(())
    }
}

/// `video` repeated `k × k` per pixel for the smallest `k` that makes both sides at least `min`.
fn enlarge(video: &avfoil::video::Video, min: usize) -> avfoil::video::Video {
    let k = min.div_ceil(video.width.min(video.height)).max(1);
    if k == 1 {
        return video.clone();
    }
    let (w, h) = (video.width, video.height);
    let mut rgb = Vec::with_capacity(video.rgb.len() * k * k);
    for f in 0..video.frame_count() {
        let frame = video.frame(f);
        for y in 0..h * k {
            for x in 0..w * k {
                let p = ((y / k) * w + x / k) * 3;
                rgb.extend_from_slice(&frame[p..p + 3]);
            }
        }
    }
    avfoil::video::Video {
        width: w * k,
        height: h * k,
        fps: video.fps,
        rgb,
    }
}

/// The defences `--defence` may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DefenceName {
    /// MP3 compression (LAME; 8 kb/s at 8 kHz mono unless --mp3-bitrate).
    Mp3,
    /// H.264 compression (openh264 at a QP calibrated to x264's --crf; not ART's bit-exact codec).
    H264,
}

/// The defence options shared by `attack` and `defend`.
#[derive(clap::Args, Debug, Clone)]
struct DefenceArgs {
    /// Defences in front of the model, in order. `attack` goes through them with identity
    /// gradients (BPDA): the adaptive attack; reported predictions are the defended model's.
    #[arg(long, value_enum, value_delimiter = ',')]
    defence: Vec<DefenceName>,
    /// MP3 bitrate in kb/s (default: LAME's choice, as ART: 8 kb/s at 8 kHz mono).
    #[arg(long, alias = "bitrate")]
    mp3_bitrate: Option<u32>,
    /// H.264 quality as x264's constant rate factor (0-51), mapped to an openh264 QP (used as it is
    /// with --h264-backend x264).
    #[arg(long, default_value_t = 30)]
    crf: u8,
    /// H.264 quantiser (0-51), instead of --crf.
    #[arg(long)]
    qp: Option<u8>,
    /// H.264 codec: openh264 (bundled) or x264 (ART's libx264 path, bit-exact with ART, --crf used
    /// as it is; needs a build with `--features ffmpeg`).
    #[arg(long, value_enum, default_value_t = H264BackendName::Openh264)]
    h264_backend: H264BackendName,
}

/// The codecs `--h264-backend` may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum H264BackendName {
    Openh264,
    X264,
}

impl DefenceArgs {
    /// The defences, built for `model`'s inputs.
    fn build(&self, model: &Model) -> Result<Vec<Box<dyn Preprocessor>>> {
        self.defence
            .iter()
            .map(|d| -> Result<Box<dyn Preprocessor>> {
                let spec = match d {
                    DefenceName::Mp3 => DefenceSpec::Mp3 {
                        bitrate: self.mp3_bitrate,
                    },
                    DefenceName::H264 => DefenceSpec::H264 {
                        quality: match self.qp {
                            Some(qp) => H264Quality::Qp(qp),
                            None => H264Quality::Crf(self.crf),
                        },
                        backend: match self.h264_backend {
                            H264BackendName::Openh264 => H264Backend::OpenH264,
                            H264BackendName::X264 => H264Backend::X264,
                        },
                    },
                };
                spec.build(&model.config)
                    .with_context(|| format!("--defence: {}", model.dir.display()))
            })
            .collect()
    }
}

/// Puts the defences of `args` in front of the model, in order.
fn with_defences(model: Model, args: &DefenceArgs) -> Result<Model> {
    let defences = args.build(&model)?;
    let Model {
        dir,
        config,
        mut classifier,
    } = model;
    for d in defences {
        classifier = classifier.with_defence(d);
    }
    Ok(Model {
        dir,
        config,
        classifier,
    })
}

/// Parses a class given by name or index.
fn class_index(classes: &[String], s: &str) -> Result<usize> {
    if let Some(i) = classes.iter().position(|c| c == s) {
        return Ok(i);
    }
    match s.parse::<usize>() {
        Ok(i) if i < classes.len() => Ok(i),
        _ => bail!(
            "{s:?} is not a class of this model (classes: {})",
            classes.join(", ")
        ),
    }
}
