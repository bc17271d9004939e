//! Frame saliency through clip sessions (c3d-lite's host kernel: one forward and backward pass per
//! clip, then one frame update per prefix checked) gives what the ordinary passes give, and asks
//! the model for nothing else.

use avfoil::attack::{Attack, Common, Eps, Fgm, FrameSaliency, Pgd, PrefixSearch, SaliencyMethod};
use avfoil::classifier::{Classifier, Counting, NeuralClassifier, Standardise};
use avfoil::model::Weights;
use avfoil::model::c3d_lite::C3dLite;
use burn::tensor::{Device, Tensor, TensorData};

const SHAPE: [usize; 4] = [3, 8, 12, 12];
const F: usize = SHAPE[1];
const D: usize = 3 * 8 * 12 * 12;
const N: usize = 6;

fn classifier(sessions: bool) -> NeuralClassifier {
    let device = Device::flex();
    let standardise = Standardise::new(&[0.4, 0.5, 0.6], &[0.2, 0.25, 0.3], &SHAPE).unwrap();
    let build = |tensors| {
        let mut weights = Weights::from_tensors("test", tensors);
        let net = C3dLite::from_weights(&mut weights, 4, &SHAPE, &device).unwrap();
        NeuralClassifier::new(net, &device, SHAPE.to_vec(), 4, Some((0.0, 1.0)))
            .unwrap()
            .with_standardise(standardise.clone())
    };
    // PyTorch's initialisation gives every clip nearly the same logits; a larger head whose bias
    // cancels their mean over the test clips leaves the decision to what differs between clips.
    let mut tensors = C3dLite::init(4, &SHAPE, &device, 11)
        .unwrap()
        .host_tensors();
    for v in &mut tensors.get_mut("fc.weight").unwrap().data {
        *v *= 40.0;
    }
    tensors.get_mut("fc.bias").unwrap().data.fill(0.0);
    let z = host(build(tensors.clone()).logits(clips()).unwrap());
    for (k, b) in tensors
        .get_mut("fc.bias")
        .unwrap()
        .data
        .iter_mut()
        .enumerate()
    {
        *b = -(0..N).map(|e| z[e * 4 + k]).sum::<f32>() / N as f32;
    }
    let clf = build(tensors);
    if sessions {
        clf
    } else {
        clf.without_host_kernel()
    }
}

fn clips() -> Tensor<2> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let x: Vec<f32> = (0..N * D).map(|_| rng.random_range(0.0..1.0)).collect();
    Tensor::from_data(TensorData::new(x, [N, D]), &Device::flex())
}

fn fsa(batch_size: usize, search: PrefixSearch, inner: Box<dyn Attack>) -> FrameSaliency {
    FrameSaliency {
        attacker: inner,
        method: SaliencyMethod::Iterative,
        frame_axis: 1,
        batch_size,
        search,
    }
}

fn fgm(eps: f32) -> Box<dyn Attack> {
    Box::new(Fgm::linf(eps))
}

fn host(t: Tensor<2>) -> Vec<f32> {
    avfoil::array::tensor_to_vec(t)
}

/// Frames of each example where `adv` differs from `x`.
fn perturbed(x: &[f32], adv: &[f32]) -> Vec<Vec<usize>> {
    let plane = SHAPE[2] * SHAPE[3];
    (0..N)
        .map(|e| {
            (0..F)
                .filter(|&t| {
                    (0..3).any(|c| {
                        let o = e * D + (c * F + t) * plane;
                        x[o..o + plane] != adv[o..o + plane]
                    })
                })
                .collect()
        })
        .collect()
}

#[test]
fn sessions_give_the_ordinary_passes_answer_with_one_frame_update_per_check() {
    let (with, without) = (classifier(true), classifier(false));
    let x = clips();
    let clean = host(x.clone());
    let mut ks = Vec::new();
    for eps in [0.002, 0.005, 0.01, 0.02] {
        let want = host(
            fsa(8, PrefixSearch::Linear, fgm(eps))
                .generate(&without, &x, None, None)
                .unwrap()
                .adversarial,
        );
        let want_frames = perturbed(&clean, &want);
        // Batch 8 keeps every session from the gradient to the search; batch 2 opens them again.
        for batch in [8, 2] {
            let counting = Counting::new(&with);
            let got = host(
                fsa(batch, PrefixSearch::Linear, fgm(eps))
                    .generate(&counting, &x, None, None)
                    .unwrap()
                    .adversarial,
            );
            let frames = perturbed(&clean, &got);
            assert_eq!(frames, want_frames, "eps {eps}, batch {batch}");
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "eps {eps}, batch {batch}: differs by {worst}");
            let c = counting.counts();
            assert_eq!((c.forwards, c.gradients), (0, 0));
            assert_eq!(c.session_gradients, N);
            // Clips adversarial already (k = 0) are not searched; the others check k = 1, 2, …
            // up to their answer, never the F-th.
            let searched = frames.iter().filter(|f| !f.is_empty()).count();
            let checks: usize = frames.iter().map(|f| f.len().min(F - 1)).sum();
            let reopened = if batch < N { searched } else { 0 };
            assert_eq!(c.sessions, N + reopened, "eps {eps}, batch {batch}");
            assert_eq!(c.frame_updates, checks, "eps {eps}, batch {batch}");
        }
        ks.extend(want_frames.iter().map(Vec::len));
    }
    assert!(ks.iter().any(|&k| k > 1 && k < F), "frames kept: {ks:?}");
}

#[test]
fn targeted_attacks_use_the_given_labels() {
    let (with, without) = (classifier(true), classifier(false));
    let x = clips();
    let targets = [0, 1, 2, 3, 0, 1];
    let attack = |clf: &dyn Classifier| {
        let inner = Fgm {
            common: Common {
                eps: Eps::Scalar(0.03),
                eps_step: Eps::Scalar(0.03),
                targeted: true,
                ..Default::default()
            },
            minimal: false,
        };
        host(
            fsa(8, PrefixSearch::Linear, Box::new(inner))
                .generate(clf, &x, Some(&targets), None)
                .unwrap()
                .adversarial,
        )
    };
    let (got, want) = (attack(&with), attack(&without));
    let clean = host(x.clone());
    assert_eq!(perturbed(&clean, &got), perturbed(&clean, &want));
}

#[test]
fn sessions_are_not_used_where_they_would_change_the_answer_or_save_nothing() {
    let with = classifier(true);
    let x = clips();
    let pgd: Box<dyn Attack> = Box::new(Pgd {
        common: Common {
            eps: Eps::Scalar(0.01),
            eps_step: Eps::Scalar(0.005),
            ..Default::default()
        },
        max_iter: 2,
        ..Default::default()
    });
    for attack in [
        fsa(8, PrefixSearch::Bisect, fgm(0.01)),
        fsa(8, PrefixSearch::Linear, pgd),
    ] {
        let counting = Counting::new(&with);
        attack.generate(&counting, &x, None, None).unwrap();
        assert_eq!(counting.counts().sessions, 0);
        assert!(counting.counts().gradients > 0);
    }
}
