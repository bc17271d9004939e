//! One epoch of Madry et al.'s PGD adversarial training of RawAudioCNN beside one plain epoch, on the
//! baseline's 256-clip audio batch (labels i mod 10), batch 32, PGD-7 at L∞ eps 64 with step 16
//! from a random start: the settings of `../shared/bench/art_baseline.py madry_epoch_audio` (ART's
//! `AdversarialTrainerMadryPGD(nb_epochs=1, batch_size=32, eps=64, eps_step=16, max_iter=7)`).
//!
//!     cargo bench --bench adversarial_training
//!
//! Each case trains two epochs and times the first (the second would add batch-norm
//! recalibration, which ART does not do); no augmentation, no held-out evaluation. Prints one
//! JSON line per case, and the gauge: the PGD epoch over (k + 1) plain epochs.

use avfoil::params::{KeyStyle, Params};
use avfoil::train::{Budget, Dataset, Regime, TrainConfig, adversary};
use burn::tensor::Device;
use common::{audio_batch, report};
use serde_json::json;

#[allow(dead_code)] // the timing helpers are for the forward-pass benchmarks
mod common;

const CLIPS: usize = 256;
const STEPS: i64 = 7;

fn first_epoch_seconds(data: &Dataset, regime: Regime) -> f64 {
    let config = TrainConfig {
        epochs: 2,
        batch_size: 32,
        seed: 0,
        max_shift: 0,
        ..Default::default()
    };
    let mut first = 0.0;
    avfoil::train::train_raw_audio_cnn(
        data,
        &[],
        10,
        Some((-32768.0, 32767.0)),
        &config,
        regime,
        &Device::flex(),
        |_| {},
        |log| {
            if log.epoch == 1 {
                first = log.seconds;
            }
        },
    )
    .expect("training runs");
    first
}

fn main() {
    let data = Dataset {
        x: audio_batch(CLIPS).data,
        labels: (0..CLIPS).map(|i| i % 10).collect(),
    };
    let plain = first_epoch_seconds(&data, Regime::default());
    report("plain_epoch_audio_256", plain, CLIPS, json!({}));

    let mut p = Params::new(KeyStyle::Flag);
    p.insert("steps", toml::Value::Integer(STEPS));
    p.insert("step", toml::Value::Float(16.0));
    let pgd = adversary::parse("pgd", &mut p, Budget { eps: 64.0, seed: 0 })
        .expect("the PGD adversary's parameters are valid");
    let madry = first_epoch_seconds(
        &data,
        Regime {
            adversary: Some(&*pgd),
            ..Default::default()
        },
    );
    let ratio = madry / ((STEPS + 1) as f64 * plain);
    report(
        "madry_pgd7_epoch_audio_256",
        madry,
        CLIPS,
        json!({"ratio_to_k_plus_1_plain_epochs": ratio}),
    );
}
