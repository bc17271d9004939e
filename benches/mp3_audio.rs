//! The MP3 defence and the adaptive PGD through it, the workloads of
//! `../shared/bench/art_baseline.py mp3` (16 one-second 8 kHz clips) and
//! `tools/art_adaptive_pgd.py` (PGD-40, L∞ eps 0.5, step 0.1, batch 16, through `Mp3Compression`).
//!
//!     cargo bench --bench mp3_audio
//!
//! Prints one JSON line per case, like the baseline scripts.

use avfoil::attack::{Attack, Common, Eps, Pgd};
use avfoil::classifier::{Defended, Model};
use avfoil::defence::Mp3Compression;
use avfoil::scale::AudioScale;
use burn::tensor::Device;
use common::{audio_batch, report, time};
use serde_json::json;
use std::path::Path;

mod common;

fn main() -> avfoil::Result<()> {
    let device = Device::flex();
    let x = audio_batch(16).to_tensor(16, &device);
    let mp3 = Mp3Compression::new(8000, &[1, 8000], AudioScale::Int16, None)?;
    let (s, _) = time(5, || mp3.compress_batch(x.clone()).unwrap());
    report(
        "mp3_roundtrip_8k_1s",
        s,
        16,
        json!({"threads": rayon::current_num_threads()}),
    );
    let one = audio_batch(1).data;
    let (s, _) = time(20, || mp3.compress(&one).unwrap());
    report("mp3_roundtrip_8k_1s_one_clip", s, 1, json!({}));

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raw_audio_cnn");
    let model = Model::load(&fixture, &device)?;
    let defended = Defended::new(model.classifier.clone(), vec![Box::new(mp3)]);
    let attack = Pgd {
        common: Common {
            eps: Eps::Scalar(0.5),
            eps_step: Eps::Scalar(0.1),
            batch_size: 16,
            ..Default::default()
        },
        max_iter: 40,
        ..Default::default()
    };
    let (s, _) = time(3, || attack.generate(&defended, &x, None, None).unwrap());
    report("adaptive_pgd40_mp3_b16", s, 16, json!({}));
    Ok(())
}
