//! Frame saliency (iterative, FGM L∞ eps 2/255) on one 16 × 112 × 112 clip: the workload of
//! `../shared/bench/art_baseline.py fsa_video`, on the weights and input that
//! `tools/art_fsa_video.py` saved, so that both sides attack the same model. The frames perturbed
//! must then be ART's (a correctness check: compare the `frames` of both JSON lines).
//!
//!     ~/.cache/avfoil-art-venv/bin/python tools/art_fsa_video.py time 43 0 26
//!     cargo bench --bench fsa_video -- target/bench/fsa_video_x.npy \
//!         target/bench/fsa_video_seed43.safetensors target/bench/fsa_video_seed0.safetensors \
//!         target/bench/fsa_video_seed26.safetensors
//!
//! Seeds 43, 0 and 26 make ART perturb 14 frames (and flip the clip), all 16 (no flip) and 1.
//! `--apgd` times APGD-CE instead (art_baseline's `apgd_video`: L∞ 8/255, step 16/255, 100
//! iterations, one random start; run alone, the baseline's VideoCNN gets the seed-0 weights):
//!
//!     cargo bench --bench fsa_video -- --apgd target/bench/fsa_video_x.npy \
//!         target/bench/fsa_video_seed0.safetensors
//!     ~/.cache/avfoil-art-venv/bin/python ../shared/bench/art_baseline.py apgd_video
//!
//! `--auto R` times the ensemble instead: APGD-CE then APGD-DLR, R restarts each, as
//! `tools/art_fsa_video.py auto 0 R` runs ART's AutoAttack on the same weights.
//!
//! Options (after `--`): `--reps N` (default 3), `--pieces` (also time the host kernel's pieces, the
//! forward pass at batch 1, 2 and 4 and the input gradient). Prints one JSON line per case, like the
//! baseline script: FGM at 8/255 on the whole clip (art_baseline's `fgm_video`, on the seed-0
//! weights its own model), through the host kernel (`ClipKernel`, the CPU path) and through burn;
//! then frame saliency with the frames perturbed and the passes it asked for, searched linearly
//! through clip sessions (ART's answer, the default), linearly through forward passes, and by
//! bisection.

use avfoil::attack::apgd::ApgdLoss;
use avfoil::attack::{
    Apgd, Attack, Common, Eps, Fgm, FrameSaliency, Norm, PrefixSearch, RunSettings, SaliencyMethod,
};
use avfoil::classifier::{Classifier, Counting, NeuralClassifier};
use avfoil::kernel::HostKernel;
use avfoil::kernel::clip::{ClipBlock, ClipKernel};
use avfoil::kernel::linear::HostLinear;
use avfoil::media::npy::read_npy;
use avfoil::model::Network;
use avfoil::model::Weights;
use avfoil::model::pool3d::max_pool3d;
use avfoil::params::Params;
use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use common::{report, time};
use serde_json::json;
use std::path::{Path, PathBuf};

#[allow(dead_code)] // the audio batch is for the audio benchmarks
mod common;

const SHAPE: [usize; 4] = [3, 16, 112, 112];
const CLASSES: usize = 10;
const WIDTHS: [usize; 4] = [32, 64, 128, 256];
/// `nn.Sequential` indices of the four convolutions in art_baseline's `VideoCNN.f`.
const CONV_KEYS: [usize; 4] = [0, 3, 6, 9];

/// art_baseline's `VideoCNN`: four Conv3d k3 p1 + ReLU, max pools (1,2,2), 2, 2, a global average
/// pool and a linear layer. A benchmark model, not an architecture avfoil ships.
#[derive(Module, Debug)]
struct VideoCnn {
    conv_weights: Vec<Param<Tensor<5>>>,
    conv_biases: Vec<Param<Tensor<1>>>,
    fc_weight: Param<Tensor<2>>,
    fc_bias: Param<Tensor<1>>,
}

impl VideoCnn {
    fn load(path: &Path, device: &Device) -> avfoil::Result<Self> {
        let mut w = Weights::load(path)?;
        let (mut conv_weights, mut conv_biases) = (Vec::new(), Vec::new());
        let mut cin = SHAPE[0];
        for (&cout, key) in WIDTHS.iter().zip(CONV_KEYS) {
            conv_weights.push(w.param(&format!("f.{key}.weight"), [cout, cin, 3, 3, 3], device)?);
            conv_biases.push(w.param(&format!("f.{key}.bias"), [cout], device)?);
            cin = cout;
        }
        let net = Self {
            conv_weights,
            conv_biases,
            fc_weight: w.param("fc.weight", [CLASSES, WIDTHS[3]], device)?,
            fc_bias: w.param("fc.bias", [CLASSES], device)?,
        };
        w.finish()?;
        Ok(net)
    }
}

impl VideoCnn {
    /// The same network on the host, for frame-by-frame updates.
    fn to_clip_kernel(&self) -> avfoil::Result<ClipKernel> {
        let host = |t: Tensor<1>| avfoil::array::tensor_to_vec(t);
        let blocks = (0..4)
            .map(|i| {
                let pool = [Some([1, 2, 2]), Some([2, 2, 2]), Some([2, 2, 2]), None][i];
                ClipBlock::new(
                    &avfoil::array::tensor_to_vec(self.conv_weights[i].val()),
                    &host(self.conv_biases[i].val()),
                    None,
                    pool,
                )
            })
            .collect::<avfoil::Result<Vec<_>>>()?;
        let fc = HostLinear::new(
            avfoil::array::tensor_to_vec(self.fc_weight.val()),
            host(self.fc_bias.val()),
        )?;
        ClipKernel::new(SHAPE, false, blocks, fc)
    }
}

impl Network for VideoCnn {
    fn clip_kernel(&self) -> Option<ClipKernel> {
        self.to_clip_kernel().ok()
    }

    fn host_kernel(&self) -> Option<Box<dyn HostKernel>> {
        Some(Box::new(self.to_clip_kernel().ok()?))
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, _] = x.dims();
        let [c, f, h, w] = SHAPE;
        let mut x = x.reshape([n, c, f, h, w]);
        for (i, (weight, bias)) in self.conv_weights.iter().zip(&self.conv_biases).enumerate() {
            x = relu(conv3d(
                x,
                weight.val(),
                Some(bias.val()),
                ConvOptions::new([1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
            ));
            x = match i {
                0 => max_pool3d(x, [1, 2, 2]),
                1 | 2 => max_pool3d(x, [2, 2, 2]),
                _ => x,
            };
        }
        let [n, c, f, h, w] = x.dims();
        let pooled: Tensor<2> = x.reshape([n, c, f * h * w]).mean_dim(2).reshape([n, c]);
        pooled.matmul(self.fc_weight.val().transpose()) + self.fc_bias.val().unsqueeze::<2>()
    }
}

fn fsa(search: PrefixSearch) -> FrameSaliency {
    FrameSaliency {
        attacker: Box::new(Fgm::linf(2.0 / 255.0)),
        method: SaliencyMethod::Iterative,
        frame_axis: 1,
        batch_size: 1,
        search,
    }
}

/// Frames (along axis 1 of `[3, F, H, W]`) where `adv` differs from `clean`.
fn perturbed_frames(clean: &[f32], adv: &[f32]) -> Vec<usize> {
    let [c, f, h, w] = SHAPE;
    (0..f)
        .filter(|&t| {
            (0..c).any(|ci| {
                let o = (ci * f + t) * h * w;
                clean[o..o + h * w] != adv[o..o + h * w]
            })
        })
        .collect()
}

/// art_baseline's `apgd_video`: APGD-CE, L∞ eps 8/255, initial step 16/255, 100 iterations, one
/// random start, one run (no warm-up, the baseline's `once`).
fn apgd_once(clf: &dyn Classifier, x: &Tensor<2>, weights: Option<&str>) -> avfoil::Result<()> {
    let attack = Apgd {
        common: Common {
            norm: Norm::Inf,
            eps: Eps::Scalar(8.0 / 255.0),
            eps_step: Eps::Scalar(16.0 / 255.0),
            num_random_init: 1,
            batch_size: 1,
            ..Default::default()
        },
        max_iter: 100,
        loss: ApgdLoss::CrossEntropy,
        target_classes: 0,
    };
    let counting = Counting::new(clf);
    let t0 = std::time::Instant::now();
    let out = attack.generate(&counting, x, None, None)?;
    let seconds = t0.elapsed().as_secs_f64();
    let passes = counting.counts();
    let adversarial = counting.predict_labels(&out.adversarial, 1)?[0];
    report(
        "apgd_ce100_video_16x112",
        seconds,
        1,
        json!({"weights": weights, "passes": format!("{passes:?}"), "adversarial_label": adversarial}),
    );
    Ok(())
}

/// The ensemble as `art_fsa_video.py auto` runs ART's AutoAttack: APGD-CE then APGD-DLR, L∞ 8/255,
/// 100 iterations, `restarts` each, one run.
fn auto_once(clf: &dyn Classifier, x: &Tensor<2>, restarts: usize) -> avfoil::Result<()> {
    let table: toml::Table = toml::from_str(&format!(
        "components = [\"apgd-ce\", \"apgd-dlr\"]\nmax_iter = 100\nrestarts = {restarts}"
    ))
    .expect("a table");
    let auto = avfoil::attack::spec::parse("auto", &mut Params::from_inline(table))?.build(
        &RunSettings {
            eps: Eps::Scalar(8.0 / 255.0),
            targeted: false,
            seed: 0,
            batch_size: 1,
            streams: None,
        },
    )?;
    let t0 = std::time::Instant::now();
    let out = auto.generate(clf, x, None, None)?;
    let seconds = t0.elapsed().as_secs_f64();
    let robust = clf.predict_labels(&out.adversarial, 1)? == clf.predict_labels(x, 1)?;
    report(
        "autoattack_apgd_ce_dlr_video_16x112",
        seconds,
        1,
        json!({"restarts": restarts, "robust": robust}),
    );
    Ok(())
}

fn main() -> avfoil::Result<()> {
    let mut reps = 3;
    let mut pieces = false;
    let mut apgd = false;
    let mut auto: Option<usize> = None;
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {} // what `cargo bench` passes
            "--reps" => reps = args.next().and_then(|v| v.parse().ok()).expect("--reps N"),
            "--pieces" => pieces = true,
            "--apgd" => apgd = true,
            "--auto" => auto = args.next().and_then(|v| v.parse().ok()),
            _ => paths.push(a.into()),
        }
    }
    let [x_path, weight_paths @ ..] = paths.as_slice() else {
        panic!(
            "usage: fsa_video [--reps N] [--pieces] [--apgd | --auto RESTARTS] X.npy WEIGHTS.safetensors ..."
        );
    };
    let device = Device::flex();
    let d: usize = SHAPE.iter().product();
    let clean = read_npy(x_path)?;
    assert_eq!(clean.data.len(), d, "one clip of {SHAPE:?} expected");
    let x = Tensor::<2>::from_data(TensorData::new(clean.data.clone(), [1, d]), &device);
    for path in weight_paths {
        let clf = NeuralClassifier::new(
            VideoCnn::load(path, &device)?,
            &device,
            SHAPE.to_vec(),
            CLASSES,
            Some((0.0, 1.0)),
        )?;
        let weights = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if apgd {
            apgd_once(&clf, &x, weights.as_deref())?;
            continue;
        }
        if let Some(restarts) = auto {
            auto_once(&clf, &x, restarts)?;
            continue;
        }
        if pieces {
            let net = VideoCnn::load(path, &device)?;
            let kernel = net.to_clip_kernel()?;
            let (s, state) = time(reps, || kernel.start(&clean.data));
            report("clip_kernel_start", s, 1, json!({"weights": weights}));
            let burn_logits = avfoil::array::tensor_to_vec(clf.logits(x.clone())?);
            eprintln!(
                "host logits {:?}\nburn logits {:?}",
                state.logits(),
                burn_logits
            );
            let (s, _) = time(reps, || state.input_gradient(&[1.0; CLASSES]));
            report("clip_kernel_gradient", s, 1, json!({"weights": weights}));
            let other: Vec<f32> = clean.data.iter().map(|v| (v + 0.01).min(1.0)).collect();
            for frame in [0, 7, 15] {
                let mut st = kernel.start(&clean.data);
                let (s, _) = time(reps, || {
                    st.replace(&other, &[frame]);
                    st.replace(&clean.data, &[frame]);
                });
                report(
                    "clip_kernel_two_frame_updates",
                    s,
                    1,
                    json!({"frame": frame}),
                );
            }
            for n in [1, 2, 4] {
                let xs = x.clone().repeat_dim(0, n);
                let (s, _) = time(reps, || clf.logits(xs.clone()).expect("logits"));
                report(
                    "video_cnn_forward",
                    s,
                    n,
                    json!({"weights": weights, "batch": n}),
                );
            }
            let (s, _) = time(reps, || {
                clf.loss_gradient_and_logits(x.clone(), &[0])
                    .expect("gradient")
            });
            report(
                "video_cnn_input_gradient",
                s,
                1,
                json!({"weights": weights}),
            );
        }
        let clean_label = clf.predict_labels(&x, 1)?[0];
        let passes = NeuralClassifier::new(
            VideoCnn::load(path, &device)?,
            &device,
            SHAPE.to_vec(),
            CLASSES,
            Some((0.0, 1.0)),
        )?
        .without_host_kernel();
        // art_baseline's fgm_video: FGM at 8/255 on the whole clip, no labels given.
        for (clf, path) in [(&clf, "host-kernel"), (&passes, "burn")] {
            let fgm = Fgm::linf(8.0 / 255.0);
            let (s, _) = time(reps, || {
                fgm.generate(clf, &x, None, None)
                    .expect("attack")
                    .adversarial
            });
            report(
                "fgm_video_16x112",
                s,
                1,
                json!({"weights": weights, "path": path, "reps": reps}),
            );
        }
        // Linear through clip sessions (the default), linear through ordinary forward passes,
        // and bisection.
        for (search, clf, how) in [
            (PrefixSearch::Linear, &clf, "frame-updates"),
            (PrefixSearch::Linear, &passes, "forward-passes"),
            (PrefixSearch::Bisect, &clf, "forward-passes"),
        ] {
            let attack = fsa(search);
            let (s, adv) = time(reps, || {
                attack
                    .generate(clf, &x, None, None)
                    .expect("attack")
                    .adversarial
            });
            let counting = Counting::new(clf);
            attack.generate(&counting, &x, None, None)?;
            let c = counting.counts();
            let adv_label = clf.predict_labels(&adv, 1)?[0];
            let frames = perturbed_frames(&clean.data, &avfoil::array::tensor_to_vec(adv));
            report(
                "fsa_iter_video_16x112",
                s,
                1,
                json!({"weights": weights, "search": search, "checks": how,
                       "frames_perturbed": frames.len(), "frames": frames,
                       "clean_label": clean_label, "adversarial_label": adv_label,
                       "forward_passes": c.forwards, "gradient_passes": c.gradients,
                       "clip_sessions": c.sessions, "frame_updates": c.frame_updates,
                       "reps": reps}),
            );
        }
    }
    Ok(())
}
