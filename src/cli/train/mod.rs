//! `avfoil train`: train a model from a data set (AudioMNIST or FSDD layout for audio, UCF101
//! layout for video). One file per kind of model; both end in `output.rs` (the progress bar, the
//! model directory); `regime.rs` holds the flags that harden either (adversarial training, Gaussian
//! noise, the held-out robustness check).

mod audio;
mod output;
mod regime;
mod video;

use anyhow::Result;
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Arch {
    /// The ART audio notebook's raw-waveform CNN (1 s at 8 kHz).
    RawAudioCnn,
    /// avfoil's small 3-D CNN on frame differences, for action clips in UCF101 layout.
    C3dLite,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Scale {
    /// Int16 sample values, clip [-32768, 32767] (the ART notebook's model).
    Int16,
    /// Full scale ±1, clip [-1, 1].
    Unit,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlacementArg {
    /// Centre each clip in the model's window (deterministic).
    Centre,
    /// Start each clip at sample 0.
    Start,
    /// A uniformly random offset per clip, as the ART notebook, drawn from --seed and the clip.
    Random,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Architecture.
    #[arg(long, value_enum)]
    pub arch: Arch,
    /// Dataset folders: AudioMNIST layout (NN/d_NN_r.wav) or FSDD layout (d_speaker_i.wav) for
    /// raw-audio-cnn; one UCF101-layout folder (UCF-101/ + ucfTrainTestlist/) for c3d-lite.
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Model directory to write (model.toml, model.safetensors, training.json).
    #[arg(long)]
    pub out: PathBuf,
    /// AudioMNIST-layout speakers to hold out for evaluation, comma-separated (default: the last
    /// fifth of each folder's speakers). FSDD always holds out its test indices 0-4.
    #[arg(long, value_delimiter = ',')]
    pub test_speakers: Option<Vec<String>>,
    /// Passes over the training set [default: 12 for raw-audio-cnn, 20 for c3d-lite].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per optimisation step [default: 32 for raw-audio-cnn, 16 for c3d-lite].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate, Adam with a one-cycle schedule [default: 1e-3 for raw-audio-cnn, 3e-3
    /// for c3d-lite].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Random time shift of each training example, in samples either way.
    #[arg(long, default_value_t = 800)]
    pub max_shift: usize,
    /// Random gain of each training example, in dB either way (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub gain_db: f32,
    /// Probability of replacing a training example by its MP3 round trip (8 kb/s), so that the
    /// model keeps its accuracy behind the MP3 defence.
    #[arg(long, default_value_t = 0.0)]
    pub mp3_augment: f32,
    /// Where a clip shorter than 1 s goes in the zero-padded window (longer ones are cropped there).
    #[arg(long, value_enum, default_value = "centre")]
    pub placement: PlacementArg,
    /// Input units of the model.
    #[arg(long, value_enum, default_value = "int16")]
    pub scale: Scale,
    /// Seed of every random choice (initialisation, order, augmentation).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub regime: regime::RegimeArgs,
    #[command(flatten)]
    pub video: video::VideoTrainArgs,
}

pub fn run(args: TrainArgs, device: &Device) -> Result<()> {
    output::check_out(&args.out, &args.data)?;
    match args.arch {
        Arch::RawAudioCnn => audio::run(args, device),
        Arch::C3dLite => video::run(args, device),
    }
}
