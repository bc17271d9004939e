//! PGD on RawAudioCNN, the workload of `../shared/bench/art_baseline.py pgd_audio torch_pgd_audio`:
//! L∞, eps 0.5, eps_step 0.1, 40 iterations, a batch of 16 one-second 8 kHz inputs in int16 scale.
//! With a trained model directory as the first argument (tools/train_reference.py makes one) it also
//! times early stopping (eps 64, the FSDD test clips given as .npy in the second argument) against
//! the full run and compares their success verdicts.
//!
//!     cargo bench --bench pgd_audio [-- MODEL_DIR CLIPS.npy]
//!
//! Prints one JSON line per case, like the baseline script.

use avfoil::attack::{Attack, Common, Eps, Pgd};
use avfoil::classifier::{Model, NeuralClassifier, build_classifier};
use avfoil::media::npy::read_npy;
use avfoil::model::{ModelConfig, Weights};
use burn::tensor::Device;
use common::{audio_batch, report, time};
use serde_json::json;
use std::path::Path;

mod common;

fn pgd(eps: f32, step: f32, iters: usize, early_stop: bool) -> Pgd {
    Pgd {
        common: Common {
            eps: Eps::Scalar(eps),
            eps_step: Eps::Scalar(step),
            batch_size: 16,
            ..Default::default()
        },
        max_iter: iters,
        early_stop,
        ..Default::default()
    }
}

fn main() -> avfoil::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let device = Device::flex();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raw_audio_cnn");
    let load = || -> avfoil::Result<NeuralClassifier> {
        let config = ModelConfig::read(&fixture)?;
        let file = config.weights.as_deref().unwrap_or("model.safetensors");
        build_classifier(&config, Weights::load(&fixture.join(file))?, &device)
    };
    let classifier = load()?;
    let x = audio_batch(16).to_tensor(16, &device);
    let attack = pgd(0.5, 0.1, 40, false);
    let (s, _) = time(3, || attack.generate(&classifier, &x, None, None).unwrap());
    report("pgd40_audio_b16", s, 16, json!({"path": "cpu kernel"}));
    let burn_only = load()?.without_host_kernel();
    let (s, _) = time(1, || attack.generate(&burn_only, &x, None, None).unwrap());
    report("pgd40_audio_b16", s, 16, json!({"path": "burn autodiff"}));

    if let [dir, clips] = &args[..] {
        let model = Model::load(Path::new(dir), &device)?;
        let clips = read_npy(Path::new(clips))?;
        let n = clips.batch_len(&[1, 8000])?;
        let x = clips.to_tensor(n, &device);
        let clf = model.classifier.as_ref();
        let clean = clf.predict_labels(&x, 16)?;
        let verdicts = |adv| -> avfoil::Result<Vec<bool>> {
            let labels = clf.predict_labels(&adv, 16)?;
            Ok(labels.iter().zip(&clean).map(|(a, c)| a != c).collect())
        };
        let (full_s, full) = time(1, || {
            pgd(64.0, 16.0, 40, false)
                .generate(clf, &x, None, None)
                .unwrap()
        });
        let (early_s, early) = time(3, || {
            pgd(64.0, 16.0, 40, true)
                .generate(clf, &x, None, None)
                .unwrap()
        });
        let (vf, ve) = (verdicts(full.adversarial)?, verdicts(early.adversarial)?);
        let iters: Vec<Option<usize>> = early.success_iteration;
        report(
            "pgd40_eps64_trained_full",
            full_s,
            n,
            json!({"success": vf.iter().filter(|&&v| v).count()}),
        );
        let as_ints = |v: &[bool]| v.iter().map(|&b| b as u8).collect::<Vec<_>>();
        report(
            "pgd40_eps64_trained_early_stop",
            early_s,
            n,
            json!({"success": ve.iter().filter(|&&v| v).count(), "same_verdicts_as_full_run": vf == ve,
                   "verdicts": as_ints(&ve), "iterations": iters}),
        );
    }
    Ok(())
}
