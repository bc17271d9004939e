//! The video patch attack: the output differs from the input inside one square only, the same
//! square with the same pixels on every frame, within eps of mid-grey; seeded placements.

mod common;
use avfoil::attack::patch::Patch;
use avfoil::attack::{Attack, Common, Eps};
use avfoil::classifier::{Classifier, argmax_rows};
use common::{host, linear_shaped, tensor};

const C: usize = 3;
const F: usize = 4;
const H: usize = 8;
const W: usize = 10;
const D: usize = C * F * H * W;
const K: usize = 3;

fn model() -> avfoil::classifier::NeuralClassifier {
    let w: Vec<f32> = (0..K * D)
        .map(|i| ((i * 2654435761) % 13) as f32 / 13.0 - 0.5)
        .collect();
    linear_shaped(&w, &[0.0; K], K, &[C, F, H, W], Some((0.0, 1.0)))
}

fn inputs(n: usize) -> Vec<f32> {
    (0..n * D)
        .map(|i| ((i * 7919) % 101) as f32 / 101.0)
        .collect()
}

fn attack(seed: u64, eps: f32) -> Patch {
    Patch {
        common: Common {
            eps: Eps::Scalar(eps),
            seed,
            batch_size: 2,
            ..Common::default()
        },
        size: 0.5,
        max_iter: 15,
        step: 0.05,
        scale_min: 0.75,
        scale_max: 1.25,
    }
}

/// The bounding box `(top, left, bottom, right)` of the pixels that changed in any frame or channel
/// of example `e`, after checking that inside it every frame holds the same values.
fn patch_box(clean: &[f32], adv: &[f32], e: usize) -> Option<(usize, usize, usize, usize)> {
    let at = |ch: usize, f: usize, i: usize, j: usize| e * D + ((ch * F + f) * H + i) * W + j;
    let mut bbox: Option<(usize, usize, usize, usize)> = None;
    for ch in 0..C {
        for f in 0..F {
            for i in 0..H {
                for j in 0..W {
                    if clean[at(ch, f, i, j)] != adv[at(ch, f, i, j)] {
                        bbox = Some(match bbox {
                            None => (i, j, i, j),
                            Some((t, l, b, r)) => (t.min(i), l.min(j), b.max(i), r.max(j)),
                        });
                    }
                }
            }
        }
    }
    let (t, l, b, r) = bbox?;
    for ch in 0..C {
        for i in t..=b {
            for j in l..=r {
                let v = adv[at(ch, 0, i, j)];
                for f in 1..F {
                    assert_eq!(
                        adv[at(ch, f, i, j)],
                        v,
                        "frame {f} differs inside the patch"
                    );
                }
            }
        }
    }
    Some((t, l, b, r))
}

#[test]
fn the_output_differs_inside_one_square_the_same_on_every_frame() {
    let clf = model();
    let x = inputs(3);
    let xt = tensor(&x, 3, D);
    let eps = 0.3;
    let a = attack(5, eps);
    let side = a.side(H, W);
    assert_eq!(side, 4);
    let out = a.generate(&clf, &xt, None, None).unwrap();
    assert_eq!(host(&xt), x, "the input is untouched");
    let adv = host(&out.adversarial);
    assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)));
    for e in 0..3 {
        let (t, l, b, r) = patch_box(&x, &adv, e).expect("a patch was pasted");
        assert!(
            b - t < side && r - l < side,
            "example {e}: box {t},{l}..{b},{r}"
        );
        for (c, v) in x[e * D..(e + 1) * D].iter().zip(&adv[e * D..(e + 1) * D]) {
            assert!(
                c == v || (v - 0.5).abs() <= eps + 1e-6,
                "{v} beyond eps of grey"
            );
        }
    }
    // Same seed, same output, whatever the batch size; another seed places it elsewhere.
    let mut one = attack(5, eps);
    one.common.batch_size = 1;
    assert_eq!(
        host(&one.generate(&clf, &xt, None, None).unwrap().adversarial),
        adv
    );
    let other = host(
        &attack(6, eps)
            .generate(&clf, &xt, None, None)
            .unwrap()
            .adversarial,
    );
    assert_ne!(other, adv);
}

#[test]
fn a_frame_sized_patch_fools_the_linear_model_and_eps_zero_pastes_grey() {
    let clf = model();
    let x = inputs(2);
    let xt = tensor(&x, 2, D);
    let clean = argmax_rows(clf.logits(xt.clone()).unwrap());
    // A patch as large as the frame has one placement: the optimisation alone decides.
    let mut whole = attack(1, 0.5);
    whole.size = 1.0;
    whole.scale_min = 1.0;
    whole.scale_max = 1.0;
    let out = whole.generate(&clf, &xt, None, None).unwrap();
    let adv = argmax_rows(clf.logits(out.adversarial).unwrap());
    assert!(
        adv.iter().zip(&clean).all(|(a, c)| a != c),
        "{adv:?} vs {clean:?}"
    );
    let grey = host(
        &attack(1, 0.0)
            .generate(&clf, &xt, None, None)
            .unwrap()
            .adversarial,
    );
    assert!(grey.iter().zip(&x).all(|(g, c)| g == c || *g == 0.5));
}
