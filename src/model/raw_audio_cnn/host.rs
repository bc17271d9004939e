//! RawAudioCNN's forward pass and input gradient written out by hand for the CPU.
//!
//! burn-flex runs this network at about 1.7x PyTorch's time, and profiling showed why: its generic
//! max-pool (and the ReLU and batch-norm passes around it) cost more than the convolutions. Here each
//! block is one convolution as three GEMMs on shifted views of the padded input (no im2col, no layout
//! change), batch norm folded into the convolution, and max-pool fused with ReLU (pooling first is
//! exact, since ReLU is monotone), keeping the window argmax for the backward pass. Examples run in
//! parallel, each GEMM single-threaded. Used only on the flex (CPU) device; every other device takes
//! burn's autodiff path. Both are checked against PyTorch in the parity tests.

use super::layout::BLOCKS;
use crate::kernel::conv1d::{conv3, conv3_input_grad, pad, tap_major, unpad};
use crate::kernel::linear::HostLinear;
use crate::kernel::local1d::{LocalForward, Stack1d};
use crate::kernel::pool::{pool_relu, unpool};
use crate::kernel::{HostKernel, LocalKernel};
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
pub struct RawAudioCnnHost {
    blocks: Vec<Block>,
    fc: HostLinear,
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

impl RawAudioCnnHost {
    /// Each block's batch norm (eval mode, epsilon `bn_eps`) is applied in the pooling loop, in
    /// PyTorch's order of operations: folding it into the weights would be as exact in real numbers
    /// but rounds differently, which flips near-tied max-pool windows against PyTorch.
    pub fn new(blocks: Vec<BlockParams>, fc: HostLinear, bn_eps: f64) -> Self {
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
        let classes = fc.outputs();
        Self {
            blocks,
            fc,
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
        let logits = self.fc.forward(&h);
        (logits, saved)
    }

    /// ∂objective/∂x of one example given ∂objective/∂logits.
    fn backward_one(&self, saved: &[Saved], dlogits: &[f32]) -> Vec<f32> {
        let mut dh = self.fc.backward(dlogits);
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
        let (out, argmax, len_conv) = self.conv_pool(&padded);
        Saved {
            len_in,
            len_conv,
            argmax,
            out,
        }
    }

    /// Convolution, batch norm, max-pool and ReLU of a padded stretch `[cin, L + 2]`: the pooled
    /// outputs `[cout, (L − kernel) / stride + 1]`, their window argmax, and L. Each output depends
    /// only on its own window, so a stretch of a longer input gives that input's values to the bit
    /// (the local forward pass relies on it).
    fn conv_pool(&self, padded: &[f32]) -> (Vec<f32>, Vec<u32>, usize) {
        let mut conv = conv3(&self.w, &self.b, self.cin, self.cout, padded);
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
        (out, argmax, len_conv)
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

impl HostKernel for RawAudioCnnHost {
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

    fn local(&self, x: &[f32]) -> Option<Box<dyn LocalKernel + '_>> {
        Some(Box::new(LocalForward::new(self, x)))
    }
}

/// The blocks for [`LocalForward`]: a few changed samples cost only what they reach.
impl Stack1d for RawAudioCnnHost {
    fn depth(&self) -> usize {
        self.blocks.len()
    }

    fn geometry(&self, block: usize) -> [usize; 5] {
        let b = &self.blocks[block];
        [b.cin, b.cout, b.pad, b.kernel, b.stride]
    }

    fn conv_pool(&self, block: usize, padded: &[f32]) -> Vec<f32> {
        self.blocks[block].conv_pool(padded).0
    }

    fn head(&self, h: &[f32]) -> Vec<f32> {
        self.fc.forward(h)
    }
}
