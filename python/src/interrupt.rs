//! Ctrl-C while an attack runs without the GIL.
//!
//! Python handles SIGINT by setting a flag that only Python code looks at; a long attack that holds
//! no GIL would run to its end. [`Interruptible`] sits between the attack and the model and, before
//! every pass, takes the GIL for a moment to ask Python whether a signal is pending; if one is, the
//! pass fails and the attack unwinds with it. A pass of a model costs milliseconds, the check
//! microseconds; results are those of the model behind it, as the command line's counting wrapper
//! leaves them.

use avfoil::classifier::{Classifier, ClipSession, LocalSession, Objective};
use burn::tensor::{Device, Tensor};
use pyo3::prelude::*;
use std::sync::Mutex;

/// `inner`, failing its next pass once Python has a signal to handle.
pub struct Interruptible<'a> {
    inner: &'a dyn Classifier,
    /// The exception the signal handler raised, kept for the caller to re-raise.
    raised: Mutex<Option<PyErr>>,
}

impl<'a> Interruptible<'a> {
    pub fn new(inner: &'a dyn Classifier) -> Self {
        Self {
            inner,
            raised: Mutex::new(None),
        }
    }

    /// The exception a signal raised during the run, if one did.
    pub fn take_raised(&self) -> Option<PyErr> {
        self.raised.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn check(&self) -> avfoil::Result<()> {
        match Python::attach(|py| py.check_signals()) {
            Ok(()) => Ok(()),
            Err(e) => {
                *self.raised.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                Err(avfoil::Error::Unsupported("interrupted by a signal".into()))
            }
        }
    }
}

impl Classifier for Interruptible<'_> {
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
    fn logits(&self, x: Tensor<2>) -> avfoil::Result<Tensor<2>> {
        self.check()?;
        self.inner.logits(x)
    }
    fn frame_logits(&self, x: Tensor<2>) -> avfoil::Result<Tensor<2>> {
        self.check()?;
        self.inner.frame_logits(x)
    }
    fn objective_gradient(
        &self,
        x: Tensor<2>,
        objective: &dyn Objective,
    ) -> avfoil::Result<(Tensor<2>, Tensor<2>)> {
        self.check()?;
        self.inner.objective_gradient(x, objective)
    }
    fn clip_session(
        &self,
        x: &[f32],
        frame_axis: usize,
    ) -> avfoil::Result<Option<Box<dyn ClipSession + '_>>> {
        self.check()?;
        self.inner.clip_session(x, frame_axis)
    }
    fn local_session(&self, x: &[f32]) -> avfoil::Result<Option<Box<dyn LocalSession + '_>>> {
        self.check()?;
        let Some(inner) = self.inner.local_session(x)? else {
            return Ok(None);
        };
        Ok(Some(Box::new(InterruptibleLocal { inner, guard: self })))
    }
}

/// A local session (Square's kept activations) whose every try first asks Python whether a
/// signal is pending, as a model pass does.
struct InterruptibleLocal<'s> {
    inner: Box<dyn LocalSession + 's>,
    guard: &'s Interruptible<'s>,
}

impl LocalSession for InterruptibleLocal<'_> {
    fn logits(&self) -> Vec<f32> {
        self.inner.logits()
    }
    fn try_input(&mut self, x: &[f32]) -> avfoil::Result<Vec<f32>> {
        self.guard.check()?;
        self.inner.try_input(x)
    }
    fn keep_last(&mut self) {
        self.inner.keep_last();
    }
}

/// Runs `f` on `classifier` behind an [`Interruptible`] with the GIL released; a signal that
/// arrived meanwhile is raised in place of `f`'s error.
pub fn run_detached<T: Send>(
    py: Python<'_>,
    classifier: &dyn Classifier,
    f: impl FnOnce(&dyn Classifier) -> avfoil::Result<T> + Send,
) -> PyResult<T> {
    let guarded = Interruptible::new(classifier);
    let out = py.detach(|| f(&guarded));
    if let Some(raised) = guarded.take_raised() {
        return Err(raised);
    }
    out.map_err(crate::errors::to_py)
}
