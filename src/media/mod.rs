//! Files in and out: arrays today; WAV, video and GIF arrive with the audio and video pipelines.

pub mod fs;
pub mod npy;
