//! Model families and model directories (`model.toml` + weights + model card).
//!
//! Each family is one file (one folder when it has a host kernel) that implements [`Network`] and
//! defines its [`Architecture`], registered in [`registry`]. This layer builds networks only; a
//! classifier (standardisation, input description, defences) is put together above it, in
//! `crate::classifier`.
//!
//! ```toml
//! architecture = "raw-audio-cnn"
//! classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
//! weights = "model.safetensors"
//! [input]
//! modality = "audio"
//! shape = [1, 8000]
//! clip = [-32768.0, 32767.0]
//! sample_rate = 8000
//! ```
//!
//! A torchvision video ResNet (`r3d-18` or `r2plus1d-18`) with its own state dict, on `[0, 1]`
//! pixels, prepared as torchvision's Kinetics-400 preset does (shorter side resized to 128, centre
//! crop 112, its mean and std; every second frame of a 30 fps video gives its 15 fps clips):
//!
//! ```toml
//! architecture = "r3d-18"
//! classes = ["abseiling", "air drumming", "…"]
//! weights = "r3d_18.pth"
//! [input]
//! modality = "video"
//! shape = [3, 16, 112, 112]
//! clip = [0.0, 1.0]
//! mean = [0.43216, 0.394666, 0.37645]
//! std = [0.22803, 0.22145, 0.216989]
//! [input.sampling]
//! stride = 2
//! resize = 128
//! ```

pub mod architecture;
pub mod batch_stats;
pub mod c3d_lite;
pub mod config;
pub mod conv_bn;
pub mod export;
pub mod linear;
pub mod network;
pub mod onnx;
pub mod pool3d;
pub mod raw_audio_cnn;
pub mod shipped;
pub mod video_resnet;
pub mod weights;

pub use architecture::{Architecture, ModelFiles};
pub use config::{InputConfig, Modality, ModelConfig, OnnxConfig};
pub use network::{CompiledNetwork, Network};
pub use weights::{HostTensor, Weights};

use crate::registry::Registry;

/// The built-in families, one line each.
const BUILTIN: &[&Architecture] = &[
    &raw_audio_cnn::ARCHITECTURE,
    &c3d_lite::ARCHITECTURE,
    &linear::ARCHITECTURE,
    &video_resnet::R3D_18,
    &video_resnet::R2PLUS1D_18,
    &onnx::ARCHITECTURE,
];

/// Every model family `model.toml`'s `architecture` may name. A family is one file (or folder)
/// that implements [`Network`] and defines one [`Architecture`]; it becomes available by one line
/// in `BUILTIN` above, or from outside this crate by one call to `ARCHITECTURES.register`.
pub static ARCHITECTURES: Registry<Architecture> = Registry::new("architecture", BUILTIN);
