//! The Square attack's L1 version, as AutoAttack's `square.py` (`norm='L1'`, from Croce and Hein,
//! "Mind the box", ICML 2021) defines it, on windows over any number of axes.
//!
//! - **Windows**: each side is the signal's scaled by p^(1/axes), at least 3 and odd (the bump
//!   needs a centre), at most the axis.
//! - **Bump**: the L1 "meta" bump: the window split in two halves along a random axis, each half a
//!   stack of concentric boxes about its centre weighted 1/(k + 1)⁴ (so a point k steps from the
//!   centre gets Σ_{k' ≥ k} 1/(k' + 1)⁴: a sharp peak, which is what spends an L1 budget well),
//!   positive on one half and negative on the other, normalised to L1 mass 1.
//! - **Start**: a 5 × … × 5 grid of tiles (side: a fifth of each axis, centred), a bump of random
//!   sign per channel in each, of mass one input range per tile and channel (the reference's 1 on
//!   [0, 1] images; eps on a model without a range), projected onto the L1 ball within the range.
//! - **Query**: per channel, the second window is emptied into the first, which gets a fresh bump of
//!   random sign plus its old content (normalised), scaled to L1 mass (unused budget / channels +
//!   mass of both windows) × channels, as the reference; then the whole perturbation is projected
//!   onto {‖δ‖₁ ≤ eps·(1 − 10⁻⁶), x + δ in range}
//!   ([`project_l1_box_row`](super::geometry::project_l1_box_row)), which keeps the budget.

use rand::Rng;

/// The sides of an L1 window covering a fraction `p` of `spatial`.
pub fn sides(spatial: &[usize], p: f32) -> Vec<usize> {
    let axes = spatial.len().max(1);
    let scale = (p as f64).powf(1.0 / axes as f64);
    spatial
        .iter()
        .map(|&s| {
            let mut side = ((s as f64 * scale).round() as usize).max(3);
            if side.is_multiple_of(2) {
                side += 1;
            }
            side.min(s.max(1))
        })
        .collect()
}

/// The L1 bump over a window with `sides`, in row-major order, split into a positive and a negative
/// half along axis `split`; L1 mass 1.
pub fn bump(sides: &[usize], split: usize) -> Vec<f32> {
    let count: usize = sides.iter().product();
    let mut out = vec![0f64; count];
    if count == 0 {
        return Vec::new();
    }
    let half = sides.get(split).map_or(0, |s| s / 2);
    let mut low = sides.to_vec();
    let mut high = sides.to_vec();
    if let (Some(l), Some(h)) = (low.get_mut(split), high.get_mut(split)) {
        *l = half;
        *h -= half;
    }
    let (low_values, high_values) = (boxes(&low), boxes(&high));
    let mut at = vec![0usize; sides.len()];
    let (mut li, mut hi) = (0, 0);
    for v in out.iter_mut() {
        if at.get(split).is_none_or(|&pos| pos >= half) {
            *v = -high_values[hi];
            hi += 1;
        } else {
            *v = low_values[li];
            li += 1;
        }
        for a in (0..sides.len()).rev() {
            at[a] += 1;
            if at[a] < sides[a] {
                break;
            }
            at[a] = 0;
        }
    }
    let mass: f64 = out.iter().map(|v| v.abs()).sum();
    out.iter().map(|v| (v / mass.max(1e-300)) as f32).collect()
}

/// Concentric boxes about the centre (index side / 2 on each axis) of a block with `sides`, the
/// k-th weighted 1/(k + 1)⁴, in row-major order; L1 mass 1 (empty for an empty block).
fn boxes(sides: &[usize]) -> Vec<f64> {
    let count: usize = sides.iter().product();
    if count == 0 {
        return Vec::new();
    }
    let rings = sides.iter().map(|s| s / 2 + 1).max().unwrap_or(1);
    let mut at = vec![0usize; sides.len()];
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let dist = at
            .iter()
            .zip(sides)
            .map(|(&pos, &side)| pos.abs_diff(side / 2))
            .max()
            .unwrap_or(0);
        out.push(
            (dist..rings)
                .map(|k| 1.0 / ((k + 1) as f64).powi(4))
                .sum::<f64>(),
        );
        for a in (0..sides.len()).rev() {
            at[a] += 1;
            if at[a] < sides[a] {
                break;
            }
            at[a] = 0;
        }
    }
    let mass: f64 = out.iter().sum();
    out.iter_mut().for_each(|v| *v /= mass);
    out
}

/// The starting perturbation of one example before its projection: the grid of bumps (see the
/// module's documentation), `mass` per tile and channel, zero where `allowed` is false.
pub fn start(
    spatial: &[usize],
    channels: usize,
    mass: f32,
    allowed: &dyn Fn(usize) -> bool,
    rng: &mut impl Rng,
) -> Vec<f32> {
    let per_channel: usize = spatial.iter().product();
    let mut row = vec![0f32; channels * per_channel];
    // Per axis: tile side, tile count, offset of the first tile.
    let grid: Vec<(usize, usize, usize)> = spatial
        .iter()
        .map(|&s| {
            if s >= 5 {
                (s / 5, 5, (s - 5 * (s / 5)) / 2)
            } else {
                (s, 1, 0)
            }
        })
        .collect();
    let tile_sides: Vec<usize> = grid.iter().map(|g| g.0).collect();
    let tiles: usize = grid.iter().map(|g| g.1).product();
    let axes = spatial.len();
    let mut tile = vec![0usize; axes];
    for _ in 0..tiles {
        let split = if axes == 0 {
            0
        } else {
            rng.random_range(0..axes)
        };
        let values = bump(&tile_sides, split);
        let starts: Vec<usize> = grid
            .iter()
            .zip(&tile)
            .map(|(&(side, _, first), &t)| first + t * side)
            .collect();
        let offsets = super::square_window::box_offsets(spatial, &starts, &tile_sides);
        for ch in 0..channels {
            let sign = if rng.random::<bool>() { mass } else { -mass };
            for (&o, &v) in offsets.iter().zip(&values) {
                let j = ch * per_channel + o;
                if allowed(j) {
                    row[j] = sign * v;
                }
            }
        }
        for a in (0..axes).rev() {
            tile[a] += 1;
            if tile[a] < grid[a].1 {
                break;
            }
            tile[a] = 0;
        }
    }
    row
}

/// One query's change before the projection (see the module's documentation): per channel, the
/// `second` window (offsets within a channel) emptied into the `first`, which gets a fresh bump of
/// random sign over `sides` plus its old content.
#[allow(clippy::too_many_arguments)]
pub fn move_mass(
    row: &mut [f32],
    first: &[usize],
    second: &[usize],
    sides: &[usize],
    channels: usize,
    eps: f32,
    allowed: &dyn Fn(usize) -> bool,
    rng: &mut impl Rng,
) {
    let per_channel = row.len() / channels;
    let used: f64 = row.iter().map(|v| v.abs() as f64).sum();
    let spare = (eps as f64 - used).max(0.0);
    let split = if sides.is_empty() {
        0
    } else {
        rng.random_range(0..sides.len())
    };
    let fresh_bump = bump(sides, split);
    let mut union: Vec<usize> = first.iter().chain(second).copied().collect();
    union.sort_unstable();
    union.dedup();
    for ch in 0..channels {
        let at = |o: usize| ch * per_channel + o;
        let first_mass: f64 = first.iter().map(|&o| row[at(o)].abs() as f64).sum();
        let union_mass: f64 = union.iter().map(|&o| row[at(o)].abs() as f64).sum();
        let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
        let fresh: Vec<f64> = first
            .iter()
            .zip(&fresh_bump)
            .map(|(&o, &b)| {
                if allowed(at(o)) {
                    sign * b as f64 + row[at(o)] as f64 / (1e-12 + first_mass)
                } else {
                    0.0
                }
            })
            .collect();
        let fresh_mass: f64 = fresh.iter().map(|v| v.abs()).sum();
        let target = (spare / channels as f64 + union_mass) * channels as f64;
        for &o in second {
            row[at(o)] = 0.0;
        }
        for (&o, &v) in first.iter().zip(&fresh) {
            row[at(o)] = (v / (1e-12 + fresh_mass) * target) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_odd_at_least_3_and_within_the_axis() {
        assert_eq!(sides(&[100], 0.8), vec![81]);
        assert_eq!(sides(&[100], 0.5), vec![51]);
        assert_eq!(sides(&[100], 0.001), vec![3]);
        assert_eq!(sides(&[2, 8], 0.5), vec![2, 7]);
    }

    #[test]
    fn the_bump_has_mass_one_a_positive_and_a_negative_half_and_peaks_at_their_centres() {
        let b = bump(&[7], 0);
        // Halves of 3 and 4: centres at 1 and 3 + 2 = 5.
        assert!((b.iter().map(|v| v.abs()).sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(b[..3].iter().all(|v| *v > 0.0) && b[3..].iter().all(|v| *v < 0.0));
        assert!(b[1] > b[0] && b[1] > b[2]);
        assert!(b[5] < b[4] && b[5] < b[6]);
        // Each half holds half the mass; a centre's weight is Σ_{k ≥ 0} over its rings.
        assert!((b[..3].iter().sum::<f32>() - 0.5).abs() < 1e-6);
        let (centre, edge) = (1.0 + 1.0 / 16.0, 1.0 / 16.0);
        assert!((b[1] / b[0] - centre / edge).abs() < 1e-3);
        // Two axes, split along the second: rows positive on the left, negative on the right.
        let b = bump(&[3, 5], 1);
        for r in 0..3 {
            assert!(b[r * 5] > 0.0 && b[r * 5 + 1] > 0.0 && b[r * 5 + 4] < 0.0);
        }
    }
}
