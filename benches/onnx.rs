//! ONNX graphs interpreted on burn-flex: logits and the cross-entropy input gradient (with logits)
//! per batch, for every parity fixture (tests/fixtures/onnx), the shipped Silero VAD, and
//! RawAudioCNN both native (host kernel) and as an ONNX export when one is given.
//!
//!     cargo bench --bench onnx [-- BATCH [REPS]] [-- NAME ...]
//!     AVFOIL_RAW_AUDIO_CNN_ONNX=/tmp/raw_audio_cnn.onnx cargo bench --bench onnx
//!
//! `tools/time_onnx_torch.py` times the same models in PyTorch and writes that export. Prints one
//! JSON line per case. Names (a fixture, `silero-vad`, `pgd40_m5`, `raw-audio-cnn`) run only
//! those cases.

use avfoil::classifier::Model;
use avfoil::model::ModelConfig;
use burn::tensor::{Device, Tensor, TensorData};
use common::{report, time};
use serde_json::json;
use std::path::Path;

#[allow(dead_code)] // the video helpers are for the video benchmarks
mod common;

fn bench(name: &str, model: &Model, n: usize, reps: usize, device: &Device) {
    let d: usize = model.classifier.features();
    let values: Vec<f32> = common::pixels(n * d)
        .iter()
        .map(|v| v * 2.0 - 1.0)
        .collect();
    let x = Tensor::<2>::from_data(TensorData::new(values, [n, d]), device);
    let labels = vec![1; n];
    let clf = &model.classifier;
    let (s, _) = time(reps, || clf.logits(x.clone()).expect("logits"));
    report("onnx_forward", s, n, json!({"model": name}));
    let (s, _) = time(reps, || {
        clf.loss_gradient_and_logits(x.clone(), &labels)
            .expect("gradient")
    });
    report("onnx_gradient", s, n, json!({"model": name}));
}

/// PGD (L-inf, 40 steps, eps 0.05, step 0.005, no random start) on the M5 fixture, as
/// tools/time_onnx_torch.py runs ART's on the same PyTorch model (inputs clipped to [-1, 1]).
fn pgd40_m5(fixtures: &Path, n: usize, device: &Device) -> avfoil::Result<()> {
    use avfoil::attack::{Attack, Common, Eps, Pgd};
    let dir = tempfile::tempdir().map_err(|e| avfoil::Error::io(Path::new("tmp"), e))?;
    std::fs::copy(fixtures.join("m5.onnx"), dir.path().join("m5.onnx"))
        .map_err(|e| avfoil::Error::io(fixtures, e))?;
    let toml = "architecture = \"onnx\"\nclasses = [\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]\n\
                [onnx]\nfile = \"m5.onnx\"\n[input]\nmodality = \"audio\"\nshape = [1, 8000]\n\
                clip = [-1.0, 1.0]\nsample_rate = 8000\n";
    std::fs::write(dir.path().join("model.toml"), toml)
        .map_err(|e| avfoil::Error::io(dir.path(), e))?;
    let model = Model::load(dir.path(), device)?;
    let values: Vec<f32> = common::pixels(n * 8000)
        .iter()
        .map(|v| v * 2.0 - 1.0)
        .collect();
    let x = Tensor::<2>::from_data(TensorData::new(values, [n, 8000]), device);
    let pgd = Pgd {
        common: Common {
            eps: Eps::Scalar(0.05),
            eps_step: Eps::Scalar(0.005),
            batch_size: n,
            ..Default::default()
        },
        max_iter: 40,
        ..Default::default()
    };
    let (s, _) = time(3, || {
        pgd.generate(model.classifier.as_ref(), &x, None, None)
            .expect("pgd")
    });
    report("pgd40_m5", s, n, json!({"model": "m5"}));
    Ok(())
}

fn main() -> avfoil::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<usize>().is_err())
        .collect();
    let wanted = |case: &str| names.is_empty() || names.iter().any(|n| n == case);
    let n = args.first().copied().unwrap_or(8);
    let reps = args.get(1).copied().unwrap_or(5);
    let device = Device::flex();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    for name in [
        "cnn1d",
        "cnn2d",
        "cnn3d",
        "crnn_lstm",
        "crnn_gru",
        "transformer",
        "norms",
        "x3d_like",
        "m5",
        "logmel_cnn",
        "stft_logmel",
        "matchboxnet",
        "r2plus1d_18",
    ] {
        if !wanted(name) {
            continue;
        }
        let path = fixtures.join(format!("{name}.onnx"));
        let model = Model::open(path.to_str().expect("utf-8 path"), &device)?;
        bench(name, &model, n, reps, &device);
    }
    if wanted("silero-vad") {
        let model = Model::open("silero-vad", &device)?;
        bench("silero-vad", &model, n, reps, &device);
    }
    if wanted("pgd40_m5") {
        pgd40_m5(&fixtures, n, &device)?;
    }
    let export = std::env::var("AVFOIL_RAW_AUDIO_CNN_ONNX").ok();
    if let Some(export) = export.filter(|_| wanted("raw-audio-cnn")) {
        // The native model the export was made from, and the export with the same [input].
        let native_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raw_audio_cnn");
        let native = Model::load(&native_dir, &device)?;
        bench("raw-audio-cnn native", &native, n, reps, &device);
        let dir = tempfile::tempdir().map_err(|e| avfoil::Error::io(Path::new("tmp"), e))?;
        std::fs::copy(&export, dir.path().join("g.onnx"))
            .map_err(|e| avfoil::Error::io(Path::new(&export), e))?;
        let mut config = ModelConfig::read(&native_dir)?;
        config.architecture = "onnx".into();
        config.weights = None;
        config.onnx = Some(toml::from_str("file = \"g.onnx\"").expect("a valid [onnx] table"));
        std::fs::write(
            dir.path().join("model.toml"),
            toml::to_string(&config).expect("toml"),
        )
        .map_err(|e| avfoil::Error::io(dir.path(), e))?;
        bench(
            "raw-audio-cnn onnx",
            &Model::load(dir.path(), &device)?,
            n,
            reps,
            &device,
        );
    }
    Ok(())
}
