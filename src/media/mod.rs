//! Arrays and pictures in and out: `.npy` arrays and PNG plots. WAV lives in `crate::audio`, videos
//! and GIFs in `crate::video`, atomic writes in `crate::fs`.

pub mod npy;
pub mod plot;
