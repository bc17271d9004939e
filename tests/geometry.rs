//! The shared ℓp geometry: projections (including the exact ℓ1 one) and random starts.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

mod common;

use avfoil::attack::geometry::{
    Norm, Projection, norm_of, project, project_row, random_ball, steepest_direction,
    steepest_direction_row,
};
use common::*;
use rand::SeedableRng;

/// Exact Euclidean projection onto the ℓ1 ball by sorting (the textbook algorithm), in f64.
fn l1_reference(v: &[f64], eps: f64) -> Vec<f64> {
    if v.iter().map(|x| x.abs()).sum::<f64>() <= eps {
        return v.to_vec();
    }
    let mut u: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    u.sort_by(|a, b| b.total_cmp(a));
    let mut css = 0.0;
    let mut theta = 0.0;
    for (j, &uj) in u.iter().enumerate() {
        css += uj;
        let t = (css - eps) / (j + 1) as f64;
        if uj > t {
            theta = t;
        }
    }
    v.iter()
        .map(|x| x.signum() * (x.abs() - theta).max(0.0))
        .collect()
}

#[test]
fn exact_l1_projection_matches_the_sorting_algorithm() {
    let mut r = Lcg(5);
    for d in [1, 2, 5, 29, 30, 100] {
        let n = 4;
        let v = r.vec(n * d, -2.0, 2.0);
        let eps: Vec<f32> = (0..n).map(|i| 0.3 * (i + 1) as f32).collect();
        let got = host(&project(
            tensor(&v, n, d),
            tensor(&eps, n, 1),
            Norm::L1,
            Projection::ExactL1,
        ));
        for i in 0..n {
            let row: Vec<f64> = v[i * d..(i + 1) * d].iter().map(|&x| x as f64).collect();
            let want = l1_reference(&row, eps[i] as f64);
            for j in 0..d {
                assert!(
                    (got[i * d + j] as f64 - want[j]).abs() < 1e-5,
                    "d={d} row {i}: {:?} vs {want:?}",
                    &got[i * d..(i + 1) * d]
                );
            }
        }
    }
}

#[test]
fn art_projection_examples() {
    // Spec §2.5 and Appendix A: radial L1 [3,1]→[1.5,0.5] (eps 2), exact L1 → [2,0], L2 [3,4]→[0.6,0.8].
    let p = |v: &[f32], eps: f32, norm, proj| {
        host(&project(
            tensor(v, 1, v.len()),
            tensor(&[eps], 1, 1),
            norm,
            proj,
        ))
    };
    assert_eq!(
        p(&[3.0, 1.0], 2.0, Norm::L1, Projection::Radial),
        vec![1.5, 0.5]
    );
    assert_eq!(
        p(&[3.0, 1.0], 2.0, Norm::L1, Projection::ExactL1),
        vec![2.0, 0.0]
    );
    let l2 = p(&[3.0, 4.0], 1.0, Norm::L2, Projection::Radial);
    assert!(
        (l2[0] - 0.6).abs() < 1e-6 && (l2[1] - 0.8).abs() < 1e-6,
        "{l2:?}"
    );
    assert_eq!(
        p(&[3.0, -0.2, -4.0], 0.5, Norm::Inf, Projection::Radial),
        vec![0.5, -0.2, -0.5]
    );
}

#[test]
fn projection_is_idempotent_and_leaves_inside_points_alone() {
    let mut r = Lcg(9);
    for norm in [Norm::Inf, Norm::L1, Norm::L2, Norm::P(3.0)] {
        for proj in [Projection::Radial, Projection::ExactL1] {
            let v = r.vec(3 * 10, -1.0, 1.0);
            let eps = tensor(&[0.5, 1.0, 100.0], 3, 1);
            let once = project(tensor(&v, 3, 10), eps.clone(), norm, proj);
            let twice = project(once.clone(), eps, norm, proj);
            let (a, b) = (host(&once), host(&twice));
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-5, "{norm} {proj:?} not idempotent");
            }
            assert_eq!(&a[20..], &v[20..], "{norm}: a point inside the ball moved");
        }
    }
}

#[test]
fn host_row_direction_equals_the_tensor_direction() {
    // Rows with zeros, a tie for the largest magnitude (the first wins in L1), and an all-zero row.
    let mut r = Lcg(5);
    let d = 30;
    let mut g = r.vec(3 * d, -1.0, 1.0);
    g[3] = 0.0;
    g[d + 4] = -2.0;
    g[d + 9] = 2.0;
    g[2 * d..].fill(0.0);
    for norm in [
        Norm::Inf,
        Norm::L1,
        Norm::L2,
        Norm::P(3.0),
        Norm::P(1.5),
        Norm::P(1e17),
    ] {
        let want = host(&steepest_direction(tensor(&g, 3, d), norm));
        let mut got = g.clone();
        got.chunks_mut(d)
            .for_each(|row| steepest_direction_row(row, norm));
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{norm}, entry {i}: {a} vs {b}"
            );
        }
        if norm == Norm::Inf {
            assert_eq!(got, want);
        }
    }
}

#[test]
fn host_row_projection_equals_clip_then_tensor_projection() {
    // APGD's host rows: x + project(clip(p) − x) row by row, as the tensor path computes it.
    let mut r = Lcg(21);
    let (n, d, bounds) = (3, 40, (-0.5f32, 0.6f32));
    let x = r.vec(n * d, -0.4, 0.5);
    let p: Vec<f32> = x.iter().map(|v| v + r.range(-0.8, 0.8)).collect();
    let eps = [0.05f32, 0.3, 10.0];
    for norm in [Norm::Inf, Norm::L2, Norm::P(3.0)] {
        let clipped = tensor(&p, n, d).clamp(bounds.0, bounds.1);
        let delta = project(
            clipped - tensor(&x, n, d),
            tensor(&eps, n, 1),
            norm,
            Projection::Radial,
        );
        let want = host(&(tensor(&x, n, d) + delta));
        for i in 0..n {
            let mut row = p[i * d..(i + 1) * d].to_vec();
            project_row(&mut row, &x[i * d..(i + 1) * d], eps[i], norm, Some(bounds));
            for (a, b) in row.iter().zip(&want[i * d..(i + 1) * d]) {
                assert!((a - b).abs() < 1e-5, "{norm}, row {i}: {a} vs {b}");
            }
            let moved: Vec<f32> = row.iter().zip(&x[i * d..]).map(|(a, b)| a - b).collect();
            assert!(norm_of(&moved, norm) <= f64::from(eps[i]) * (1.0 + 1e-5));
            assert!(row.iter().all(|v| (bounds.0..=bounds.1).contains(v)));
        }
    }
    // L-inf is exactly the tensor path's arithmetic.
    let mut row = p[..d].to_vec();
    project_row(&mut row, &x[..d], 0.05, Norm::Inf, Some(bounds));
    let clipped = tensor(&p[..d], 1, d).clamp(bounds.0, bounds.1);
    let delta = project(
        clipped - tensor(&x[..d], 1, d),
        tensor(&[0.05], 1, 1),
        Norm::Inf,
        Projection::Radial,
    );
    assert_eq!(row, host(&(tensor(&x[..d], 1, d) + delta)));
}

#[test]
fn random_starts_lie_inside_the_ball() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for norm in [Norm::Inf, Norm::L1, Norm::L2, Norm::P(3.0), Norm::P(1.5)] {
        let (n, d) = (50, 7);
        let eps: Vec<f32> = (0..n).map(|i| 0.1 + 0.01 * i as f32).collect();
        let v = random_ball(n, d, &eps, norm, &mut rng);
        let p = match norm {
            Norm::Inf => f64::INFINITY,
            Norm::P(p) => p,
        };
        for i in 0..n {
            let row: Vec<f64> = v[i * d..(i + 1) * d].iter().map(|&x| x as f64).collect();
            assert!(
                lp_norm(&row, p) <= eps[i] as f64 * (1.0 + 1e-6),
                "{norm}: outside the ball"
            );
        }
    }
}

#[test]
fn l2_random_start_radius_has_cdf_r_to_the_d() {
    // Uniform in the d-ball: P(‖x‖ ≤ r·eps) = r^d. Check the median, r = 0.5^(1/d).
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let (n, d) = (4000, 3);
    let v = random_ball(n, d, &vec![1.0; n], Norm::L2, &mut rng);
    let median_r = 0.5f64.powf(1.0 / d as f64);
    let below = (0..n)
        .filter(|i| {
            lp_norm(
                &v[i * d..(i + 1) * d]
                    .iter()
                    .map(|&x| x as f64)
                    .collect::<Vec<_>>(),
                2.0,
            ) <= median_r
        })
        .count();
    let frac = below as f64 / n as f64;
    assert!(
        (frac - 0.5).abs() < 0.03,
        "fraction below the median radius: {frac}"
    );
}

/// A row of int16-scale values, where `Σ|v|^p` leaves float32 already at p = 50.
fn int16_row(r: &mut Lcg, d: usize) -> Vec<f32> {
    r.vec(d, -3000.0, 3000.0)
}

#[test]
fn large_p_norms_are_computed_without_overflow() {
    let mut r = Lcg(9);
    let (n, d) = (3, 400);
    let v = int16_row(&mut r, n * d);
    for p in [3.0, 50.0, 1e3, 1e20] {
        let got = host(&Norm::P(p).of_rows(tensor(&v, n, d)));
        for i in 0..n {
            let row = &v[i * d..(i + 1) * d];
            let want = norm_of(row, Norm::P(p));
            let f64_row: Vec<f64> = row.iter().map(|&x| x as f64).collect();
            assert!(want.is_finite() && want > 0.0, "p {p}: {want}");
            assert!(
                (f64::from(got[i]) - want).abs() <= 1e-4 * want,
                "p {p}: burn {} vs host {want}",
                got[i]
            );
            if p <= 50.0 {
                // Against the unscaled formula in f64, which still holds there.
                assert!((lp_norm(&f64_row, p) - want).abs() <= 1e-9 * want, "p {p}");
            }
        }
    }
}

#[test]
fn large_p_steps_and_projections_move_and_stay_in_the_ball() {
    let mut r = Lcg(11);
    let (n, d) = (2, 300);
    let g = int16_row(&mut r, n * d);
    for p in [50.0, 1e3, 1e20] {
        let norm = Norm::P(p);
        let u = host(&steepest_direction(tensor(&g, n, d), norm));
        for i in 0..n {
            let row = &u[i * d..(i + 1) * d];
            assert!(row.iter().all(|x| x.is_finite()), "p {p}: non-finite step");
            let size = norm_of(row, norm);
            assert!((size - 1.0).abs() < 1e-3, "p {p}: step of norm {size}");
            // Ascent: the step points along the gradient.
            let dot: f64 = row
                .iter()
                .zip(&g[i * d..(i + 1) * d])
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            assert!(dot > 0.0, "p {p}: not an ascent direction");
        }
        let eps = [64.0f32, 128.0];
        let projected = host(&project(
            tensor(&g, n, d),
            tensor(&eps, n, 1),
            norm,
            Projection::Radial,
        ));
        for i in 0..n {
            let size = norm_of(&projected[i * d..(i + 1) * d], norm);
            assert!(
                size <= f64::from(eps[i]) * (1.0 + 1e-4) && size >= f64::from(eps[i]) * 0.999,
                "p {p}: projected to {size}, eps {}",
                eps[i]
            );
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let start = random_ball(n, d, &eps, norm, &mut rng);
        for i in 0..n {
            let row = &start[i * d..(i + 1) * d];
            let size = norm_of(row, norm);
            assert!(size <= f64::from(eps[i]) * (1.0 + 1e-6), "p {p}: outside");
            assert!(size > 0.5 * f64::from(eps[i]), "p {p}: collapsed to {size}");
        }
    }
}
