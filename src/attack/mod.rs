//! Evasion attacks: the parameters they share and the pieces they are built from.
//!
//! Each attack lives in its own file and is a thin configuration of the same few pieces: the ℓp
//! geometry in [`geometry`], the eps budget ([`Eps`]), the perturbation mask ([`Mask`]), the success
//! rule ([`success`]) and the per-example choice between restarts (`BestOf`). Each file also holds
//! the attack's user-facing spec and registry entry ([`spec`]).

pub mod apgd;
pub mod auto;
pub mod budget;
pub mod carlini;
pub mod carlini_linf;
pub mod deepfool;
pub mod fab;
pub mod fab_projection;
pub mod fgm;
pub mod flicker;
pub mod frame_saliency;
pub mod geometry;
pub mod hopskipjump;
pub mod patch;
pub mod pgd;
pub mod progress;
pub mod psychoacoustic;
pub mod sparse_frames;
pub mod spec;
pub mod square;
pub mod square_l1;
pub mod square_window;
pub mod universal;

pub use apgd::Apgd;
pub use auto::masking_warning;
pub use budget::PhysicalBudget;
pub use carlini::Carlini;
pub use carlini_linf::CarliniLinf;
pub use deepfool::DeepFool;
pub use fab::Fab;
pub use fgm::Fgm;
pub use flicker::Flicker;
pub use frame_saliency::{FrameSaliency, PrefixSearch, SaliencyMethod};
pub use geometry::{Norm, Projection};
pub use hopskipjump::HopSkipJump;
pub use pgd::Pgd;
pub use psychoacoustic::Psychoacoustic;
pub use spec::{AttackEntry, AttackSpec, RunSettings};
pub use square::Square;
pub use universal::{Universal, UniversalSpec};

use crate::classifier::{Classifier, argmax_rows, check_labels, cross_entropy_rows};
use crate::registry::Registry;

/// The built-in attacks, one line each.
const BUILTIN: &[&AttackEntry] = &[
    &fgm::ENTRY,
    &pgd::ENTRY,
    &apgd::ENTRY,
    &square::ENTRY,
    &hopskipjump::ENTRY,
    &deepfool::ENTRY,
    &fab::ENTRY,
    &carlini::ENTRY,
    &carlini_linf::ENTRY,
    &psychoacoustic::ENTRY,
    &frame_saliency::ENTRY,
    &flicker::ENTRY,
    &patch::ENTRY,
    &sparse_frames::ENTRY,
    &auto::ENTRY,
    &universal::ENTRY,
];

/// Every attack: the built-in ones and those registered at run time ([`spec`]).
pub static ATTACKS: Registry<AttackEntry> = Registry::new("attack", BUILTIN);
use crate::error::{Error, Result};
use burn::tensor::{Bool, Tensor, TensorData};

/// A perturbation budget: one value for every example, or one per example.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Eps {
    /// The same budget for the whole batch.
    Scalar(f32),
    /// `values[i]` for example `i` (sliced by global index, whatever the batch size).
    PerExample(Vec<f32>),
}

impl Eps {
    /// Checks every value is finite and `>= 0` (`allow_zero`) or `> 0`.
    pub fn validate(&self, param: &str, allow_zero: bool) -> Result<()> {
        let values: &[f32] = match self {
            Eps::Scalar(v) => std::slice::from_ref(v),
            Eps::PerExample(v) => v,
        };
        if values.is_empty() {
            return Err(Error::invalid(param, "no values given"));
        }
        for &v in values {
            let ok = v.is_finite() && if allow_zero { v >= 0.0 } else { v > 0.0 };
            if !ok {
                let want = if allow_zero {
                    "nonnegative"
                } else {
                    "positive"
                };
                return Err(Error::invalid(
                    param,
                    format!("has to be {want} and finite, got {v}"),
                ));
            }
        }
        Ok(())
    }

    /// Checks that eps and eps_step are the same kind (and length), as ART requires.
    pub fn validate_pair(eps: &Eps, eps_step: &Eps) -> Result<()> {
        eps.validate("eps", true)?;
        eps_step.validate("eps_step", false)?;
        match (eps, eps_step) {
            (Eps::Scalar(_), Eps::Scalar(_)) => Ok(()),
            (Eps::PerExample(a), Eps::PerExample(b)) if a.len() == b.len() => Ok(()),
            (Eps::PerExample(a), Eps::PerExample(b)) => Err(Error::invalid(
                "eps_step",
                format!(
                    "eps has {} values but eps_step has {}; they must have the same shape",
                    a.len(),
                    b.len()
                ),
            )),
            _ => Err(Error::invalid(
                "eps_step",
                "eps and eps_step must both be scalars or both be per-example lists",
            )),
        }
    }

    /// The budget of each of `n` examples.
    pub fn per_example(&self, n: usize, param: &str) -> Result<Vec<f32>> {
        match self {
            Eps::Scalar(v) => Ok(vec![*v; n]),
            Eps::PerExample(v) if v.len() == n => Ok(v.clone()),
            Eps::PerExample(v) => Err(Error::invalid(
                param,
                format!("{} per-example values given for {n} examples", v.len()),
            )),
        }
    }
}

/// Which input features an attack may change.
///
/// A mask is boolean: a feature with a non-zero value may move, a zero one never does, in the
/// random start and in every step alike (ART scales its random start by fractional mask values but
/// only zero-tests its gradient; its surprise #14).
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    /// `d` values (one example's shape, shared by all) or `N·d` values (one mask per example).
    values: Vec<f32>,
}

impl Mask {
    /// A mask of non-negative values.
    pub fn new(values: Vec<f32>) -> Result<Self> {
        if values.iter().any(|v| v.is_nan() || *v < 0.0) {
            return Err(Error::invalid(
                "mask",
                "values must be non-negative (0 = keep, >0 = may change)",
            ));
        }
        Ok(Self { values })
    }

    /// The whole mask for a batch of `n` examples of `d` features, as 0/1 values `[n·d]`.
    pub fn expand(&self, n: usize, d: usize) -> Result<Vec<f32>> {
        let binary = |v: &f32| if *v != 0.0 { 1.0 } else { 0.0 };
        if self.values.len() == d {
            Ok((0..n)
                .flat_map(|_| self.values.iter().map(binary))
                .collect())
        } else if self.values.len() == n * d {
            Ok(self.values.iter().map(binary).collect())
        } else {
            Err(Error::invalid(
                "mask",
                format!(
                    "expected {d} values (one example) or {} (the batch), got {}",
                    n * d,
                    self.values.len()
                ),
            ))
        }
    }

    /// The mask of examples `rows` of a batch of `n` examples of `d` features, for an attack on
    /// those examples alone.
    pub fn select(&self, n: usize, d: usize, rows: &[usize]) -> Result<Mask> {
        if self.values.len() == d {
            return Ok(self.clone());
        }
        let all = self.expand(n, d)?;
        let values = rows
            .iter()
            .flat_map(|&i| all[i * d..(i + 1) * d].iter().copied())
            .collect();
        Ok(Mask { values })
    }

    /// The mask for examples `start..end` of a batch of `n`, as a 0/1 tensor `[1 or end−start, d]`.
    fn rows(
        &self,
        n: usize,
        d: usize,
        start: usize,
        end: usize,
        like: &Tensor<2>,
    ) -> Result<Tensor<2>> {
        let binary = |v: &[f32]| {
            v.iter()
                .map(|&x| if x != 0.0 { 1.0 } else { 0.0 })
                .collect::<Vec<f32>>()
        };
        let device = like.device();
        if self.values.len() == d {
            Ok(Tensor::from_data(
                TensorData::new(binary(&self.values), [1, d]),
                &device,
            ))
        } else if self.values.len() == n * d {
            let rows = binary(&self.values[start * d..end * d]);
            Ok(Tensor::from_data(
                TensorData::new(rows, [end - start, d]),
                &device,
            ))
        } else {
            Err(Error::invalid(
                "mask",
                format!(
                    "has {} values; expected one example's {d} or the batch's {}",
                    self.values.len(),
                    n * d
                ),
            ))
        }
    }
}

/// Checks the labels given to an attack on `n` examples: one class per example, and some at all
/// when `targeted` (an untargeted attack given none takes the predictions).
pub(crate) fn check_attack_labels(
    classifier: &dyn Classifier,
    labels: Option<&[usize]>,
    n: usize,
    targeted: bool,
) -> Result<()> {
    match labels {
        Some(l) => check_labels(l, n, classifier.num_classes()),
        None if targeted => Err(Error::invalid(
            "labels",
            "target labels need to be provided for a targeted attack",
        )),
        None => Ok(()),
    }
}

/// What an attack hands back.
#[derive(Debug)]
pub struct AttackOutput {
    /// The adversarial batch `[N, d]`, in input space.
    pub adversarial: Tensor<2>,
    /// For early-stopping iterative attacks: the iteration at which each example first succeeded.
    pub success_iteration: Vec<Option<usize>>,
    /// The eps each example was attacked with (differs from the configuration with `random_eps`).
    pub eps: Vec<f32>,
    /// An ensemble's components, in the order they ran (empty for a single attack).
    pub components: Vec<ComponentOutcome>,
}

/// What one component of an ensemble did.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ComponentOutcome {
    /// Its name in the ensemble (`apgd-ce`).
    pub name: String,
    /// Whether it uses scores only (its successes where gradient attacks failed signal masking).
    pub gradient_free: bool,
    /// Examples it ran on: those every earlier component left correctly classified.
    pub attacked: usize,
    /// The examples (indices in the batch) it fooled first.
    pub fooled: Vec<usize>,
    /// Why it did not run, when it did not.
    pub skipped: Option<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// An evasion attack.
pub trait Attack {
    /// Short name (`fgm`, `pgd`).
    fn name(&self) -> &'static str;

    /// Every parameter, seed included, for reports.
    fn params(&self) -> serde_json::Value;

    /// Whether `labels` are targets to reach (targeted) or labels to move away from.
    fn targeted(&self) -> bool;

    /// The frame axis of one example, for attacks that work frame by frame (reports count the
    /// perturbed frames along it).
    fn frame_axis(&self) -> Option<usize> {
        None
    }

    /// Attacks a flattened batch `x` (`[N, d]`), which is not modified.
    ///
    /// `labels`: targets for a targeted attack (required), or the true labels for an untargeted one
    /// (when absent, the model's predictions on `x` are used, which avoids label leaking).
    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
    ) -> Result<AttackOutput>;

    /// [`generate`](Self::generate) given `gradient`, the loss gradient at `x` against `labels` as
    /// [`Classifier::loss_gradient`] returns it, for attacks whose output is a function of that
    /// gradient alone (FGM without random starts or minimal search); `Ok(None)` for the others, which
    /// need gradients elsewhere or more passes. The default is `None`.
    ///
    /// Why: a caller that needs that gradient anyway pays for it once instead of twice. Frame saliency
    /// ranks frames by exactly the gradient its inner FGM then steps along (ART computes it twice).
    fn generate_from_gradient(
        &self,
        _classifier: &dyn Classifier,
        _x: &Tensor<2>,
        _labels: &[usize],
        _mask: Option<&Mask>,
        _gradient: &Tensor<2>,
    ) -> Result<Option<AttackOutput>> {
        Ok(None)
    }

    /// Whether [`generate_from_gradient`](Self::generate_from_gradient) gives an output; then each
    /// example's output depends on that example alone.
    fn is_function_of_gradient(&self) -> bool {
        false
    }

    /// For an attack that fits one perturbation to the whole batch (universal): what its last run
    /// fitted. `None` for attacks that make one perturbation per example (the default). Front ends
    /// write it out through this, whatever the attack.
    fn fitted(&self) -> Option<Fitted> {
        None
    }
}

/// One perturbation fitted to a whole batch, and what the attack reports about the fit.
#[derive(Clone, Debug)]
pub struct Fitted {
    /// One example's features.
    pub perturbation: Vec<f32>,
    /// The attack's account of the fit (fooling rate, passes, ...), as JSON.
    pub report: serde_json::Value,
}

/// Settings every gradient attack shares.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Common {
    /// Geometry of the budget.
    #[serde(serialize_with = "serialize_display")]
    pub norm: Norm,
    /// Radius of the allowed perturbation around the input.
    pub eps: Eps,
    /// Size of one step (FGM: used by the minimal mode only).
    pub eps_step: Eps,
    /// Move towards `labels` instead of away from them.
    pub targeted: bool,
    /// Number of random starts inside the eps-ball (0: start at the input).
    pub num_random_init: usize,
    /// Examples per gradient computation.
    pub batch_size: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// How finite-p perturbations are projected back into the ball.
    pub projection: Projection,
    /// The random stream of each example (`None`: its index in the batch). An ensemble that runs a
    /// component on a subset of the examples gives each its own stream, so that the component
    /// does to it exactly what it would do in a run on the whole batch.
    #[serde(skip)]
    pub streams: Option<Vec<u64>>,
}

fn serialize_display<S: serde::Serializer>(v: &Norm, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl Default for Common {
    /// ART's defaults: ℓ∞, eps 0.3, eps_step 0.1, untargeted, no random start, batch 32.
    fn default() -> Self {
        Self {
            norm: Norm::Inf,
            eps: Eps::Scalar(0.3),
            eps_step: Eps::Scalar(0.1),
            targeted: false,
            num_random_init: 0,
            batch_size: 32,
            seed: 0,
            projection: Projection::Radial,
            streams: None,
        }
    }
}

impl Common {
    /// ART's validation (spec §1.2), with errors naming the parameter.
    pub fn validate(&self) -> Result<()> {
        self.norm.validate()?;
        Eps::validate_pair(&self.eps, &self.eps_step)?;
        if self.batch_size == 0 {
            return Err(Error::invalid("batch_size", "has to be a positive integer"));
        }
        Ok(())
    }

    /// The labels the loss is taken against: the given ones, or (untargeted only) the predictions.
    fn labels(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
    ) -> Result<Vec<usize>> {
        let [n, _] = x.dims();
        check_attack_labels(classifier, labels, n, self.targeted)?;
        match labels {
            Some(l) => Ok(l.to_vec()),
            None => classifier.predict_labels(x, self.batch_size),
        }
    }

    /// `[N, 1]` column of per-example values on the device of `like`.
    fn column(values: &[f32], like: &Tensor<2>) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [values.len(), 1]),
            &like.device(),
        )
    }

    /// Clips to the classifier's valid range, if it has one.
    fn clip(classifier: &dyn Classifier, x: Tensor<2>) -> Tensor<2> {
        match classifier.clip() {
            Some((lo, hi)) => x.clamp(lo, hi),
            None => x,
        }
    }
}

/// Whether each prediction counts as a success: equal to the target when targeted, different from
/// the reference label (true label, or clean prediction) otherwise.
pub fn success(predicted: &[usize], labels: &[usize], targeted: bool) -> Vec<bool> {
    predicted
        .iter()
        .zip(labels)
        .map(|(p, l)| if targeted { p == l } else { p != l })
        .collect()
}

/// Success and loss of each example of one candidate batch.
#[derive(Clone, Debug)]
struct Score {
    success: Vec<bool>,
    loss: Vec<f32>,
    /// The iteration at which each example first succeeded (early-stopping attacks).
    iteration: Vec<Option<usize>>,
}

/// The best candidate per example over restarts. Success beats failure; between equals, a higher
/// loss (untargeted) or a lower loss (targeted) wins; a tie keeps the earlier one. So a restart never
/// makes an example worse, and the clean input is never returned in place of a failed attack (ART's
/// FGM does both: batch-level choice and a clean fallback, its bugs #8 and #21).
struct BestOf {
    targeted: bool,
    best: Option<(Tensor<2>, Score)>,
}

impl BestOf {
    fn new(targeted: bool) -> Self {
        Self {
            targeted,
            best: None,
        }
    }

    fn offer(&mut self, candidate: Tensor<2>, s: Score) {
        self.best = Some(match self.best.take() {
            None => (candidate, s),
            Some((incumbent, inc)) => {
                let pick: Vec<bool> = (0..s.success.len())
                    .map(|i| match (s.success[i], inc.success[i]) {
                        (true, false) => true,
                        (false, true) => false,
                        _ if self.targeted => s.loss[i] < inc.loss[i],
                        _ => s.loss[i] > inc.loss[i],
                    })
                    .collect();
                let either = |i: usize| if pick[i] { &s } else { &inc };
                let merged = Score {
                    success: (0..pick.len()).map(|i| either(i).success[i]).collect(),
                    loss: (0..pick.len()).map(|i| either(i).loss[i]).collect(),
                    iteration: (0..pick.len()).map(|i| either(i).iteration[i]).collect(),
                };
                (choose_rows(&pick, candidate, incumbent), merged)
            }
        });
    }

    fn into_best(self) -> (Tensor<2>, Score) {
        self.best.expect("at least one candidate was offered")
    }

    /// The examples no candidate has fooled yet, of `n` (all of them before the first offer).
    fn unfooled(&self, n: usize) -> Vec<usize> {
        match &self.best {
            None => (0..n).collect(),
            Some((_, s)) => (0..n).filter(|&i| !s.success[i]).collect(),
        }
    }

    /// Offers a candidate for the examples `rows` only (`candidate` and `s` hold those rows, in
    /// order); every other example keeps its incumbent. Needs an earlier offer.
    fn offer_rows(&mut self, rows: &[usize], candidate: Tensor<2>, s: Score) {
        let (incumbent, inc) = self.best.as_ref().expect("an earlier offer");
        let mut merged = inc.clone();
        for (k, &i) in rows.iter().enumerate() {
            merged.success[i] = s.success[k];
            merged.loss[i] = s.loss[k];
            merged.iteration[i] = s.iteration[k];
        }
        let full = put_rows(incumbent.clone(), rows, candidate);
        self.offer(full, merged);
    }
}

/// Success and loss of each example of `x_adv`, for choosing between restarts.
fn score(
    classifier: &dyn Classifier,
    x_adv: &Tensor<2>,
    labels: &[usize],
    targeted: bool,
) -> Result<Score> {
    let logits = classifier.logits(x_adv.clone())?;
    let ok = success(&argmax_rows(logits.clone()), labels, targeted);
    let n = ok.len();
    Ok(Score {
        success: ok,
        loss: cross_entropy_rows(logits, labels),
        iteration: vec![None; n],
    })
}

/// Row-wise choice: `pick[i]` ? `a[i]` : `b[i]`.
fn choose_rows(pick: &[bool], a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    let [n, d] = a.dims();
    let mask = Tensor::<2, Bool>::from_data(TensorData::new(pick.to_vec(), [n, 1]), &a.device())
        .expand([n, d]);
    b.mask_where(mask, a)
}

/// One batch of an attack: its slice of the input, labels, mask and budgets.
struct Batch<'a> {
    x: &'a Tensor<2>,
    labels: &'a [usize],
    mask: Option<&'a Tensor<2>>,
    eps: &'a [f32],
    eps_step: &'a [f32],
}

/// The examples `rows` of a [`Batch`], owned: what an attack runs on when only some of a batch's
/// examples still need it (early stopping, restarts on the examples not yet fooled).
struct BatchRows {
    x: Tensor<2>,
    labels: Vec<usize>,
    mask: Option<Tensor<2>>,
    eps: Vec<f32>,
    eps_step: Vec<f32>,
}

impl BatchRows {
    fn of(b: &Batch, rows: &[usize]) -> Self {
        fn pick<T: Copy>(v: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&i| v[i]).collect()
        }
        Self {
            x: take_rows(b.x, rows),
            labels: pick(b.labels, rows),
            // A mask of one row applies to every example.
            mask: b.mask.map(|mk| {
                if mk.dims()[0] == 1 {
                    mk.clone()
                } else {
                    take_rows(mk, rows)
                }
            }),
            eps: pick(b.eps, rows),
            eps_step: pick(b.eps_step, rows),
        }
    }

    fn batch(&self) -> Batch<'_> {
        Batch {
            x: &self.x,
            labels: &self.labels,
            mask: self.mask.as_ref(),
            eps: &self.eps,
            eps_step: &self.eps_step,
        }
    }
}

/// Cuts `x` into batches of `batch_size` examples, runs `attack_batch` on each (with the random
/// streams of its examples) and assembles the output. `attack_batch` returns the adversarial batch
/// and, per example, the iteration at which it succeeded (early stopping only).
#[allow(clippy::too_many_arguments)]
fn run_batches(
    batch_size: usize,
    x: &Tensor<2>,
    labels: &[usize],
    mask: Option<&Mask>,
    eps: Vec<f32>,
    eps_step: &[f32],
    rngs: &mut [rand_chacha::ChaCha8Rng],
    mut attack_batch: impl FnMut(
        &Batch,
        &mut [rand_chacha::ChaCha8Rng],
    ) -> Result<(Tensor<2>, Vec<Option<usize>>)>,
) -> Result<AttackOutput> {
    let [n, d] = x.dims();
    let mut parts = Vec::with_capacity(n.div_ceil(batch_size.max(1)));
    let mut iterations = Vec::with_capacity(n);
    for start in (0..n).step_by(batch_size) {
        let end = (start + batch_size).min(n);
        let xb = x.clone().slice(start..end);
        let mask_b = mask.map(|m| m.rows(n, d, start, end, x)).transpose()?;
        let b = Batch {
            x: &xb,
            labels: &labels[start..end],
            mask: mask_b.as_ref(),
            eps: &eps[start..end],
            eps_step: &eps_step[start..end],
        };
        let (adv, its) = attack_batch(&b, &mut rngs[start..end])?;
        parts.push(adv);
        iterations.extend(its);
        progress::report(end, n);
    }
    let adversarial = if parts.is_empty() {
        x.clone()
    } else {
        Tensor::cat(parts, 0)
    };
    Ok(AttackOutput {
        adversarial,
        success_iteration: iterations,
        eps,
        components: Vec::new(),
    })
}

/// Rows `rows` of `t`.
fn take_rows(t: &Tensor<2>, rows: &[usize]) -> Tensor<2> {
    let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    let idx =
        Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(idx, [rows.len()]), &t.device());
    t.clone().select(0, idx)
}

/// `t` with rows `rows` replaced by `values`.
fn put_rows(t: Tensor<2>, rows: &[usize], values: Tensor<2>) -> Tensor<2> {
    let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    let idx =
        Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(idx, [rows.len()]), &t.device());
    t.select_assign(0, idx, values, burn::tensor::IndexingUpdateOp::Assign)
}

/// One independent random stream per example (its index, or `common.streams`), so results do not
/// depend on the batch size, nor on which other examples are attacked alongside.
fn example_rngs(common: &Common, n: usize) -> Result<Vec<rand_chacha::ChaCha8Rng>> {
    use rand::SeedableRng;
    let streams: Vec<u64> = match &common.streams {
        None => (0..n as u64).collect(),
        Some(s) if s.len() == n => s.clone(),
        Some(s) => {
            return Err(Error::invalid(
                "streams",
                format!("{} random streams given for {n} examples", s.len()),
            ));
        }
    };
    Ok(streams
        .into_iter()
        .map(|stream| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(common.seed);
            rng.set_stream(stream);
            rng
        })
        .collect())
}

/// A uniform random point in each example's eps-ball around `x0`, masked and clipped.
fn random_start(
    classifier: &dyn Classifier,
    x0: &Tensor<2>,
    eps: &[f32],
    norm: Norm,
    mask: Option<&Tensor<2>>,
    rngs: &mut [rand_chacha::ChaCha8Rng],
) -> Tensor<2> {
    let [n, d] = x0.dims();
    let mut values = Vec::with_capacity(n * d);
    for (i, rng) in rngs.iter_mut().enumerate() {
        values.extend(geometry::random_ball(1, d, &eps[i..=i], norm, rng));
    }
    let mut r = geometry::tensor_like(values, n, d, x0);
    if let Some(m) = mask {
        r = r * m.clone();
    }
    Common::clip(classifier, x0.clone() + r)
}

/// The gradient an attack follows, from the raw loss gradient `g`: negated when targeted (descend
/// towards the target), NaN entries set to 0 and masked features zeroed.
fn attack_direction(common: &Common, mut g: Tensor<2>, mask: Option<&Tensor<2>>) -> Tensor<2> {
    if common.targeted {
        g = g.neg();
    }
    let nan = g.clone().is_nan();
    g = g.mask_fill(nan, 0.0);
    if let Some(m) = mask {
        g = g * m.clone();
    }
    g
}

/// The gradient an attack follows at `cur` ([`attack_direction`] of the loss gradient), and the
/// logits at `cur`.
fn attack_gradient(
    classifier: &dyn Classifier,
    common: &Common,
    cur: Tensor<2>,
    labels: &[usize],
    mask: Option<&Tensor<2>>,
) -> Result<(Tensor<2>, Tensor<2>)> {
    let (g, logits) = classifier.loss_gradient_and_logits(cur, labels)?;
    Ok((attack_direction(common, g, mask), logits))
}

/// One attack step shared by FGM and PGD (ART's `_compute`): the gradient at `cur` (negated when
/// targeted, NaN set to 0, masked, optionally accumulated with momentum), mapped to the steepest
/// unit direction, a step of `step` (`[N, 1]`), a clip to the valid range, and a projection onto the
/// eps-ball around `x0`. Returns the new point and the logits at `cur`.
#[allow(clippy::too_many_arguments)]
fn gradient_step(
    classifier: &dyn Classifier,
    common: &Common,
    cur: Tensor<2>,
    x0: &Tensor<2>,
    labels: &[usize],
    mask: Option<&Tensor<2>>,
    eps: &Tensor<2>,
    step: &Tensor<2>,
    momentum: Option<(&mut Tensor<2>, f32)>,
) -> Result<(Tensor<2>, Tensor<2>)> {
    let (mut g, logits) = attack_gradient(classifier, common, cur.clone(), labels, mask)?;
    if let Some((velocity, decay)) = momentum {
        let l1 = Norm::L1.of_rows(g.clone());
        let l1 = l1.clone().mask_fill(l1.equal_elem(0.0), 1.0);
        *velocity = velocity.clone() * decay + g / l1;
        g = velocity.clone();
    }
    Ok((
        step_along(classifier, common, g, cur, x0, eps, step),
        logits,
    ))
}

/// The rest of [`gradient_step`] once its gradient `g` is known: the steepest unit direction, a step
/// of `step`, a clip and the projection onto the eps-ball around `x0`.
fn step_along(
    classifier: &dyn Classifier,
    common: &Common,
    g: Tensor<2>,
    cur: Tensor<2>,
    x0: &Tensor<2>,
    eps: &Tensor<2>,
    step: &Tensor<2>,
) -> Tensor<2> {
    let direction = geometry::steepest_direction(g, common.norm);
    let next = Common::clip(classifier, cur + direction * step.clone());
    let delta = geometry::project(
        next - x0.clone(),
        eps.clone(),
        common.norm,
        common.projection,
    );
    x0.clone() + delta
}
