//! `avfoil demo vad`: hiding real speech from a real pretrained voice-activity detector (the
//! shipped Silero VAD, an ONNX graph avfoil interprets).
//!
//! 1. the bundled FSDD digits (real recordings, 8 kHz) resampled to the detector's 16 kHz: how many
//!    of each clip's 32 windows it hears as speech;
//! 2. targeted PGD towards "non-speech" through the whole graph (its STFT convolution and LSTM
//!    included), L∞ eps in full-scale units: how many windows are speech afterwards, at what SNR.

use anyhow::{Context, Result};
use avfoil::array::tensor_to_vec;
use avfoil::attack::{Attack, Common, Eps, Pgd};
use avfoil::audio::resample::resample;
use avfoil::audio::wav::{WavEncoding, write_wav};
use avfoil::classifier::Model;
use avfoil::fs::write_atomic;
use avfoil::media::npy::npy_from_bytes;
use avfoil::metrics::perturbation_sizes;
use burn::tensor::{Device, Tensor, TensorData};
use std::path::Path;

const SPOKEN_DIGITS: &[u8] = include_bytes!("../../examples/spoken-digits.npy");
const NAMES: [&str; 4] = ["1_george_0", "3_jackson_0", "5_lucas_0", "8_nicolas_0"];

/// Settings of the VAD demo.
pub struct VadDemo<'a> {
    pub out: &'a Path,
    /// L∞ budget in full-scale units (±1).
    pub eps: f32,
    pub max_iter: usize,
    pub seed: u64,
    pub json: bool,
}

/// Windows each example's detector hears as speech (probability above one half).
fn speech_windows(model: &Model, x: Tensor<2>) -> Result<Vec<usize>> {
    let n = x.dims()[0];
    let scores = tensor_to_vec(model.classifier.frame_logits(x)?);
    Ok(scores
        .chunks(scores.len() / n.max(1))
        .map(|row| row.chunks(2).filter(|pair| pair[1].exp() > 0.5).count())
        .collect())
}

pub fn run(demo: VadDemo, device: &Device) -> Result<()> {
    let model = Model::open("silero-vad", device)?;
    let rate = model.config.input.sample_rate.unwrap_or(16000);
    let d = model.classifier.features();
    let frames = model.classifier.output_frames();
    // The digits are int16-scale at 8 kHz; the detector takes ±1 at 16 kHz, one second.
    let digits = npy_from_bytes("examples/spoken-digits.npy", SPOKEN_DIGITS)?;
    let per = digits.data.len() / NAMES.len();
    let mut clean = Vec::with_capacity(NAMES.len() * d);
    for row in digits.data.chunks(per) {
        let unit: Vec<f32> = row.iter().map(|v| v / 32768.0).collect();
        let mut up = resample(&unit, 8000, rate)?;
        up.resize(d, 0.0);
        clean.extend(up);
    }
    let n = NAMES.len();
    let x = Tensor::<2>::from_data(TensorData::new(clean.clone(), [n, d]), device);
    let before = speech_windows(&model, x.clone())?;

    let pgd = Pgd {
        common: Common {
            eps: Eps::Scalar(demo.eps),
            eps_step: Eps::Scalar(demo.eps / 10.0),
            targeted: true,
            seed: demo.seed,
            ..Default::default()
        },
        max_iter: demo.max_iter,
        ..Default::default()
    };
    pgd.validate()?;
    let non_speech = vec![0usize; n];
    let out = pgd.generate(model.classifier.as_ref(), &x, Some(&non_speech), None)?;
    let adv = tensor_to_vec(out.adversarial.clone());
    let after = speech_windows(&model, out.adversarial)?;
    let sizes = perturbation_sizes(&clean, &adv, n);

    std::fs::create_dir_all(demo.out).with_context(|| format!("--out {}", demo.out.display()))?;
    let mut rows = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let (c, a) = (&clean[i * d..(i + 1) * d], &adv[i * d..(i + 1) * d]);
        write_wav(
            &demo.out.join(format!("{name}.16k.wav")),
            rate,
            c,
            WavEncoding::Float32,
        )?;
        write_wav(
            &demo.out.join(format!("{name}.hidden.wav")),
            rate,
            a,
            WavEncoding::Float32,
        )?;
        rows.push(serde_json::json!({
            "clip": name,
            "speech_windows_clean": before[i],
            "speech_windows_adversarial": after[i],
            "windows": frames,
            "linf": sizes[i].linf,
            "snr_db": sizes[i].snr_db,
        }));
    }
    let doc = serde_json::json!({
        "model": "silero-vad",
        "attack": {"name": "pgd", "targeted": true, "target": "non-speech", "eps": demo.eps,
                   "eps_step": demo.eps / 10.0, "max_iter": demo.max_iter, "seed": demo.seed},
        "examples": rows,
    });
    let text = serde_json::to_string_pretty(&doc)?;
    write_atomic(&demo.out.join("report.json"), text.as_bytes())?;
    if demo.json {
        println!("{text}");
        return Ok(());
    }
    println!(
        "Silero VAD (shipped ONNX graph), {frames} windows of 32 ms per second of 16 kHz audio; \
         targeted PGD towards non-speech, L-inf {} of full scale, {} steps:",
        demo.eps, demo.max_iter
    );
    println!(
        "{:<14} {:>14} {:>16} {:>9}",
        "clip", "speech before", "speech after", "SNR dB"
    );
    for (i, name) in NAMES.iter().enumerate() {
        let snr = sizes[i].snr_db.map_or("-".into(), |s| format!("{s:.1}"));
        println!("{name:<14} {:>14} {:>16} {snr:>9}", before[i], after[i]);
    }
    println!(
        "wrote the 16 kHz clips, the hidden ones (.hidden.wav) and report.json to {}",
        demo.out.display()
    );
    Ok(())
}
