//! Temporal subsampling and random frame dropping of video: frames are replaced by the last kept
//! frame before them, so the clip keeps its shape and timing while a perturbation spread over
//! time loses the frames it was on (a frame-rate reduction, or a lossy transmission).
//!
//! `frame-subsample` keeps frames `0, k, 2k, …` and holds each for `k` frames: deterministic and
//! linear, so its backward pass is exact (each kept frame collects the gradients of the frames that
//! copy it). `frame-drop` drops every frame but the first with probability `p`, drawn per example
//! from the pass's seeded stream (so `--eot N` averages over drops); which frames were dropped is
//! not known to the backward pass, so it is BPDA's identity.

use super::{DefenceEntry, DefenceSpec, backward_runs};
use crate::array::tensor_to_vec;
use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::InputConfig;
use crate::params::Param;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// `frame-subsample`.
pub static SUBSAMPLE: DefenceEntry = DefenceEntry {
    name: "frame-subsample",
    about: "Temporal subsampling of video: every k-th frame kept and held for k frames, shape kept; exact gradient",
    params: &[Param {
        key: "every",
        default: "2",
        about: "keep one frame in this many (2 or more)",
    }],
    parse: |p| {
        let every: usize = p.take_or("every", 2)?;
        if every < 2 {
            return Err(Error::invalid(
                p.display("every"),
                format!("2 or more frames, got {every}"),
            ));
        }
        Ok(Box::new(FrameSpec::Subsample { every }))
    },
};

/// `frame-drop`.
pub static DROP: DefenceEntry = DefenceEntry {
    name: "frame-drop",
    about: "Random frame dropping in video: each frame after the first replaced by the previous kept one \
            with probability p; randomised, seeded; BPDA gradient",
    params: &[Param {
        key: "p",
        default: "required",
        about: "probability that a frame is dropped, in (0, 1)",
    }],
    parse: |p| {
        let prob: f64 = p
            .take("p")?
            .ok_or_else(|| Error::invalid(p.display("p"), "missing: the drop probability"))?;
        if !(prob > 0.0 && prob < 1.0) {
            return Err(Error::invalid(
                p.display("p"),
                format!("a probability strictly between 0 and 1, got {prob}"),
            ));
        }
        Ok(Box::new(FrameSpec::Drop { p: prob }))
    },
};

/// Either defence's parameters.
#[derive(Clone, Debug, PartialEq)]
enum FrameSpec {
    Subsample { every: usize },
    Drop { p: f64 },
}

impl DefenceSpec for FrameSpec {
    fn name(&self) -> &'static str {
        match self {
            FrameSpec::Subsample { .. } => SUBSAMPLE.name,
            FrameSpec::Drop { .. } => DROP.name,
        }
    }

    /// Needs a video model.
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        let [channels, frames, height, width] = super::video_shape(input, self.name())?;
        let clip = ClipShape {
            channels,
            frames,
            plane: height * width,
        };
        Ok(match *self {
            FrameSpec::Subsample { every } => Box::new(FrameSubsample { every, clip }),
            FrameSpec::Drop { p } => Box::new(FrameDrop { p, clip }),
        })
    }

    fn params(&self) -> serde_json::Value {
        match self {
            FrameSpec::Subsample { every } => serde_json::json!({ "every": every }),
            FrameSpec::Drop { p } => serde_json::json!({ "p": p }),
        }
    }

    fn randomised(&self) -> bool {
        matches!(self, FrameSpec::Drop { .. })
    }
}

/// A clip's `[channels, frames, height × width]`.
#[derive(Clone, Copy, Debug)]
pub struct ClipShape {
    pub channels: usize,
    pub frames: usize,
    pub plane: usize,
}

impl ClipShape {
    /// `clip` with frame `t` of the output copied from frame `source[t]` of the input.
    fn hold(&self, clip: &[f32], source: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(clip.len());
        for c in 0..self.channels {
            for &s in source {
                let at = (c * self.frames + s) * self.plane;
                out.extend_from_slice(&clip[at..at + self.plane]);
            }
        }
        out
    }
}

/// Frames `0, every, 2·every, …` each held for `every` frames.
#[derive(Clone, Debug)]
pub struct FrameSubsample {
    pub every: usize,
    pub clip: ClipShape,
}

impl FrameSubsample {
    fn source(&self) -> Vec<usize> {
        (0..self.clip.frames).map(|t| t - t % self.every).collect()
    }
}

impl Preprocessor for FrameSubsample {
    fn name(&self) -> &str {
        SUBSAMPLE.name
    }

    fn forward(&self, x: Tensor<2>, _rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        let source = self.source();
        super::map_examples(x, |clip| Ok(self.clip.hold(clip, &source)))
    }

    /// Each kept frame gets the sum of the gradients of the frames holding it; dropped frames none.
    fn backward(&self, x_in: &Tensor<2>, grad: Tensor<2>) -> Tensor<2> {
        let (source, plane) = (self.source(), self.clip.plane);
        let channel = self.clip.frames * plane;
        backward_runs(x_in, grad, channel, |_, g| {
            let mut gx = vec![0f32; g.len()];
            for (t, &s) in source.iter().enumerate() {
                let (to, from) = (s * plane, t * plane);
                for i in 0..plane {
                    gx[to + i] += g[from + i];
                }
            }
            gx
        })
    }
}

/// Every frame after the first dropped with probability `p` and replaced by the last kept one.
#[derive(Clone, Debug)]
pub struct FrameDrop {
    pub p: f64,
    pub clip: ClipShape,
}

impl Preprocessor for FrameDrop {
    fn name(&self) -> &str {
        DROP.name
    }

    /// One draw per frame per example, in example order, then the copies in parallel.
    fn forward(&self, x: Tensor<2>, rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        let [n, d] = x.dims();
        let device = x.device();
        let sources: Vec<Vec<usize>> = (0..n)
            .map(|_| {
                let mut kept = 0;
                (0..self.clip.frames)
                    .map(|t| {
                        if t == 0 || !rng.random_bool(self.p) {
                            kept = t;
                        }
                        kept
                    })
                    .collect()
            })
            .collect();
        let host = tensor_to_vec(x);
        let out: Vec<f32> = host
            .par_chunks(d.max(1))
            .zip(&sources)
            .flat_map_iter(|(clip, source)| self.clip.hold(clip, source))
            .collect();
        Ok(Tensor::from_data(TensorData::new(out, [n, d]), &device))
    }

    fn randomised(&self) -> bool {
        true
    }
}
