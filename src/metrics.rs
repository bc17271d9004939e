//! How big a perturbation is, per example: its norms, and in the units people judge it by (SNR for
//! sound, PSNR and the number of changed frames for video).

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

/// Everything measured about one example's perturbation.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Perturbation {
    /// Largest absolute change.
    pub linf: f32,
    /// Euclidean norm of the change.
    pub l2: f32,
    /// Signal-to-perturbation ratio in dB (`None` when nothing changed).
    pub snr_db: Option<f32>,
    /// Video: peak signal-to-noise ratio over the clip range, in dB (`None` when nothing changed).
    pub psnr_db: Option<f32>,
    /// Video (or an attack with a frame axis): how many frames changed.
    pub perturbed_frames: Option<usize>,
}

/// What [`perturbations`] needs to know of the examples.
#[derive(Clone, Copy, Debug)]
pub struct Examples<'a> {
    /// One example's shape, channels first.
    pub shape: &'a [usize],
    /// Whether they are video clips `[C, F, H, W]`.
    pub video: bool,
    /// Valid input range (PSNR's peak is its width; 1 without one).
    pub clip: Option<(f32, f32)>,
    /// The frame axis an attack worked along, when it has one.
    pub frame_axis: Option<usize>,
}

/// Every measure of `adv − clean` for each of the `n` examples.
pub fn perturbations(
    examples: Examples,
    clean: &[f32],
    adv: &[f32],
    n: usize,
) -> Vec<Perturbation> {
    let frames = perturbed_frames(examples.shape, examples.frame_axis, clean, adv, n);
    let d: usize = examples.shape.iter().product();
    let range = examples.clip.map_or(1.0, |(lo, hi)| hi - lo);
    perturbation_sizes(clean, adv, n)
        .into_iter()
        .enumerate()
        .map(|(i, s)| Perturbation {
            linf: s.linf,
            l2: s.l2,
            snr_db: s.snr_db,
            psnr_db: (examples.video && s.l2 > 0.0)
                .then(|| 10.0 * (range * range * d as f32 / (s.l2 * s.l2)).log10()),
            perturbed_frames: frames.as_ref().map(|f| f[i]),
        })
        .collect()
}

/// For video (examples `[C, F, H, W]`, or an attack with its own frame axis): how many frames of each
/// example changed, counted as ART's notebook does (the frame's ℓ2 change, rounded to 4 decimals, is
/// not zero).
pub fn perturbed_frames(
    shape: &[usize],
    axis: Option<usize>,
    clean: &[f32],
    adv: &[f32],
    n: usize,
) -> Option<Vec<usize>> {
    let axis = axis.or((shape.len() == 4).then_some(1))?;
    let (frame_of, frames) = crate::array::frame_index(shape, axis).ok()?;
    let d = frame_of.len();
    Some(
        (0..n)
            .map(|e| {
                let mut sq = vec![0f64; frames];
                for j in 0..d {
                    let delta = (adv[e * d + j] - clean[e * d + j]) as f64;
                    sq[frame_of[j]] += delta * delta;
                }
                sq.iter()
                    .filter(|&&s| (s.sqrt() * 1e4).round() != 0.0)
                    .count()
            })
            .collect(),
    )
}
