//! Frame saliency on a linear "video" model `[1, F, 2, 2]`: per-example bookkeeping (each frame of
//! each example attacked at most once, within eps; no coupling between examples), saliency order,
//! and the degenerate cases (spec §3, §7.3).

mod common;
use avfoil::attack::{Attack, Common, Eps, Fgm, FrameSaliency, Pgd, PrefixSearch, SaliencyMethod};
use avfoil::attack_report::{Batch, run_attack};
use avfoil::classifier::{Classifier, Counting};
use common::{host, linear_shaped, tensor};

const F: usize = 8;
const SHAPE: [usize; 4] = [1, F, 2, 2];
const D: usize = 4 * F;
const K: usize = 3;

/// Weights whose frames matter differently per class, so examples of different classes rank their
/// frames differently.
fn model() -> avfoil::classifier::NeuralClassifier {
    let w: Vec<f32> = (0..K * D)
        .map(|i| {
            let (c, j) = (i / D, i % D);
            let frame = j / 4;
            let scale = 1.0 + ((frame * (c + 2) * 7) % F) as f32;
            scale
                * if (i * 2654435761) % 3 == 0 {
                    -0.2
                } else {
                    0.25
                }
        })
        .collect();
    linear_shaped(&w, &[0.0; K], K, &SHAPE, Some((0.0, 1.0)))
}

fn inputs() -> Vec<f32> {
    (0..3 * D)
        .map(|i| 0.5 + 0.4 * (((i * 7919) % 101) as f32 / 101.0 - 0.5))
        .collect()
}

fn fgm(eps: f32) -> Box<dyn Attack> {
    Box::new(Fgm::linf(eps))
}

fn fsa(method: SaliencyMethod, eps: f32) -> FrameSaliency {
    FrameSaliency {
        attacker: fgm(eps),
        method,
        frame_axis: 1,
        batch_size: 4,
        search: PrefixSearch::Linear,
    }
}

/// Per-frame L∞ change of each example.
fn frame_linf(clean: &[f32], adv: &[f32]) -> Vec<Vec<f32>> {
    (0..clean.len() / D)
        .map(|e| {
            (0..F)
                .map(|f| {
                    (0..4)
                        .map(|j| (adv[e * D + f * 4 + j] - clean[e * D + f * 4 + j]).abs())
                        .fold(0.0, f32::max)
                })
                .collect()
        })
        .collect()
}

#[test]
fn refresh_attacks_each_frame_of_each_example_at_most_once_within_eps() {
    let clf = model();
    let x = inputs();
    let eps = 0.05;
    let out = fsa(SaliencyMethod::IterativeRefresh, eps)
        .generate(&clf, &tensor(&x, 3, D), None, None)
        .unwrap();
    let adv = host(&out.adversarial);
    for (e, frames) in frame_linf(&x, &adv).iter().enumerate() {
        assert!(
            frames.iter().all(|&v| v <= eps + 1e-6),
            "example {e}: per-frame change {frames:?} exceeds eps"
        );
        assert!(frames.iter().any(|&v| v > 0.0), "example {e} was attacked");
    }
    assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn batched_and_one_at_a_time_runs_agree() {
    let clf = model();
    let x = inputs();
    for method in [SaliencyMethod::Iterative, SaliencyMethod::IterativeRefresh] {
        let attack = fsa(method, 0.05);
        let batch = host(
            &attack
                .generate(&clf, &tensor(&x, 3, D), None, None)
                .unwrap()
                .adversarial,
        );
        for e in 0..3 {
            let one = host(
                &attack
                    .generate(&clf, &tensor(&x[e * D..(e + 1) * D], 1, D), None, None)
                    .unwrap()
                    .adversarial,
            );
            assert_eq!(one, batch[e * D..(e + 1) * D], "{method:?}, example {e}");
        }
    }
}

#[test]
fn iterative_takes_the_full_attack_frames_in_saliency_order() {
    let clf = model();
    let x = inputs();
    let xt = tensor(&x, 3, D);
    let eps = 0.05;
    let full = host(
        &fgm(eps)
            .generate(&clf, &xt, None, None)
            .unwrap()
            .adversarial,
    );
    let adv = host(
        &fsa(SaliencyMethod::Iterative, eps)
            .generate(&clf, &xt, None, None)
            .unwrap()
            .adversarial,
    );
    let clean_labels = clf.predict_labels(&xt, 8).unwrap();
    let grads = host(&clf.loss_gradient(xt.clone(), &clean_labels).unwrap());
    let adv_labels = clf.predict_labels(&tensor(&adv, 3, D), 8).unwrap();
    for e in 0..3 {
        let sal: Vec<f32> = (0..F)
            .map(|f| (0..4).map(|j| grads[e * D + f * 4 + j].abs()).sum())
            .collect();
        let mut order: Vec<usize> = (0..F).collect();
        order.sort_by(|&a, &b| sal[b].total_cmp(&sal[a]).then(a.cmp(&b)));
        let changed: Vec<bool> = (0..F)
            .map(|f| (0..4).any(|j| adv[e * D + f * 4 + j] != x[e * D + f * 4 + j]))
            .collect();
        let k = changed.iter().filter(|&&c| c).count();
        // The changed frames are the k most salient, each exactly as the full attack made it.
        for (rank, &f) in order.iter().enumerate() {
            assert_eq!(changed[f], rank < k, "example {e}, frame {f}");
            for j in 0..4 {
                let i = e * D + f * 4 + j;
                assert_eq!(adv[i], if rank < k { full[i] } else { x[i] });
            }
        }
        // Stopped at the first success: one frame fewer would not do.
        if adv_labels[e] != clean_labels[e] && k > 1 {
            let mut fewer = adv[e * D..(e + 1) * D].to_vec();
            let last = order[k - 1];
            fewer[last * 4..last * 4 + 4]
                .copy_from_slice(&x[e * D + last * 4..e * D + last * 4 + 4]);
            assert_eq!(
                clf.predict_labels(&tensor(&fewer, 1, D), 1).unwrap()[0],
                clean_labels[e]
            );
        }
    }
}

#[test]
fn one_shot_is_the_inner_attack_and_targets_already_reached_are_left_alone() {
    let clf = model();
    let x = inputs();
    let xt = tensor(&x, 3, D);
    let plain = host(
        &fgm(0.05)
            .generate(&clf, &xt, None, None)
            .unwrap()
            .adversarial,
    );
    let one = host(
        &fsa(SaliencyMethod::OneShot, 0.05)
            .generate(&clf, &xt, None, None)
            .unwrap()
            .adversarial,
    );
    assert_eq!(plain, one);

    let targeted = FrameSaliency {
        attacker: Box::new(Pgd {
            common: Common {
                eps: Eps::Scalar(0.05),
                eps_step: Eps::Scalar(0.01),
                targeted: true,
                ..Default::default()
            },
            max_iter: 5,
            ..Default::default()
        }),
        method: SaliencyMethod::IterativeRefresh,
        frame_axis: 1,
        batch_size: 2,
        search: PrefixSearch::Linear,
    };
    let current = clf.predict_labels(&xt, 8).unwrap();
    let out = targeted.generate(&clf, &xt, Some(&current), None).unwrap();
    assert_eq!(
        host(&out.adversarial),
        x,
        "already at the target: untouched"
    );
}

#[test]
fn reports_count_perturbed_frames_and_bad_axes_are_errors() {
    let clf = model();
    let x = inputs();
    let xt = tensor(&x, 3, D);
    let origins: Vec<(String, usize)> = (0..3).map(|i| ("clip".to_string(), i)).collect();
    let classes: Vec<String> = (0..K).map(|c| c.to_string()).collect();
    let attack = fsa(SaliencyMethod::Iterative, 0.05);
    let batch = Batch {
        x: &xt,
        labels: None,
        mask: None,
        origins: &origins,
        video: true,
        sample_rate: None,
        eot: 1,
    };
    let run = run_attack(&clf, &classes, &attack, &batch, 4).unwrap();
    for (e, ex) in run.report.examples.iter().enumerate() {
        let changed = frame_linf(&x, &run.adversarial)[e]
            .iter()
            .filter(|&&v| v > 0.0)
            .count();
        assert_eq!(ex.perturbed_frames, Some(changed));
    }
    // Sparse: examples flip with a few of their frames perturbed.
    assert!(
        run.report
            .examples
            .iter()
            .all(|e| e.success && e.perturbed_frames.unwrap() < F)
    );
    let bad = FrameSaliency {
        frame_axis: 4,
        ..fsa(SaliencyMethod::Iterative, 0.05)
    };
    let e = bad.generate(&clf, &xt, None, None).unwrap_err().to_string();
    assert!(e.contains("frame_axis"), "{e}");
}

/// The k most salient frames of each example (clean-input saliency, ties by index), and k.
fn salient_order(clf: &dyn Classifier, x: &[f32], n: usize, labels: &[usize]) -> Vec<Vec<usize>> {
    let grads = host(&clf.loss_gradient(tensor(x, n, D), labels).unwrap());
    (0..n)
        .map(|e| {
            let sal: Vec<f32> = (0..F)
                .map(|f| (0..4).map(|j| grads[e * D + f * 4 + j].abs()).sum())
                .collect();
            let mut order: Vec<usize> = (0..F).collect();
            order.sort_by(|&a, &b| sal[b].total_cmp(&sal[a]).then(a.cmp(&b)));
            order
        })
        .collect()
}

/// Example `e` of `x` with frames `frames` taken from `full`.
fn prefix(x: &[f32], full: &[f32], e: usize, frames: &[usize]) -> Vec<f32> {
    let mut out = x[e * D..(e + 1) * D].to_vec();
    for &f in frames {
        out[f * 4..f * 4 + 4].copy_from_slice(&full[e * D + f * 4..e * D + f * 4 + 4]);
    }
    out
}

fn with_search(search: PrefixSearch, eps: f32) -> FrameSaliency {
    FrameSaliency {
        search,
        ..fsa(SaliencyMethod::Iterative, eps)
    }
}

#[test]
fn bisection_gives_arts_k_where_success_is_monotone() {
    // Two classes, linear: FGM moves every feature so as to raise the other class's logit margin,
    // so each frame added only raises it and success is monotone in the number of frames.
    let mut r = common::Lcg(11);
    let mut ks = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let w = r.vec(2 * D, -1.0, 1.0);
        let b = r.vec(2, -0.3, 0.3);
        let clf = common::linear_shaped(&w, &b, 2, &SHAPE, Some((0.0, 1.0)));
        let x = r.vec(3 * D, 0.1, 0.9);
        let xt = tensor(&x, 3, D);
        let eps = r.range(0.01, 0.1);
        let linear = with_search(PrefixSearch::Linear, eps)
            .generate(&clf, &xt, None, None)
            .unwrap();
        let bisect = with_search(PrefixSearch::Bisect, eps)
            .generate(&clf, &xt, None, None)
            .unwrap();
        let (lin, bis) = (host(&linear.adversarial), host(&bisect.adversarial));
        assert_eq!(lin, bis);
        for e in 0..3 {
            ks.insert(frame_linf(&x, &lin)[e].iter().filter(|&&v| v > 0.0).count());
        }
    }
    // The fixtures exercise the search: small, middle and full prefixes.
    assert!(ks.len() >= 5, "prefix lengths seen: {ks:?}");
}

#[test]
fn bisection_returns_an_adversarial_prefix_one_frame_short_of_a_benign_one() {
    let clf = model();
    let mut r = common::Lcg(5);
    let mut seen = Vec::new();
    for round in 0..6 {
        let n = 3;
        let x = r.vec(n * D, 0.1, 0.9);
        let xt = tensor(&x, n, D);
        let eps = [0.02, 0.05, 0.1][round % 3];
        let labels = clf.predict_labels(&xt, 8).unwrap();
        let full = host(
            &fgm(eps)
                .generate(&clf, &xt, None, None)
                .unwrap()
                .adversarial,
        );
        let orders = salient_order(&clf, &x, n, &labels);
        let adv = host(
            &with_search(PrefixSearch::Bisect, eps)
                .generate(&clf, &xt, None, None)
                .unwrap()
                .adversarial,
        );
        let predict = |row: Vec<f32>| clf.predict_labels(&tensor(&row, 1, D), 1).unwrap()[0];
        for e in 0..n {
            let k = frame_linf(&x, &adv)[e].iter().filter(|&&v| v > 0.0).count();
            seen.push(k);
            assert_eq!(
                adv[e * D..(e + 1) * D],
                prefix(&x, &full, e, &orders[e][..k])
            );
            if k < F {
                assert_ne!(predict(prefix(&x, &full, e, &orders[e][..k])), labels[e]);
            }
            if k > 0 {
                assert_eq!(
                    predict(prefix(&x, &full, e, &orders[e][..k - 1])),
                    labels[e],
                    "round {round}, example {e}: k = {k} but k − 1 frames already succeed"
                );
            }
        }
    }
    let inside = seen.iter().filter(|&&k| k > 1 && k < F).count();
    assert!(inside >= 3, "frames kept: {seen:?}");
}

#[test]
fn one_gradient_pass_and_one_forward_per_prefix_tried() {
    let clf = model();
    let x = inputs();
    let xt = tensor(&x, 3, D);
    // eps 1e-4 flips nothing: every prefix is tried.
    for (search, eps) in [
        (PrefixSearch::Linear, 0.05),
        (PrefixSearch::Linear, 1e-4),
        (PrefixSearch::Bisect, 0.05),
    ] {
        let counting = Counting::new(&clf);
        // Batch 4 holds the 3 examples: one pass per round.
        let adv = host(
            &with_search(search, eps)
                .generate(&counting, &xt, None, None)
                .unwrap()
                .adversarial,
        );
        let ks: Vec<usize> = frame_linf(&x, &adv)
            .iter()
            .map(|f| f.iter().filter(|&&v| v > 0.0).count())
            .collect();
        // The saliency, the labels, the first check and the FGM step share one gradient.
        assert_eq!(counting.counts().gradients, 1, "{search:?} eps {eps}");
        if eps < 1e-3 {
            assert_eq!(ks, [F; 3]);
        }
        let want = match search {
            // The examples probe k = 1, 2, … together; the F-th prefix is never checked.
            PrefixSearch::Linear => ks.iter().map(|&k| k.min(F - 1)).max().unwrap(),
            // ⌈log₂ 8⌉.
            PrefixSearch::Bisect => 3,
        };
        assert_eq!(
            counting.counts().forwards,
            want,
            "{search:?} eps {eps}: k = {ks:?}"
        );
    }
    // Refresh: one gradient per frame added (the last frame needs none), no other pass.
    let counting = Counting::new(&clf);
    let x1 = tensor(&x[..D], 1, D);
    let adv = host(
        &fsa(SaliencyMethod::IterativeRefresh, 1e-4)
            .generate(&counting, &x1, None, None)
            .unwrap()
            .adversarial,
    );
    assert!(frame_linf(&x[..D], &adv)[0].iter().all(|&v| v > 0.0));
    assert_eq!(
        (counting.counts().forwards, counting.counts().gradients),
        (0, F)
    );
}

#[test]
fn the_search_is_reported_with_the_parameters() {
    let p = with_search(PrefixSearch::Bisect, 0.05).params();
    assert_eq!(p["search"], "bisect");
    assert_eq!(
        fsa(SaliencyMethod::Iterative, 0.05).params()["search"],
        "linear"
    );
}
