//! APGD, Square and DeepFool on RawAudioCNN (the fixture's weights: timing does not depend on
//! them), batch 16 of `../shared/bench/art_baseline.py`'s audio batch, with that script's settings
//! for `apgd_audio`, `square_audio` and `deepfool_audio`:
//!
//!     cargo bench --bench strong_attacks [-- cw] [-- auto]
//!     ~/.cache/avfoil-art-venv/bin/python ../shared/bench/art_baseline.py apgd_audio square_audio deepfool_audio [cw_audio] [autoattack_audio]
//!
//! `auto` is the ensemble as the baseline's `autoattack_audio` runs ART's (APGD-CE then APGD-DLR,
//! 100 iterations and 5 restarts each; ART's Square refuses audio).
//!
//! `apgd`, `square` or `deepfool` after `--` runs only the cases named (default: all three).
//!
//! One timed run each (no warm-up), as the baseline's `once`. Prints one JSON line per case.

use avfoil::attack::apgd::ApgdLoss;
use avfoil::attack::carlini::CarliniSpec;
use avfoil::attack::{
    Apgd, Attack, Carlini, Common, DeepFool, Eps, Norm, Projection, RunSettings, Square,
};
use avfoil::classifier::build_classifier;
use avfoil::model::{ModelConfig, Weights};
use avfoil::params::Params;
use burn::tensor::Device;
use common::{audio_batch, report};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

#[allow(dead_code)] // the video helpers are for the video benchmarks
mod common;

fn common(eps: f32, step: f32, restarts: usize) -> Common {
    Common {
        norm: Norm::Inf,
        eps: Eps::Scalar(eps),
        eps_step: Eps::Scalar(step),
        num_random_init: restarts,
        batch_size: 16,
        projection: Projection::Radial,
        ..Default::default()
    }
}

fn main() -> avfoil::Result<()> {
    let device = Device::flex();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raw_audio_cnn");
    let config = ModelConfig::read(&fixture)?;
    let clf = build_classifier(
        &config,
        Weights::load(&fixture.join("model.safetensors"))?,
        &device,
    )?;
    let x = audio_batch(16).to_tensor(16, &device);
    let named: Vec<String> = std::env::args()
        .filter(|a| ["apgd", "square", "deepfool"].contains(&a.as_str()))
        .collect();
    let picked = |case: &str| named.is_empty() || named.iter().any(|a| a == case);
    let once = |attack: &dyn Attack| {
        let t0 = Instant::now();
        attack.generate(&clf, &x, None, None).expect("attack");
        t0.elapsed().as_secs_f64()
    };
    let apgd = Apgd {
        common: common(0.5, 1.0, 1),
        max_iter: 100,
        loss: ApgdLoss::CrossEntropy,
        target_classes: 0,
    };
    if picked("apgd") {
        report("apgd_ce100_audio_b16", once(&apgd), 16, json!({}));
    }
    let square = Square {
        common: common(0.5, 0.5, 0),
        max_queries: 300,
        p_init: 0.5,
    };
    if picked("square") {
        report("square300_audio_b16", once(&square), 16, json!({}));
    }
    let mut deepfool = DeepFool {
        common: common(1e9, 1e9, 0),
        max_iter: 100,
        overshoot: 0.02,
        nb_grads: 10,
    };
    deepfool.common.norm = Norm::L2;
    if picked("deepfool") {
        report("deepfool_audio_b16", once(&deepfool), 16, json!({}));
    }
    if std::env::args().any(|a| a == "cw") {
        let mut cw = Carlini {
            common: common(1e9, 1e9, 0),
            spec: CarliniSpec {
                confidence: 0.0,
                learning_rate: 0.01,
                binary_search_steps: 10,
                max_iter: 10,
                initial_const: 0.01,
            },
        };
        cw.common.norm = Norm::L2;
        report("cw_l2_audio_b16", once(&cw), 16, json!({}));
    }
    if std::env::args().any(|a| a == "auto") {
        let table: toml::Table = toml::from_str(
            "components = [\"apgd-ce\", \"apgd-dlr\"]\nmax_iter = 100\nrestarts = 5",
        )
        .expect("a table");
        let auto = avfoil::attack::spec::parse("auto", &mut Params::from_inline(table))?.build(
            &RunSettings {
                eps: Eps::Scalar(0.5),
                targeted: false,
                seed: 0,
                batch_size: 16,
                streams: None,
            },
        )?;
        report(
            "autoattack_apgd_ce_dlr_audio_b16",
            once(auto.as_ref()),
            16,
            json!({}),
        );
    }
    Ok(())
}
