//! The temporally sparse attack on a linear "video" model `[1, F, 2, 2]`: at most k frames change,
//! the k of largest gradient norm, within eps; k = F is PGD; against frame saliency at one budget.

mod common;
use avfoil::attack::sparse_frames::SparseFrames;
use avfoil::attack::{Attack, Common, Eps, Fgm, FrameSaliency, Pgd, PrefixSearch, SaliencyMethod};
use avfoil::classifier::{Classifier, argmax_rows};
use common::{host, linear_shaped, tensor};

const F: usize = 8;
const D: usize = 4 * F;
const K: usize = 3;

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
    linear_shaped(&w, &[0.0; K], K, &[1, F, 2, 2], Some((0.0, 1.0)))
}

fn inputs(n: usize) -> Vec<f32> {
    (0..n * D)
        .map(|i| 0.5 + 0.4 * (((i * 7919) % 101) as f32 / 101.0 - 0.5))
        .collect()
}

fn pgd(eps: f32) -> Pgd {
    Pgd {
        common: Common {
            eps: Eps::Scalar(eps),
            eps_step: Eps::Scalar(eps / 4.0),
            seed: 2,
            ..Common::default()
        },
        max_iter: 20,
        ..Pgd::default()
    }
}

fn sparse(k: usize, eps: f32) -> SparseFrames {
    SparseFrames {
        attacker: Box::new(pgd(eps)),
        k,
        frame_axis: 1,
        batch_size: 2,
    }
}

fn changed_frames(clean: &[f32], adv: &[f32], e: usize) -> Vec<usize> {
    (0..F)
        .filter(|f| (0..4).any(|j| clean[e * D + f * 4 + j] != adv[e * D + f * 4 + j]))
        .collect()
}

#[test]
fn only_the_k_frames_of_largest_gradient_change_within_eps() {
    let clf = model();
    let x = inputs(3);
    let xt = tensor(&x, 3, D);
    let eps = 0.05;
    let a = sparse(2, eps);
    let labels = argmax_rows(clf.logits(xt.clone()).unwrap());
    let chosen = a.choose(&clf, &xt, &labels).unwrap();
    let g = host(&clf.loss_gradient(xt.clone(), &labels).unwrap());
    let out = a.generate(&clf, &xt, None, None).unwrap();
    assert_eq!(host(&xt), x, "the input is untouched");
    let adv = host(&out.adversarial);
    for e in 0..3 {
        let norm = |f: usize| -> f32 { (0..4).map(|j| g[e * D + f * 4 + j].powi(2)).sum() };
        let mut want: Vec<usize> = (0..F).collect();
        want.sort_by(|&a, &b| norm(b).total_cmp(&norm(a)).then(a.cmp(&b)));
        assert_eq!(chosen[e], want[..2]);
        let changed = changed_frames(&x, &adv, e);
        assert!(changed.iter().all(|f| chosen[e].contains(f)), "{changed:?}");
        assert!(!changed.is_empty());
    }
    assert!(
        adv.iter()
            .zip(&x)
            .all(|(a, c)| (a - c).abs() <= eps + 1e-6 && (0.0..=1.0).contains(a))
    );
}

#[test]
fn a_budget_of_every_frame_is_pgd() {
    let clf = model();
    let xt = tensor(&inputs(2), 2, D);
    let all = host(
        &sparse(F, 0.05)
            .generate(&clf, &xt, None, None)
            .unwrap()
            .adversarial,
    );
    let plain = host(
        &pgd(0.05)
            .generate(&clf, &xt, None, None)
            .unwrap()
            .adversarial,
    );
    assert_eq!(all, plain);
}

/// At one budget, sparse-frames given as many frames as frame saliency (FGM, iterative) ended up
/// using per clip fools at least the clips frame saliency fooled: its frames are ranked the same
/// way (by gradient size) and PGD's iterations spend them at least as well as one FGM step.
#[test]
fn with_frame_saliencys_frame_count_it_fools_at_least_as_many_clips() {
    let clf = model();
    let n = 6;
    let x: Vec<f32> = (0..n * D)
        .map(|i| 0.5 + 0.4 * (((i * 104729) % 97) as f32 / 97.0 - 0.5))
        .collect();
    let xt = tensor(&x, n, D);
    let labels = argmax_rows(clf.logits(xt.clone()).unwrap());
    let eps = 0.03;
    let fsa = FrameSaliency {
        attacker: Box::new(Fgm::linf(eps)),
        method: SaliencyMethod::Iterative,
        search: PrefixSearch::Linear,
        frame_axis: 1,
        batch_size: 4,
    };
    let fsa_adv = host(
        &fsa.generate(&clf, &xt, Some(&labels), None)
            .unwrap()
            .adversarial,
    );
    let fooled = |adv: &[f32]| -> Vec<bool> {
        argmax_rows(clf.logits(tensor(adv, n, D)).unwrap())
            .iter()
            .zip(&labels)
            .map(|(p, l)| p != l)
            .collect()
    };
    let fsa_fooled = fooled(&fsa_adv);
    let k = (0..n)
        .map(|e| changed_frames(&x, &fsa_adv, e).len())
        .max()
        .unwrap();
    let sparse_adv = host(
        &sparse(k.max(1), eps)
            .generate(&clf, &xt, Some(&labels), None)
            .unwrap()
            .adversarial,
    );
    let sparse_fooled = fooled(&sparse_adv);
    assert!(
        sparse_fooled.iter().filter(|v| **v).count() >= fsa_fooled.iter().filter(|v| **v).count(),
        "k {k}: sparse {sparse_fooled:?}, frame saliency {fsa_fooled:?}"
    );
    assert!(fsa_fooled.iter().any(|v| *v), "the budget fools some clips");
    for e in 0..n {
        assert!(changed_frames(&x, &sparse_adv, e).len() <= k);
    }
}
