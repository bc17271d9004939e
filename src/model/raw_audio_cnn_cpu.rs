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
                let mut w = vec![0f32; 3 * cout * cin];
                for o in 0..cout {
                    for c in 0..cin {
                        for k in 0..3 {
                            w[(k * cout + o) * cin + c] = p.conv_w[(o * cin + c) * 3 + k];
                        }
                    }
                }
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
    /// The `[cout, cin]` weight matrix of tap `k`.
    fn tap(&self, k: usize) -> &[f32] {
        let size = self.cout * self.cin;
        &self.w[k * size..(k + 1) * size]
    }

    fn forward(&self, h: &[f32]) -> Saved {
        let len_in = h.len() / self.cin;
        let len_pad = len_in + 2 * self.pad;
        let len_conv = len_pad - 2;
        let mut padded = vec![0f32; self.cin * len_pad];
        for c in 0..self.cin {
            padded[c * len_pad + self.pad..c * len_pad + self.pad + len_in]
                .copy_from_slice(&h[c * len_in..(c + 1) * len_in]);
        }
        let mut conv = vec![0f32; self.cout * len_conv];
        for o in 0..self.cout {
            conv[o * len_conv..(o + 1) * len_conv].fill(self.b[o]);
        }
        for k in 0..3 {
            let w = self.tap(k);
            if self.cin == 1 {
                for o in 0..self.cout {
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
                        self.cout,
                        len_conv,
                        self.cin,
                        conv.as_mut_ptr(),
                        1,
                        len_conv as isize,
                        true,
                        w.as_ptr(),
                        1,
                        self.cin as isize,
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
        let len_out = (len_conv - self.kernel) / self.stride + 1;
        let mut argmax = vec![0u32; self.cout * len_out];
        let mut out = vec![0f32; self.cout * len_out];
        for o in 0..self.cout {
            let row = &mut conv[o * len_conv..(o + 1) * len_conv];
            let (mean, scale, beta) = (self.bn_mean[o], self.bn_scale[o], self.bn_beta[o]);
            for v in row.iter_mut() {
                *v = (*v - mean) * scale + beta;
            }
            for j in 0..len_out {
                let start = j * self.stride;
                let mut best = start;
                for t in start + 1..start + self.kernel {
                    if row[t] > row[best] {
                        best = t;
                    }
                }
                argmax[o * len_out + j] = best as u32;
                out[o * len_out + j] = row[best].max(0.0);
            }
        }
        Saved {
            len_in,
            len_conv,
            argmax,
            out,
        }
    }

    fn backward(&self, s: &Saved, dy: &[f32]) -> Vec<f32> {
        let len_out = s.out.len() / self.cout;
        let len_pad = s.len_in + 2 * self.pad;
        let mut dconv = vec![0f32; self.cout * s.len_conv];
        for o in 0..self.cout {
            for j in 0..len_out {
                let i = o * len_out + j;
                if s.out[i] > 0.0 {
                    dconv[o * s.len_conv + s.argmax[i] as usize] += dy[i] * self.bn_scale[o];
                }
            }
        }
        let mut dpad = vec![0f32; self.cin * len_pad];
        for k in 0..3 {
            let w = self.tap(k);
            if self.cin == 1 {
                for o in 0..self.cout {
                    axpy(
                        w[o],
                        &dconv[o * s.len_conv..(o + 1) * s.len_conv],
                        &mut dpad[k..k + s.len_conv],
                    );
                }
            } else {
                // dpad[c, t + k] += Σ_o w_k[o, c] · dconv[o, t]
                unsafe {
                    gemm(
                        self.cin,
                        s.len_conv,
                        self.cout,
                        dpad.as_mut_ptr().add(k),
                        1,
                        len_pad as isize,
                        true,
                        w.as_ptr(),
                        self.cin as isize,
                        1,
                        dconv.as_ptr(),
                        1,
                        s.len_conv as isize,
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
        let mut dh = vec![0f32; self.cin * s.len_in];
        for c in 0..self.cin {
            dh[c * s.len_in..(c + 1) * s.len_in]
                .copy_from_slice(&dpad[c * len_pad + self.pad..c * len_pad + self.pad + s.len_in]);
        }
        dh
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `y += a·x`
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
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
