//! FAB's projection: the smallest ℓp step (p = 1, 2 or ∞) from a point onto a hyperplane, with
//! the result kept inside a box (the model's input range), as in Croce and Hein (2020), §3.
//!
//! Minimise ‖δ‖ subject to w·(x + δ) = b and lo ≤ x + δ ≤ hi. Moving a coordinate against the
//! direction that brings w·x towards b never helps, so with s_j = sign((b − w·x)·w_j), a_j = |w_j|
//! and u_j the room left in the box along s_j, δ_j = s_j·m_j with 0 ≤ m_j ≤ u_j and
//! Σ a_j m_j = |b − w·x|.
//!
//! ℓ2 and ℓ∞: the optimum is m_j = min(λ·v_j, u_j), v_j = a_j for ℓ2 (KKT) and 1 for ℓ∞, with the
//! λ at which the constraint holds: the left side is piecewise linear and increasing in λ with
//! breakpoints u_j/v_j, so one sort and a scan find it (the reference implementation bisects over
//! the same sorted breakpoints).
//!
//! ℓ1: a fractional knapsack. Each unit of ‖δ‖₁ spent on coordinate j buys a_j of the gap, so the
//! cheapest step fills the coordinates in order of decreasing a_j, each to the end of its room,
//! until the gap is closed; the last one moves part of its room. Without a binding box only the
//! coordinate of largest |w_j| moves, by |b − w·x| / max|w_j|. (The reference's `projection_l1`
//! sorts by 1/|w_j| and bisects over the cumulative sums: the same solution.)
//!
//! Where the box does not reach the hyperplane, every coordinate moves to the end of its room: the
//! point of the box closest to it in w·x. The bounds may be infinite (a model without an input
//! range); coordinates with w_j = 0 never move (masked features have a zero gradient).

use super::Norm;

/// The step δ (in f64) from `point` onto {z : w·z = b} within the box `[lo, hi]`, smallest in
/// `norm` (L1, L2 or L∞; any other norm is treated as L2).
pub fn project(point: &[f32], w: &[f32], b: f64, lo: f32, hi: f32, norm: Norm) -> Vec<f64> {
    let d = point.len();
    let mut delta = vec![0.0f64; d];
    let wx: f64 = point
        .iter()
        .zip(w)
        .map(|(x, w)| *x as f64 * *w as f64)
        .sum();
    let gap = b - wx;
    if gap == 0.0 || !gap.is_finite() {
        return delta;
    }
    let sign = gap.signum();
    let need = gap.abs();
    // (feature, direction, a_j, v_j, u_j, breakpoint u_j / v_j)
    let mut coords: Vec<(usize, f64, f64, f64, f64, f64)> = Vec::new();
    for j in 0..d {
        let wj = w[j] as f64;
        if wj == 0.0 || !wj.is_finite() {
            continue;
        }
        let dir = sign * wj.signum();
        let x = point[j] as f64;
        let room = if dir > 0.0 {
            hi as f64 - x
        } else {
            x - lo as f64
        };
        if room.is_nan() || room <= 0.0 {
            continue;
        }
        let a = wj.abs();
        let v = if norm == Norm::Inf { 1.0 } else { a };
        coords.push((j, dir, a, v, room, room / v));
    }
    if norm == Norm::L1 {
        fill_largest_weights_first(&mut coords, need, &mut delta);
        return delta;
    }
    coords.sort_by(|p, q| p.5.total_cmp(&q.5).then(p.0.cmp(&q.0)));
    // rest[k] = Σ_{i ≥ k} a_i v_i: the slope while coordinates k.. are not yet at their bound.
    let mut rest = vec![0.0f64; coords.len() + 1];
    for k in (0..coords.len()).rev() {
        rest[k] = rest[k + 1] + coords[k].2 * coords[k].3;
    }
    let mut saturated = 0.0f64; // Σ a_i u_i over the coordinates at their bound
    let mut lambda = None;
    for (k, c) in coords.iter().enumerate() {
        // On [previous breakpoint, c.5]: g(λ) = saturated + λ·rest[k].
        if saturated + c.5 * rest[k] >= need {
            lambda = Some(((need - saturated) / rest[k]).max(0.0));
            break;
        }
        saturated += c.2 * c.4;
    }
    for &(j, dir, _, v, room, _) in &coords {
        let m = match lambda {
            Some(l) => (l * v).min(room),
            None => room, // the box does not reach the hyperplane: go as far as it allows
        };
        delta[j] = dir * m;
    }
    delta
}

/// The ℓ1 projection (see the module's documentation): coordinates in order of decreasing |w_j|
/// (ties by feature), each to the end of its room, until `need` of the gap is closed.
fn fill_largest_weights_first(
    coords: &mut [(usize, f64, f64, f64, f64, f64)],
    need: f64,
    delta: &mut [f64],
) {
    coords.sort_by(|p, q| q.2.total_cmp(&p.2).then(p.0.cmp(&q.0)));
    let mut left = need;
    for &(j, dir, a, _, room, _) in coords.iter() {
        if left <= 0.0 {
            break;
        }
        let m = (left / a).min(room);
        delta[j] = dir * m;
        left -= a * m;
    }
}

/// ‖v‖ in `norm` (L∞, L1, else L2).
pub fn size(v: &[f64], norm: Norm) -> f64 {
    match norm {
        Norm::Inf => v.iter().fold(0.0, |m, x| m.max(x.abs())),
        n if n == Norm::L1 => v.iter().map(|x| x.abs()).sum(),
        _ => v.iter().map(|x| x * x).sum::<f64>().sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for the tests.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
        }
        fn range(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.next()
        }
    }

    fn dot(w: &[f32], x: &[f64]) -> f64 {
        w.iter().zip(x).map(|(a, b)| *a as f64 * b).sum()
    }

    /// A random case: point in [0, 1]^d, hyperplane through a random point of the box (so it is
    /// reachable), some zero weights.
    fn case(rng: &mut Lcg, d: usize) -> (Vec<f32>, Vec<f32>, f64) {
        let x: Vec<f32> = (0..d).map(|_| rng.range(0.0, 1.0) as f32).collect();
        let w: Vec<f32> = (0..d)
            .map(|_| {
                if rng.next() < 0.2 {
                    0.0
                } else {
                    rng.range(-2.0, 2.0) as f32
                }
            })
            .collect();
        let z: Vec<f64> = (0..d).map(|_| rng.range(0.0, 1.0)).collect();
        let b = dot(&w, &z);
        (x, w, b)
    }

    fn check_feasible(x: &[f32], w: &[f32], b: f64, delta: &[f64], lo: f64, hi: f64) {
        let z: Vec<f64> = x.iter().zip(delta).map(|(x, d)| *x as f64 + d).collect();
        let scale = w.iter().map(|v| v.abs() as f64).sum::<f64>().max(1.0);
        assert!(
            (dot(w, &z) - b).abs() < 1e-9 * scale,
            "{} vs {b}",
            dot(w, &z)
        );
        for (j, v) in z.iter().enumerate() {
            assert!(*v >= lo - 1e-12 && *v <= hi + 1e-12, "feature {j} at {v}");
            if w[j] == 0.0 {
                assert_eq!(delta[j], 0.0, "feature {j} has no weight but moved");
            }
        }
    }

    /// Random feasible points: each is on the hyperplane and in the box, so none may be closer
    /// than the projection. Candidates: points of the box moved onto the hyperplane along a random
    /// coordinate subset, kept only when feasible.
    fn brute_force_best(rng: &mut Lcg, x: &[f32], w: &[f32], b: f64, norm: Norm) -> f64 {
        let d = x.len();
        let mut best = f64::INFINITY;
        for _ in 0..20000 {
            // A random direction, scaled to reach the hyperplane.
            let dir: Vec<f64> = (0..d)
                .map(|j| {
                    if w[j] == 0.0 {
                        0.0
                    } else {
                        rng.range(-1.0, 1.0)
                    }
                })
                .collect();
            let wd = dot(w, &dir);
            if wd.abs() < 1e-9 {
                continue;
            }
            let t = (b - dot(w, &x.iter().map(|v| *v as f64).collect::<Vec<_>>())) / wd;
            let delta: Vec<f64> = dir.iter().map(|v| v * t).collect();
            if x.iter()
                .zip(&delta)
                .all(|(x, dl)| (0.0..=1.0).contains(&(*x as f64 + dl)))
            {
                best = best.min(size(&delta, norm));
            }
        }
        best
    }

    #[test]
    fn lands_on_the_hyperplane_in_the_box_and_no_random_point_is_closer() {
        let mut rng = Lcg(7);
        for norm in [Norm::L1, Norm::L2, Norm::Inf] {
            for trial in 0..40 {
                let d = 1 + trial % 5;
                let (x, w, b) = case(&mut rng, d);
                if w.iter().all(|v| *v == 0.0) {
                    continue;
                }
                let delta = project(&x, &w, b, 0.0, 1.0, norm);
                check_feasible(&x, &w, b, &delta, 0.0, 1.0);
                let ours = size(&delta, norm);
                let random = brute_force_best(&mut rng, &x, &w, b, norm);
                assert!(
                    ours <= random + 1e-9,
                    "{norm} trial {trial}: projection {ours} but a random point at {random}"
                );
            }
        }
    }

    #[test]
    fn without_a_box_it_is_the_closed_form() {
        let x = [0.5f32, -1.0, 2.0, 0.0];
        let w = [1.0f32, -2.0, 0.5, 0.0];
        let b = 4.0;
        let wx = dot(&w, &x.map(|v| v as f64));
        // L2: δ = (b − w·x) w / ‖w‖²; L∞: δ = (b − w·x) sign(w) / ‖w‖₁.
        let l2 = project(&x, &w, b, f32::NEG_INFINITY, f32::INFINITY, Norm::L2);
        let n2: f64 = w.iter().map(|v| (*v as f64).powi(2)).sum();
        let n1: f64 = w.iter().map(|v| v.abs() as f64).sum();
        for j in 0..4 {
            assert!((l2[j] - (b - wx) * w[j] as f64 / n2).abs() < 1e-12);
        }
        let li = project(&x, &w, b, f32::NEG_INFINITY, f32::INFINITY, Norm::Inf);
        for j in 0..4 {
            let want = if w[j] == 0.0 {
                0.0
            } else {
                (b - wx) * (w[j] as f64).signum() / n1
            };
            assert!((li[j] - want).abs() < 1e-12, "{j}: {} vs {want}", li[j]);
        }
    }

    #[test]
    fn l1_without_a_box_moves_only_the_largest_weight() {
        let x = [0.5f32, -1.0, 2.0, 0.0];
        let w = [1.0f32, -2.0, 0.5, 0.0];
        let b = 4.0;
        let wx = dot(&w, &x.map(|v| v as f64));
        let l1 = project(&x, &w, b, f32::NEG_INFINITY, f32::INFINITY, Norm::L1);
        // |w_1| = 2 is the largest: δ_1 = (b − w·x) / w_1, the rest stay.
        assert_eq!(l1[0], 0.0);
        assert!((l1[1] - (b - wx) / -2.0).abs() < 1e-12, "{l1:?}");
        assert_eq!((l1[2], l1[3]), (0.0, 0.0));
        assert!((size(&l1, Norm::L1) - (b - wx).abs() / 2.0).abs() < 1e-12);
    }

    #[test]
    fn l1_with_a_binding_box_fills_the_next_largest_weight() {
        // w = (1, 3), from (0, 0.9) onto x1 + 3 x2 = 3.7 in [0, 1]²: x2 (the larger weight) can
        // only gain 0.1 (0.3 of the gap 1.0), so x1 closes the remaining 0.7.
        let delta = project(&[0.0, 0.9], &[1.0, 3.0], 3.7, 0.0, 1.0, Norm::L1);
        assert!((delta[1] - 0.1).abs() < 1e-7, "{delta:?}");
        assert!((delta[0] - 0.7).abs() < 1e-6, "{delta:?}");
    }

    #[test]
    fn a_binding_box_moves_the_rest_further() {
        // w = (1, 1), from (0.9, 0) onto x1 + x2 = 1.6 in [0, 1]²: without the box L2 would move
        // both by 0.35, but x1 can only go to 1, so x2 takes 0.6 (and L∞ likewise).
        for norm in [Norm::L2, Norm::Inf] {
            let delta = project(&[0.9, 0.0], &[1.0, 1.0], 1.6, 0.0, 1.0, norm);
            assert!((delta[0] - 0.1).abs() < 1e-7, "{norm}: {delta:?}");
            assert!((delta[1] - 0.6).abs() < 1e-7, "{norm}: {delta:?}");
        }
    }

    #[test]
    fn an_unreachable_hyperplane_gives_the_nearest_corner() {
        // x1 + x2 = 5 is outside [0, 1]²: both go to 1.
        let delta = project(&[0.2, 0.5], &[1.0, 1.0], 5.0, 0.0, 1.0, Norm::L2);
        assert!((delta[0] - 0.8).abs() < 1e-7 && (delta[1] - 0.5).abs() < 1e-7);
    }
}
