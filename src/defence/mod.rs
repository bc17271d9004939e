//! Input-transformation defences (ART's preprocessor defences). Each implements
//! [`crate::classifier::Preprocessor`]: a forward transformation and, by default, an identity backward
//! pass (BPDA), which is what makes `attack --defence ...` the adaptive attack.

pub mod h264;
pub mod mp3;

pub use h264::{H264Compression, H264Quality, VideoScale};
pub use mp3::Mp3Compression;
