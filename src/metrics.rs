//! How big a perturbation is, per example.

/// Size of one example's perturbation.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct PerturbationSize {
    /// Largest absolute change.
    pub linf: f32,
    /// Euclidean norm of the change.
    pub l2: f32,
    /// Signal-to-perturbation ratio `10·log10(‖x‖² / ‖δ‖²)` in dB; `None` when δ = 0.
    pub snr_db: Option<f32>,
}

/// Sizes of `adv − clean` for each of the `n` rows (flattened examples) of two equal-length buffers.
pub fn perturbation_sizes(clean: &[f32], adv: &[f32], n: usize) -> Vec<PerturbationSize> {
    let d = clean.len().checked_div(n).unwrap_or(0);
    (0..n)
        .map(|i| {
            let (c, a) = (&clean[i * d..(i + 1) * d], &adv[i * d..(i + 1) * d]);
            let mut linf = 0f64;
            let mut dd = 0f64;
            let mut xx = 0f64;
            for (&c, &a) in c.iter().zip(a) {
                let delta = (a - c) as f64;
                linf = linf.max(delta.abs());
                dd += delta * delta;
                xx += (c as f64) * (c as f64);
            }
            PerturbationSize {
                linf: linf as f32,
                l2: dd.sqrt() as f32,
                snr_db: (dd > 0.0).then(|| (10.0 * (xx / dd).log10()) as f32),
            }
        })
        .collect()
}
