//! DeepFool (Moosavi-Dezfooli et al., CVPR 2016): the smallest step to the nearest decision
//! boundary of the model's linearisation, repeated until the label changes, then overshot by
//! `overshoot`. L2 (steps along w/‖w‖₂²) or L∞ (along sign(w)/‖w‖₁).
//!
//! The boundaries considered are those of the `nb_grads` classes with the highest clean logits after
//! the predicted one (ART's default 10). Each needs the gradient of one logit difference, taken
//! one class at a time over the whole batch, so memory stays that of one gradient however many
//! classes the model has (ART computes every class gradient at once, which its users report runs
//! out of memory on audio). The result is minimal, not bounded: it is projected onto the eps-ball
//! at the end, so at a budget below its size the attack reports failure, and one run with a large
//! eps gives every example's distance to the boundary.

use super::spec::{AttackEntry, AttackSpec, RunSettings, stepless_common, take_norm_among};
use super::{
    Attack, AttackOutput, Common, Mask, Norm, Projection, example_rngs, geometry, run_batches,
};
use crate::array::tensor_to_vec;
use crate::classifier::objective::{Objective, pooled, ranked};
use crate::classifier::{Classifier, argmax};
use crate::error::{Error, Result};
use crate::params::Param;
use burn::tensor::{Tensor, TensorData};

/// `deepfool`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "deepfool",
    about: "DeepFool (Moosavi-Dezfooli et al. 2016): minimal L2 or L-inf steps to the nearest linearised boundary, overshot",
    params: &PARAMS,
    parse: |p| {
        let norm = take_norm_among(p, Norm::L2, &[Norm::L2, Norm::Inf], "DeepFool")?;
        let spec = DeepFoolSpec {
            norm,
            max_iter: p.take_or("max_iter", 100)?,
            overshoot: p.take_or("overshoot", 0.02)?,
            nb_grads: p.take_or("nb_grads", 10)?,
        };
        if spec.max_iter == 0 || spec.nb_grads == 0 {
            return Err(Error::invalid(
                p.display("max_iter"),
                "max_iter and nb_grads at least 1",
            ));
        }
        if !(spec.overshoot >= 0.0 && spec.overshoot.is_finite()) {
            return Err(Error::invalid(
                p.display("overshoot"),
                "a non-negative number",
            ));
        }
        Ok(Box::new(spec))
    },
};

const PARAMS: [Param; 4] = [
    Param {
        key: "norm",
        default: "2",
        about: "2 or inf",
    },
    Param {
        key: "max_iter",
        default: "100",
        about: "linearisation steps at most",
    },
    Param {
        key: "overshoot",
        default: "0.02",
        about: "the total step is scaled by 1 + overshoot to cross the boundary",
    },
    Param {
        key: "nb_grads",
        default: "10",
        about: "boundaries considered: the classes with the highest clean logits after the prediction",
    },
];

#[derive(Clone, Debug, PartialEq)]
pub struct DeepFoolSpec {
    pub norm: Norm,
    pub max_iter: usize,
    pub overshoot: f32,
    pub nb_grads: usize,
}

impl AttackSpec for DeepFoolSpec {
    fn name(&self) -> &'static str {
        "deepfool"
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn iterative(&self) -> bool {
        true
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        if run.targeted {
            return Err(Error::invalid("targeted", "DeepFool is untargeted"));
        }
        Ok(Box::new(DeepFool {
            common: stepless_common(self.norm, run), // untargeted: refused above
            max_iter: self.max_iter,
            overshoot: self.overshoot,
            nb_grads: self.nb_grads,
        }))
    }
}

/// DeepFool's configuration; `common.eps` caps the result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeepFool {
    #[serde(flatten)]
    pub common: Common,
    pub max_iter: usize,
    pub overshoot: f32,
    pub nb_grads: usize,
}

/// `z_a[i] − z_b[i]` per example (also FAB's).
pub(super) struct LogitDifference<'a> {
    pub(super) a: &'a [usize],
    pub(super) b: &'a [usize],
}

impl Objective for LogitDifference<'_> {
    fn value(&self, i: usize, scores: &[f32], classes: usize) -> f32 {
        let z = pooled(scores, classes);
        z[self.a[i]] - z[self.b[i]]
    }

    fn gradient(&self, i: usize, scores: &[f32], classes: usize) -> Vec<f32> {
        let frames = (scores.len() / classes.max(1)).max(1) as f32;
        (0..scores.len())
            .map(|j| {
                let c = j % classes;
                (f32::from(c == self.a[i]) - f32::from(c == self.b[i])) / frames
            })
            .collect()
    }
}

impl Attack for DeepFool {
    fn name(&self) -> &'static str {
        "deepfool"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data serialises")
    }

    fn targeted(&self) -> bool {
        false
    }

    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
    ) -> Result<AttackOutput> {
        let c = &self.common;
        c.validate()?;
        let [n, _] = x.dims();
        let labels = c.labels(classifier, x, labels)?;
        let eps = c.eps.per_example(n, "eps")?;
        let eps_step = eps.clone();
        let mut rngs = example_rngs(c, n)?;
        run_batches(
            c.batch_size,
            x,
            &labels,
            mask,
            eps,
            &eps_step,
            &mut rngs,
            |b, _| self.batch(classifier, b.x, b.labels, b.mask, b.eps),
        )
    }
}

impl DeepFool {
    fn batch(
        &self,
        classifier: &dyn Classifier,
        x0: &Tensor<2>,
        labels: &[usize],
        mask: Option<&Tensor<2>>,
        eps: &[f32],
    ) -> Result<(Tensor<2>, Vec<Option<usize>>)> {
        let [m, d] = x0.dims();
        let k = classifier.num_classes();
        let device = x0.device();
        let clean = tensor_to_vec(classifier.logits(x0.clone())?);
        // Candidate boundaries: the highest clean logits after the label's.
        let candidates: Vec<Vec<usize>> = clean
            .chunks(k)
            .zip(labels)
            .map(|(z, &y)| {
                ranked(z)
                    .into_iter()
                    .filter(|&c| c != y)
                    .take(self.nb_grads)
                    .collect()
            })
            .collect();
        let mut total = vec![0f32; m * d];
        let mut done: Vec<Option<usize>> = vec![None; m];
        let mut cur = x0.clone();
        for it in 0..self.max_iter {
            let z = tensor_to_vec(classifier.logits(cur.clone())?);
            for i in 0..m {
                if done[i].is_none() && argmax(&z[i * k..(i + 1) * k]) != labels[i] {
                    done[i] = Some(it);
                }
            }
            let active: Vec<usize> = (0..m).filter(|&i| done[i].is_none()).collect();
            if active.is_empty() {
                break;
            }
            // Per active example: the nearest linearised boundary among its candidates.
            let mut best: Vec<(f32, Vec<f32>, f32)> = vec![(f32::INFINITY, Vec::new(), 0.0); m];
            let rank_count = candidates.iter().map(Vec::len).max().unwrap_or(0);
            for r in 0..rank_count {
                let a: Vec<usize> = (0..m)
                    .map(|i| *candidates[i].get(r).unwrap_or(&labels[i]))
                    .collect();
                let objective = LogitDifference { a: &a, b: labels };
                let (g, _) = classifier.objective_gradient(cur.clone(), &objective)?;
                let mut g = tensor_to_vec(g);
                if let Some(mk) = mask {
                    let mk = tensor_to_vec(mk.clone());
                    for (j, v) in g.iter_mut().enumerate() {
                        *v *= mk[if mk.len() == d { j % d } else { j }];
                    }
                }
                for &i in &active {
                    if r >= candidates[i].len() {
                        continue;
                    }
                    let w = &g[i * d..(i + 1) * d];
                    let f = z[i * k + a[i]] - z[i * k + labels[i]];
                    let size = match self.common.norm {
                        Norm::Inf => w.iter().map(|v| v.abs() as f64).sum::<f64>(),
                        _ => w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt(),
                    } as f32;
                    if size > 0.0 && f.abs() / size < best[i].0 {
                        best[i] = (f.abs() / size, w.to_vec(), size);
                    }
                }
            }
            for &i in &active {
                let (dist, w, size) = &best[i];
                if !dist.is_finite() {
                    done[i] = Some(it); // no gradient: nothing to follow
                    continue;
                }
                let scale = dist + 1e-4 / size.max(1e-12);
                for j in 0..d {
                    total[i * d + j] += match self.common.norm {
                        // signum(0) is 1 in Rust: a zero (masked) gradient must not move.
                        Norm::Inf if w[j] == 0.0 => 0.0,
                        Norm::Inf => scale * w[j].signum(),
                        _ => scale * w[j] / size,
                    };
                }
            }
            let stepped: Vec<f32> = total.iter().map(|v| v * (1.0 + self.overshoot)).collect();
            cur = self.place(classifier, x0, stepped, &[m, d], eps, &device, false);
        }
        let stepped: Vec<f32> = total.iter().map(|v| v * (1.0 + self.overshoot)).collect();
        let adv = self.place(classifier, x0, stepped, &[m, d], eps, &device, true);
        Ok((adv, done))
    }

    /// `x0 + delta`, clipped to the input range, and (`capped`) projected onto the eps-ball.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &self,
        classifier: &dyn Classifier,
        x0: &Tensor<2>,
        delta: Vec<f32>,
        dims: &[usize; 2],
        eps: &[f32],
        device: &burn::tensor::Device,
        capped: bool,
    ) -> Tensor<2> {
        let delta = Tensor::<2>::from_data(TensorData::new(delta, *dims), device);
        let mut out = Common::clip(classifier, x0.clone() + delta);
        if capped {
            let e = Common::column(eps, x0);
            out = x0.clone()
                + geometry::project(out - x0.clone(), e, self.common.norm, Projection::Radial);
        }
        out
    }
}
