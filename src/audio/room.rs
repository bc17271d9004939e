//! Room impulse responses by the image-source method (Allen & Berkley, "Image method for
//! efficiently simulating small-room acoustics", JASA 1979), and the FFT convolutions that apply
//! them.
//!
//! A shoebox room `[0, Lx] × [0, Ly] × [0, Lz]` with rigid-ish walls is replaced by a lattice of
//! mirror images of the source. Along one axis of length `L` with the source at `s`, image `i`
//! (any integer) sits at `i·L + s` for even `i` and `i·L + (L − s)` for odd `i`; its sound has
//! bounced `ceil(|i|/2)` times off the wall it first crosses (the far wall `L` for `i > 0`, the
//! near wall 0 for `i < 0`) and `floor(|i|/2)` times off the other. The image at distance `r` from
//! the microphone contributes `Π β^hits / (4π r)` at delay `r / c`, where `β = sqrt(1 − α)` is the
//! wall's pressure reflection coefficient for energy absorption `α`.
//!
//! Choices, all for bounded, reproducible work inside an attack loop:
//! - delays are rounded to the nearest sample (no fractional-delay filter): at 8 kHz that moves a
//!   tap by at most 2.1 cm of path, well inside the randomness the rooms are drawn with, and it
//!   keeps every tap exactly where the closed form puts it;
//! - the response starts at the direct path (its propagation delay is removed: a separate random
//!   time shift models where the clip lands) and is normalised to a direct-path gain of 1, so the
//!   dry signal keeps its level and the room adds its reflections on top;
//! - images are summed up to `max_order` reflections (the sum of `|i|` over the three axes) and
//!   `max_len` samples; a very reverberant room loses part of its late tail to these caps.

use crate::error::{Error, Result};
use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

/// Speed of sound in air at about 20 °C, m/s.
pub const SPEED_OF_SOUND: f64 = 343.0;

/// A shoebox room with a source and a microphone in it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Room {
    /// `[Lx, Ly, Lz]` in metres.
    pub size: [f64; 3],
    /// Pressure reflection coefficient of each wall, `[x=0, x=Lx, y=0, y=Ly, z=0, z=Lz]`, in [0, 1].
    pub beta: [f64; 6],
    /// Source position, metres, inside the room.
    pub source: [f64; 3],
    /// Microphone position, metres, inside the room.
    pub mic: [f64; 3],
}

/// `sqrt(1 − alpha)`: the pressure reflection coefficient of a wall absorbing a fraction `alpha`
/// of the incident energy.
pub fn reflection_from_absorption(alpha: f64) -> f64 {
    (1.0 - alpha.clamp(0.0, 1.0)).sqrt()
}

impl Room {
    /// An error unless the room is a positive box with both points inside and coefficients in [0, 1].
    pub fn check(&self) -> Result<()> {
        let inside = |p: &[f64; 3]| (0..3).all(|a| p[a] >= 0.0 && p[a] <= self.size[a]);
        if !self.size.iter().all(|v| v.is_finite() && *v > 0.0) {
            return Err(Error::invalid("room", format!("size {:?} m", self.size)));
        }
        if !self.beta.iter().all(|b| (0.0..=1.0).contains(b)) {
            return Err(Error::invalid(
                "room",
                format!("reflection {:?}", self.beta),
            ));
        }
        if !inside(&self.source) || !inside(&self.mic) {
            return Err(Error::invalid(
                "room",
                format!(
                    "source {:?} and microphone {:?} must lie inside {:?}",
                    self.source, self.mic, self.size
                ),
            ));
        }
        Ok(())
    }

    /// The impulse response at `sample_rate`, `max_len` samples at most (see the module docs):
    /// tap 0 is the direct path with gain 1.
    pub fn impulse_response(
        &self,
        sample_rate: u32,
        max_order: u32,
        max_len: usize,
    ) -> Result<Vec<f32>> {
        self.check()?;
        let max_len = max_len.max(1);
        let fs = f64::from(sample_rate);
        let dist = |p: [f64; 3]| {
            ((p[0] - self.mic[0]).powi(2)
                + (p[1] - self.mic[1]).powi(2)
                + (p[2] - self.mic[2]).powi(2))
            .sqrt()
        };
        // Distances under 1 cm are treated as 1 cm: a point source has no 1/r limit at r = 0.
        let r_direct = dist(self.source).max(0.01);
        // Images farther than the last tap cannot contribute; this bounds the loops too.
        let r_max = r_direct + (max_len as f64) / fs * SPEED_OF_SOUND;
        let order = max_order as i64;
        let axis = |a: usize| {
            let n = ((r_max / self.size[a]).ceil() as i64 + 1).min(order);
            (-n..=n).map(move |i| {
                let (l, s) = (self.size[a], self.source[a]);
                let pos = i as f64 * l + if i % 2 == 0 { s } else { l - s };
                let (first, second) = (
                    (i.unsigned_abs() as i32 + 1) / 2,
                    i.unsigned_abs() as i32 / 2,
                );
                // i > 0 crosses the far wall first, i < 0 the near one.
                let (near, far) = if i > 0 {
                    (second, first)
                } else {
                    (first, second)
                };
                let gain = self.beta[2 * a].powi(near) * self.beta[2 * a + 1].powi(far);
                (i.abs(), pos, gain)
            })
        };
        let mut h = vec![0f32; max_len];
        for (ix, px, gx) in axis(0) {
            if gx == 0.0 {
                continue;
            }
            for (iy, py, gy) in axis(1) {
                if gy == 0.0 || ix + iy > order {
                    continue;
                }
                for (iz, pz, gz) in axis(2) {
                    if gz == 0.0 || ix + iy + iz > order {
                        continue;
                    }
                    let r = dist([px, py, pz]).max(0.01);
                    let tap = ((r - r_direct) / SPEED_OF_SOUND * fs).round();
                    if tap < 0.0 || tap >= max_len as f64 {
                        continue;
                    }
                    h[tap as usize] += (gx * gy * gz * r_direct / r) as f32;
                }
            }
        }
        Ok(h)
    }
}

/// `y[t] = Σ_k h[k] x[t − k]` for `t < x.len()`: the convolution truncated to the input's length
/// (the room's tail after the clip ends is dropped), by FFT.
pub fn convolve_truncated(x: &[f32], h: &[f32]) -> Vec<f32> {
    let n = x.len();
    if n == 0 || h.is_empty() {
        return vec![0.0; n];
    }
    let h = &h[..h.len().min(n)];
    let size = (n + h.len() - 1).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(size);
    let inv = planner.plan_fft_inverse(size);
    let spectrum = |v: &[f32]| {
        let mut buf = vec![0f32; size];
        buf[..v.len()].copy_from_slice(v);
        let mut out = fwd.make_output_vec();
        fwd.process(&mut buf, &mut out)
            .expect("sizes from the plan");
        out
    };
    let (sx, sh) = (spectrum(x), spectrum(h));
    let mut prod: Vec<Complex<f32>> = sx.iter().zip(&sh).map(|(a, b)| a * b).collect();
    // The DC and Nyquist bins of a real signal's spectrum are real; rounding must not say otherwise.
    prod[0].im = 0.0;
    if let Some(last) = prod.last_mut() {
        last.im = 0.0;
    }
    let mut y = inv.make_output_vec();
    inv.process(&mut prod, &mut y).expect("sizes from the plan");
    let scale = 1.0 / size as f32;
    y.truncate(n);
    y.iter_mut().for_each(|v| *v *= scale);
    y
}

/// The transpose of [`convolve_truncated`] with the same `h`: `g_x[j] = Σ_k h[k] g_y[j + k]`
/// (the gradient at the input given the gradient `g` at the output).
pub fn correlate_truncated(g: &[f32], h: &[f32]) -> Vec<f32> {
    let reversed: Vec<f32> = g.iter().rev().copied().collect();
    let mut out = convolve_truncated(&reversed, h);
    out.reverse();
    out
}
