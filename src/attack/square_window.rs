//! The Square attack's windows (boxes over the axes after the channels, covering a fraction p of
//! them) and the L∞ and L2 changes made inside them; see [`square`](super::square).

use rand::Rng;

/// The Euclidean norm of `v`.
pub fn norm2(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// One query's windows: boxes over the axes after the channels, covering a fraction p of them.
pub struct Window {
    /// Offsets (within one channel) of the window's points.
    pub first: Vec<usize>,
    /// L2: the window the mass moves from (same size; may overlap the first).
    pub second: Vec<usize>,
    /// The window's side along each axis.
    pub sides: Vec<usize>,
}

impl Window {
    pub fn draw(spatial: &[usize], p: f32, two: bool, rng: &mut impl Rng) -> Self {
        let axes = spatial.len().max(1);
        let scale = (p as f64).powf(1.0 / axes as f64);
        let sides: Vec<usize> = spatial
            .iter()
            .map(|&s| ((s as f64 * scale).round() as usize).clamp(1, s.max(1)))
            .collect();
        Self::place(spatial, sides, two, rng)
    }

    /// Windows with `sides` at random places (two when `two`).
    pub fn place(spatial: &[usize], sides: Vec<usize>, two: bool, rng: &mut impl Rng) -> Self {
        let place = |rng: &mut _| -> Vec<usize> {
            let starts: Vec<usize> = spatial
                .iter()
                .zip(&sides)
                .map(|(&s, &w)| Rng::random_range(rng, 0..=s - w))
                .collect();
            box_offsets(spatial, &starts, &sides)
        };
        let first = place(rng);
        let second = if two { place(rng) } else { Vec::new() };
        Self {
            first,
            second,
            sides,
        }
    }

    /// L∞: a fresh random ±eps per channel over the window.
    pub fn resample(
        &self,
        row: &mut [f32],
        channels: usize,
        eps: f32,
        allowed: &dyn Fn(usize) -> bool,
        rng: &mut impl Rng,
    ) {
        let per_channel = row.len() / channels;
        for ch in 0..channels {
            let sign = if rng.random::<bool>() { eps } else { -eps };
            for &o in &self.first {
                let j = ch * per_channel + o;
                if allowed(j) {
                    row[j] = sign;
                }
            }
        }
    }

    /// L2: per channel, empties the second window into the first with a fresh bump (see the
    /// module's documentation); the caller rescales the whole row to norm eps.
    pub fn move_mass(
        &self,
        row: &mut [f32],
        channels: usize,
        eps: f32,
        allowed: &dyn Fn(usize) -> bool,
        rng: &mut impl Rng,
    ) {
        let per_channel = row.len() / channels;
        let spare = (eps * eps - row.iter().map(|v| v * v).sum::<f32>()).max(0.0) / channels as f32;
        let bump = self.bump(rng);
        for ch in 0..channels {
            let at = |o: usize| ch * per_channel + o;
            let first_norm = self
                .first
                .iter()
                .map(|&o| row[at(o)].powi(2))
                .sum::<f32>()
                .sqrt();
            let mut union: Vec<usize> = self.first.iter().chain(&self.second).copied().collect();
            union.sort_unstable();
            union.dedup();
            let union_energy: f32 = union.iter().map(|&o| row[at(o)].powi(2)).sum();
            let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
            let fresh: Vec<f32> = self
                .first
                .iter()
                .zip(&bump)
                .map(|(&o, &b)| {
                    if allowed(at(o)) {
                        sign * b + row[at(o)] / (first_norm + 1e-12)
                    } else {
                        0.0
                    }
                })
                .collect();
            let fresh_norm = norm2(&fresh);
            let target = (spare + union_energy).sqrt();
            for &o in &self.second {
                row[at(o)] = 0.0;
            }
            if fresh_norm > 0.0 {
                for (&o, &v) in self.first.iter().zip(&fresh) {
                    row[at(o)] = v / fresh_norm * target;
                }
            }
        }
    }

    /// The paper's "meta" pseudo-Gaussian bump over the first window, in its point order: a
    /// product over the axes of 1/((t − c)² + 1) about each half's centre, positive on one half of
    /// a random axis and negative on the other.
    fn bump(&self, rng: &mut impl Rng) -> Vec<f32> {
        let axes = self.sides.len();
        let split = if axes == 0 {
            0
        } else {
            rng.random_range(0..axes)
        };
        let count: usize = self.sides.iter().product();
        let mut at = vec![0usize; axes];
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let mut v = 1f32;
            for (a, (&side, &pos)) in self.sides.iter().zip(&at).enumerate() {
                let (t, c, sign) = if a == split && side > 1 {
                    let half = side / 2;
                    if pos < half {
                        (pos as f32, (half as f32 - 1.0) / 2.0, 1.0)
                    } else {
                        (
                            (pos - half) as f32,
                            ((side - half) as f32 - 1.0) / 2.0,
                            -1.0,
                        )
                    }
                } else {
                    (pos as f32, (side as f32 - 1.0) / 2.0, 1.0)
                };
                v *= sign / ((t - c).powi(2) + 1.0);
            }
            out.push(v);
            for a in (0..axes).rev() {
                at[a] += 1;
                if at[a] < self.sides[a] {
                    break;
                }
                at[a] = 0;
            }
        }
        out
    }
}

/// The offsets (row-major over `spatial`) of the box at `starts` with `sides`, in row-major order.
pub fn box_offsets(spatial: &[usize], starts: &[usize], sides: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; spatial.len()];
    for a in (0..spatial.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * spatial[a + 1];
    }
    let count: usize = sides.iter().product();
    let mut at = vec![0usize; sides.len()];
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(
            (0..sides.len())
                .map(|a| (starts[a] + at[a]) * strides[a])
                .sum(),
        );
        for a in (0..at.len()).rev() {
            at[a] += 1;
            if at[a] < sides[a] {
                break;
            }
            at[a] = 0;
        }
    }
    out
}
