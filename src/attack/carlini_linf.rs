//! Carlini and Wagner's L∞ attack (S&P 2017, §VI-C), as ART's `CarliniLInfMethod` parameterises
//! it: in the tanh space of the input box, Adam minimises c·max(f, 0) + Σⱼ max(|δⱼ|/R − τ, 0), the
//! margin loss of C&W L2 plus a penalty on every feature beyond τ (R is the box's width, so τ is a
//! fraction of the input range). Per example, for τ starting at 1: c runs from `initial_const`
//! times `const_factor` until `largest_const`, one Adam run of `max_iter` steps from the input each;
//! if any found a smaller adversarial example, τ ← min(τ, its L∞)·`decrease_factor` and again,
//! until τ ≤ 1/256 or nothing new is found. The output is the smallest-L∞ example that met the
//! confidence, else the input unchanged; then capped by eps, so a large eps gives each example's
//! minimal L∞ distance.
//!
//! Where ART differs: its τ is in input units starting at 1.0 and ending at 1/256, right only for
//! inputs in [0, 1]; its gradient of the margin term leaves out c and the hinge (so the search
//! over c changes only which results it keeps); it runs examples one at a time and checks success
//! only at the end of each Adam run. avfoil scales τ by the range, runs the batch in
//! lockstep, and keeps every successful iterate that is smaller.

use super::carlini::{Adam, TanhBox, margin_loss, run_in_box};
use super::spec::{AttackEntry, AttackSpec, RunSettings, stepless_common};
use super::{Attack, AttackOutput, Common, Mask, Norm, Projection, geometry};
use crate::array::tensor_to_vec;
use crate::classifier::Classifier;
use crate::classifier::objective::LogitMargin;
use crate::error::{Error, Result};
use crate::params::Param;
use burn::tensor::{Tensor, TensorData};

/// `cw-linf`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "cw-linf",
    about: "Carlini & Wagner L-inf (2017): Adam in tanh space against a shrinking per-feature bound tau",
    params: &PARAMS,
    parse: |p| {
        let spec = CarliniLinfSpec {
            confidence: p.take_or("confidence", 0.0)?,
            learning_rate: p.take_or("learning_rate", 0.01)?,
            max_iter: p.take_or("max_iter", 10)?,
            decrease_factor: p.take_or("decrease_factor", 0.9)?,
            initial_const: p.take_or("initial_const", 1e-5)?,
            largest_const: p.take_or("largest_const", 20.0)?,
            const_factor: p.take_or("const_factor", 2.0)?,
        };
        spec.check()?;
        Ok(Box::new(spec))
    },
};

const PARAMS: [Param; 7] = [
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
        key: "max_iter",
        default: "10",
        about: "Adam steps per value of c",
    },
    Param {
        key: "decrease_factor",
        default: "0.9",
        about: "tau shrinks by this factor after each success, in (0, 1)",
    },
    Param {
        key: "initial_const",
        default: "1e-5",
        about: "the first c at each tau",
    },
    Param {
        key: "largest_const",
        default: "20",
        about: "c grows while below this",
    },
    Param {
        key: "const_factor",
        default: "2",
        about: "c grows by this factor, above 1",
    },
];

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CarliniLinfSpec {
    pub confidence: f32,
    pub learning_rate: f32,
    pub max_iter: usize,
    pub decrease_factor: f32,
    pub initial_const: f32,
    pub largest_const: f32,
    pub const_factor: f32,
}

impl CarliniLinfSpec {
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
        if self.max_iter == 0 {
            return Err(Error::invalid("max_iter", "at least 1"));
        }
        if !(self.decrease_factor > 0.0 && self.decrease_factor < 1.0) {
            return Err(Error::invalid(
                "decrease_factor",
                format!("a number in (0, 1), got {}", self.decrease_factor),
            ));
        }
        if !(self.const_factor > 1.0 && self.const_factor.is_finite()) {
            return Err(Error::invalid(
                "const_factor",
                format!("a number above 1, got {}", self.const_factor),
            ));
        }
        if !(self.largest_const > self.initial_const && self.largest_const.is_finite()) {
            return Err(Error::invalid(
                "largest_const",
                format!(
                    "a number above initial_const ({}), got {}",
                    self.initial_const, self.largest_const
                ),
            ));
        }
        Ok(())
    }
}

impl AttackSpec for CarliniLinfSpec {
    fn name(&self) -> &'static str {
        "cw-linf"
    }

    fn norm(&self) -> Norm {
        Norm::Inf
    }

    fn iterative(&self) -> bool {
        true
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        Ok(Box::new(CarliniLinf {
            common: stepless_common(Norm::Inf, run),
            spec: self.clone(),
        }))
    }
}

/// C&W L∞'s configuration; `common.eps` caps the result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CarliniLinf {
    #[serde(flatten)]
    pub common: Common,
    #[serde(flatten)]
    pub spec: CarliniLinfSpec,
}

impl Attack for CarliniLinf {
    fn name(&self) -> &'static str {
        "cw-linf"
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
            "cw-linf",
            &self.common,
            classifier,
            x,
            labels,
            mask,
            |range, b| self.batch(classifier, range, b.x, b.labels, b.mask, b.eps),
        )
    }
}

/// Where one example is in the search over τ and c.
#[derive(Clone, Copy)]
struct Search {
    /// The bound on each feature's change, as a fraction of the input range.
    tau: f32,
    c: f32,
    /// Whether a smaller adversarial example was found at this τ.
    improved: bool,
    done: bool,
}

impl CarliniLinf {
    fn batch(
        &self,
        classifier: &dyn Classifier,
        (lo, hi): (f32, f32),
        x0: &Tensor<2>,
        labels: &[usize],
        mask: Option<&Tensor<2>>,
        eps: &[f32],
    ) -> Result<(Tensor<2>, Vec<Option<usize>>)> {
        let [m, d] = x0.dims();
        let k = classifier.num_classes();
        let s = &self.spec;
        let targeted = self.common.targeted;
        let sign = if targeted { -1.0 } else { 1.0 };
        let device = x0.device();
        let space = TanhBox::new((lo, hi), x0, mask);
        let x0h = space.x0();
        let width = hi - lo;
        let start = Search {
            tau: 1.0,
            c: s.initial_const,
            improved: false,
            done: false,
        };
        let mut state = vec![start; m];
        let mut best_linf = vec![f32::INFINITY; m];
        let mut best = x0h.to_vec();
        let mut found: Vec<Option<usize>> = vec![None; m];
        let mut round = 0;
        while state.iter().any(|st| !st.done) {
            // One Adam run from the input for every example still searching, each at its own τ, c.
            let mut w = space.start();
            let mut adam = Adam::new(m * d);
            let mut improved = vec![false; m];
            for _ in 0..s.max_iter {
                let x = space.to_x(&w);
                let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [m, d]), &device);
                let (g, logits) = classifier.objective_gradient(xt, &LogitMargin(labels))?;
                let (g, z) = (tensor_to_vec(g), tensor_to_vec(logits));
                let mut grad = vec![0f32; m * d];
                for (i, st) in state.iter().enumerate().filter(|(_, st)| !st.done) {
                    let (f, hit) =
                        margin_loss(&z[i * k..(i + 1) * k], labels[i], targeted, s.confidence);
                    let row = i * d..(i + 1) * d;
                    if hit {
                        let linf = row
                            .clone()
                            .map(|q| (x[q] - x0h[q]).abs())
                            .fold(0f32, f32::max)
                            / width;
                        if linf < best_linf[i] {
                            best_linf[i] = linf;
                            improved[i] = true;
                            best[row.clone()].copy_from_slice(&x[row.clone()]);
                            found[i].get_or_insert(round);
                        }
                    }
                    for q in row {
                        let delta = x[q] - x0h[q];
                        let beyond = if delta.abs() / width > st.tau {
                            delta.signum() / width
                        } else {
                            0.0
                        };
                        let dx = beyond + if f >= 0.0 { st.c * sign * g[q] } else { 0.0 };
                        grad[q] = space.chain(&w, q, dx);
                    }
                }
                adam.step(&mut w, &grad, s.learning_rate);
            }
            for (i, st) in state.iter_mut().enumerate().filter(|(_, st)| !st.done) {
                st.improved |= improved[i];
                st.c *= s.const_factor;
                if st.c < s.largest_const {
                    continue;
                }
                if !st.improved {
                    st.done = true;
                    continue;
                }
                st.tau = st.tau.min(best_linf[i]) * s.decrease_factor;
                st.c = s.initial_const;
                st.improved = false;
                st.done = st.tau <= 1.0 / 256.0;
            }
            round += 1;
        }
        let out = Tensor::<2>::from_data(TensorData::new(best, [m, d]), &device);
        let e = Common::column(eps, x0);
        let capped =
            x0.clone() + geometry::project(out - x0.clone(), e, Norm::Inf, Projection::Radial);
        Ok((capped, found))
    }
}
