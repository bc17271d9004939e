//! Kept activations for one-dimensional CNNs: a stack of blocks (each a kernel-3 convolution of a
//! zero-padded input, then pointwise maps and a max-pool along the signal) and a head. After a
//! change to a stretch of the input, only the block outputs whose receptive field meets it are
//! recomputed, block by block, each from a stretch of the kept activations with the new values
//! laid over it; the head runs on the whole last output. A search attack that tries many inputs
//! each differing from the last kept one in a short window (Square's L∞ windows on a waveform)
//! then pays for the window, not the signal.
//!
//! The scores are those of the full forward pass to the bit: every output is computed by the same
//! code on the same values, and a block's [`Stack1d::conv_pool`] gives each output from its own
//! window alone (for RawAudioCNN's host kernel, the GEMM's per-element sums do not depend on how
//! many columns it is given; `tests/square.rs` and the unit tests here check it).

use super::LocalKernel;

/// A network [`LocalForward`] can keep: blocks of [`geometry`](Self::geometry) `[cin, cout, pad,
/// pool kernel, pool stride]` along one axis, and a head.
pub trait Stack1d: Sync {
    /// The number of blocks.
    fn depth(&self) -> usize;
    /// `[cin, cout, pad, pool kernel, pool stride]` of block `block`.
    fn geometry(&self, block: usize) -> [usize; 5];
    /// Block `block` on a padded stretch `[cin, L + 2]`: its pooled outputs
    /// `[cout, (L − kernel) / stride + 1]`, each from its own window only.
    fn conv_pool(&self, block: usize, padded: &[f32]) -> Vec<f32>;
    /// The head on the last block's whole output: the scores.
    fn head(&self, h: &[f32]) -> Vec<f32>;
}

/// New values for positions `lo..hi` of every channel of one level, `[channels, hi − lo]`.
struct Patch {
    lo: usize,
    hi: usize,
    values: Vec<f32>,
}

/// One example's activations at every level, and the last input tried.
pub struct LocalForward<'a, S: Stack1d> {
    stack: &'a S,
    /// `levels[0]`: the input `[cin, len]`; `levels[b + 1]`: block `b`'s output.
    levels: Vec<Vec<f32>>,
    channels: Vec<usize>,
    scores: Vec<f32>,
    /// The last try: the changed stretch of each level it reached, and its scores.
    pending: Option<(Vec<Patch>, Vec<f32>)>,
}

impl<'a, S: Stack1d> LocalForward<'a, S> {
    /// The full forward pass at `x`, every level kept.
    pub fn new(stack: &'a S, x: &[f32]) -> Self {
        let mut levels = vec![x.to_vec()];
        let mut channels = Vec::with_capacity(stack.depth() + 1);
        for b in 0..stack.depth() {
            let [cin, cout, pad, _, _] = stack.geometry(b);
            let h = &levels[b];
            let len_in = h.len() / cin;
            let padded = stretch(h, cin, pad, 0, len_in + 2 * pad, None);
            let out = stack.conv_pool(b, &padded);
            channels.push(cin);
            if b + 1 == stack.depth() {
                channels.push(cout);
            }
            levels.push(out);
        }
        let scores = stack.head(levels.last().expect("the input level"));
        Self {
            stack,
            levels,
            channels,
            scores,
            pending: None,
        }
    }

    /// The changed stretch of the input `x` against the kept one, over every channel.
    fn changed(&self, x: &[f32]) -> Option<Patch> {
        let kept = &self.levels[0];
        assert_eq!(x.len(), kept.len(), "one example of the kept input's size");
        let cin = self.channels.first().copied().unwrap_or(1);
        let len = kept.len() / cin;
        let (mut lo, mut hi) = (usize::MAX, 0);
        for (j, (a, b)) in x.iter().zip(kept).enumerate() {
            if a.to_bits() != b.to_bits() {
                lo = lo.min(j % len);
                hi = hi.max(j % len + 1);
            }
        }
        (lo < hi).then(|| Patch {
            lo,
            hi,
            values: (0..cin)
                .flat_map(|c| x[c * len + lo..c * len + hi].iter().copied())
                .collect(),
        })
    }
}

impl<S: Stack1d> LocalKernel for LocalForward<'_, S> {
    fn scores(&self) -> Vec<f32> {
        self.scores.clone()
    }

    fn try_input(&mut self, x: &[f32]) -> Vec<f32> {
        let Some(first) = self.changed(x) else {
            self.pending = Some((Vec::new(), self.scores.clone()));
            return self.scores.clone();
        };
        let mut patches = vec![first];
        for b in 0..self.stack.depth() {
            let [cin, _, pad, kernel, stride] = self.stack.geometry(b);
            let h = &self.levels[b];
            let len_conv = h.len() / cin + 2 * pad - 2;
            let len_out = (len_conv - kernel) / stride + 1;
            let p = patches.last().expect("the input's patch");
            // Convolution outputs whose taps meet the change, then the pooled outputs whose windows
            // meet those.
            let (t_lo, t_hi) = ((p.lo + pad).saturating_sub(2), (p.hi + pad).min(len_conv));
            let u_lo = (t_lo + 1).saturating_sub(kernel).div_ceil(stride);
            let u_hi = (t_hi.saturating_sub(1) / stride + 1).min(len_out);
            if t_lo >= t_hi || u_lo >= u_hi {
                break;
            }
            let (c_lo, c_hi) = (u_lo * stride, (u_hi - 1) * stride + kernel);
            let padded = stretch(h, cin, pad, c_lo, c_hi + 2, Some(p));
            let values = self.stack.conv_pool(b, &padded);
            patches.push(Patch {
                lo: u_lo,
                hi: u_hi,
                values,
            });
        }
        let scores = if patches.len() == self.levels.len() {
            let depth = self.levels.len() - 1;
            let mut last = self.levels[depth].clone();
            lay(&mut last, self.channels[depth], &patches[depth]);
            self.stack.head(&last)
        } else {
            self.scores.clone()
        };
        self.pending = Some((patches, scores.clone()));
        scores
    }

    fn keep_last(&mut self) {
        let Some((patches, scores)) = self.pending.take() else {
            return;
        };
        for (level, patch) in patches.iter().enumerate() {
            lay(&mut self.levels[level], self.channels[level], patch);
        }
        self.scores = scores;
    }
}

/// Padded positions `q_lo..q_hi` of `h` (`[cin, len]`, zero-padded by `pad` at both ends) with
/// `patch` laid over it: `[cin, q_hi − q_lo]`.
fn stretch(
    h: &[f32],
    cin: usize,
    pad: usize,
    q_lo: usize,
    q_hi: usize,
    patch: Option<&Patch>,
) -> Vec<f32> {
    let len = h.len() / cin;
    let width = q_hi - q_lo;
    let mut out = vec![0f32; cin * width];
    for c in 0..cin {
        for (q, v) in (q_lo..q_hi).zip(out[c * width..(c + 1) * width].iter_mut()) {
            let Some(pos) = q.checked_sub(pad).filter(|&pos| pos < len) else {
                continue;
            };
            *v = match patch {
                Some(p) if (p.lo..p.hi).contains(&pos) => p.values[c * (p.hi - p.lo) + pos - p.lo],
                _ => h[c * len + pos],
            };
        }
    }
    out
}

/// Writes `patch` into `level` (`[channels, len]`).
fn lay(level: &mut [f32], channels: usize, patch: &Patch) {
    let len = level.len() / channels;
    let width = patch.hi - patch.lo;
    for c in 0..channels {
        level[c * len + patch.lo..c * len + patch.hi]
            .copy_from_slice(&patch.values[c * width..(c + 1) * width]);
    }
}
