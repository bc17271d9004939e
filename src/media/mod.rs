//! Files in and out: arrays (npy), plots, GIFs, and atomic writes. WAV lives in `crate::audio`.

pub mod fs;
pub mod gif;
pub mod npy;
pub mod plot;
