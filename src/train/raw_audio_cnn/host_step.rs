//! One RawAudioCNN training step written out for the CPU: forward with batch norm in training mode,
//! cross-entropy, and the gradient of every parameter.
//!
//! burn-flex takes ~150 ms per example for this step (its pooling and batch-norm passes dominate);
//! this takes a tenth of that with the same GEMM building blocks as the inference kernel. Batch
//! norm couples the examples, so each block runs over the whole batch before the next: convolutions
//! per example in parallel, then the batch statistics, then normalisation and pooling. Checked
//! against burn's autodiff in the tests.
//!
//! The step is a forward pass that keeps its activations ([`forward`]) and a backward pass from
//! given logit gradients ([`backward`]), so that any [`TrainingLoss`] over one or several passes
//! (cross-entropy; TRADES's clean and adversarial passes) runs on the same two functions.

use crate::kernel::conv1d::{
    axpy, conv3, conv3_input_grad, conv3_weight_grad, dot, pad, tap_major, unpad,
};
use crate::kernel::pool::{pool_relu, unpool};
use crate::model::batch_stats::BatchStats;
use crate::model::conv_bn::BN_EPS;
use crate::model::raw_audio_cnn::layout::{BLOCKS, FC_IN, INPUT_LEN};
use crate::model::weights::HostTensor;
use crate::train::loss::TrainingLoss;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// What one step computed.
pub struct Step {
    /// The loss over the step's passes (batch mean).
    pub loss: f32,
    /// Each pass's `[n, K]` logits (training mode).
    pub logits: Vec<Vec<f32>>,
    /// Gradient of the loss for every trainable tensor, by PyTorch name, summed over the passes.
    pub grads: BTreeMap<String, Vec<f32>>,
    /// Each pass's batch statistics per block (mean, unbiased variance).
    pub stats: Vec<Vec<BatchStats>>,
}

/// One block's activations kept for the backward pass, per example.
struct Cache {
    padded: Vec<Vec<f32>>,
    xhat: Vec<Vec<f32>>,
    out: Vec<Vec<f32>>,
    argmax: Vec<Vec<u32>>,
    inv_std: Vec<f32>,
    len_conv: usize,
}

/// A training-mode forward pass with what its backward pass needs.
pub struct Forward {
    /// The flattened output of the last block, per example.
    h: Vec<Vec<f32>>,
    caches: Vec<Cache>,
    /// `[n, K]` logits.
    pub logits: Vec<f32>,
    /// Each block's batch statistics.
    pub stats: Vec<BatchStats>,
}

fn get<'a>(p: &'a BTreeMap<String, HostTensor>, key: &str) -> &'a [f32] {
    &p.get(key)
        .unwrap_or_else(|| panic!("parameter {key} exists"))
        .data
}

/// One step's loss and gradients: each of `passes` (`[n, 8000]` each) forward in training mode,
/// `loss` on their logits, and the backward pass of each from its logit gradients, summed.
pub fn train_step(
    params: &BTreeMap<String, HostTensor>,
    passes: &[Vec<f32>],
    labels: &[usize],
    loss: &dyn TrainingLoss,
) -> Step {
    let forwards: Vec<Forward> = passes.iter().map(|x| forward(params, x)).collect();
    let logits: Vec<Vec<f32>> = forwards.iter().map(|f| f.logits.clone()).collect();
    let k = get(params, "fc.bias").len();
    let (value, dlogits) = loss.evaluate(&logits, labels, k);
    let mut grads: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let mut stats = Vec::with_capacity(forwards.len());
    for (f, d) in forwards.into_iter().zip(&dlogits) {
        for (key, g) in backward(params, &f, d) {
            match grads.get_mut(&key) {
                Some(sum) => sum.iter_mut().zip(&g).for_each(|(a, b)| *a += b),
                None => {
                    grads.insert(key, g);
                }
            }
        }
        stats.push(f.stats);
    }
    Step {
        loss: value,
        logits,
        grads,
        stats,
    }
}

/// The batch `x` (`[n, 8000]`) forward in training mode, keeping what [`backward`] needs.
pub fn forward(params: &BTreeMap<String, HostTensor>, x: &[f32]) -> Forward {
    let (h, caches, stats) = forward_blocks(params, x);
    let (fc_w, fc_b) = (get(params, "fc.weight"), get(params, "fc.bias"));
    let k = fc_b.len();
    let mut logits = Vec::with_capacity(h.len() * k);
    for he in &h {
        logits.extend((0..k).map(|c| fc_b[c] + dot(&fc_w[c * FC_IN..(c + 1) * FC_IN], he)));
    }
    Forward {
        h,
        caches,
        logits,
        stats,
    }
}

/// The gradient of every trainable tensor, by PyTorch name, given the gradient `dlogits` (`[n, K]`)
/// of the loss with respect to the logits of the pass `f`.
pub fn backward(
    params: &BTreeMap<String, HostTensor>,
    f: &Forward,
    dlogits: &[f32],
) -> BTreeMap<String, Vec<f32>> {
    let (h, caches) = (&f.h, &f.caches);
    let n = h.len();
    let fc_w = get(params, "fc.weight");
    let k = get(params, "fc.bias").len();
    let mut grads = BTreeMap::new();
    let mut dfc_w = vec![0f32; k * FC_IN];
    let mut dfc_b = vec![0f32; k];
    let mut dh: Vec<Vec<f32>> = Vec::with_capacity(n);
    for (e, he) in h.iter().enumerate() {
        let d = &dlogits[e * k..(e + 1) * k];
        let mut g = vec![0f32; FC_IN];
        for c in 0..k {
            axpy(d[c], he, &mut dfc_w[c * FC_IN..(c + 1) * FC_IN]);
            dfc_b[c] += d[c];
            axpy(d[c], &fc_w[c * FC_IN..(c + 1) * FC_IN], &mut g);
        }
        dh.push(g);
    }
    grads.insert("fc.weight".to_string(), dfc_w);
    grads.insert("fc.bias".to_string(), dfc_b);

    for (i, (&(cin, cout, padding, ..), cache)) in BLOCKS.iter().zip(caches).enumerate().rev() {
        let p = format!("conv{}", i + 1);
        let w = tap_major(get(params, &format!("{p}.0.weight")), cin, cout);
        let gamma = get(params, &format!("{p}.1.weight"));
        let len_conv = cache.len_conv;
        // ∂loss/∂(γ·x̂ + β), per example.
        let dy: Vec<Vec<f32>> = (0..n)
            .into_par_iter()
            .map(|e| unpool(&cache.out[e], &cache.argmax[e], &dh[e], cout, len_conv))
            .collect();
        let (dbeta, dgamma) = channel_sums(
            &dy,
            cout,
            |row, _| lanes(row, |v| v),
            Some((&cache.xhat, &|row: &[f32], xh: &[f32]| dot_lanes(row, xh))),
        );
        let count = (n * len_conv) as f32;
        let per_example: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = (0..n)
            .into_par_iter()
            .map(|e| {
                let mut dconv = dy[e].clone();
                for o in 0..cout {
                    let (mb, mg) = (dbeta[o] as f32 / count, dgamma[o] as f32 / count);
                    let s = gamma[o] * cache.inv_std[o];
                    let xh = &cache.xhat[e][o * len_conv..(o + 1) * len_conv];
                    for (g, &x) in dconv[o * len_conv..(o + 1) * len_conv].iter_mut().zip(xh) {
                        *g = s * (*g - mb - x * mg);
                    }
                }
                let mut dw = vec![0f32; 3 * cout * cin];
                let mut db = vec![0f32; cout];
                conv3_weight_grad(&cache.padded[e], &dconv, cin, cout, &mut dw, &mut db);
                let dx = if i > 0 {
                    let len_pad = cache.padded[e].len() / cin;
                    unpad(
                        &conv3_input_grad(&w, cin, cout, &dconv, len_pad),
                        cin,
                        padding,
                    )
                } else {
                    Vec::new()
                };
                (dw, db, dx)
            })
            .collect();
        let mut dw = vec![0f32; 3 * cout * cin];
        let mut db = vec![0f32; cout];
        dh = Vec::with_capacity(n);
        for (w_e, b_e, x_e) in per_example {
            dw.iter_mut().zip(&w_e).for_each(|(a, b)| *a += b);
            db.iter_mut().zip(&b_e).for_each(|(a, b)| *a += b);
            dh.push(x_e);
        }
        let mut dw_torch = vec![0f32; 3 * cout * cin];
        for o in 0..cout {
            for c in 0..cin {
                for t in 0..3 {
                    dw_torch[(o * cin + c) * 3 + t] = dw[(t * cout + o) * cin + c];
                }
            }
        }
        grads.insert(format!("{p}.0.weight"), dw_torch);
        grads.insert(format!("{p}.0.bias"), db);
        grads.insert(
            format!("{p}.1.weight"),
            dgamma.iter().map(|&v| v as f32).collect(),
        );
        grads.insert(
            format!("{p}.1.bias"),
            dbeta.iter().map(|&v| v as f32).collect(),
        );
    }
    grads
}

/// Each block's batch statistics on `x` (`[n, 8000]`) in training mode: the forward pass alone,
/// for re-estimating the running statistics.
pub fn batch_stats(params: &BTreeMap<String, HostTensor>, x: &[f32]) -> Vec<BatchStats> {
    forward_blocks(params, x).2
}

/// The convolutional blocks in training mode over the batch `x`: the flattened outputs, what the
/// backward pass needs, and each block's batch statistics.
fn forward_blocks(
    params: &BTreeMap<String, HostTensor>,
    x: &[f32],
) -> (Vec<Vec<f32>>, Vec<Cache>, Vec<BatchStats>) {
    let mut h: Vec<Vec<f32>> = x.chunks(INPUT_LEN).map(<[f32]>::to_vec).collect();
    let n = h.len();
    let mut caches = Vec::with_capacity(BLOCKS.len());
    let mut stats = Vec::with_capacity(BLOCKS.len());
    for (i, &(cin, cout, padding, kernel, stride)) in BLOCKS.iter().enumerate() {
        let p = format!("conv{}", i + 1);
        let w = tap_major(get(params, &format!("{p}.0.weight")), cin, cout);
        let b = get(params, &format!("{p}.0.bias"));
        let (gamma, beta) = (
            get(params, &format!("{p}.1.weight")),
            get(params, &format!("{p}.1.bias")),
        );
        let padded: Vec<Vec<f32>> = h.par_iter().map(|h| pad(h, cin, padding)).collect();
        let mut conv: Vec<Vec<f32>> = padded
            .par_iter()
            .map(|x| conv3(&w, b, cin, cout, x))
            .collect();
        let len_conv = conv[0].len() / cout;
        let count = (n * len_conv) as f64;
        let (sum, _) = channel_sums(&conv, cout, |row, _| lanes(row, |v| v), None);
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let (centred_sq, _) = channel_sums(
            &conv,
            cout,
            |row, o| {
                let m = mean[o] as f32;
                lanes(row, |v| (v - m) * (v - m))
            },
            None,
        );
        let var: Vec<f64> = centred_sq.iter().map(|s| s / count).collect();
        let inv_std: Vec<f32> = var
            .iter()
            .map(|v| (1.0 / (v + BN_EPS).sqrt()) as f32)
            .collect();
        stats.push(BatchStats {
            mean: mean.iter().map(|&m| m as f32).collect(),
            var: var
                .iter()
                .map(|&v| (v * count / (count - 1.0).max(1.0)) as f32)
                .collect(),
        });
        let len_out = (len_conv - kernel) / stride + 1;
        let pooled: Vec<(Vec<f32>, Vec<u32>)> = conv
            .par_iter_mut()
            .map(|c| {
                let mut out = vec![0f32; cout * len_out];
                let mut argmax = vec![0u32; cout * len_out];
                let mut y = vec![0f32; len_conv];
                for o in 0..cout {
                    let row = &mut c[o * len_conv..(o + 1) * len_conv];
                    let (m, s) = (mean[o] as f32, inv_std[o]);
                    for (v, y) in row.iter_mut().zip(y.iter_mut()) {
                        *v = (*v - m) * s;
                        *y = *v * gamma[o] + beta[o];
                    }
                    let r = o * len_out..(o + 1) * len_out;
                    pool_relu(&y, kernel, stride, &mut out[r.clone()], &mut argmax[r]);
                }
                (out, argmax)
            })
            .collect();
        let (out, argmax): (Vec<_>, Vec<_>) = pooled.into_iter().unzip();
        h = out.clone();
        caches.push(Cache {
            padded,
            xhat: conv,
            out,
            argmax,
            inv_std,
            len_conv,
        });
    }
    (h, caches, stats)
}

/// `Σ f(v)` over `row` in 8 independent f32 lanes (so it vectorises), combined in f64.
fn lanes(row: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut acc = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v) as f64).sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += f(c[i]);
        }
    }
    tail + acc.iter().map(|&a| a as f64).sum::<f64>()
}

/// `Σ a·b` in 8 f32 lanes, combined in f64.
fn dot_lanes(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| x as f64 * y as f64)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    tail + acc.iter().map(|&v| v as f64).sum::<f64>()
}

/// Per-channel sums over the batch of `f(row)` and, optionally, of `g(row, other_row)`, in f64,
/// in example order.
#[allow(clippy::type_complexity)]
fn channel_sums(
    rows: &[Vec<f32>],
    channels: usize,
    f: impl Fn(&[f32], usize) -> f64 + Sync,
    g: Option<(&[Vec<f32>], &(dyn Fn(&[f32], &[f32]) -> f64 + Sync))>,
) -> (Vec<f64>, Vec<f64>) {
    rows.par_iter()
        .enumerate()
        .map(|(e, r)| {
            let len = r.len() / channels;
            let mut a = vec![0f64; channels];
            let mut b = vec![0f64; channels];
            for o in 0..channels {
                let row = &r[o * len..(o + 1) * len];
                a[o] = f(row, o);
                if let Some((other, g)) = g {
                    b[o] = g(row, &other[e][o * len..(o + 1) * len]);
                }
            }
            (a, b)
        })
        // Collected in order and summed sequentially: a parallel reduction's tree depends on
        // scheduling, and training would not be reproducible to the bit.
        .collect::<Vec<_>>()
        .into_iter()
        .fold(
            (vec![0f64; channels], vec![0f64; channels]),
            |(mut a, mut b), (x, y)| {
                a.iter_mut().zip(&x).for_each(|(a, x)| *a += x);
                b.iter_mut().zip(&y).for_each(|(b, y)| *b += y);
                (a, b)
            },
        )
}

/// Adam (PyTorch's defaults: β = (0.9, 0.999), ε = 1e-8 added after the square root) on host tensors.
#[derive(Default)]
pub struct Adam {
    step: i32,
    moments: BTreeMap<String, (Vec<f32>, Vec<f32>)>,
}

impl Adam {
    /// Updates every parameter that has a gradient.
    pub fn step(
        &mut self,
        lr: f64,
        params: &mut BTreeMap<String, HostTensor>,
        grads: &BTreeMap<String, Vec<f32>>,
    ) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        self.step += 1;
        let c1 = 1.0 - B1.powi(self.step);
        let c2 = 1.0 - B2.powi(self.step);
        for (key, g) in grads {
            let p = &mut params
                .get_mut(key)
                .expect("a gradient for an existing parameter")
                .data;
            let (m, v) = self
                .moments
                .entry(key.clone())
                .or_insert_with(|| (vec![0.0; g.len()], vec![0.0; g.len()]));
            for i in 0..g.len() {
                m[i] = (B1 * m[i] as f64 + (1.0 - B1) * g[i] as f64) as f32;
                v[i] = (B2 * v[i] as f64 + (1.0 - B2) * (g[i] as f64).powi(2)) as f32;
                let update = lr * (m[i] as f64 / c1) / ((v[i] as f64 / c2).sqrt() + 1e-8);
                p[i] -= update as f32;
            }
        }
    }
}
