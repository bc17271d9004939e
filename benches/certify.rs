//! Randomised-smoothing certification of RawAudioCNN (the fixture's weights: timing does not
//! depend on them) on 4 clips of `../shared/bench/art_baseline.py`'s audio batch, with that
//! script's `smoothing_audio` settings: ART's `PyTorchRandomizedSmoothing.certify(x, n=1000,
//! batch_size=100)` with `sample_size=1000` (its n0), `scale=256` (sigma), `alpha=0.001`:
//!
//!     cargo bench --bench certify
//!     ~/.cache/avfoil-art-venv/bin/python ../shared/bench/art_baseline.py smoothing_audio
//!
//! One timed run (no warm-up), as the baseline's `once`. Prints one JSON line.
//!
//! `AVFOIL_CERTIFY=CLIPS,N0,N` changes the clip count and sample sizes (the n = 10,000:
//! `AVFOIL_CERTIFY=2,100,10000`; `tools/art_certify.py` runs ART with the same three).

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
    let (clips, n0, n) = sizes();
    let x = audio_batch(clips);
    let host = x.data;
    let smoothing = SmoothingConfig {
        sigma: 256.0,
        n0,
        n,
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
        &format!("smoothing_certify_n{n}_audio"),
        t0.elapsed().as_secs_f64(),
        clips,
        json!({ "certified": certified, "n0": n0, "n": n }),
    );
    Ok(())
}

/// (clips, n0, n): the baseline's (4, 1000, 1000), or `AVFOIL_CERTIFY`'s.
fn sizes() -> (usize, usize, usize) {
    let Ok(spec) = std::env::var("AVFOIL_CERTIFY") else {
        return (4, 1000, 1000);
    };
    let v: Vec<usize> = spec
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    match v[..] {
        [clips, n0, n] => (clips, n0, n),
        _ => panic!("AVFOIL_CERTIFY: CLIPS,N0,N (three counts), got {spec:?}"),
    }
}
