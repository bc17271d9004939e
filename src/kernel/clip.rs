//! Plain 3-D CNNs on the host with every activation kept, so that replacing a few frames of a clip
//! costs only what those frames reach.
//!
//! Frame saliency checks one prefix of salient frames after another, each differing from the last
//! in one frame. A full forward pass per check recomputes everything; here a changed input frame `s`
//! of a 3 × 3 × 3 convolution (padding 1) changes output frames `s − 1 ..= s + 1` by the
//! convolution of `new − old` (it is linear), the ReLU and max pool are redone only on those outputs,
//! and the next block sees only the pooled frames that changed. On the 16 × 112 × 112 networks of
//! the benchmarks a one-frame change costs 12-20 ms against about 100 ms for the whole clip here and
//! 120-150 ms for a forward pass through PyTorch or burn-flex (docs/benchmarks.md).
//!
//! The networks: optional consecutive-frame differences (c3d-lite), then blocks of Conv3d k3 p1
//! (any per-channel affine, such as an evaluation-mode batch norm, folded in) → ReLU → max pool with
//! kernel = stride (floor; an axis shorter than its kernel is not pooled), the last block without
//! pool; then the mean over time and space and a linear layer.
//!
//! Layout: activations channels last, `[T][H][W][C]`, except block 0's input (the clip's frames or
//! their differences), which stays channels first `[T][C][H][W]` as the clip comes: with three
//! channels, its patches and their gradient then move as whole shifted planes, column by column
//! (`patches::im2col_column`, `patches::col2im_planar`), where channels-last patches would move in
//! runs of nine values. Per temporal tap, one GEMM multiplies the 3 × 3 patches of the changed
//! frames `[frames · H · W, 9 · cin]` by the tap's weights `[9 · cin, cout]` and adds the product
//! to the tap's output frames. A full forward
//! pass is the same update with every frame changed from zero, so there is one code path.

use super::HostKernel;
use super::gemm::{Strided, Threads, gemm_acc, gemm_set};
use super::heap::{tiled, with_scratch, zeroed};
use super::linear::HostLinear;
use super::patches::{col2im, col2im_planar, im2col, im2col_column};
use super::pool::{max_pool_relu, max_pool_relu_backward};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Patches per GEMM at most (floats; at least one frame's) for a clip evaluated by one worker:
/// about one core's L2 cache (1 MiB), so that the patches im2col writes are still cached when the
/// GEMM reads them. APGD on c3d-lite ran 10% faster than with 16 MiB, the whole clip's patches.
const SCRATCH_ALONE: usize = 1 << 18;
/// The same for a clip spread over all workers: 4 MiB, several frames per GEMM, so that the
/// GEMM's rows are enough to share (APGD on one c3d-lite clip: 1.8-1.9 s against 2.3 s at 1 MiB).
const SCRATCH_SPREAD: usize = 1 << 20;
/// Clips whose kept activations take at most this are evaluated several at a time (see
/// [`ClipKernel::per_clip`]).
const PARALLEL_CLIP_BYTES: usize = 64 << 20;

/// One block: convolution (affine folded in) → ReLU → max pool.
pub struct ClipBlock {
    cin: usize,
    cout: usize,
    /// `[9 · cin, 3 · cout]`: row `(ky · 3 + kx) · cin + c`, column `kt · cout + o`.
    w: Vec<f32>,
    b: Vec<f32>,
    /// Max pool kernel = stride `[kt, kh, kw]`; `None` on the last block.
    pool: Option<[usize; 3]>,
}

impl ClipBlock {
    /// From PyTorch's layouts: `weight` `[cout, cin, 3, 3, 3]`, `bias` `[cout]`, and an optional
    /// per-channel `y · scale + shift` after the convolution (`affine`).
    pub fn new(
        weight: &[f32],
        bias: &[f32],
        affine: Option<(&[f32], &[f32])>,
        pool: Option<[usize; 3]>,
    ) -> Result<Self> {
        let cout = bias.len();
        if cout == 0 || weight.is_empty() || !weight.len().is_multiple_of(cout * 27) {
            return Err(Error::invalid(
                "weight",
                format!(
                    "expected [cout, cin, 3, 3, 3] with cout = {cout} (the bias), got {} values",
                    weight.len()
                ),
            ));
        }
        if let Some((s, t)) = affine
            && (s.len() != cout || t.len() != cout)
        {
            return Err(Error::invalid(
                "affine",
                format!("expected {cout} scales and shifts"),
            ));
        }
        if pool.is_some_and(|p| p.contains(&0)) {
            return Err(Error::invalid("pool", "kernel sizes must be positive"));
        }
        let cin = weight.len() / (cout * 27);
        let (scale, shift) = match affine {
            Some((s, t)) => (s.to_vec(), t.to_vec()),
            None => (vec![1.0; cout], vec![0.0; cout]),
        };
        let mut w = vec![0f32; 27 * cin * cout];
        for o in 0..cout {
            for c in 0..cin {
                for kt in 0..3 {
                    for k in 0..9 {
                        let v = weight[((o * cin + c) * 3 + kt) * 9 + k];
                        w[(k * cin + c) * 3 * cout + kt * cout + o] = v * scale[o];
                    }
                }
            }
        }
        let b = (0..cout).map(|o| bias[o] * scale[o] + shift[o]).collect();
        Ok(Self {
            cin,
            cout,
            w,
            b,
            pool,
        })
    }
}

/// A network of [`ClipBlock`]s for clips of one shape; see the module docs.
pub struct ClipKernel {
    /// `[C, F, H, W]`.
    shape: [usize; 4],
    differences: bool,
    blocks: Vec<ClipBlock>,
    /// Input `[T, H, W]` of each block, then the last block's output.
    dims: Vec<[usize; 3]>,
    /// `[K, cout of the last block]`.
    fc: HostLinear,
}

impl ClipKernel {
    /// The network for clips of `shape` `[C, F, H, W]`: `differences` first if set (F ≥ 2), then
    /// `blocks` (the last one without pool), then the mean and the linear layer `fc`.
    pub fn new(
        shape: [usize; 4],
        differences: bool,
        blocks: Vec<ClipBlock>,
        fc: HostLinear,
    ) -> Result<Self> {
        let [c, f, h, w] = shape;
        if differences && f < 2 {
            return Err(Error::invalid(
                "shape",
                "frame differences need at least 2 frames",
            ));
        }
        let mut dims = vec![[if differences { f - 1 } else { f }, h, w]];
        let mut cin = c;
        for (i, b) in blocks.iter().enumerate() {
            if b.cin != cin || b.pool.is_none() != (i + 1 == blocks.len()) {
                return Err(Error::invalid(
                    "blocks",
                    format!(
                        "block {i} takes {} channels (expected {cin}); only the last block has no pool",
                        b.cin
                    ),
                ));
            }
            let d = *dims.last().expect("one entry per block");
            dims.push(match b.pool {
                Some(p) => pooled(d, p),
                None => d,
            });
            cin = b.cout;
        }
        if blocks.is_empty() || fc.inputs() != cin {
            return Err(Error::invalid(
                "fc",
                format!("expected a [K, {cin}] weight, got [K, {}]", fc.inputs()),
            ));
        }
        if dims.iter().any(|d| d.contains(&0)) {
            return Err(Error::invalid(
                "shape",
                format!("{shape:?} leaves no output"),
            ));
        }
        Ok(Self {
            shape,
            differences,
            blocks,
            dims,
            fc,
        })
    }

    /// Example shape `[C, F, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Memory one [`ClipState`] holds, in bytes.
    pub fn state_bytes(&self) -> usize {
        let clip: usize = self.shape.iter().product();
        let layers: usize = self
            .blocks
            .iter()
            .zip(&self.dims)
            .map(|(b, d)| d.iter().product::<usize>() * (b.cin + b.cout))
            .sum();
        4 * (clip + layers)
    }

    /// Evaluates the (standardised, channels first) clip `x` and keeps every activation, with all
    /// workers on this one clip.
    pub fn start(&self, x: &[f32]) -> ClipState<'_> {
        self.start_with(x, SCRATCH_SPREAD)
    }

    /// [`start`](Self::start) with at most `scratch` floats of patches per GEMM.
    fn start_with(&self, x: &[f32], scratch: usize) -> ClipState<'_> {
        let [c, f, h, w] = self.shape;
        assert_eq!(x.len(), c * f * h * w, "one clip of {:?}", self.shape);
        let positions = |d: &[usize; 3]| d.iter().product::<usize>();
        let last = self.blocks.last().expect("checked in new");
        let mut state = ClipState {
            net: self,
            x: zeroed(x.len()),
            inputs: (self.blocks.iter().zip(&self.dims))
                .map(|(b, d)| zeroed(positions(d) * b.cin))
                .collect(),
            pre: (self.blocks.iter().zip(&self.dims))
                .map(|(b, d)| tiled(&b.b, positions(d)))
                .collect(),
            sums: vec![0.0; self.dims[self.blocks.len() - 1][0] * last.cout],
            scratch,
        };
        let all: Vec<usize> = (0..f).collect();
        state.replace(x, &all);
        state
    }
}

/// Whole clips one at a time: avfoil's CPU path for these networks (on c3d-lite 2.0-2.2x burn-flex's
/// forward pass and 1.4-1.7x its input gradient, docs/benchmarks.md).
impl HostKernel for ClipKernel {
    fn logits(&self, x: &[f32], n: usize) -> Vec<f32> {
        self.per_clip(x, n, |_, clip, scratch| {
            self.start_with(clip, scratch).logits()
        })
        .concat()
    }

    fn input_gradient(
        &self,
        x: &[f32],
        n: usize,
        dlogits: &(dyn Fn(usize, &[f32]) -> Vec<f32> + Sync),
    ) -> (Vec<f32>, Vec<f32>) {
        let per_clip = self.per_clip(x, n, |i, clip, scratch| {
            let state = self.start_with(clip, scratch);
            let z = state.logits();
            let grad = state.input_gradient(&dlogits(i, &z));
            (z, grad)
        });
        let (mut logits, mut grad) = (Vec::new(), Vec::with_capacity(x.len()));
        for (z, g) in per_clip {
            logits.extend(z);
            grad.extend(g);
        }
        (logits, grad)
    }
}

impl ClipKernel {
    /// `f(i, clip, scratch)` for the first `n` clips of `x`, in order, `scratch` the patches per GEMM
    /// for how the clip is evaluated (alone on a worker, or spread). Clips whose activations are small go
    /// to the workers whole, several at a time: a small network's GEMMs are too thin to keep every
    /// core busy within one clip (c3d-lite spent a tenth of its time handing out work). The clips
    /// left over when `n` is not a multiple of the workers (APGD's restarts on the 7 clips of 10
    /// still unfooled) go one at a time, each spread over the workers, rather than leave all but
    /// one worker idle. Large clips all go one at a time, so only one clip's activations are alive.
    fn per_clip<R: Send>(
        &self,
        x: &[f32],
        n: usize,
        f: impl Fn(usize, &[f32], usize) -> R + Sync,
    ) -> Vec<R> {
        let d = (x.len() / n.max(1)).max(1);
        let workers = rayon::current_num_threads().max(1);
        let whole = if self.state_bytes() <= PARALLEL_CLIP_BYTES {
            n / workers * workers
        } else {
            0
        };
        let mut results: Vec<R> = x
            .par_chunks(d)
            .take(whole)
            .enumerate()
            .map(|(i, c)| f(i, c, SCRATCH_ALONE))
            .collect();
        results.extend(
            x.chunks(d)
                .enumerate()
                .take(n)
                .skip(whole)
                .map(|(i, c)| f(i, c, SCRATCH_SPREAD)),
        );
        results
    }
}

/// Output `[T, H, W]` of a max pool of kernel = stride `p` (axes shorter than the kernel pass).
fn pooled(d: [usize; 3], p: [usize; 3]) -> [usize; 3] {
    let k = effective(d, p);
    [d[0] / k[0], d[1] / k[1], d[2] / k[2]]
}

fn effective(d: [usize; 3], p: [usize; 3]) -> [usize; 3] {
    [0, 1, 2].map(|i| if d[i] < p[i] { 1 } else { p[i] })
}

/// Every activation of one clip; see [`ClipKernel::start`].
pub struct ClipState<'a> {
    net: &'a ClipKernel,
    /// The clip, frame by frame `[F][C][H][W]`.
    x: Vec<f32>,
    /// Per block, its input: `[T][cin][H][W]` for block 0 (the clip's frames or their
    /// differences), `[T][H][W][cin]` after.
    inputs: Vec<Vec<f32>>,
    /// Per block, the convolution's output with bias `[T][H][W][cout]` (before ReLU).
    pre: Vec<Vec<f32>>,
    /// Last block: per output frame, the sum over space of its ReLU `[T][cout]`.
    sums: Vec<f32>,
    /// Patches per GEMM at most (floats).
    scratch: usize,
}

impl ClipState<'_> {
    /// Logits of the current clip.
    pub fn logits(&self) -> Vec<f32> {
        let net = self.net;
        let last = net.blocks.len() - 1;
        let c = net.blocks[last].cout;
        let [t, h, w] = net.dims[last];
        let mut mean = vec![0f32; c];
        for frame in self.sums.chunks(c) {
            for (m, s) in mean.iter_mut().zip(frame) {
                *m += s;
            }
        }
        let count = (t * h * w) as f32;
        net.fc
            .forward(&mean.iter().map(|m| m / count).collect::<Vec<f32>>())
    }

    /// Sets frames `frames` of the clip to those of `x` (standardised, channels first, a whole
    /// clip) and updates every activation they reach.
    pub fn replace(&mut self, x: &[f32], frames: &[usize]) {
        let [c, f, h, w] = self.net.shape;
        assert_eq!(x.len(), self.x.len(), "one clip of {:?}", self.net.shape);
        let plane = h * w;
        let mut changed: Vec<usize> = frames.iter().copied().filter(|&t| t < f).collect();
        changed.sort_unstable();
        changed.dedup();
        let frame = plane * c;
        frames_of(&mut self.x, frame, &changed)
            .into_par_iter()
            .zip(&changed)
            .for_each(|(dst, &t)| {
                for (ch, plane_dst) in dst.chunks_mut(plane).enumerate() {
                    plane_dst.copy_from_slice(&x[(ch * f + t) * plane..(ch * f + t + 1) * plane]);
                }
            });
        let (mut changed, mut values): (Vec<usize>, Vec<f32>) = if self.net.differences {
            let mut d: Vec<usize> = changed
                .iter()
                .flat_map(|&t| [t.wrapping_sub(1), t])
                .filter(|&t| t < f - 1)
                .collect();
            d.dedup();
            let values = d
                .iter()
                .flat_map(|&t| {
                    let (a, b) = (&self.x[t * frame..], &self.x[(t + 1) * frame..]);
                    (0..frame).map(move |i| b[i] - a[i])
                })
                .collect();
            (d, values)
        } else {
            let values = changed
                .iter()
                .flat_map(|&t| self.x[t * frame..(t + 1) * frame].iter().copied())
                .collect();
            (changed, values)
        };
        for b in 0..self.net.blocks.len() {
            if changed.is_empty() {
                return;
            }
            (changed, values) = self.update_block(b, &changed, values);
        }
    }

    /// Block `b`'s input frames `frames` (ascending) become `values`; returns the next block's
    /// changed frames and their values (nothing after the last block, whose frame sums are updated
    /// instead).
    fn update_block(
        &mut self,
        b: usize,
        frames: &[usize],
        values: Vec<f32>,
    ) -> (Vec<usize>, Vec<f32>) {
        let block = &self.net.blocks[b];
        let [t, h, w] = self.net.dims[b];
        let (cin, cout) = (block.cin, block.cout);
        let frame_in = h * w * cin;
        let frame_out = h * w * cout;
        // The change of each frame, which the (linear) convolution maps to the change of its outputs.
        let mut delta = values;
        frames_of(&mut self.inputs[b], frame_in, frames)
            .into_par_iter()
            .zip(delta.par_chunks_mut(frame_in))
            .for_each(|(old, d)| {
                for (d, o) in d.iter_mut().zip(old) {
                    let new = *d;
                    *d = new - *o;
                    *o = new;
                }
            });
        let plane = h * w;
        let patch = plane * 9 * cin;
        let per_gemm = (self.scratch / patch).max(1);
        let mut i = 0;
        while i < frames.len() {
            // A run of consecutive frames (at most `per_gemm`): one GEMM per tap.
            let mut m = 1;
            while m < per_gemm && i + m < frames.len() && frames[i + m] == frames[i] + m {
                m += 1;
            }
            let s0 = frames[i];
            let deltas = &delta[i * frame_in..(i + m) * frame_in];
            let pre = &mut self.pre[b];
            with_scratch(m * patch, |patches| {
                let rows = m * plane;
                if b == 0 {
                    // Block 0's frames are channels first; its patches column by column.
                    patches
                        .par_chunks_mut(rows)
                        .enumerate()
                        .for_each(|(j, column)| im2col_column(deltas, [h, w, cin], j, column));
                } else {
                    patches
                        .par_chunks_mut(patch)
                        .zip(deltas.par_chunks(frame_in))
                        .for_each(|(p, d)| im2col(d, h, w, cin, p))
                }
                let layout = |s: usize| patch_layout(b, s - s0, rows, plane, cin);
                for kt in 0..3 {
                    if let Some((s, tau, n)) = tap_span(s0, s0 + m, kt, t) {
                        // pre[τ] += patches[s] · W[:, kt]   (τ = s + 1 − kt)
                        gemm_acc(
                            &mut pre[tau * frame_out..(tau + n) * frame_out],
                            Strided::row_major(cout),
                            patches,
                            layout(s),
                            &block.w,
                            Strided::row_major(3 * cout).at(kt * cout),
                            [n * plane, 9 * cin, cout],
                            Threads::Rayon,
                        );
                    }
                }
            });
            i += m;
        }
        let mut dirty: Vec<usize> = frames
            .iter()
            .flat_map(|&s| [s.wrapping_sub(1), s, s + 1])
            .filter(|&tau| tau < t)
            .collect();
        dirty.sort_unstable();
        dirty.dedup();
        let pre = &self.pre[b];
        match block.pool {
            None => {
                for &tau in &dirty {
                    let sums = &mut self.sums[tau * cout..(tau + 1) * cout];
                    sums.fill(0.0);
                    for px in pre[tau * frame_out..(tau + 1) * frame_out].chunks(cout) {
                        for (s, v) in sums.iter_mut().zip(px) {
                            *s += v.max(0.0);
                        }
                    }
                }
                (Vec::new(), Vec::new())
            }
            Some(p) => {
                let [kt, kh, kw] = effective([t, h, w], p);
                let [to, ho, wo] = self.net.dims[b + 1];
                let mut next: Vec<usize> = dirty
                    .iter()
                    .map(|&tau| tau / kt)
                    .filter(|&q| q < to)
                    .collect();
                next.dedup();
                let mut out = zeroed(next.len() * ho * wo * cout);
                out.par_chunks_mut(ho * wo * cout)
                    .zip(&next)
                    .for_each(|(out, &q)| {
                        // Frames q·kt .. q·kt + kt of `pre`.
                        let window = &pre[q * kt * frame_out..(q + 1) * kt * frame_out];
                        max_pool_relu(window, [kt, h, w], [kh, kw], cout, out);
                    });
                (next, out)
            }
        }
    }

    /// Gradient, with respect to the (standardised, channels first) clip, of an objective whose
    /// derivative with respect to the logits is `dlogits`, at the current clip.
    pub fn input_gradient(&self, dlogits: &[f32]) -> Vec<f32> {
        let net = self.net;
        let last = net.blocks.len() - 1;
        let c = net.blocks[last].cout;
        let [t, h, w] = net.dims[last];
        let count = (t * h * w) as f32;
        let g: Vec<f32> = net.fc.backward(dlogits).iter().map(|v| v / count).collect();
        let dpre: Vec<f32> = self.pre[last]
            .chunks(c)
            .flat_map(|px| {
                px.iter()
                    .zip(&g)
                    .map(|(v, g)| if *v > 0.0 { *g } else { 0.0 })
            })
            .collect();
        let dinput = self.backward_from(last, &dpre);
        let [ch, f, hh, ww] = net.shape;
        let plane = hh * ww;
        let frame = plane * ch;
        let at = |t: usize| &dinput[t * frame..(t + 1) * frame];
        let mut grad = zeroed(ch * f * plane);
        grad.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(plane_index, dst)| {
                let (ci, tx) = (plane_index / f, plane_index % f);
                for (p, d) in dst.iter_mut().enumerate() {
                    *d = if net.differences {
                        // d[t] = x[t + 1] − x[t].
                        let after = if tx >= 1 {
                            at(tx - 1)[ci * plane + p]
                        } else {
                            0.0
                        };
                        let before = if tx + 1 < f {
                            at(tx)[ci * plane + p]
                        } else {
                            0.0
                        };
                        after - before
                    } else {
                        at(tx)[ci * plane + p]
                    };
                }
            });
        grad
    }

    /// Block `b`'s input gradient from its output gradient `dpre` (before ReLU): `[T][H][W][cin]`,
    /// except block 0's, which is `[T][cin][H][W]` (the clip's own channels-first order), its
    /// patches held column by column for [`col2im_planar`].
    fn conv_backward(&self, b: usize, dpre: &[f32]) -> Vec<f32> {
        let block = &self.net.blocks[b];
        let [t, h, w] = self.net.dims[b];
        let (cin, cout) = (block.cin, block.cout);
        let plane = h * w;
        let mut din = zeroed(t * plane * cin);
        let patch = plane * 9 * cin;
        let per_gemm = (self.scratch / patch).max(1);
        for s0 in (0..t).step_by(per_gemm) {
            let s1 = (s0 + per_gemm).min(t);
            let din = &mut din[s0 * plane * cin..s1 * plane * cin];
            let rows = (s1 - s0) * plane;
            let layout = |s: usize| patch_layout(b, s - s0, rows, plane, cin);
            with_scratch((s1 - s0) * patch, |patches| {
                // The centre tap reaches every frame of the run, so it sets the patches (whatever
                // the scratch held) and the other two add to them.
                for kt in [1, 0, 2] {
                    if let Some((s, tau, n)) = tap_span(s0, s1, kt, t) {
                        debug_assert!(kt != 1 || (s, n) == (s0, s1 - s0));
                        let product = if kt == 1 { gemm_set } else { gemm_acc };
                        // dpatches[s] += dpre[τ] · W[:, kt]ᵀ   (τ = s + 1 − kt)
                        product(
                            patches,
                            layout(s),
                            &dpre[tau * plane * cout..(tau + n) * plane * cout],
                            Strided::row_major(cout),
                            &block.w,
                            Strided::col_major(3 * cout).at(kt * cout),
                            [n * plane, cout, 9 * cin],
                            Threads::Rayon,
                        );
                    }
                }
                let frames = din.par_chunks_mut(plane * cin).enumerate();
                if b == 0 {
                    frames
                        .for_each(|(i, d)| col2im_planar(patches, rows, i * plane, [h, w, cin], d));
                } else {
                    frames.for_each(|(i, d)| {
                        col2im(&patches[i * patch..(i + 1) * patch], h, w, cin, d)
                    });
                }
            });
        }
        din
    }

    /// The gradient with respect to block 0's input from `dpre`, the gradient of block `b`'s
    /// convolution output (before ReLU). Each earlier block's `dpre` lives in a scratch buffer
    /// that the pool's backward pass overwrites whole.
    fn backward_from(&self, b: usize, dpre: &[f32]) -> Vec<f32> {
        let din = self.conv_backward(b, dpre);
        if b == 0 {
            return din;
        }
        with_scratch(self.pre[b - 1].len(), |dpre| {
            self.pool_backward(b - 1, &din, dpre);
            self.backward_from(b - 1, dpre)
        })
    }

    /// Block `b`'s output gradient before ReLU, `dpre` (every element written), from the gradient
    /// of its pooled output: each window's gradient goes to its (first) maximum, if that is
    /// positive.
    fn pool_backward(&self, b: usize, dpool: &[f32], dpre: &mut [f32]) {
        let block = &self.net.blocks[b];
        let [t, h, w] = self.net.dims[b];
        let [to, ho, wo] = self.net.dims[b + 1];
        let [kt, kh, kw] = effective([t, h, w], block.pool.expect("not the last block"));
        let c = block.cout;
        let frames = kt * h * w * c;
        // The frames after the last whole window (floor mode) get no gradient.
        dpre[to * frames..].fill(0.0);
        dpre.par_chunks_mut(frames)
            .zip(self.pre[b].par_chunks(frames))
            .zip(dpool.par_chunks(ho * wo * c))
            .take(to)
            .for_each(|((dpre, pre), dpool)| {
                max_pool_relu_backward(pre, [kt, h, w], [kh, kw], c, dpool, dpre)
            });
    }
}

/// Where frame `i` of a run of frames (`rows` pixels in all, `plane` per frame) starts in block
/// `b`'s patches `[rows × 9 · cin]`: column by column for block 0 (see the module docs), row by row
/// after.
fn patch_layout(b: usize, i: usize, rows: usize, plane: usize, cin: usize) -> Strided {
    match b {
        0 => Strided::col_major(rows).at(i * plane),
        _ => Strided::row_major(9 * cin).at(i * plane * 9 * cin),
    }
}

/// The frames `frames` (ascending, each below `buffer.len() / frame`) of `buffer`, as disjoint
/// slices that worker threads can fill.
fn frames_of<'a>(buffer: &'a mut [f32], frame: usize, frames: &[usize]) -> Vec<&'a mut [f32]> {
    buffer
        .chunks_mut(frame)
        .enumerate()
        .filter(|(s, _)| frames.binary_search(s).is_ok())
        .map(|(_, chunk)| chunk)
        .collect()
}

/// For tap `kt` of a temporal kernel of 3 (padding 1) over `t` frames: the input frames of
/// `s0..s1` whose output frame `s + 1 − kt` exists, as (first input, first output, count).
fn tap_span(s0: usize, s1: usize, kt: usize, t: usize) -> Option<(usize, usize, usize)> {
    let lo = s0.max(kt.saturating_sub(1));
    let hi = s1.min(t + kt - 1);
    (lo < hi).then(|| (lo, lo + 1 - kt, hi - lo))
}

#[cfg(test)]
mod tests {
    use crate::array::tensor_to_vec;
    use crate::classifier::{Classifier, NeuralClassifier};
    use crate::model::c3d_lite::C3dLite;
    use burn::tensor::{Device, Tensor, TensorData};

    /// Random pixels: a regular pattern would tie in the max pools, where the gradient's choice is
    /// arbitrary.
    fn clip(d: usize, seed: u64) -> Vec<f32> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..d).map(|_| rng.random_range(0.0..1.0)).collect()
    }

    fn max_rel(a: &[f32], b: &[f32]) -> f32 {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        diff / b.iter().map(|y| y.abs()).fold(1e-12, f32::max)
    }

    /// Frames `frames` of `b` in `a` (channels first `[C, F, H, W]`).
    fn splice(a: &[f32], b: &[f32], frames: &[usize], shape: [usize; 4]) -> Vec<f32> {
        let [_, f, h, w] = shape;
        let plane = h * w;
        a.iter()
            .zip(b)
            .enumerate()
            .map(|(i, (&x, &y))| {
                if frames.contains(&((i / plane) % f)) {
                    y
                } else {
                    x
                }
            })
            .collect()
    }

    #[test]
    fn c3d_lite_logits_gradients_and_frame_updates_match_burn() {
        let device = Device::flex();
        // Odd sizes everywhere: an odd number of differences, odd height and width.
        let shape = [3, 8, 9, 11];
        let d: usize = shape.iter().product();
        let net = C3dLite::init(4, &shape, &device, 3).unwrap();
        let kernel = net.to_clip_kernel().unwrap();
        let burn = NeuralClassifier::new(net, &device, shape.to_vec(), 4, None)
            .unwrap()
            .without_host_kernel();
        let logits = |x: &[f32]| {
            let t = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, d]), &device);
            tensor_to_vec(burn.logits(t).unwrap())
        };
        let (x, y) = (clip(d, 1), clip(d, 2));
        let mut state = kernel.start(&x);
        let want = logits(&x);
        assert!(
            max_rel(&state.logits(), &want) < 1e-5,
            "{:?} vs {want:?}",
            state.logits()
        );

        let t = Tensor::<2>::from_data(TensorData::new(x.clone(), [1, d]), &device);
        let (g, z) = burn.loss_gradient_and_logits(t, &[2]).unwrap();
        let z = tensor_to_vec(z);
        let m = z.iter().cloned().fold(f32::MIN, f32::max);
        let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
        let sum: f32 = e.iter().sum();
        let dlogits: Vec<f32> = (0..4).map(|k| e[k] / sum - (k == 2) as u8 as f32).collect();
        let got = state.input_gradient(&dlogits);
        let g = tensor_to_vec(g);
        let worst = (0..g.len())
            .max_by(|&a, &b| (got[a] - g[a]).abs().total_cmp(&(got[b] - g[b]).abs()))
            .unwrap();
        assert!(
            max_rel(&got, &g) < 1e-4,
            "rel {} at {worst}: {} vs {}; frame {}",
            max_rel(&got, &g),
            got[worst],
            g[worst],
            (worst / 99) % 8
        );

        // One frame's patches per GEMM (runs of frames split at every frame): the same numbers.
        let split = kernel.start_with(&x, 1);
        assert!(max_rel(&split.logits(), &state.logits()) < 1e-6);
        assert!(max_rel(&split.input_gradient(&dlogits), &got) < 1e-6);

        // One frame at a time, as frame saliency adds them, then two at once (first and last).
        let mut current = x.clone();
        for frames in [vec![4], vec![0], vec![7], vec![3, 5], vec![0, 7]] {
            state.replace(&y, &frames);
            current = splice(&current, &y, &frames, shape);
            let want = logits(&current);
            assert!(max_rel(&state.logits(), &want) < 1e-5, "after {frames:?}");
        }
    }
}
