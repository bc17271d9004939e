//! RawAudioCNN's forward pass and input gradient written out by hand for the CPU.
//!
//! burn-flex runs this network at about 1.7x PyTorch's time, and profiling showed why: its generic
//! max-pool (and the ReLU and batch-norm passes around it) cost more than the convolutions. Here each
//! block is one convolution as three GEMMs on shifted views of the padded input (no im2col, no layout
//! change), batch norm folded into the convolution, and max-pool fused with ReLU (pooling first is
//! exact, since ReLU is monotone), keeping the window argmax for the backward pass. Examples run in
//! parallel, each GEMM single-threaded. Used only on the flex (CPU) device; every other device takes
//! burn's autodiff path. Both are checked against PyTorch in the parity tests.

use super::raw_audio_cnn::{BLOCKS, FC_IN};
use crate::classifier::CpuKernel;
use gemm::{Parallelism, gemm};
use rayon::prelude::*;

/// One block with batch norm folded into the convolution.
struct Block {
    cin: usize,
    cout: usize,
    pad: usize,
    kernel: usize,
    stride: usize,
    /// Tap-major weights: `w[k][o][c]`, one `[cout, cin]` matrix per tap.
    w: Vec<f32>,
    /// Convolution bias per output channel.
    b: Vec<f32>,
    /// Batch norm as `(v − mean)·scale + beta` per output channel.
    bn_mean: Vec<f32>,
    bn_scale: Vec<f32>,
    bn_beta: Vec<f32>,
}

/// What the backward pass needs from one block's forward pass.
struct Saved {
    len_in: usize,
    len_conv: usize,
    /// Conv position of each pooled output's maximum, `[cout, len_out]`.
    argmax: Vec<u32>,
    /// Pooled outputs after ReLU, `[cout, len_out]` (zero where the gradient stops).
    out: Vec<f32>,
}

/// The hand-written network; see the module docs.
pub struct RawAudioCnnCpu {
    blocks: Vec<Block>,
    fc_w: Vec<f32>,
    fc_b: Vec<f32>,
    classes: usize,
}

/// Host copies of one block's parameters, PyTorch layouts.
pub struct BlockParams {
    pub conv_w: Vec<f32>,
    pub conv_b: Vec<f32>,
    pub bn_w: Vec<f32>,
    pub bn_b: Vec<f32>,
    pub bn_mean: Vec<f32>,
    pub bn_var: Vec<f32>,
}

impl RawAudioCnnCpu {
    /// Each block's batch norm (eval mode, epsilon `bn_eps`) is applied in the pooling loop, in
    /// PyTorch's order of operations: folding it into the weights would be as exact in real numbers
    /// but rounds differently, which flips near-tied max-pool windows against PyTorch.
    pub fn new(blocks: Vec<BlockParams>, fc_w: Vec<f32>, fc_b: Vec<f32>, bn_eps: f64) -> Self {
        let blocks = blocks
            .into_iter()
            .zip(BLOCKS.iter())
            .map(|(p, &(cin, cout, pad, kernel, stride))| {
                let scale: Vec<f32> = (0..cout)
                    .map(|o| (p.bn_w[o] as f64 / (p.bn_var[o] as f64 + bn_eps).sqrt()) as f32)
                    .collect();
                let w = tap_major(&p.conv_w, cin, cout);
                Block {
                    cin,
                    cout,
                    pad,
                    kernel,
                    stride,
                    w,
                    b: p.conv_b,
                    bn_mean: p.bn_mean,
                    bn_scale: scale,
                    bn_beta: p.bn_b,
                }
            })
            .collect();
        let classes = fc_b.len();
        Self {
            blocks,
            fc_w,
            fc_b,
            classes,
        }
    }

    /// Logits of one example and what its backward pass needs.
    fn forward_one(&self, x: &[f32]) -> (Vec<f32>, Vec<Saved>) {
        let mut h = x.to_vec();
        let mut saved = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let s = block.forward(&h);
            h = s.out.clone();
            saved.push(s);
        }
        let logits = (0..self.classes)
            .map(|k| self.fc_b[k] + dot(&self.fc_w[k * FC_IN..(k + 1) * FC_IN], &h))
            .collect();
        (logits, saved)
    }

    /// ∂objective/∂x of one example given ∂objective/∂logits.
    fn backward_one(&self, saved: &[Saved], dlogits: &[f32]) -> Vec<f32> {
        let mut dh = vec![0f32; FC_IN];
        for (k, &g) in dlogits.iter().enumerate() {
            axpy(g, &self.fc_w[k * FC_IN..(k + 1) * FC_IN], &mut dh);
        }
        for (block, s) in self.blocks.iter().zip(saved).rev() {
            dh = block.backward(s, &dh);
        }
        dh
    }
}

impl Block {
    fn forward(&self, h: &[f32]) -> Saved {
        let len_in = h.len() / self.cin;
        let padded = pad(h, self.cin, self.pad);
        let mut conv = conv3(&self.w, &self.b, self.cin, self.cout, &padded);
        let len_conv = conv.len() / self.cout;
        let len_out = (len_conv - self.kernel) / self.stride + 1;
        let mut argmax = vec![0u32; self.cout * len_out];
        let mut out = vec![0f32; self.cout * len_out];
        for o in 0..self.cout {
            let row = &mut conv[o * len_conv..(o + 1) * len_conv];
            let (mean, scale, beta) = (self.bn_mean[o], self.bn_scale[o], self.bn_beta[o]);
            for v in row.iter_mut() {
                *v = (*v - mean) * scale + beta;
            }
            let range = o * len_out..(o + 1) * len_out;
            pool_relu(
                row,
                self.kernel,
                self.stride,
                &mut out[range.clone()],
                &mut argmax[range],
            );
        }
        Saved {
            len_in,
            len_conv,
            argmax,
            out,
        }
    }

    fn backward(&self, s: &Saved, dy: &[f32]) -> Vec<f32> {
        let mut dconv = unpool(&s.out, &s.argmax, dy, self.cout, s.len_conv);
        for (o, row) in dconv.chunks_mut(s.len_conv).enumerate() {
            row.iter_mut().for_each(|g| *g *= self.bn_scale[o]);
        }
        let dpad = conv3_input_grad(
            &self.w,
            self.cin,
            self.cout,
            &dconv,
            s.len_in + 2 * self.pad,
        );
        unpad(&dpad, self.cin, self.pad)
    }
}

/// `h` (`[cin, len]`) with `pad` zeros on both sides of every channel.
pub(super) fn pad(h: &[f32], cin: usize, pad: usize) -> Vec<f32> {
    let len_in = h.len() / cin;
    let len_pad = len_in + 2 * pad;
    let mut padded = vec![0f32; cin * len_pad];
    for c in 0..cin {
        padded[c * len_pad + pad..c * len_pad + pad + len_in]
            .copy_from_slice(&h[c * len_in..(c + 1) * len_in]);
    }
    padded
}

/// The inverse of [`pad`] for gradients: drops the padding.
pub(super) fn unpad(dpad: &[f32], cin: usize, pad: usize) -> Vec<f32> {
    let len_pad = dpad.len() / cin;
    let len_in = len_pad - 2 * pad;
    let mut dh = vec![0f32; cin * len_in];
    for c in 0..cin {
        dh[c * len_in..(c + 1) * len_in]
            .copy_from_slice(&dpad[c * len_pad + pad..c * len_pad + pad + len_in]);
    }
    dh
}

/// Tap `k`'s `[cout, cin]` matrix of tap-major weights `w[k][o][c]`.
fn tap(w: &[f32], k: usize) -> &[f32] {
    let size = w.len() / 3;
    &w[k * size..(k + 1) * size]
}

/// Kernel-3 convolution of a padded `[cin, len_pad]` input: `[cout, len_pad − 2]`, bias included.
/// `w` is tap-major (`w[k][o][c]`): one GEMM per tap on a shifted view of the input.
pub(super) fn conv3(w: &[f32], b: &[f32], cin: usize, cout: usize, padded: &[f32]) -> Vec<f32> {
    let len_pad = padded.len() / cin;
    let len_conv = len_pad - 2;
    let mut conv = vec![0f32; cout * len_conv];
    for o in 0..cout {
        conv[o * len_conv..(o + 1) * len_conv].fill(b[o]);
    }
    for k in 0..3 {
        let w = tap(w, k);
        if cin == 1 {
            for o in 0..cout {
                axpy(
                    w[o],
                    &padded[k..k + len_conv],
                    &mut conv[o * len_conv..(o + 1) * len_conv],
                );
            }
        } else {
            // conv[o, t] += Σ_c w_k[o, c] · padded[c, t + k]
            unsafe {
                gemm(
                    cout,
                    len_conv,
                    cin,
                    conv.as_mut_ptr(),
                    1,
                    len_conv as isize,
                    true,
                    w.as_ptr(),
                    1,
                    cin as isize,
                    padded.as_ptr().add(k),
                    1,
                    len_pad as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
    }
    conv
}

/// Gradient with respect to the padded input of [`conv3`], given `dconv` (`[cout, len_conv]`).
pub(super) fn conv3_input_grad(
    w: &[f32],
    cin: usize,
    cout: usize,
    dconv: &[f32],
    len_pad: usize,
) -> Vec<f32> {
    let len_conv = dconv.len() / cout;
    let mut dpad = vec![0f32; cin * len_pad];
    for k in 0..3 {
        let w = tap(w, k);
        if cin == 1 {
            for o in 0..cout {
                axpy(
                    w[o],
                    &dconv[o * len_conv..(o + 1) * len_conv],
                    &mut dpad[k..k + len_conv],
                );
            }
        } else {
            // dpad[c, t + k] += Σ_o w_k[o, c] · dconv[o, t]
            unsafe {
                gemm(
                    cin,
                    len_conv,
                    cout,
                    dpad.as_mut_ptr().add(k),
                    1,
                    len_pad as isize,
                    true,
                    w.as_ptr(),
                    cin as isize,
                    1,
                    dconv.as_ptr(),
                    1,
                    len_conv as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
    }
    dpad
}

/// Adds [`conv3`]'s weight and bias gradients for one example to `dw` (tap-major) and `db`.
pub(super) fn conv3_weight_grad(
    padded: &[f32],
    dconv: &[f32],
    cin: usize,
    cout: usize,
    dw: &mut [f32],
    db: &mut [f32],
) {
    let len_pad = padded.len() / cin;
    let len_conv = dconv.len() / cout;
    for (o, row) in dconv.chunks(len_conv).enumerate() {
        db[o] += row.iter().sum::<f32>();
    }
    let size = cout * cin;
    for k in 0..3 {
        // dw_k[o, c] += Σ_t dconv[o, t] · padded[c, t + k]
        unsafe {
            gemm(
                cout,
                cin,
                len_conv,
                dw[k * size..].as_mut_ptr(),
                1,
                cin as isize,
                true,
                dconv.as_ptr(),
                1,
                len_conv as isize,
                padded.as_ptr().add(k),
                len_pad as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    }
}

/// Max-pool then ReLU of one channel (pooling first is exact: ReLU is monotone); keeps each
/// window's argmax (the first on ties, as PyTorch) for the backward pass.
pub(super) fn pool_relu(
    row: &[f32],
    kernel: usize,
    stride: usize,
    out: &mut [f32],
    argmax: &mut [u32],
) {
    for j in 0..out.len() {
        let start = j * stride;
        let mut best = start;
        for t in start + 1..start + kernel {
            if row[t] > row[best] {
                best = t;
            }
        }
        argmax[j] = best as u32;
        out[j] = row[best].max(0.0);
    }
}

/// Routes the gradient of [`pool_relu`]'s outputs back to the pooled positions: `[cout, len_conv]`.
pub(super) fn unpool(
    out: &[f32],
    argmax: &[u32],
    dy: &[f32],
    cout: usize,
    len_conv: usize,
) -> Vec<f32> {
    let len_out = out.len() / cout;
    let mut dconv = vec![0f32; cout * len_conv];
    for o in 0..cout {
        for j in 0..len_out {
            let i = o * len_out + j;
            if out[i] > 0.0 {
                dconv[o * len_conv + argmax[i] as usize] += dy[i];
            }
        }
    }
    dconv
}

/// Tap-major copy (`w[k][o][c]`) of PyTorch's `[cout, cin, 3]` convolution weights.
pub(super) fn tap_major(conv_w: &[f32], cin: usize, cout: usize) -> Vec<f32> {
    let mut w = vec![0f32; 3 * cout * cin];
    for o in 0..cout {
        for c in 0..cin {
            for k in 0..3 {
                w[(k * cout + o) * cin + c] = conv_w[(o * cin + c) * 3 + k];
            }
        }
    }
    w
}

pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `y += a·x`
pub(super) fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

impl CpuKernel for RawAudioCnnCpu {
    fn logits(&self, x: &[f32], n: usize) -> Vec<f32> {
        let d = x.len() / n.max(1);
        x.par_chunks(d)
            .flat_map_iter(|xi| self.forward_one(xi).0)
            .collect()
    }

    fn input_gradient(
        &self,
        x: &[f32],
        n: usize,
        dlogits: &(dyn Fn(usize, &[f32]) -> Vec<f32> + Sync),
    ) -> (Vec<f32>, Vec<f32>) {
        let d = x.len() / n.max(1);
        let per: Vec<(Vec<f32>, Vec<f32>)> = x
            .par_chunks(d)
            .enumerate()
            .map(|(i, xi)| {
                let (logits, saved) = self.forward_one(xi);
                let g = self.backward_one(&saved, &dlogits(i, &logits));
                (logits, g)
            })
            .collect();
        let mut logits = Vec::with_capacity(n * self.classes);
        let mut grad = Vec::with_capacity(x.len());
        for (l, g) in per {
            logits.extend(l);
            grad.extend(g);
        }
        (logits, grad)
    }
}
