//! Files in and out: arrays and plots today; WAV, video and GIF arrive with the audio and video pipelines.

pub mod fs;
pub mod npy;
pub mod plot;
