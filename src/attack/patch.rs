//! Adversarial patch on video: one square patch, pasted at the same place on every frame of a clip,
//! its pixels optimised with expectation over transformation (EOT) over where it lands and how big
//! it is (Brown et al. 2017, for video as a sticker in the scene that a camera sees in every frame).
//!
//! The patch *replaces* the pixels under it; it is not added. Each of `max_iter` iterations draws,
//! for each example and from its own random stream, a scale in `[scale_min, scale_max]` and a
//! position where the scaled square fits, pastes the patch there (nearest-neighbour resize) on
//! every frame, takes the loss gradient of the model (cross-entropy, ascended untargeted and
//! descended targeted), and steps every patch pixel by `step · sign(g)`, where `g` sums the input
//! gradient over the frames and the image pixels that patch pixel covers (the chain rule through
//! the paste). Varying the placement during the optimisation is what makes the patch work wherever
//! it ends up, instead of only at one spot; the output is evaluated at one more random placement,
//! at scale 1, from the same stream.
//!
//! What eps means: the usual budget bounds a change, but a patch replaces pixels, so the change
//! under it is as large as the scene is different. Here eps bounds how far each patch pixel lies
//! from mid-grey (the middle of the valid range): eps ≥ half the range (`--eps 0.5` or more on
//! `[0, 1]`) lets the patch take any colour, a small eps gives a low-contrast grey sticker. The
//! patch starts mid-grey.
//!
//! Each example gets its own patch (not one universal patch for a data set).

use super::spec::{AttackEntry, AttackSpec, RunSettings, require_modality, stepless_common};
use super::{Attack, AttackOutput, Batch, Common, Mask, Norm, example_rngs, run_batches};
use crate::array::tensor_to_vec;
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::params::Param;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;

/// `patch`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "patch",
    about: "Adversarial patch on video: one square pasted at the same place on every frame, its \
            pixels optimised with EOT over random positions and scales (seeded); replaces pixels, \
            eps bounds each patch pixel's distance from mid-grey",
    params: &PARAMS,
    parse: |p| {
        let spec = PatchSpec {
            size: p.take_or("size", 0.25)?,
            max_iter: p.take_or("max_iter", 100)?,
            step: p.take_or("step", 0.01)?,
            scale_min: p.take_or("scale_min", 0.8)?,
            scale_max: p.take_or("scale_max", 1.2)?,
        };
        let checks = [
            ("size", spec.size > 0.0 && spec.size <= 1.0, "in (0, 1]"),
            ("step", spec.step > 0.0 && spec.step.is_finite(), "positive"),
            (
                "scale_min",
                spec.scale_min > 0.0 && spec.scale_min.is_finite(),
                "positive",
            ),
            (
                "scale_max",
                spec.scale_max >= spec.scale_min && spec.scale_max.is_finite(),
                "at least scale_min",
            ),
        ];
        for (key, ok, want) in checks {
            if !ok {
                return Err(Error::invalid(p.display(key), format!("has to be {want}")));
            }
        }
        if spec.max_iter == 0 {
            return Err(Error::invalid(p.display("max_iter"), "at least 1"));
        }
        Ok(Box::new(spec))
    },
};

const PARAMS: [Param; 5] = [
    Param {
        key: "size",
        default: "0.25",
        about: "side of the square patch as a fraction of the frame's shorter side",
    },
    Param {
        key: "max_iter",
        default: "100",
        about: "iterations, each at a new random placement",
    },
    Param {
        key: "step",
        default: "0.01",
        about: "signed step of every patch pixel per iteration, in input units",
    },
    Param {
        key: "scale_min",
        default: "0.8",
        about: "smallest scale of the patch drawn during the optimisation",
    },
    Param {
        key: "scale_max",
        default: "1.2",
        about: "largest scale drawn (clamped to the frame)",
    },
];

/// The patch attack as configured by a user.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchSpec {
    pub size: f32,
    pub max_iter: usize,
    pub step: f32,
    pub scale_min: f32,
    pub scale_max: f32,
}

impl AttackSpec for PatchSpec {
    fn name(&self) -> &'static str {
        "patch"
    }

    fn norm(&self) -> Norm {
        Norm::Inf
    }

    fn iterative(&self) -> bool {
        true
    }

    /// Video models of `[C, F, H, W]` clips only: a patch is a square in an image.
    fn check_input(&self, input: &InputConfig) -> Result<()> {
        require_modality(
            input,
            Modality::Video,
            "patch needs a video model (an audio model has no frames to paste on)",
        )?;
        clip_shape(&input.shape).map(|_| ())
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        let patch = Patch {
            common: stepless_common(Norm::Inf, run),
            size: self.size,
            max_iter: self.max_iter,
            step: self.step,
            scale_min: self.scale_min,
            scale_max: self.scale_max,
        };
        patch.common.eps.validate("eps", true)?;
        Ok(Box::new(patch))
    }
}

/// `(C, F, H, W)` of a clip shape.
fn clip_shape(shape: &[usize]) -> Result<(usize, usize, usize, usize)> {
    match *shape {
        [c, f, h, w] if c > 0 && f > 0 && h > 0 && w > 0 => Ok((c, f, h, w)),
        _ => Err(Error::invalid(
            "attack",
            format!("patch needs clips [C, F, H, W], the model takes {shape:?}"),
        )),
    }
}

/// The patch attack. `common` carries eps (each patch pixel's bound around mid-grey), targeting,
/// the batch size and the seed of the placements.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Patch {
    #[serde(flatten)]
    pub common: Common,
    pub size: f32,
    pub max_iter: usize,
    pub step: f32,
    pub scale_min: f32,
    pub scale_max: f32,
}

/// Where a patch lands: the top-left corner and the side of the pasted square, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub top: usize,
    pub left: usize,
    pub side: usize,
}

impl Patch {
    /// The patch's side in pixels for a frame of `h × w`.
    pub fn side(&self, h: usize, w: usize) -> usize {
        ((self.size * h.min(w) as f32).round() as usize).clamp(1, h.min(w))
    }

    /// A random placement of a patch of `side` pixels scaled by a draw in `[lo, hi]`.
    fn place(
        rng: &mut rand_chacha::ChaCha8Rng,
        side: usize,
        (lo, hi): (f32, f32),
        h: usize,
        w: usize,
    ) -> Placement {
        let scale = if hi > lo {
            rng.random_range(lo..=hi)
        } else {
            lo
        };
        let side = ((side as f32 * scale).round() as usize).clamp(1, h.min(w));
        Placement {
            top: rng.random_range(0..=h - side),
            left: rng.random_range(0..=w - side),
            side,
        }
    }

    /// The patch pixel (row, column) under pixel `(i, j)` of a square of `placed` pixels showing a
    /// patch of `side` (nearest neighbour).
    fn source(i: usize, placed: usize, side: usize) -> usize {
        (i * side / placed).min(side - 1)
    }

    /// Pastes `patch` (`[C, side, side]`) onto every frame of one clip `x` (`[C, F, H, W]`).
    fn paste(
        x: &mut [f32],
        patch: &[f32],
        side: usize,
        at: Placement,
        (c, f, h, w): (usize, usize, usize, usize),
    ) {
        for ch in 0..c {
            for fr in 0..f {
                for i in 0..at.side {
                    let si = Self::source(i, at.side, side);
                    for j in 0..at.side {
                        let sj = Self::source(j, at.side, side);
                        x[((ch * f + fr) * h + at.top + i) * w + at.left + j] =
                            patch[(ch * side + si) * side + sj];
                    }
                }
            }
        }
    }

    fn batch(
        &self,
        classifier: &dyn Classifier,
        b: &Batch,
        rngs: &mut [rand_chacha::ChaCha8Rng],
        dims: (usize, usize, usize, usize),
    ) -> Result<(Tensor<2>, Vec<Option<usize>>)> {
        let (c, f, h, w) = dims;
        let d = c * f * h * w;
        let m = b.labels.len();
        let side = self.side(h, w);
        let (lo, hi) = classifier.clip().unwrap_or((0.0, 1.0));
        let grey = (lo + hi) / 2.0;
        let x = tensor_to_vec(b.x.clone());
        let upload =
            |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [m, d]), classifier.device());
        let mut patches = vec![grey; m * c * side * side];
        let pd = c * side * side;
        for _ in 0..self.max_iter {
            let places: Vec<Placement> = rngs
                .iter_mut()
                .map(|r| Self::place(r, side, (self.scale_min, self.scale_max), h, w))
                .collect();
            let mut xin = x.clone();
            for e in 0..m {
                Self::paste(
                    &mut xin[e * d..(e + 1) * d],
                    &patches[e * pd..(e + 1) * pd],
                    side,
                    places[e],
                    dims,
                );
            }
            let (g, _) = classifier.loss_gradient_and_logits(upload(xin), b.labels)?;
            let g = tensor_to_vec(g);
            for e in 0..m {
                let at = places[e];
                let mut pg = vec![0f64; pd];
                for ch in 0..c {
                    for fr in 0..f {
                        for i in 0..at.side {
                            let si = Self::source(i, at.side, side);
                            for j in 0..at.side {
                                let sj = Self::source(j, at.side, side);
                                let v =
                                    g[e * d + ((ch * f + fr) * h + at.top + i) * w + at.left + j];
                                if !v.is_nan() {
                                    pg[(ch * side + si) * side + sj] += f64::from(v);
                                }
                            }
                        }
                    }
                }
                let sign = if self.common.targeted { -1.0 } else { 1.0 };
                let eps = b.eps[e];
                for (p, g) in patches[e * pd..(e + 1) * pd].iter_mut().zip(pg) {
                    let s = if g > 0.0 {
                        1.0
                    } else if g < 0.0 {
                        -1.0
                    } else {
                        0.0
                    };
                    *p = (*p + sign * self.step * s)
                        .clamp(grey - eps, grey + eps)
                        .clamp(lo, hi);
                }
            }
        }
        let mut adv = x;
        for (e, rng) in rngs.iter_mut().enumerate() {
            let at = Self::place(rng, side, (1.0, 1.0), h, w);
            Self::paste(
                &mut adv[e * d..(e + 1) * d],
                &patches[e * pd..(e + 1) * pd],
                side,
                at,
                dims,
            );
        }
        Ok((upload(adv), vec![None; m]))
    }
}

impl Attack for Patch {
    fn name(&self) -> &'static str {
        "patch"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data serialises")
    }

    fn targeted(&self) -> bool {
        self.common.targeted
    }

    fn frame_axis(&self) -> Option<usize> {
        Some(1)
    }

    /// A mask is refused: the patch decides which pixels change.
    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: Option<&[usize]>,
        mask: Option<&Mask>,
    ) -> Result<AttackOutput> {
        if mask.is_some() {
            return Err(Error::invalid(
                "mask",
                "a patch replaces the pixels it covers; it takes no mask",
            ));
        }
        if self.max_iter == 0 {
            return Err(Error::invalid("max_iter", "at least 1"));
        }
        if !(self.size > 0.0 && self.size <= 1.0) {
            return Err(Error::invalid("size", "has to be in (0, 1]"));
        }
        if !(self.scale_min > 0.0 && self.scale_max >= self.scale_min) {
            return Err(Error::invalid(
                "scale_max",
                "scales have to be positive with scale_min <= scale_max",
            ));
        }
        let dims = clip_shape(classifier.input_shape())?;
        let c = &self.common;
        c.eps.validate("eps", true)?;
        let [n, _] = x.dims();
        let labels = c.labels(classifier, x, labels)?;
        let eps = c.eps.per_example(n, "eps")?;
        let mut rngs = example_rngs(c, n)?;
        let steps = vec![self.step; n];
        run_batches(
            c.batch_size,
            x,
            &labels,
            None,
            eps,
            &steps,
            &mut rngs,
            |b, rngs| self.batch(classifier, b, rngs, dims),
        )
    }
}
