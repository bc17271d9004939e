//! Carlini and Wagner's L2 attack (S&P 2017), as ART's `CarliniL2Method` parameterises it: in the
//! tanh space of the input box, Adam minimises ‖δ‖₂² + c·max(z_y − max_{k≠y} z_k + κ, 0)
//! (targeted: max(max_{k≠t} z_k − z_t + κ, 0)), for `max_iter` steps at each of
//! `binary_search_steps` values of c, found by binary search per example from `initial_const`
//! (×10 while no success). The output is, per example, the smallest perturbation that met the
//! confidence κ, else the input unchanged (C&W's "no adversarial found"); then capped by eps like
//! DeepFool, so a large eps gives every example's minimal distance.
//!
//! Needs the model's input range (`input.clip`): the tanh change of variable maps onto it.

use super::spec::{AttackEntry, AttackSpec, RunSettings, stepless_common};
use super::{
    Attack, AttackOutput, Batch, Common, Mask, Norm, Projection, example_rngs, geometry,
    run_batches,
};
use crate::array::tensor_to_vec;
use crate::classifier::objective::LogitMargin;
use crate::classifier::{Classifier, argmax};
use crate::error::{Error, Result};
use crate::params::Param;
use burn::tensor::{Tensor, TensorData};

/// `cw`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "cw",
    about: "Carlini & Wagner L2 (2017): Adam in tanh space, binary search over c, confidence kappa",
    params: &PARAMS,
    parse: |p| {
        let spec = CarliniSpec {
            confidence: p.take_or("confidence", 0.0)?,
            learning_rate: p.take_or("learning_rate", 0.01)?,
            binary_search_steps: p.take_or("binary_search_steps", 10)?,
            max_iter: p.take_or("max_iter", 10)?,
            initial_const: p.take_or("initial_const", 0.01)?,
        };
        spec.check()?;
        Ok(Box::new(spec))
    },
};

const PARAMS: [Param; 5] = [
    Param {
        key: "confidence",
        default: "0",
        about: "kappa: the margin the adversarial class must win by",
    },
    Param {
        key: "learning_rate",
        default: "0.01",
        about: "Adam's step size in tanh space",
    },
    Param {
        key: "binary_search_steps",
        default: "10",
        about: "values of c tried per example",
    },
    Param {
        key: "max_iter",
        default: "10",
        about: "Adam steps per value of c",
    },
    Param {
        key: "initial_const",
        default: "0.01",
        about: "the first c",
    },
];

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CarliniSpec {
    pub confidence: f32,
    pub learning_rate: f32,
    pub binary_search_steps: usize,
    pub max_iter: usize,
    pub initial_const: f32,
}

impl CarliniSpec {
    fn check(&self) -> Result<()> {
        let positive = |v: f32, name: &str| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("a positive number, got {v}")))
            }
        };
        positive(self.learning_rate, "learning_rate")?;
        positive(self.initial_const, "initial_const")?;
        if !(self.confidence >= 0.0 && self.confidence.is_finite()) {
            return Err(Error::invalid("confidence", "a non-negative number"));
        }
        if self.max_iter == 0 || self.binary_search_steps == 0 {
            return Err(Error::invalid(
                "max_iter",
                "max_iter and binary_search_steps at least 1",
            ));
        }
        Ok(())
    }
}

impl AttackSpec for CarliniSpec {
    fn name(&self) -> &'static str {
        "cw"
    }

    fn norm(&self) -> Norm {
        Norm::L2
    }

    fn iterative(&self) -> bool {
        true
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        Ok(Box::new(Carlini {
            common: stepless_common(Norm::L2, run),
            spec: self.clone(),
        }))
    }
}

/// C&W L2's configuration; `common.eps` caps the result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Carlini {
    #[serde(flatten)]
    pub common: Common,
    #[serde(flatten)]
    pub spec: CarliniSpec,
}

impl Attack for Carlini {
    fn name(&self) -> &'static str {
        "cw"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data serialises")
    }

    fn targeted(&self) -> bool {
        self.common.targeted
    }

    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
    ) -> Result<AttackOutput> {
        self.common.validate()?;
        self.spec.check()?;
        run_in_box(
            "cw",
            &self.common,
            classifier,
            x,
            labels,
            mask,
            |range, b| self.batch(classifier, range, b.x, b.labels, b.mask, b.eps),
        )
    }
}

/// The part both C&W attacks share before their optimisation: the model's input range (the
/// tanh change of variable maps onto it), the labels and each example's eps; then `batch` on
/// each batch. `common` must be validated.
pub(super) fn run_in_box(
    name: &str,
    common: &Common,
    classifier: &dyn Classifier,
    x: &Tensor<2>,
    labels: Option<&[usize]>,
    mask: Option<&Mask>,
    mut batch: impl FnMut((f32, f32), &Batch) -> Result<(Tensor<2>, Vec<Option<usize>>)>,
) -> Result<AttackOutput> {
    let Some(range) = classifier.clip() else {
        return Err(Error::invalid(
            name,
            "C&W maps onto the model's input range: its model.toml needs input.clip",
        ));
    };
    let [n, _] = x.dims();
    let labels = common.labels(classifier, x, labels)?;
    let eps = common.eps.per_example(n, "eps")?;
    let eps_step = eps.clone();
    let mut rngs = example_rngs(common, n)?;
    run_batches(
        common.batch_size,
        x,
        &labels,
        mask,
        eps,
        &eps_step,
        &mut rngs,
        |b, _| batch(range, b),
    )
}

/// One batch in the tanh space of the input box [lo, hi]: x = mid + half·tanh(w). Masked
/// features stay at the input and get no gradient.
pub(super) struct TanhBox {
    mid: f32,
    half: f32,
    d: usize,
    x0: Vec<f32>,
    mask: Option<Vec<f32>>,
    w0: Vec<f32>,
}

impl TanhBox {
    pub(super) fn new((lo, hi): (f32, f32), x0: &Tensor<2>, mask: Option<&Tensor<2>>) -> Self {
        let [_, d] = x0.dims();
        let (half, mid) = ((hi - lo) / 2.0, (hi + lo) / 2.0);
        let x0 = tensor_to_vec(x0.clone());
        // Inputs on the box's edge pulled in so that atanh stays finite.
        let w0 = x0
            .iter()
            .map(|&v| (((v - mid) / half).clamp(-1.0 + 1e-6, 1.0 - 1e-6)).atanh())
            .collect();
        Self {
            mid,
            half,
            d,
            x0,
            mask: mask.map(|t| tensor_to_vec(t.clone())),
            w0,
        }
    }

    /// The input, flattened.
    pub(super) fn x0(&self) -> &[f32] {
        &self.x0
    }

    /// The input in tanh space: where each optimisation starts.
    pub(super) fn start(&self) -> Vec<f32> {
        self.w0.clone()
    }

    /// Whether flat feature `q` may change (a one-example mask applies to every row).
    pub(super) fn free(&self, q: usize) -> bool {
        match &self.mask {
            Some(mk) if mk.len() == self.d => mk[q % self.d] > 0.0,
            Some(mk) => mk[q] > 0.0,
            None => true,
        }
    }

    /// The batch at `w`.
    pub(super) fn to_x(&self, w: &[f32]) -> Vec<f32> {
        (0..w.len())
            .map(|q| {
                if self.free(q) {
                    self.mid + self.half * w[q].tanh()
                } else {
                    self.x0[q]
                }
            })
            .collect()
    }

    /// The derivative with respect to `w[q]` of a loss whose derivative in x is `dx`.
    pub(super) fn chain(&self, w: &[f32], q: usize, dx: f32) -> f32 {
        if self.free(q) {
            let t = w[q].tanh();
            dx * self.half * (1.0 - t * t)
        } else {
            0.0
        }
    }
}

/// C&W's loss on the logits `z` of one example labelled `y` (targeted: its target), whose gradient
/// is ± that of [`LogitMargin`]: untargeted, how far the label is above the runner-up, plus κ;
/// targeted, how far the target is below it, plus κ. Also whether the example has won by κ.
pub(super) fn margin_loss(z: &[f32], y: usize, targeted: bool, confidence: f32) -> (f32, bool) {
    let other = (0..z.len())
        .filter(|&c| c != y)
        .fold(None, |b: Option<usize>, c| match b {
            Some(b) if z[b] >= z[c] => Some(b),
            _ => Some(c),
        });
    let gap = z[y] - other.map_or(0.0, |o| z[o]);
    let top = argmax(z);
    if targeted {
        (confidence - gap, top == y && gap >= confidence)
    } else {
        (gap + confidence, top != y && gap <= -confidence)
    }
}

/// Adam's moment estimates for one tensor of parameters.
pub(super) struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    pub(super) fn new(len: usize) -> Self {
        Self {
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
        }
    }

    pub(super) fn step(&mut self, w: &mut [f32], g: &[f32], lr: f32) {
        let (b1, b2, e) = (0.9f32, 0.999f32, 1e-8f32);
        self.t += 1;
        let (c1, c2) = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        for j in 0..w.len() {
            self.m[j] = b1 * self.m[j] + (1.0 - b1) * g[j];
            self.v[j] = b2 * self.v[j] + (1.0 - b2) * g[j] * g[j];
            w[j] -= lr * (self.m[j] / c1) / ((self.v[j] / c2).sqrt() + e);
        }
    }
}

impl Carlini {
    fn batch(
        &self,
        classifier: &dyn Classifier,
        range: (f32, f32),
        x0: &Tensor<2>,
        labels: &[usize],
        mask: Option<&Tensor<2>>,
        eps: &[f32],
    ) -> Result<(Tensor<2>, Vec<Option<usize>>)> {
        let [m, d] = x0.dims();
        let k = classifier.num_classes();
        let s = &self.spec;
        let targeted = self.common.targeted;
        let device = x0.device();
        let space = TanhBox::new(range, x0, mask);
        let x0h = space.x0();
        let mut cs = vec![s.initial_const; m];
        let (mut lower, mut upper) = (vec![0f32; m], vec![1e10f32; m]);
        let mut best_l2 = vec![f32::INFINITY; m];
        let mut best = x0h.to_vec();
        let mut found: Vec<Option<usize>> = vec![None; m];
        for search in 0..s.binary_search_steps {
            let mut w = space.start();
            let mut adam = Adam::new(m * d);
            let mut succeeded = vec![false; m];
            for _ in 0..s.max_iter {
                let x = space.to_x(&w);
                let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [m, d]), &device);
                // The margin z_y − z_other (targeted: its negative at the target) and its gradient.
                let margin = LogitMargin(labels);
                let (g, logits) = classifier.objective_gradient(xt, &margin)?;
                let (g, z) = (tensor_to_vec(g), tensor_to_vec(logits));
                let mut grad = vec![0f32; m * d];
                for i in 0..m {
                    let (f, hit) =
                        margin_loss(&z[i * k..(i + 1) * k], labels[i], targeted, s.confidence);
                    let sign = if targeted { -1.0 } else { 1.0 };
                    let l2: f32 = (0..d)
                        .map(|j| (x[i * d + j] - x0h[i * d + j]).powi(2))
                        .sum();
                    if hit {
                        succeeded[i] = true;
                        if l2 < best_l2[i] {
                            best_l2[i] = l2;
                            best[i * d..(i + 1) * d].copy_from_slice(&x[i * d..(i + 1) * d]);
                            found[i].get_or_insert(search);
                        }
                    }
                    for j in 0..d {
                        let q = i * d + j;
                        let dx = 2.0 * (x[q] - x0h[q])
                            + if f >= 0.0 { cs[i] * sign * g[q] } else { 0.0 };
                        grad[q] = space.chain(&w, q, dx);
                    }
                }
                adam.step(&mut w, &grad, s.learning_rate);
            }
            for i in 0..m {
                if succeeded[i] {
                    upper[i] = upper[i].min(cs[i]);
                    cs[i] = (lower[i] + upper[i]) / 2.0;
                } else {
                    lower[i] = lower[i].max(cs[i]);
                    cs[i] = if upper[i] < 1e9 {
                        (lower[i] + upper[i]) / 2.0
                    } else {
                        cs[i] * 10.0
                    };
                }
            }
        }
        let out = Tensor::<2>::from_data(TensorData::new(best, [m, d]), &device);
        let e = Common::column(eps, x0);
        let capped =
            x0.clone() + geometry::project(out - x0.clone(), e, Norm::L2, Projection::Radial);
        Ok((capped, found))
    }
}
