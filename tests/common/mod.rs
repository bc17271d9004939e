//! Helpers shared by the integration tests: a linear softmax classifier with a closed-form gradient,
//! and host-side f64 references.

#![allow(dead_code)]

pub mod video;

use avfoil::array::tensor_to_vec;
use avfoil::classifier::NeuralClassifier;
use avfoil::model::linear::LinearSoftmax;
use avfoil::model::{HostTensor, Weights};
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::BTreeMap;

pub fn device() -> Device {
    Device::flex()
}

/// A linear classifier `W x + b` with `k` classes over `d` features.
pub fn linear(
    w: &[f32],
    b: &[f32],
    k: usize,
    d: usize,
    clip: Option<(f32, f32)>,
) -> NeuralClassifier {
    linear_shaped(w, b, k, &[d], clip)
}

pub fn tensor(data: &[f32], n: usize, d: usize) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data.to_vec(), [n, d]), &device())
}

pub fn host(t: &Tensor<2>) -> Vec<f32> {
    tensor_to_vec(t.clone())
}

/// ∂CE/∂x = Wᵀ(softmax(Wx + b) − onehot(y)) for one example, in f64.
pub fn ce_gradient(w: &[f32], b: &[f32], k: usize, x: &[f64], y: usize) -> Vec<f64> {
    let d = x.len();
    let logits: Vec<f64> = (0..k)
        .map(|c| b[c] as f64 + (0..d).map(|j| w[c * d + j] as f64 * x[j]).sum::<f64>())
        .collect();
    let m = logits.iter().cloned().fold(f64::MIN, f64::max);
    let z: f64 = logits.iter().map(|l| (l - m).exp()).sum();
    let p: Vec<f64> = logits.iter().map(|l| (l - m).exp() / z).collect();
    (0..d)
        .map(|j| {
            (0..k)
                .map(|c| w[c * d + j] as f64 * (p[c] - if c == y { 1.0 } else { 0.0 }))
                .sum()
        })
        .collect()
}

/// The predicted class of one example.
pub fn predict(w: &[f32], b: &[f32], k: usize, x: &[f64]) -> usize {
    let d = x.len();
    (0..k)
        .map(|c| b[c] as f64 + (0..d).map(|j| w[c * d + j] as f64 * x[j]).sum::<f64>())
        .enumerate()
        .fold(
            (0, f64::MIN),
            |best, (c, v)| if v > best.1 { (c, v) } else { best },
        )
        .0
}

pub fn lp_norm(v: &[f64], p: f64) -> f64 {
    if p.is_infinite() {
        v.iter().fold(0.0, |m, x| m.max(x.abs()))
    } else {
        v.iter().map(|x| x.abs().powf(p)).sum::<f64>().powf(1.0 / p)
    }
}

/// The steepest-ascent unit direction of `g` for ℓp (ART's `_compute_perturbation`), in f64.
pub fn direction(g: &[f64], p: f64) -> Vec<f64> {
    if p.is_infinite() {
        return g
            .iter()
            .map(|x| {
                if *x > 0.0 {
                    1.0
                } else if *x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            })
            .collect();
    }
    if p == 1.0 {
        let mut best = 0;
        for (i, x) in g.iter().enumerate() {
            if x.abs() > g[best].abs() {
                best = i;
            }
        }
        return g
            .iter()
            .enumerate()
            .map(|(i, x)| {
                if i == best {
                    x.signum() * (*x != 0.0) as i32 as f64
                } else {
                    0.0
                }
            })
            .collect();
    }
    let q = p / (p - 1.0);
    let s = lp_norm(g, q);
    if s == 0.0 {
        return vec![0.0; g.len()];
    }
    g.iter()
        .map(|x| x.signum() * (x.abs() / s).powf(q - 1.0))
        .collect()
}

/// Projection onto the ℓp ball of radius eps as ART (clip for ∞, radial rescaling otherwise).
pub fn project(v: &[f64], eps: f64, p: f64) -> Vec<f64> {
    if p.is_infinite() {
        return v.iter().map(|x| x.clamp(-eps, eps)).collect();
    }
    let n = lp_norm(v, p);
    let f = if n > 0.0 { (eps / n).min(1.0) } else { 1.0 };
    v.iter().map(|x| x * f).collect()
}

/// A small deterministic pseudo-random generator for fixtures (no dependency on the crate's RNG).
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next_f32(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / ((1u64 << 24) as f32)
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.range(lo, hi)).collect()
    }
}

/// Runs the `avfoil` binary.
pub fn avfoil(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_avfoil"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs the binary, requires success, and parses its stdout as one JSON document.
pub fn ok_json(args: &[&str]) -> serde_json::Value {
    let out = avfoil(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

/// A path as a command-line argument.
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// Signal-to-error ratio of `other` against `reference`, in dB.
pub fn snr_db(reference: &[f32], other: &[f32]) -> f64 {
    let (mut sig, mut err) = (0f64, 0f64);
    for (&r, &o) in reference.iter().zip(other) {
        sig += (r as f64).powi(2);
        err += ((o - r) as f64).powi(2);
    }
    10.0 * (sig / err).log10()
}

/// A silent 16-bit stereo WAV of `frames` frames: what a mono model must refuse.
pub fn write_stereo_wav(path: &std::path::Path, frames: usize) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for _ in 0..2 * frames {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
}

/// [`linear`] for examples of `shape` (e.g. a `[C, F, H, W]` video).
pub fn linear_shaped(
    w: &[f32],
    b: &[f32],
    k: usize,
    shape: &[usize],
    clip: Option<(f32, f32)>,
) -> NeuralClassifier {
    let d: usize = shape.iter().product();
    let mut t = BTreeMap::new();
    t.insert(
        "weight".to_string(),
        HostTensor {
            shape: vec![k, d],
            data: w.to_vec(),
        },
    );
    t.insert(
        "bias".to_string(),
        HostTensor {
            shape: vec![k],
            data: b.to_vec(),
        },
    );
    let mut weights = Weights::from_tensors("test", t);
    let net = LinearSoftmax::from_weights(&mut weights, k, d, &device()).unwrap();
    NeuralClassifier::new(net, &device(), shape.to_vec(), k, clip).unwrap()
}

/// Writes a two-class `linear` model directory `dir/name` with bias 0, weights `weight` (`[2, d]`)
/// and the given `[input]` table lines of `model.toml`; returns its path.
pub fn write_linear_model(
    dir: &std::path::Path,
    name: &str,
    classes: [&str; 2],
    input: &str,
    weight: Vec<f32>,
) -> std::path::PathBuf {
    let model = dir.join(name);
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(
        model.join("model.toml"),
        format!(
            "architecture = \"linear\"\nclasses = [\"{}\", \"{}\"]\nweights = \"model.safetensors\"\n[input]\n{input}\n",
            classes[0], classes[1]
        ),
    )
    .unwrap();
    let d = weight.len() / 2;
    let mut t = BTreeMap::new();
    t.insert(
        "weight".to_string(),
        HostTensor {
            shape: vec![2, d],
            data: weight,
        },
    );
    t.insert(
        "bias".to_string(),
        HostTensor {
            shape: vec![2],
            data: vec![0.0, 0.0],
        },
    );
    avfoil::model::weights::write_safetensors(&model.join("model.safetensors"), &t).unwrap();
    model
}

/// max |a − b| / max |b|: how far `a` is from the reference `b`, relative to `b`'s scale.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs() as f64).fold(0.0, f64::max);
    diff / scale
}
