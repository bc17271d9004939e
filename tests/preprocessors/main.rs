//! The preprocessing defences (resample, lowpass, bandpass, bit-depth, median, moving-average,
//! jpeg, median-spatial, frame-subsample, frame-drop): against scipy, numpy and Pillow on fixtures
//! from tools/make_preprocessor_fixtures.py, finite differences of every exact backward pass,
//! properties every defence keeps, and the command line and scenarios with them.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod gradients;
mod properties;
mod reference;
mod scenario;

use avfoil::classifier::Preprocessor;
use avfoil::model::{InputConfig, Modality};
use avfoil::params::{KeyStyle, Params};
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// A fixture's values and shape.
pub fn fixture(name: &str) -> avfoil::array::Array {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/preprocessors")
        .join(format!("{name}.npy"));
    avfoil::media::npy::read_npy(&path).unwrap()
}

/// An audio model's inputs: `[channels, samples]` at 8 kHz in int16 units.
pub fn audio(channels: usize, samples: usize) -> InputConfig {
    input(
        Modality::Audio,
        vec![channels, samples],
        [-32768.0, 32767.0],
        Some(8000),
    )
}

/// A video model's inputs: `[3, frames, height, width]` pixels in [0, 1].
pub fn video(frames: usize, height: usize, width: usize) -> InputConfig {
    input(
        Modality::Video,
        vec![3, frames, height, width],
        [0.0, 1.0],
        None,
    )
}

pub fn input(
    modality: Modality,
    shape: Vec<usize>,
    clip: [f32; 2],
    sample_rate: Option<u32>,
) -> InputConfig {
    InputConfig {
        modality,
        shape,
        clip: Some(clip),
        sample_rate,
        mean: None,
        std: None,
        sampling: None,
    }
}

/// The registered defence `name` with `params` (`KEY=VALUE`), built for `input`.
pub fn build(
    name: &str,
    params: &[&str],
    input: &InputConfig,
) -> avfoil::Result<Box<dyn Preprocessor>> {
    let mut p = Params::new(KeyStyle::Table);
    for a in params {
        p.insert_assignment(a)?;
    }
    avfoil::defence::parse(name, &mut p)?.build(input)
}

/// `defence` on a batch of `n` examples, drawing from stream `stream` of seed 7.
pub fn apply(defence: &dyn Preprocessor, x: &[f32], n: usize, stream: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    rng.set_stream(stream);
    let out = defence.forward(batch(x, n), &mut rng).unwrap();
    assert_eq!(
        out.dims(),
        [n, x.len() / n],
        "{}: shape kept",
        defence.name()
    );
    common::host(&out)
}

pub fn batch(x: &[f32], n: usize) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(x.to_vec(), [n, x.len() / n]),
        &common::device(),
    )
}

/// The largest absolute difference.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
