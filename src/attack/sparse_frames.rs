//! Temporally sparse attack: a budget of `k` frames per clip, chosen by the L2 norm of the loss
//! gradient on each frame at the clean clip, and PGD on those frames only (a per-example mask).
//!
//! Frame saliency adds frames one at a time until the attack succeeds, so the number of frames it
//! changes depends on the clip; here the number is fixed in advance (a budget on how many frames
//! may change, as when only some frames can be tampered with), and PGD's iterations, not a single
//! FGM step, spend it. The frames are ranked once, at the clean clip (ties by index).

use super::spec::{AttackEntry, AttackSpec, RunSettings, require_modality};
use super::{Attack, AttackOutput, Mask, Norm, check_attack_labels, pgd};
use crate::array::{frame_index, tensor_to_vec};
use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::params::Param;
use burn::tensor::Tensor;

/// `sparse-frames`.
pub static ENTRY: AttackEntry = AttackEntry {
    name: "sparse-frames",
    about: "PGD on a budget of k frames per clip, those whose loss gradient has the largest L2 norm \
            at the clean clip; takes PGD's parameters too",
    params: &PARAMS,
    parse: |p| {
        let k: usize = p.take_or("k", 4)?;
        if k == 0 {
            return Err(Error::invalid(p.display("k"), "at least 1 frame"));
        }
        let frame_axis = p.take_or("frame_axis", 1)?;
        let inner = (pgd::ENTRY.parse)(p)?;
        let accepted: Vec<Param> = PARAMS.iter().chain(pgd::ENTRY.params).copied().collect();
        p.finish("sparse-frames", &accepted)?;
        Ok(Box::new(SparseFramesSpec {
            inner,
            k,
            frame_axis,
        }))
    },
};

const PARAMS: [Param; 2] = [
    Param {
        key: "k",
        default: "4",
        about: "frames per clip that may change (all of them when k >= the clip's frames)",
    },
    Param {
        key: "frame_axis",
        default: "1",
        about: "axis of the frames in one example's shape ([C, F, H, W]: 1)",
    },
];

/// The sparse-frames attack as configured by a user.
#[derive(Debug)]
pub struct SparseFramesSpec {
    pub inner: Box<dyn AttackSpec>,
    pub k: usize,
    pub frame_axis: usize,
}

impl AttackSpec for SparseFramesSpec {
    fn name(&self) -> &'static str {
        "sparse-frames"
    }

    fn norm(&self) -> Norm {
        self.inner.norm()
    }

    fn iterative(&self) -> bool {
        true
    }

    /// Video models only: an audio model's samples are not frames.
    fn check_input(&self, input: &InputConfig) -> Result<()> {
        require_modality(
            input,
            Modality::Video,
            "sparse-frames needs a video model (an audio model's samples are not frames)",
        )?;
        frame_index(&input.shape, self.frame_axis).map(|_| ())
    }

    fn build(&self, run: &RunSettings) -> Result<Box<dyn Attack>> {
        if run.batch_size == 0 {
            return Err(Error::invalid("batch_size", "has to be a positive integer"));
        }
        Ok(Box::new(SparseFrames {
            attacker: self.inner.build(run)?,
            k: self.k,
            frame_axis: self.frame_axis,
            batch_size: run.batch_size,
        }))
    }
}

/// PGD (or any attack that takes a mask) on the `k` frames of largest gradient norm.
pub struct SparseFrames {
    pub attacker: Box<dyn Attack>,
    pub k: usize,
    pub frame_axis: usize,
    /// Examples per gradient computation for the ranking.
    pub batch_size: usize,
}

impl SparseFrames {
    /// The `k` frames of each example to attack, in descending gradient norm (ties by index), from
    /// the loss gradient at `x` against `labels`.
    pub fn choose(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        labels: &[usize],
    ) -> Result<Vec<Vec<usize>>> {
        let [n, d] = x.dims();
        let (frame_of, frames) = frame_index(classifier.input_shape(), self.frame_axis)?;
        let mut chosen = Vec::with_capacity(n);
        for start in (0..n).step_by(self.batch_size.max(1)) {
            let end = (start + self.batch_size).min(n);
            let g = classifier.loss_gradient(x.clone().slice(start..end), &labels[start..end])?;
            for row in tensor_to_vec(g).chunks(d) {
                let mut norm = vec![0f64; frames];
                for (v, &f) in row.iter().zip(&frame_of) {
                    if !v.is_nan() {
                        norm[f] += f64::from(*v) * f64::from(*v);
                    }
                }
                let mut order: Vec<usize> = (0..frames).collect();
                order.sort_by(|&a, &b| norm[b].total_cmp(&norm[a]).then(a.cmp(&b)));
                order.truncate(self.k);
                chosen.push(order);
            }
        }
        Ok(chosen)
    }
}

impl Attack for SparseFrames {
    fn name(&self) -> &'static str {
        "sparse-frames"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "k": self.k,
            "frame_axis": self.frame_axis,
            "attacker": {"name": self.attacker.name(), "params": self.attacker.params()},
        })
    }

    fn targeted(&self) -> bool {
        self.attacker.targeted()
    }

    fn frame_axis(&self) -> Option<usize> {
        Some(self.frame_axis)
    }

    /// A mask is refused: the attack makes its own from the frames it chooses.
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
                "sparse-frames chooses its frames itself; it takes no mask",
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("batch_size", "has to be a positive integer"));
        }
        let [n, d] = x.dims();
        check_attack_labels(classifier, labels, n, self.attacker.targeted())?;
        let labels = match labels {
            Some(l) => l.to_vec(),
            None => classifier.predict_labels(x, self.batch_size)?,
        };
        let (frame_of, frames) = frame_index(classifier.input_shape(), self.frame_axis)?;
        let chosen = self.choose(classifier, x, &labels)?;
        let mut values = Vec::with_capacity(n * d);
        for frames_e in &chosen {
            let mut on = vec![false; frames];
            for &f in frames_e {
                on[f] = true;
            }
            values.extend(frame_of.iter().map(|&f| if on[f] { 1.0 } else { 0.0 }));
        }
        self.attacker
            .generate(classifier, x, Some(&labels), Some(&Mask::new(values)?))
    }
}
