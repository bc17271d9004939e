//! c3d-lite on long clips in bounded memory: logits and input gradients computed chunk by chunk
//! along time, exactly.
//!
//! c3d-lite ends in a mean over time and space, and each output of its last block sees a bounded
//! window of input frames. So the clip is cut into chunks of last-block outputs (in pooled time);
//! each chunk runs on its input frames plus a halo of the receptive field, and only the outputs
//! whose receptive field lies inside that window (or reaches a true end of the clip, where the
//! zero padding is the real one) are kept. Their sums add up to the whole clip's. For the gradient,
//! the whole clip's loss gradient with respect to the logits is found first (a chunked forward
//! pass), then each chunk's kept outputs are weighted by it and differentiated alone; the input
//! gradients of overlapping windows add. burn's autodiff then holds one window at a time instead of
//! the whole clip (6.9 GB for FGM on 300 frames of 240 × 320, see docs/benchmarks.md).
//!
//! In the time axis of the differences `d[t] = x[t+1] − x[t]` (D = F − 1 of them), last-block
//! output `s` (of ⌊D/2⌋) depends on `d[2s−4 ..= 2s+5]`, i.e. frames `x[2s−4 ..= 2s+6]`.

use super::C3dLite;
use crate::kernel::HostKernel;
use crate::kernel::linear::HostLinear;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

/// Last-block outputs (pooled time steps) per chunk.
pub const CHUNK: usize = 8;

/// Whether a clip of `frames` frames is long enough to be worth chunking.
pub fn worth_chunking(frames: usize) -> bool {
    frames > 1 && (frames - 1) / 2 > 2 * CHUNK
}

/// The chunked evaluation of one c3d-lite (see the module docs).
pub struct ChunkedC3dLite {
    eval: C3dLite,
    grad: C3dLite,
    /// The linear layer on the host.
    fc: HostLinear,
}

/// One chunk: outputs `s0..s1`, computed from differences `a..b` (frames `a..=b`).
struct Window {
    s0: usize,
    s1: usize,
    a: usize,
    b: usize,
}

impl ChunkedC3dLite {
    /// For `net` (in evaluation mode, on the flex device).
    pub fn new(net: &C3dLite) -> Self {
        let grad = net.clone().fork(&Device::flex().autodiff()).freeze();
        Self {
            eval: net.clone(),
            grad,
            fc: net.fc_host(),
        }
    }

    fn windows(&self) -> (Vec<Window>, usize) {
        let d = self.eval.shape()[1] - 1;
        let q = d / 2;
        let windows = (0..q)
            .step_by(CHUNK)
            .map(|s0| {
                let s1 = (s0 + CHUNK).min(q);
                let a = (2 * s0).saturating_sub(4);
                let b = if s1 == q { d } else { (2 * s1 + 4).min(d) };
                Window { s0, s1, a, b }
            })
            .collect();
        (windows, q)
    }

    /// Frames `a..=b` of example `i` of the host batch `x` (`[n, 3, F, H, W]` flattened) as a clip.
    fn window_clip(&self, x: &[f32], i: usize, w: &Window, device: &Device) -> Tensor<5> {
        let [c, f, h, wd] = self.eval.shape();
        let plane = h * wd;
        let frames = w.b - w.a + 1;
        let mut v = Vec::with_capacity(c * frames * plane);
        for ch in 0..c {
            let start = ((i * c + ch) * f + w.a) * plane;
            v.extend_from_slice(&x[start..start + frames * plane]);
        }
        Tensor::from_data(TensorData::new(v, [1, c, frames, h, wd]), device)
    }

    /// The kept outputs of a window's features, `[1, 64, s1 − s0, H', W']`.
    fn kept(features: Tensor<5>, w: &Window) -> Tensor<5> {
        features.narrow(2, w.s0 - w.a / 2, w.s1 - w.s0)
    }

    /// Per example: the sum of the last block's outputs over time and space, and their count.
    fn feature_sums(&self, x: &[f32], n: usize) -> (Vec<Vec<f32>>, usize) {
        let (windows, q) = self.windows();
        let device = Device::flex();
        let mut count = 0;
        let sums = (0..n)
            .map(|i| {
                let mut total = vec![0.0f32; 64];
                for w in &windows {
                    let (features, _) = self
                        .eval
                        .features(self.window_clip(x, i, w, &device), false);
                    let kept = Self::kept(features, w);
                    let [_, c, t, h, wd] = kept.dims();
                    count = q * h * wd;
                    let sum = kept.reshape([c, t * h * wd]).sum_dim(1);
                    for (acc, v) in total.iter_mut().zip(crate::array::tensor_to_vec(sum)) {
                        *acc += v;
                    }
                }
                total
            })
            .collect();
        (sums, count)
    }
}

impl HostKernel for ChunkedC3dLite {
    fn logits(&self, x: &[f32], n: usize) -> Vec<f32> {
        let (sums, count) = self.feature_sums(x, n);
        sums.iter()
            .flat_map(|s| {
                let pooled: Vec<f32> = s.iter().map(|v| v / count as f32).collect();
                self.fc.forward(&pooled)
            })
            .collect()
    }

    fn input_gradient(
        &self,
        x: &[f32],
        n: usize,
        dlogits: &(dyn Fn(usize, &[f32]) -> Vec<f32> + Sync),
    ) -> (Vec<f32>, Vec<f32>) {
        let logits = self.logits(x, n);
        let (windows, q) = self.windows();
        let k = logits.len() / n.max(1);
        let d = x.len() / n.max(1);
        let [c, f, h, wd] = self.eval.shape();
        let plane = h * wd;
        let device = Device::flex().autodiff();
        let mut grad = vec![0.0f32; x.len()];
        for i in 0..n {
            let g = dlogits(i, &logits[i * k..(i + 1) * k]);
            let mut count = 0;
            let weights = self.fc.backward(&g);
            for w in &windows {
                let clip = self.window_clip(x, i, w, &device).require_grad();
                let (features, _) = self.grad.features(clip.clone(), false);
                let kept = Self::kept(features, w);
                let [_, ch, t, hh, ww] = kept.dims();
                count = q * hh * ww;
                let v =
                    Tensor::<3>::from_data(TensorData::new(weights.clone(), [1, ch, 1]), &device);
                let objective = (kept.reshape([1, ch, t * hh * ww]) * v).sum();
                let grads = objective.backward();
                let gw = crate::array::tensor_to_vec(
                    clip.grad(&grads)
                        .expect("the window was marked as requiring a gradient"),
                );
                let frames = w.b - w.a + 1;
                for chn in 0..c {
                    let dst = i * d + (chn * f + w.a) * plane;
                    let src = &gw[chn * frames * plane..(chn + 1) * frames * plane];
                    for (o, v) in grad[dst..dst + frames * plane].iter_mut().zip(src) {
                        *o += v;
                    }
                }
            }
            // The objective above used the un-normalised sum; the mean divides by the count.
            for v in &mut grad[i * d..(i + 1) * d] {
                *v /= count as f32;
            }
        }
        (logits, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::tensor_to_vec;
    use crate::classifier::{Classifier, NeuralClassifier};

    #[test]
    fn chunks_give_the_whole_clips_logits_and_gradient() {
        let device = Device::flex();
        // 44 frames: 43 differences, 21 pooled steps: three chunks, the last one short and odd.
        let shape = [3, 44, 6, 10];
        assert!(worth_chunking(shape[1]));
        let net = C3dLite::init(3, &shape, &device, 5).unwrap();
        let chunked =
            NeuralClassifier::new(net.clone(), &device, shape.to_vec(), 3, Some((0.0, 1.0)))
                .unwrap();
        let whole = NeuralClassifier::new(net, &device, shape.to_vec(), 3, Some((0.0, 1.0)))
            .unwrap()
            .without_host_kernel();
        let d: usize = shape.iter().product();
        let x: Vec<f32> = (0..2 * d)
            .map(|i| ((i * 2654435761) % 1009) as f32 / 1009.0)
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [2, d]), &device);
        let rel = |a: &[f32], b: &[f32]| {
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            diff / b.iter().map(|y| y.abs()).fold(0.0, f32::max)
        };
        let (a, b) = (
            tensor_to_vec(chunked.logits(x.clone()).unwrap()),
            tensor_to_vec(whole.logits(x.clone()).unwrap()),
        );
        assert!(rel(&a, &b) < 1e-5, "logits {a:?} vs {b:?}");
        let labels = [0, 2];
        let (ga, _) = chunked
            .loss_gradient_and_logits(x.clone(), &labels)
            .unwrap();
        let (gb, _) = whole.loss_gradient_and_logits(x, &labels).unwrap();
        let (ga, gb) = (tensor_to_vec(ga), tensor_to_vec(gb));
        assert!(
            rel(&ga, &gb) < 1e-4,
            "gradient relative error {}",
            rel(&ga, &gb)
        );
        // Every frame has a gradient (the halos left none out).
        let plane = 6 * 10;
        for t in 0..44 {
            let frame = &ga[t * plane..(t + 1) * plane];
            assert!(frame.iter().any(|v| *v != 0.0), "frame {t}");
        }
    }
}
