//! The flicker attack: one offset per frame and channel, within eps and the pixel range, on the
//! chosen frames only, seeded; its regulariser and margin-loss gradients against finite
//! differences; and on the shipped action model, a flicker of at most 4/255 per frame fools it.

mod common;
use avfoil::attack::flicker::{Flicker, FlickerMargin};
use avfoil::attack::{Attack, Common, Eps};
use avfoil::classifier::objective::Objective;
use avfoil::classifier::{Model, argmax_rows};
use burn::tensor::{Device, Tensor, TensorData};
use common::{host, linear_shaped, tensor};
use std::path::Path;

const C: usize = 3;
const F: usize = 6;
const PLANE: usize = 4;
const SHAPE: [usize; 4] = [C, F, 2, 2];
const D: usize = C * F * PLANE;
const K: usize = 3;

/// A linear model whose classes weigh frames and channels differently.
fn model() -> avfoil::classifier::NeuralClassifier {
    let w: Vec<f32> = (0..K * D)
        .map(|i| {
            let (c, j) = (i / D, i % D);
            let frame = (j / PLANE) % F;
            (1.0 + ((frame * (c + 2) * 5 + j / (F * PLANE)) % 7) as f32)
                * if (i * 2654435761) % 3 == 0 { -0.3 } else { 0.2 }
        })
        .collect();
    linear_shaped(&w, &[0.0; K], K, &SHAPE, Some((0.0, 1.0)))
}

/// Three clips with pixels in [0.3, 0.7], far enough from the range's ends that nothing clips.
fn inputs() -> Vec<f32> {
    (0..3 * D)
        .map(|i| 0.5 + 0.4 * (((i * 7919) % 101) as f32 / 101.0 - 0.5))
        .collect()
}

fn attack(eps: f32) -> Flicker {
    Flicker {
        common: Common {
            eps: Eps::Scalar(eps),
            eps_step: Eps::Scalar(eps / 4.0),
            batch_size: 2,
            seed: 3,
            ..Common::default()
        },
        max_iter: 20,
        ..Flicker::default()
    }
}

/// The offset of each (example, channel, frame): `None` when the frame's pixels moved by
/// different amounts.
fn offsets(clean: &[f32], adv: &[f32]) -> Vec<Option<f32>> {
    clean
        .chunks(PLANE)
        .zip(adv.chunks(PLANE))
        .map(|(c, a)| {
            let d: Vec<f32> = c.iter().zip(a).map(|(c, a)| a - c).collect();
            d.iter().all(|v| (v - d[0]).abs() < 1e-6).then_some(d[0])
        })
        .collect()
}

#[test]
fn the_perturbation_is_one_offset_per_frame_and_channel_within_eps() {
    let clf = model();
    let x = inputs();
    let xt = tensor(&x, 3, D);
    let eps = 0.05;
    let out = attack(eps).generate(&clf, &xt, None, None).unwrap();
    assert_eq!(host(&xt), x, "the input is untouched");
    let adv = host(&out.adversarial);
    assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)));
    let offsets = offsets(&x, &adv);
    assert!(
        offsets
            .iter()
            .all(|o| o.is_some_and(|v| v.abs() <= eps + 1e-6)),
        "{offsets:?}"
    );
    assert!(offsets.iter().any(|o| o.is_some_and(|v| v != 0.0)));
    assert_eq!(out.success_iteration.len(), 3);
    assert_eq!(out.eps, vec![eps; 3]);
    // Same seed, same output; the batch size changes nothing.
    let mut other = attack(eps);
    other.common.batch_size = 3;
    let again = other.generate(&clf, &xt, None, None).unwrap();
    assert_eq!(host(&again.adversarial), adv);
}

#[test]
fn clipped_pixels_keep_the_frame_offset_elsewhere() {
    let clf = model();
    // Half of every frame is white: an offset up leaves those pixels at 1.
    let x: Vec<f32> = (0..D).map(|i| if i % 2 == 0 { 1.0 } else { 0.5 }).collect();
    let out = attack(0.05)
        .generate(&clf, &tensor(&x, 1, D), None, None)
        .unwrap();
    let adv = host(&out.adversarial);
    for (c, a) in x.chunks(PLANE).zip(adv.chunks(PLANE)) {
        let offset = a[1] - c[1];
        assert!((a[3] - c[3] - offset).abs() < 1e-6);
        for j in [0, 2] {
            assert!((a[j] - (c[j] + offset).clamp(0.0, 1.0)).abs() < 1e-6);
        }
    }
}

#[test]
fn only_the_chosen_frames_flicker() {
    let clf = model();
    let x = inputs();
    let mut a = attack(0.05);
    a.start_frame_index = 2;
    a.num_frames = Some(3);
    let adv = host(
        &a.generate(&clf, &tensor(&x, 3, D), None, None)
            .unwrap()
            .adversarial,
    );
    let offsets = offsets(&x, &adv);
    for (j, o) in offsets.iter().enumerate() {
        let frame = j % F;
        if !(2..5).contains(&frame) {
            assert_eq!(*o, Some(0.0), "frame {frame} moved");
        }
    }
    assert!(
        offsets
            .iter()
            .enumerate()
            .any(|(j, o)| (2..5).contains(&(j % F)) && o.is_some_and(|v| v != 0.0))
    );
    // A range past the end stops at the last frame; a start past it is refused by name.
    a.start_frame_index = 4;
    a.num_frames = Some(10);
    let adv = host(
        &a.generate(&clf, &tensor(&x, 3, D), None, None)
            .unwrap()
            .adversarial,
    );
    assert!(
        offsets_of_frames(&x, &adv, 0..4).iter().all(|&v| v == 0.0),
        "frames before the start moved"
    );
    a.start_frame_index = F;
    let err = a
        .generate(&clf, &tensor(&x, 3, D), None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("start_frame_index"), "{err}");
}

fn offsets_of_frames(clean: &[f32], adv: &[f32], frames: std::ops::Range<usize>) -> Vec<f32> {
    offsets(clean, adv)
        .into_iter()
        .enumerate()
        .filter(|(j, _)| frames.contains(&(j % F)))
        .map(|(_, o)| o.unwrap())
        .collect()
}

#[test]
fn targeted_flicker_reaches_its_target_on_the_linear_model() {
    let clf = model();
    let x = inputs();
    let xt = tensor(&x, 3, D);
    let clean = argmax_rows(clf_logits(&clf, xt.clone()));
    let targets: Vec<usize> = clean.iter().map(|c| (c + 1) % K).collect();
    let mut a = attack(0.2);
    a.common.targeted = true;
    a.max_iter = 40;
    let out = a.generate(&clf, &xt, Some(&targets), None).unwrap();
    let predicted = argmax_rows(clf_logits(&clf, out.adversarial));
    assert_eq!(predicted, targets);
    // Targeted attacks need targets.
    assert!(a.generate(&clf, &xt, None, None).is_err());
}

fn clf_logits(clf: &dyn avfoil::classifier::Classifier, x: Tensor<2>) -> Tensor<2> {
    clf.logits(x).unwrap()
}

#[test]
fn regulariser_gradient_matches_finite_differences() {
    for frames in [1, 2, 3, 7] {
        let a = Flicker {
            beta_1: 0.7,
            beta_2: 0.3,
            ..Flicker::default()
        };
        let delta: Vec<f32> = (0..C * frames)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 200.0)
            .collect();
        let g = a.regulariser_gradient(&delta, C);
        let h = 1e-3f32;
        for j in 0..delta.len() {
            let mut up = delta.clone();
            let mut down = delta.clone();
            up[j] += h;
            down[j] -= h;
            let fd = (a.regulariser(&up, C) - a.regulariser(&down, C)) / (2.0 * f64::from(h));
            assert!(
                (fd - f64::from(g[j])).abs() < 1e-5 * (1.0 + fd.abs()),
                "frames {frames}, offset {j}: {fd} vs {}",
                g[j]
            );
        }
    }
    // A constant offset on every frame has no roughness: only the thickness remains.
    let a = Flicker::default();
    let flat = vec![0.01f32; C * 4];
    assert!((a.regulariser(&flat, C) - 0.5 * 1e-4).abs() < 1e-9);
}

#[test]
fn margin_loss_gradient_matches_finite_differences() {
    let labels = [1usize, 0];
    let scores = [vec![0.3f32, 0.5, -0.2, 0.1], vec![2.0f32, 0.1, 0.05, -1.0]];
    for targeted in [false, true] {
        for margin in [0.05f32, 0.5, 5.0] {
            let objective = FlickerMargin {
                labels: &labels,
                targeted,
                margin,
            };
            for (i, s) in scores.iter().enumerate() {
                let g = objective.gradient(i, s, 4);
                for k in 0..4 {
                    let h = 1e-3;
                    let mut up = s.clone();
                    let mut down = s.clone();
                    up[k] += h;
                    down[k] -= h;
                    let fd =
                        (objective.value(i, &up, 4) - objective.value(i, &down, 4)) / (2.0 * h);
                    assert!(
                        (fd - g[k]).abs() < 2e-3,
                        "targeted {targeted}, margin {margin}, example {i}, class {k}: {fd} vs {}",
                        g[k]
                    );
                }
            }
        }
    }
    // Beaten by more than the margin: no loss, no gradient.
    let objective = FlickerMargin {
        labels: &[2],
        targeted: false,
        margin: 0.05,
    };
    assert_eq!(objective.value(0, &[5.0, 0.0, 0.0], 3), 0.0);
    assert!(
        objective
            .gradient(0, &[5.0, 0.0, 0.0], 3)
            .iter()
            .all(|v| *v == 0.0)
    );
}

/// The bundled Basketball clip on the shipped action model: a flicker of at most 4/255 per frame
/// changes its class; every frame's offset is flat (up to clipping) and within budget.
#[test]
fn a_four_level_flicker_fools_the_action_model_on_the_bundled_clip() {
    let device = Device::flex();
    let model = Model::open("actions", &device).unwrap();
    let clf = model.classifier.as_ref();
    let shape = clf.input_shape().to_vec();
    let d = clf.features();
    let video = avfoil::video::io::read_video(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/v_Basketball_g02_c01.mp4"),
    )
    .unwrap();
    let sampling = model.config.input.sampling.clone().unwrap_or_default();
    let clean = sampling.clip(&video, shape[1], shape[2], shape[3]).unwrap();
    let x = Tensor::<2>::from_data(TensorData::new(clean.clone(), [1, d]), &device);
    let truth = model
        .config
        .classes
        .iter()
        .position(|c| c == "Basketball")
        .unwrap();
    assert_eq!(argmax_rows(clf.logits(x.clone()).unwrap()), [truth]);
    let eps = 4.0 / 255.0;
    let a = Flicker::default();
    assert_eq!(a.common.eps, Eps::Scalar(eps));
    let out = a.generate(clf, &x, Some(&[truth]), None).unwrap();
    let adv = host(&out.adversarial);
    assert_ne!(argmax_rows(clf.logits(out.adversarial).unwrap()), [truth]);
    let plane = shape[2] * shape[3];
    for (c, v) in clean.chunks(plane).zip(adv.chunks(plane)) {
        let free: Vec<f32> = c
            .iter()
            .zip(v)
            .filter(|(c, _)| **c > eps && **c < 1.0 - eps)
            .map(|(c, v)| v - c)
            .collect();
        if let Some(&first) = free.first() {
            assert!(
                free.iter()
                    .all(|o| (o - first).abs() < 1e-5 && o.abs() <= eps + 1e-6)
            );
        }
    }
    assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)));
}

/// Parameters through the registry: the step is a fraction of eps unless eps_step gives it; both
/// is an error naming eps_step; audio models are refused.
#[test]
fn parameters_are_read_and_checked_by_name() {
    use avfoil::attack::spec::{RunSettings, parse};
    use avfoil::params::{KeyStyle, Params};
    let run = RunSettings {
        eps: Eps::Scalar(0.04),
        targeted: false,
        seed: 1,
        batch_size: 4,
        streams: None,
    };
    let build = |assignments: &[&str]| {
        let mut p = Params::new(KeyStyle::Flag);
        for a in assignments {
            p.insert_assignment(a).unwrap();
        }
        parse("flicker", &mut p).and_then(|spec| spec.build(&run))
    };
    let params = build(&[]).unwrap().params();
    assert!(
        (params["eps_step"].as_f64().unwrap() - 0.01).abs() < 1e-6,
        "{params}"
    );
    assert_eq!(params["max_iter"], 30);
    let params = build(&["eps_step=0.002", "num_frames=4"]).unwrap().params();
    assert!((params["eps_step"].as_f64().unwrap() - 0.002).abs() < 1e-6);
    assert_eq!(params["num_frames"], 4);
    for (bad, key) in [
        (&["step=0.5", "eps_step=0.01"][..], "eps_step"),
        (&["loss_margin=0"], "loss_margin"),
        (&["beta_1=-1"], "beta_1"),
        (&["num_frames=0"], "num_frames"),
        (&["max_iter=0"], "max_iter"),
    ] {
        let err = build(bad).err().expect("refused").to_string();
        assert!(err.contains(&key.replace('_', "-")), "{bad:?}: {err}");
    }
    let device = Device::flex();
    let audio = Model::open("spoken-digits", &device).unwrap();
    let mut p = Params::new(KeyStyle::Flag);
    let spec = parse("flicker", &mut p).unwrap();
    let err = spec
        .check_input(&audio.config.input)
        .unwrap_err()
        .to_string();
    assert!(err.contains("video"), "{err}");
}
