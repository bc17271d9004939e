//! avfoil attacks and defends audio and video classifiers.
//!
//! Every command is one path through the same pieces:
//!
//! ```text
//! .npy / media ─► array in the model's input space ─► Classifier (defences ─► mean/std ─► network)
//!                                                          │
//!                         attack (FGM, PGD, …) uses predict / loss_gradient
//!                                                          │
//!                         metrics (success, L∞, L2, SNR) ─► artefacts + JSON
//! ```
//!
//! Input space is the user's units (int16-scale audio, [0, 1] pixels); eps and clip ranges are in it.
//! Tensors are flattened to `[N, features]` between components; the backend is chosen at run time by
//! the `Device` (burn-flex on the CPU by default).

pub mod array;
pub mod attack;
pub mod attack_report;
pub mod audio;
pub mod catalog;
pub mod certify;
pub mod classifier;
pub mod data;
pub mod defence;
pub mod device;
pub mod error;
pub mod eval;
pub mod fs;
pub mod input;
pub mod kernel;
pub mod measure;
pub mod media;
pub mod metrics;
pub mod model;
pub mod onnx;
pub mod params;
pub mod perception;
pub mod registry;
pub mod scale;
pub mod seed;
pub mod train;
pub mod video;

pub use error::{Error, Result};
