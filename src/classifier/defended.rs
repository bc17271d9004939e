//! A classifier behind a chain of input transformations: ART's preprocessing defences.
//!
//! The forward pass runs the chain, then the classifier. The backward pass goes back through the
//! chain, each stage given the input it actually saw in the forward pass (ART gives all of them the
//! original input, its bug #27), with the stage's own backward pass: the identity by default, which
//! is the Backward Pass Differentiable Approximation (BPDA), so that an attack on a defended
//! classifier is the adaptive attack.
//!
//! Randomised defences draw from a random stream per pass: stream `k` of the classifier's seed for
//! its `k`-th pass, so a run is reproducible from the seed, and expectation over transformation
//! (averaging gradients over several passes) sees a fresh draw each time.

use super::objective::Objective;
use super::{Classifier, ClipSession, LocalSession, check_features};
use crate::error::Result;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// An input transformation in front of a model: a defence such as MP3 or H.264 compression.
pub trait Preprocessor: Send + Sync {
    /// A short name for reports (`mp3`, `h264`).
    fn name(&self) -> &str;
    /// The transformation, on a batch `[N, d]` in input space. A randomised transformation draws
    /// from `rng`; a deterministic one ignores it.
    fn forward(&self, x: Tensor<2>, rng: &mut ChaCha8Rng) -> Result<Tensor<2>>;
    /// Maps the gradient at this stage's output back to its input `x_in`. The default is the
    /// identity: Backward Pass Differentiable Approximation (BPDA).
    fn backward(&self, _x_in: &Tensor<2>, grad: Tensor<2>) -> Tensor<2> {
        grad
    }
    /// Whether [`forward`](Self::forward) draws from its random stream (then expectation over
    /// transformation has something to average).
    fn randomised(&self) -> bool {
        false
    }
}

/// `inner` behind `chain`; see the module docs.
pub struct Defended {
    inner: Arc<dyn Classifier>,
    chain: Vec<Box<dyn Preprocessor>>,
    seed: u64,
    passes: AtomicU64,
}

impl Defended {
    /// `inner` behind the preprocessors of `chain`, applied in order; random draws from seed 0.
    pub fn new(inner: Arc<dyn Classifier>, chain: Vec<Box<dyn Preprocessor>>) -> Self {
        Self {
            inner,
            chain,
            seed: 0,
            passes: AtomicU64::new(0),
        }
    }

    /// Draws the randomised defences' randomness from `seed`.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Names of the defences in the chain, in order.
    pub fn defence_names(&self) -> Vec<String> {
        self.chain.iter().map(|d| d.name().to_string()).collect()
    }

    /// Whether any defence in the chain is randomised.
    pub fn randomised(&self) -> bool {
        self.chain.iter().any(|d| d.randomised())
    }

    /// Runs the chain (one pass, one random stream); returns its output and the input each stage
    /// saw.
    pub fn defend(&self, x: Tensor<2>) -> Result<(Tensor<2>, Vec<Tensor<2>>)> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.passes.fetch_add(1, Ordering::Relaxed));
        let mut inputs = Vec::with_capacity(self.chain.len());
        let mut x = x;
        for stage in &self.chain {
            inputs.push(x.clone());
            x = stage.forward(x, &mut rng)?;
        }
        Ok((x, inputs))
    }
}

impl Classifier for Defended {
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }

    fn input_shape(&self) -> &[usize] {
        self.inner.input_shape()
    }

    fn clip(&self) -> Option<(f32, f32)> {
        self.inner.clip()
    }

    fn sample_rate(&self) -> Option<u32> {
        self.inner.sample_rate()
    }

    fn device(&self) -> &Device {
        self.inner.device()
    }

    fn output_frames(&self) -> usize {
        self.inner.output_frames()
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        check_features(&x, self.features(), self.input_shape())?;
        self.inner.logits(self.defend(x)?.0)
    }

    fn frame_logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        check_features(&x, self.features(), self.input_shape())?;
        self.inner.frame_logits(self.defend(x)?.0)
    }

    fn objective_gradient(
        &self,
        x: Tensor<2>,
        objective: &dyn Objective,
    ) -> Result<(Tensor<2>, Tensor<2>)> {
        check_features(&x, self.features(), self.input_shape())?;
        let (defended, stage_inputs) = self.defend(x)?;
        let (mut g, logits) = self.inner.objective_gradient(defended, objective)?;
        for (stage, x_in) in self.chain.iter().zip(&stage_inputs).rev() {
            g = stage.backward(x_in, g);
        }
        Ok((g, logits))
    }

    /// Only without defences, as clip sessions.
    fn local_session(&self, x: &[f32]) -> Result<Option<Box<dyn LocalSession + '_>>> {
        if self.chain.is_empty() {
            self.inner.local_session(x)
        } else {
            Ok(None)
        }
    }

    /// Only without defences: a defence sees the whole clip, so changing a few frames of its input
    /// can change every frame of its output.
    fn clip_session(
        &self,
        x: &[f32],
        frame_axis: usize,
    ) -> Result<Option<Box<dyn ClipSession + '_>>> {
        if self.chain.is_empty() {
            self.inner.clip_session(x, frame_axis)
        } else {
            Ok(None)
        }
    }
}
