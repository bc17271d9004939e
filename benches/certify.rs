//! Randomised-smoothing certification of RawAudioCNN (the fixture's weights: timing does not
//! depend on them) on 4 clips of `../shared/bench/art_baseline.py`'s audio batch, with that
//! script's `smoothing_audio` settings: ART's `PyTorchRandomizedSmoothing.certify(x, n=1000,
//! batch_size=100)` with `sample_size=1000` (its n0), `scale=256` (sigma), `alpha=0.001`:
//!
//!     cargo bench --bench certify
//!     ~/.cache/avfoil-art-venv/bin/python ../shared/bench/art_baseline.py smoothing_audio
//!
//! One timed run (no warm-up), as the baseline's `once`. Prints one JSON line.

use avfoil::certify::{SmoothingConfig, certify};
use avfoil::classifier::build_classifier;
use avfoil::model::{ModelConfig, Weights};
use burn::tensor::Device;
use common::{audio_batch, report};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

#[allow(dead_code)] // the video helpers are for the video benchmarks
mod common;

fn main() -> avfoil::Result<()> {
    let device = Device::flex();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raw_audio_cnn");
    let config = ModelConfig::read(&fixture)?;
    let clf = build_classifier(
        &config,
        Weights::load(&fixture.join("model.safetensors"))?,
        &device,
    )?;
    let clips = 4;
    let x = audio_batch(clips);
    let host = x.data;
    let smoothing = SmoothingConfig {
        sigma: 256.0,
        n0: 1000,
        n: 1000,
        alpha: 0.001,
        batch_size: 100,
        seed: 0,
    };
    let t0 = Instant::now();
    let mut certified = 0;
    for (i, row) in host.chunks(8000).enumerate() {
        let cert = certify(&clf, row, i as u64, &smoothing)?;
        certified += usize::from(cert.prediction.is_some());
    }
    report(
        "smoothing_certify_n1000_audio",
        t0.elapsed().as_secs_f64(),
        clips,
        json!({ "certified": certified }),
    );
    Ok(())
}
