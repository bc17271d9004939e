//! A classifier wrapper that counts what an attack asks of the model: the query counts every attack
//! report gives, tests that pin an attack's cost, and benchmarks.

use super::objective::Objective;
use super::{Classifier, ClipSession, LocalSession};
use crate::error::Result;
use burn::tensor::{Device, Tensor};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts passes through `inner` (which it otherwise leaves alone).
pub struct Counting<'a> {
    inner: &'a dyn Classifier,
    counters: Arc<Counters>,
}

/// What was asked so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Forward passes ([`Classifier::logits`] calls) and the examples they held.
    pub forwards: usize,
    pub forward_rows: usize,
    /// Gradient passes (forward and backward; one per call, whatever the batch) and the examples
    /// they held.
    pub gradients: usize,
    pub gradient_rows: usize,
    /// Clip and local sessions opened (one forward pass each), clip sessions' gradients, and the
    /// inputs scored through a session (clip frame replacements, local tries).
    pub sessions: usize,
    pub session_gradients: usize,
    pub frame_updates: usize,
}

impl Counts {
    /// Model outputs asked for: examples forwarded, sessions opened (one forward pass each) and
    /// session updates (each the output on a new input).
    pub fn forward_queries(&self) -> usize {
        self.forward_rows + self.sessions + self.frame_updates
    }

    /// Input gradients asked for (each also gives the output at its input).
    pub fn gradient_queries(&self) -> usize {
        self.gradient_rows + self.session_gradients
    }
}

#[derive(Default)]
struct Counters {
    forwards: AtomicUsize,
    forward_rows: AtomicUsize,
    gradients: AtomicUsize,
    gradient_rows: AtomicUsize,
    sessions: AtomicUsize,
    session_gradients: AtomicUsize,
    frame_updates: AtomicUsize,
}

fn bump(c: &AtomicUsize, by: usize) {
    c.fetch_add(by, Ordering::Relaxed);
}

impl<'a> Counting<'a> {
    pub fn new(inner: &'a dyn Classifier) -> Self {
        Self {
            inner,
            counters: Arc::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let c = &self.counters;
        let get = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        Counts {
            forwards: get(&c.forwards),
            forward_rows: get(&c.forward_rows),
            gradients: get(&c.gradients),
            gradient_rows: get(&c.gradient_rows),
            sessions: get(&c.sessions),
            session_gradients: get(&c.session_gradients),
            frame_updates: get(&c.frame_updates),
        }
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
        bump(&self.counters.forwards, 1);
        bump(&self.counters.forward_rows, x.dims()[0]);
        self.inner.logits(x)
    }
    fn frame_logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        bump(&self.counters.forwards, 1);
        bump(&self.counters.forward_rows, x.dims()[0]);
        self.inner.frame_logits(x)
    }
    fn objective_gradient(
        &self,
        x: Tensor<2>,
        objective: &dyn Objective,
    ) -> Result<(Tensor<2>, Tensor<2>)> {
        bump(&self.counters.gradients, 1);
        bump(&self.counters.gradient_rows, x.dims()[0]);
        self.inner.objective_gradient(x, objective)
    }
    fn local_session(&self, x: &[f32]) -> Result<Option<Box<dyn LocalSession + '_>>> {
        let Some(inner) = self.inner.local_session(x)? else {
            return Ok(None);
        };
        bump(&self.counters.sessions, 1);
        Ok(Some(Box::new(CountingLocal {
            inner,
            counters: self.counters.clone(),
        })))
    }
    fn clip_session(
        &self,
        x: &[f32],
        frame_axis: usize,
    ) -> Result<Option<Box<dyn ClipSession + '_>>> {
        let Some(inner) = self.inner.clip_session(x, frame_axis)? else {
            return Ok(None);
        };
        bump(&self.counters.sessions, 1);
        Ok(Some(Box::new(CountingSession {
            inner,
            counters: self.counters.clone(),
        })))
    }
}

struct CountingLocal<'a> {
    inner: Box<dyn LocalSession + 'a>,
    counters: Arc<Counters>,
}

impl LocalSession for CountingLocal<'_> {
    fn logits(&self) -> Vec<f32> {
        self.inner.logits()
    }
    fn try_input(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        bump(&self.counters.frame_updates, 1);
        self.inner.try_input(x)
    }
    fn keep_last(&mut self) {
        self.inner.keep_last();
    }
}

struct CountingSession<'a> {
    inner: Box<dyn ClipSession + 'a>,
    counters: Arc<Counters>,
}

impl ClipSession for CountingSession<'_> {
    fn logits(&self) -> Vec<f32> {
        self.inner.logits()
    }
    fn gradient(&self, objective: &dyn Objective) -> Vec<f32> {
        bump(&self.counters.session_gradients, 1);
        self.inner.gradient(objective)
    }
    fn replace(&mut self, x: &[f32], frames: &[usize]) -> Vec<f32> {
        bump(&self.counters.frame_updates, 1);
        self.inner.replace(x, frames)
    }
}
