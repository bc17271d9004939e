//! A classifier wrapper that counts what an attack asks of the model: for tests that pin an
//! attack's cost, and for benchmarks that report it.

use super::{Classifier, ClipSession};
use crate::error::Result;
use burn::tensor::{Device, Tensor};
use std::cell::Cell;
use std::rc::Rc;

/// Counts passes through `inner` (which it otherwise leaves alone).
pub struct Counting<'a> {
    inner: &'a dyn Classifier,
    counts: Rc<Counts>,
}

/// What was asked so far.
#[derive(Default, Debug)]
pub struct Counts {
    /// Forward passes ([`Classifier::logits`] calls) and the examples they held.
    pub forwards: Cell<usize>,
    pub forward_rows: Cell<usize>,
    /// Gradient passes (one per call, whatever the batch).
    pub gradients: Cell<usize>,
    /// Clip sessions opened (one forward pass each), their gradients and frame replacements.
    pub sessions: Cell<usize>,
    pub session_gradients: Cell<usize>,
    pub frame_updates: Cell<usize>,
}

fn bump(c: &Cell<usize>, by: usize) {
    c.set(c.get() + by);
}

impl<'a> Counting<'a> {
    pub fn new(inner: &'a dyn Classifier) -> Self {
        Self {
            inner,
            counts: Rc::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

impl Classifier for Counting<'_> {
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }
    fn input_shape(&self) -> &[usize] {
        self.inner.input_shape()
    }
    fn clip(&self) -> Option<(f32, f32)> {
        self.inner.clip()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        bump(&self.counts.forwards, 1);
        bump(&self.counts.forward_rows, x.dims()[0]);
        self.inner.logits(x)
    }
    fn loss_gradient_and_logits(
        &self,
        x: Tensor<2>,
        labels: &[usize],
    ) -> Result<(Tensor<2>, Tensor<2>)> {
        bump(&self.counts.gradients, 1);
        self.inner.loss_gradient_and_logits(x, labels)
    }
    fn class_gradient(&self, x: Tensor<2>, classes: &[usize]) -> Result<Tensor<2>> {
        bump(&self.counts.gradients, 1);
        self.inner.class_gradient(x, classes)
    }
    fn prediction_loss_gradient(&self, x: Tensor<2>) -> Result<(Vec<usize>, Tensor<2>, Tensor<2>)> {
        bump(&self.counts.gradients, 1);
        self.inner.prediction_loss_gradient(x)
    }
    fn clip_session(
        &self,
        x: &[f32],
        frame_axis: usize,
    ) -> Result<Option<Box<dyn ClipSession + '_>>> {
        let Some(inner) = self.inner.clip_session(x, frame_axis)? else {
            return Ok(None);
        };
        bump(&self.counts.sessions, 1);
        Ok(Some(Box::new(CountingSession {
            inner,
            counts: self.counts.clone(),
        })))
    }
}

struct CountingSession<'a> {
    inner: Box<dyn ClipSession + 'a>,
    counts: Rc<Counts>,
}

impl ClipSession for CountingSession<'_> {
    fn logits(&self) -> Vec<f32> {
        self.inner.logits()
    }
    fn loss_gradient(&self, label: usize) -> Vec<f32> {
        bump(&self.counts.session_gradients, 1);
        self.inner.loss_gradient(label)
    }
    fn replace(&mut self, x: &[f32], frames: &[usize]) -> Vec<f32> {
        bump(&self.counts.frame_updates, 1);
        self.inner.replace(x, frames)
    }
}
