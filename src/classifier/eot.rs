//! Expectation over transformation (Athalye et al., ICML 2018): the gradient of a randomised
//! defence averaged over several of its random draws.
//!
//! A randomised defence (additive noise, random resampling) gives a different gradient on every
//! pass; one draw is a noisy estimate of the direction that fools the defence *on average*, and an
//! attack that follows single draws looks weaker than it is. [`Eot`] asks the classifier behind it
//! for `draws` gradients at the same point and returns their mean, so every gradient attack becomes
//! its EOT version unchanged. [`super::Defended`] draws a fresh random stream per pass, seeded, so
//! the draws differ from each other and the run is reproducible.

use super::objective::Objective;
use super::{Classifier, ClipSession};
use crate::error::{Error, Result};
use burn::tensor::{Device, Tensor};

/// `inner` with every gradient averaged over `draws` passes; forward passes are left alone (one
/// draw each, as the defended model answers).
pub struct Eot<'a> {
    inner: &'a dyn Classifier,
    draws: usize,
}

impl<'a> Eot<'a> {
    /// `draws` gradients per gradient asked (at least 1; 1 is `inner` itself).
    pub fn new(inner: &'a dyn Classifier, draws: usize) -> Result<Self> {
        if draws == 0 {
            return Err(Error::invalid("eot", "at least 1 draw per gradient"));
        }
        Ok(Self { inner, draws })
    }
}

impl Classifier for Eot<'_> {
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
        self.inner.logits(x)
    }

    fn frame_logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        self.inner.frame_logits(x)
    }

    /// The mean gradient and the mean scores over the draws: the attack's loss and success at
    /// this point are those of the defence on average.
    fn objective_gradient(
        &self,
        x: Tensor<2>,
        objective: &dyn Objective,
    ) -> Result<(Tensor<2>, Tensor<2>)> {
        let (mut g, mut logits) = self.inner.objective_gradient(x.clone(), objective)?;
        for _ in 1..self.draws {
            let (gi, li) = self.inner.objective_gradient(x.clone(), objective)?;
            g = g + gi;
            logits = logits + li;
        }
        let n = self.draws as f32;
        Ok((g / n, logits / n))
    }

    /// None: a session would fix one draw for many frame updates.
    fn clip_session(
        &self,
        _x: &[f32],
        _frame_axis: usize,
    ) -> Result<Option<Box<dyn ClipSession + '_>>> {
        Ok(None)
    }
}
