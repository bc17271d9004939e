//! The ℓp geometry every gradient attack shares: steepest-ascent directions, projections onto the
//! eps-ball and uniform random starts inside it.
//!
//! Everything works on flattened batches `[N, d]`, with the radius as an `[N, 1]` column so that each
//! example can have its own eps. This is the one place that knows what a norm means.

use crate::error::{Error, Result};
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};
use rand::Rng;
use rand_distr::{Distribution, Exp1, Gamma, StandardNormal};
use std::fmt;
use std::str::FromStr;

/// An ℓp norm with p ≥ 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Norm {
    /// ℓ∞: steps move every feature by ±eps.
    Inf,
    /// A finite p ≥ 1 (1 and 2 are the common ones).
    P(f64),
}

impl Norm {
    /// ℓ1.
    pub const L1: Norm = Norm::P(1.0);
    /// ℓ2.
    pub const L2: Norm = Norm::P(2.0);

    /// Checks p ≥ 1, as ART does ("Norm order must be either inf or a real p >= 1").
    pub fn validate(self) -> Result<Self> {
        match self {
            Norm::P(p) if p.is_nan() || p < 1.0 || p.is_infinite() => Err(Error::invalid(
                "norm",
                format!("expected inf or a real p >= 1, got {p}"),
            )),
            n => Ok(n),
        }
    }

    /// The norm of each row of `v` as an `[N, 1]` column.
    ///
    /// Other p are computed scaled by the row's largest magnitude, `m·(Σ(|v|/m)^p)^(1/p)`: the plain
    /// sum of `|v|^p` overflows float32 (or underflows to zero) already at p = 50 for values in int16
    /// units, which left PGD at p = 50 with a zero norm and no step.
    pub fn of_rows(self, v: Tensor<2>) -> Tensor<2> {
        match self {
            Norm::Inf => v.abs().max_dim(1),
            Norm::P(1.0) => v.abs().sum_dim(1),
            Norm::P(2.0) => v.square().sum_dim(1).sqrt(),
            Norm::P(p) => {
                let [n, d] = v.dims();
                let m = v.clone().abs().max_dim(1);
                let scaled = v.abs() / nonzero(m.clone()).expand([n, d]);
                m * pow(pow(scaled, p).sum_dim(1), 1.0 / p)
            }
        }
    }
}

/// `x^e` for `x ≥ 0` as `exp(e·ln x)`, which stays finite for any finite exponent (`0^e = 0` for
/// e > 0). burn's `powf_scalar` takes whole-number exponents through an integer power, whose
/// conversion panics for exponents beyond the integer range (`--norm 1e20`).
fn pow(x: Tensor<2>, e: f64) -> Tensor<2> {
    (x.log() * e).exp()
}

impl FromStr for Norm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let norm = match s.trim() {
            "inf" | "Inf" | "linf" => Norm::Inf,
            other => Norm::P(other.parse::<f64>().map_err(|_| {
                Error::invalid(
                    "norm",
                    format!("expected inf or a real p >= 1, got {other:?}"),
                )
            })?),
        };
        norm.validate()
    }
}

impl fmt::Display for Norm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Norm::Inf => write!(f, "inf"),
            Norm::P(p) => write!(f, "{p}"),
        }
    }
}

/// The unit-norm direction of steepest ascent of a linear function with gradient `g`, per row:
/// `argmax_{‖u‖_p ≤ 1} ⟨u, g⟩`. A zero row gives a zero direction.
///
/// ℓ∞ gives `sign(g)`; ℓ1 moves only the feature with the largest |g| (the first on ties), as ART
/// does since 2024; other p give the Hölder dual `sign(g)·(|g|/‖g‖_q)^(q−1)` with `q = p/(p−1)`.
pub fn steepest_direction(g: Tensor<2>, norm: Norm) -> Tensor<2> {
    match norm {
        Norm::Inf => g.sign(),
        Norm::P(1.0) => {
            let [n, _] = g.dims();
            let top: Tensor<2, Int> = g.clone().abs().argmax(1);
            let ones = Tensor::<2>::ones([n, 1], &g.device());
            let one_hot = g
                .zeros_like()
                .scatter(1, top, ones, IndexingUpdateOp::Assign);
            g.sign() * one_hot
        }
        Norm::P(2.0) => {
            let n = Norm::L2.of_rows(g.clone());
            g / nonzero(n)
        }
        Norm::P(p) => {
            let q = p / (p - 1.0);
            if q <= 1.0 + f64::EPSILON {
                // p so large that its dual is 1 in f64: the ℓ1 answer is the limit.
                return steepest_direction(g, Norm::L1);
            }
            let [n, d] = g.dims();
            let s = nonzero(Norm::P(q).of_rows(g.clone())).expand([n, d]);
            g.clone().sign() * pow(g.abs() / s, q - 1.0)
        }
    }
}

/// `sign(v)` with `sign(0) = 0` (burn's `sign`; `f32::signum` gives ±1 at zero): a gradient sign,
/// so that a zero gradient moves nothing.
pub fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// [`steepest_direction`] of one row on the host, in place: for iterations that run on host rows
/// (APGD), so that a batch's directions come from all the workers rather than a few single-threaded
/// tensor passes. ℓ∞ gives the same bits; other norms take their row norm in f64 (as [`norm_of`]).
pub fn steepest_direction_row(g: &mut [f32], norm: Norm) {
    match norm {
        Norm::Inf => g.iter_mut().for_each(|v| *v = sign(*v)),
        Norm::P(p) if p == 1.0 || p / (p - 1.0) <= 1.0 + f64::EPSILON => {
            // The first of the largest magnitudes (p so large that its dual is 1: the ℓ1 limit).
            let top = (0..g.len()).fold(None, |best: Option<usize>, i| match best {
                Some(b) if g[i].abs() <= g[b].abs() => Some(b),
                _ => Some(i),
            });
            let keep = top.map(|i| sign(g[i]));
            g.fill(0.0);
            if let (Some(i), Some(s)) = (top, keep) {
                g[i] = s;
            }
        }
        Norm::P(p) => {
            let q = p / (p - 1.0);
            let length = norm_of(g, Norm::P(q));
            let scale = if length > 0.0 { length } else { 1.0 };
            for v in g.iter_mut() {
                let m = f64::from(v.abs()) / scale;
                *v = sign(*v) * m.powf(q - 1.0) as f32;
            }
        }
    }
}

/// Replaces zeros by ones, so that dividing a zero row by its zero norm leaves it at zero.
fn nonzero(n: Tensor<2>) -> Tensor<2> {
    let zero = n.clone().equal_elem(0.0);
    n.mask_fill(zero, 1.0)
}

/// How finite-p perturbations are brought back into the eps-ball.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Projection {
    /// ART's default: scale the row by `min(1, eps/‖δ‖_p)`. Exact for p = 2 and ∞ only.
    #[default]
    Radial,
    /// The exact Euclidean projection for ℓ1 (soft thresholding); other norms as `Radial`.
    ExactL1,
}

/// Projects each row of `delta` onto the `norm`-ball of radius `eps` (`[N, 1]`).
pub fn project(delta: Tensor<2>, eps: Tensor<2>, norm: Norm, projection: Projection) -> Tensor<2> {
    match norm {
        Norm::Inf => {
            // One radius for the whole batch (the usual case) is one clamp; per-example radii
            // compare against the broadcast column, several passes more.
            let radii = crate::array::tensor_to_vec(eps.clone());
            if let Some(&e) = radii.first()
                && radii.iter().all(|&r| r == e)
            {
                return delta.clamp(-e, e);
            }
            let [n, d] = delta.dims();
            let eps = eps.expand([n, d]);
            delta.max_pair(eps.clone().neg()).min_pair(eps)
        }
        Norm::P(1.0) if projection == Projection::ExactL1 => project_l1_exact(delta, eps),
        Norm::P(_) => {
            let n = norm.of_rows(delta.clone());
            let factor = (eps / nonzero(n)).clamp_max(1.0);
            delta * factor
        }
    }
}

/// Euclidean projection onto the ℓ1 ball: `sign(v)·max(|v| − θ, 0)` with θ chosen so the result has
/// ℓ1 norm eps (Duchi et al. 2008, by sorting). Rows already inside the ball are returned unchanged.
fn project_l1_exact(v: Tensor<2>, eps: Tensor<2>) -> Tensor<2> {
    let [n, d] = v.dims();
    let device = v.device();
    let a = v.clone().abs();
    let sorted = a.clone().sort_descending(1);
    let cumulative = sorted.clone().cumsum(1);
    let ranks = Tensor::<1, Int>::arange(1..d as i64 + 1, &device)
        .float()
        .reshape([1, d]);
    // The support is the prefix of sorted entries with u_j > (Σ_{i≤j} u_i − eps)/j.
    let in_support = sorted
        .greater((cumulative.clone() - eps.clone().expand([n, d])) / ranks.expand([n, d]))
        .float();
    let rho = in_support.sum_dim(1).clamp_min(1.0);
    let rho_index = (rho.clone() - 1.0).int();
    let theta = ((cumulative.gather(1, rho_index) - eps.clone()) / rho).clamp_min(0.0);
    let shrunk = v.clone().sign() * (a - theta.expand([n, d])).clamp_min(0.0);
    let inside = Norm::L1.of_rows(v.clone()).lower_equal(eps).expand([n, d]);
    shrunk.mask_where(inside, v)
}

/// `n` points drawn uniformly from the `norm`-ball of radius `eps[i]` in `d` dimensions, on the host.
///
/// ℓ∞: independent uniforms. ℓ1: sorted-uniform spacings with random signs (as ART). ℓ2: a Gaussian
/// direction with radius `eps·U^(1/d)`, the same distribution ART's incomplete-gamma formula gives.
/// Other p (which ART rejects): the generalised-Gaussian construction of Barthe et al. (2005).
pub fn random_ball(n: usize, d: usize, eps: &[f32], norm: Norm, rng: &mut impl Rng) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * d);
    for &radius in eps.iter().take(n) {
        let radius = radius as f64;
        let row: Vec<f64> = match norm {
            Norm::Inf => (0..d).map(|_| rng.random_range(-1.0..=1.0)).collect(),
            Norm::P(1.0) => {
                let mut u: Vec<f64> = (0..d).map(|_| rng.random::<f64>()).collect();
                u.sort_by(f64::total_cmp);
                let mut prev = 0.0;
                u.iter()
                    .map(|&x| {
                        let s = x - prev;
                        prev = x;
                        if rng.random::<bool>() { s } else { -s }
                    })
                    .collect()
            }
            Norm::P(2.0) => {
                let a: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
                let len = a
                    .iter()
                    .map(|x| x * x)
                    .sum::<f64>()
                    .sqrt()
                    .max(f64::MIN_POSITIVE);
                let r = rng.random::<f64>().powf(1.0 / d as f64);
                a.iter().map(|x| x / len * r).collect()
            }
            Norm::P(p) => {
                // |g|^p ~ Gamma(1/p) gives |g| = Gamma(1/p)^(1/p), which underflows to zero for
                // large p; Gamma(a) = Gamma(1 + a)·U^(1/a) gives it as Gamma(1 + 1/p)^(1/p)·U.
                let gamma = Gamma::new(1.0 + 1.0 / p, 1.0).expect("shape above 1");
                let g: Vec<f64> = (0..d)
                    .map(|_| {
                        let m: f64 = gamma.sample(rng);
                        let m = m.powf(1.0 / p) * rng.random::<f64>();
                        if rng.random::<bool>() { m } else { -m }
                    })
                    .collect();
                let z: f64 = Exp1.sample(rng);
                // (Σ|g|^p + z)^(1/p), scaled by the largest term so that it neither overflows nor
                // underflows.
                let top = g
                    .iter()
                    .map(|x| x.abs())
                    .fold(z.powf(1.0 / p), f64::max)
                    .max(f64::MIN_POSITIVE);
                let sum = g.iter().map(|x| (x.abs() / top).powf(p)).sum::<f64>()
                    + (z.ln() - p * top.ln()).exp();
                let denom = top * sum.powf(1.0 / p);
                g.iter().map(|x| x / denom).collect()
            }
        };
        out.extend(row.into_iter().map(|x| (x * radius) as f32));
    }
    out
}

/// The `norm` of `values` on the host, in f64; finite p scaled by the largest magnitude (see
/// [`Norm::of_rows`]).
pub fn norm_of(values: &[f32], norm: Norm) -> f64 {
    let top = values
        .iter()
        .map(|v| f64::from(v.abs()))
        .fold(0.0, f64::max);
    match norm {
        Norm::Inf => top,
        _ if top == 0.0 => 0.0,
        Norm::P(p) => {
            let sum: f64 = values
                .iter()
                .map(|v| (f64::from(v.abs()) / top).powf(p))
                .sum();
            top * sum.powf(1.0 / p)
        }
    }
}

/// `x + project(clip(p) − x)` for one row on the host, in place: `p` clipped to `bounds`, its
/// distance from `x` brought into the `norm`-ball of radius `eps` (L∞: each coordinate clamped, as
/// [`project`]; finite p: scaled by `min(1, eps/‖δ‖_p)`, the radial projection, the norm in f64 as
/// [`norm_of`]). For iterations that run on host rows (APGD): one pass, no tensor per step.
pub fn project_row(p: &mut [f32], x: &[f32], eps: f32, norm: Norm, bounds: Option<(f32, f32)>) {
    let clip = |v: f32| match bounds {
        Some((lo, hi)) => v.clamp(lo, hi),
        None => v,
    };
    match norm {
        Norm::Inf => {
            for (v, &xi) in p.iter_mut().zip(x) {
                *v = xi + (clip(*v) - xi).clamp(-eps, eps);
            }
        }
        Norm::P(_) => {
            let delta: Vec<f32> = p.iter().zip(x).map(|(&v, &xi)| clip(v) - xi).collect();
            let length = norm_of(&delta, norm);
            let factor = if length > 0.0 {
                (f64::from(eps) / length).min(1.0) as f32
            } else {
                1.0
            };
            for ((v, &xi), dv) in p.iter_mut().zip(x).zip(delta) {
                *v = xi + dv * factor;
            }
        }
    }
}

/// Uploads host values as an `[n, d]` tensor on the device of `like`.
pub fn tensor_like(values: Vec<f32>, n: usize, d: usize, like: &Tensor<2>) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [n, d]), &like.device())
}

/// The Euclidean projection of one perturbation `v` onto `{δ : ‖δ‖₁ ≤ eps, lo ≤ x + δ ≤ hi}`, the
/// threat model of L1-APGD (Croce and Hein 2021): the L1 ball intersected with the input range
/// `bounds` around the point `x` (no range: the plain L1 ball). Computed in f64.
///
/// The result is `δ_i = sign(v_i)·clamp(|v_i| − θ, 0, r_i)`, where `r_i` is the room the range
/// leaves `x_i` in the direction of `v_i` and θ ≥ 0 is the smallest threshold that brings
/// `S(θ) = Σ_i clamp(|v_i| − θ, 0, r_i)` down to eps (θ = 0, plain clipping, when the clipped point
/// is already in the ball). `S` is piecewise linear and non-increasing, with breakpoints at
/// `max(|v_i| − r_i, 0)` (where coordinate i starts to shrink) and `|v_i|` (where it reaches 0);
/// sorting the 2d breakpoints and walking them finds the segment holding eps, in O(d log d).
/// (AutoAttack's `L1_projection` solves the same problem by sorting and a bisection over the
/// breakpoints.)
pub fn project_l1_box_row(v: &[f32], x: &[f32], eps: f32, bounds: Option<(f32, f32)>) -> Vec<f64> {
    assert_eq!(v.len(), x.len(), "one perturbation per point");
    let eps = f64::from(eps.max(0.0));
    // |v_i| and the room r_i in its direction.
    let room = |vi: f32, xi: f32| -> f64 {
        match bounds {
            Some((_, hi)) if vi > 0.0 => (f64::from(hi) - f64::from(xi)).max(0.0),
            Some((lo, _)) => (f64::from(xi) - f64::from(lo)).max(0.0),
            None => f64::INFINITY,
        }
    };
    let parts: Vec<(f64, f64)> = v
        .iter()
        .zip(x)
        .map(|(&vi, &xi)| (f64::from(vi).abs(), room(vi, xi)))
        .collect();
    let clipped: f64 = parts.iter().map(|&(a, r)| a.min(r)).sum();
    let theta = if clipped <= eps {
        0.0
    } else {
        // Events (position, slope change): coordinate i starts shrinking at max(a − r, 0) (slope
        // −1) and stops at a (slope +1). Coordinates with a = 0 or r = 0 never move S.
        let mut events: Vec<(f64, i32)> = Vec::with_capacity(2 * parts.len());
        for &(a, r) in &parts {
            let start = (a - r).max(0.0);
            if a > start {
                events.push((start, -1));
                events.push((a, 1));
            }
        }
        events.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
        let (mut at, mut s, mut slope) = (0.0f64, clipped, 0i64);
        let mut theta = None;
        for &(t, change) in &events {
            let next = s + slope as f64 * (t - at);
            if slope < 0 && next <= eps {
                theta = Some(at + (s - eps) / (-slope) as f64);
                break;
            }
            at = t;
            s = next;
            slope += i64::from(change);
        }
        // S reaches 0 at the last event, so eps ≥ 0 is always crossed; the fallback zeroes all.
        theta.unwrap_or(at)
    };
    v.iter()
        .zip(&parts)
        .map(|(&vi, &(a, r))| {
            let m = (a - theta).clamp(0.0, r);
            if vi < 0.0 { -m } else { m }
        })
        .collect()
}
