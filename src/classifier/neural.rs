//! A network behind its standardisation, with the description of its inputs: the classifier a
//! model directory builds.

use super::objective::{Objective, pooled};
use super::standardise::{Standardise, standardised_host};
use super::{Classifier, ClipSession, LocalSession, check_features};
use crate::array::tensor_to_vec;
use crate::error::{Error, Result};
use crate::kernel::clip::ClipState;
use crate::kernel::{HostKernel, LocalKernel};
use crate::model::network::{CompiledNetwork, Network};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

/// A network (burn's autodiff, or a host kernel on the CPU) behind the mean/std standardisation.
pub struct NeuralClassifier {
    network: CompiledNetwork,
    input_shape: Vec<usize>,
    num_classes: usize,
    clip: Option<(f32, f32)>,
    standardise: Option<Standardise>,
    frames: usize,
    sample_rate: Option<u32>,
}

impl NeuralClassifier {
    /// Wraps `network` (built on `device`) for inference and input gradients; see
    /// [`CompiledNetwork::new`].
    pub fn new<M>(
        network: M,
        device: &Device,
        input_shape: Vec<usize>,
        num_classes: usize,
        clip: Option<(f32, f32)>,
    ) -> Result<Self>
    where
        M: Module + Network + 'static,
    {
        let network = CompiledNetwork::new(network, device);
        Self::from_compiled(network, input_shape, num_classes, clip)
    }

    /// A classifier of examples of `input_shape` into `num_classes` classes, valid in `clip`.
    pub fn from_compiled(
        network: CompiledNetwork,
        input_shape: Vec<usize>,
        num_classes: usize,
        clip: Option<(f32, f32)>,
    ) -> Result<Self> {
        if num_classes < 2 {
            return Err(Error::invalid(
                "classes",
                "a classifier needs at least 2 classes",
            ));
        }
        if let Some((lo, hi)) = clip
            && (lo.is_nan() || hi.is_nan() || lo >= hi)
        {
            return Err(Error::invalid(
                "clip",
                format!("expected min < max, got [{lo}, {hi}]"),
            ));
        }
        Ok(Self {
            network,
            input_shape,
            num_classes,
            clip,
            standardise: None,
            frames: 1,
            sample_rate: None,
        })
    }

    /// Always uses burn's autodiff, even where a host kernel exists (for checking one against the
    /// other, and for benchmarks); no clip sessions either.
    pub fn without_host_kernel(mut self) -> Self {
        self.network = self.network.without_host_kernel();
        self
    }

    /// Adds mean/std standardisation inside the model.
    pub fn with_standardise(mut self, standardise: Standardise) -> Self {
        self.standardise = Some(standardise);
        self
    }

    /// Declares that the network gives `frames` score vectors per example (see
    /// [`Classifier::output_frames`]).
    pub fn with_output_frames(mut self, frames: usize) -> Result<Self> {
        if frames == 0 {
            return Err(Error::invalid("output_frames", "at least 1"));
        }
        self.frames = frames;
        Ok(self)
    }

    /// Declares the sample rate of its (audio) inputs (see [`Classifier::sample_rate`]).
    pub fn with_sample_rate(mut self, sample_rate: Option<u32>) -> Self {
        self.sample_rate = sample_rate;
        self
    }

    fn standardised(&self, x: Tensor<2>) -> Tensor<2> {
        match &self.standardise {
            Some(s) => s.apply(x),
            None => x,
        }
    }

    /// `[n, F·K]` host scores as the `[n, K]` logits of each example's decision.
    fn decision(&self, scores: Vec<f32>, n: usize) -> Tensor<2> {
        let logits = if self.frames == 1 {
            scores
        } else {
            let per = scores.len() / n.max(1);
            scores
                .chunks(per.max(1))
                .flat_map(|s| pooled(s, self.num_classes))
                .collect()
        };
        self.network.upload(logits, n)
    }

    /// Input gradient of `objective` through a host kernel: standardised on the host, the kernel's
    /// backward pass, then the standardisation's.
    fn host_gradient(
        &self,
        kernel: &dyn HostKernel,
        x: Tensor<2>,
        objective: &dyn Objective,
    ) -> (Tensor<2>, Tensor<2>) {
        let n = x.dims()[0];
        let xs = standardised_host(self.standardise.as_ref(), tensor_to_vec(x));
        let k = self.num_classes;
        let (scores, mut grad) = kernel.input_gradient(&xs, n, &|i, s| objective.gradient(i, s, k));
        if let Some(s) = &self.standardise {
            s.backward_host(&mut grad);
        }
        (self.network.upload(grad, n), self.decision(scores, n))
    }

    /// Input gradient of `objective` through burn's autodiff: the objective's derivative with
    /// respect to the scores, taken on the host, weights the scores, and the backward pass of that
    /// weighted sum is the objective's input gradient (the chain rule, exactly).
    fn burn_gradient(&self, x: Tensor<2>, objective: &dyn Objective) -> (Tensor<2>, Tensor<2>) {
        let [n, _] = x.dims();
        let tracked = x.autodiff().require_grad();
        let scores = self
            .network
            .forward_tracked(self.standardised(tracked.clone()));
        let [_, s] = scores.dims();
        let host = tensor_to_vec(scores.clone().detach());
        let k = self.num_classes;
        let dscores: Vec<f32> = host
            .chunks(s.max(1))
            .enumerate()
            .flat_map(|(i, row)| objective.gradient(i, row, k))
            .collect();
        let weights = Tensor::<2>::from_data(TensorData::new(dscores, [n, s]), &scores.device());
        let grads = (scores * weights).sum().backward();
        let g = tracked
            .grad(&grads)
            .expect("the input was marked as requiring a gradient");
        (g, self.decision(host, n))
    }
}

impl Classifier for NeuralClassifier {
    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    fn clip(&self) -> Option<(f32, f32)> {
        self.clip
    }

    fn sample_rate(&self) -> Option<u32> {
        self.sample_rate
    }

    fn device(&self) -> &Device {
        self.network.device()
    }

    fn output_frames(&self) -> usize {
        self.frames
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        check_features(&x, self.features(), &self.input_shape)?;
        let n = x.dims()[0];
        let scores = match self.network.host_kernel() {
            Some(kernel) => {
                let xs = standardised_host(self.standardise.as_ref(), tensor_to_vec(x));
                kernel.logits(&xs, n)
            }
            None => {
                let scores = self.network.forward(self.standardised(x));
                if self.frames == 1 {
                    return Ok(scores);
                }
                tensor_to_vec(scores)
            }
        };
        Ok(self.decision(scores, n))
    }

    fn frame_logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        if self.frames == 1 {
            return self.logits(x);
        }
        check_features(&x, self.features(), &self.input_shape)?;
        Ok(self.network.forward(self.standardised(x)))
    }

    fn objective_gradient(
        &self,
        x: Tensor<2>,
        objective: &dyn Objective,
    ) -> Result<(Tensor<2>, Tensor<2>)> {
        check_features(&x, self.features(), &self.input_shape)?;
        // `x` moves to the path taken: a second handle on it would make reading it back a copy.
        Ok(match self.network.host_kernel() {
            Some(kernel) => self.host_gradient(kernel, x, objective),
            None => self.burn_gradient(x, objective),
        })
    }

    fn local_session(&self, x: &[f32]) -> Result<Option<Box<dyn LocalSession + '_>>> {
        // Several frames' scores pass through the decision, which the kernel does not keep.
        let Some(kernel) = self.network.host_kernel().filter(|_| self.frames == 1) else {
            return Ok(None);
        };
        if x.len() != self.features() {
            return Err(Error::invalid(
                "input",
                format!(
                    "expected one example of {} features, got {}",
                    self.features(),
                    x.len()
                ),
            ));
        }
        let standardise = self.standardise.as_ref();
        let Some(local) = kernel.local(&standardised_host(standardise, x.to_vec())) else {
            return Ok(None);
        };
        Ok(Some(Box::new(NeuralLocalSession {
            kernel: local,
            standardise,
        })))
    }

    fn clip_session(
        &self,
        x: &[f32],
        frame_axis: usize,
    ) -> Result<Option<Box<dyn ClipSession + '_>>> {
        let Some(kernel) = self.network.clip_kernel() else {
            return Ok(None);
        };
        if frame_axis != 1 || kernel.shape()[..] != self.input_shape {
            return Ok(None);
        }
        if x.len() != self.features() {
            return Err(Error::invalid(
                "input",
                format!(
                    "expected one example of {} features, got {}",
                    self.features(),
                    x.len()
                ),
            ));
        }
        let standardise = self.standardise.as_ref();
        let state = kernel.start(&standardised_host(standardise, x.to_vec()));
        Ok(Some(Box::new(NeuralClipSession {
            state,
            standardise,
            classes: self.num_classes,
        })))
    }
}

/// [`NeuralClassifier`]'s local session: its host kernel's [`LocalKernel`] behind the
/// standardisation (elementwise, so a changed stretch stays that stretch).
struct NeuralLocalSession<'a> {
    kernel: Box<dyn LocalKernel + 'a>,
    standardise: Option<&'a Standardise>,
}

impl LocalSession for NeuralLocalSession<'_> {
    fn logits(&self) -> Vec<f32> {
        self.kernel.scores()
    }

    fn try_input(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        Ok(self
            .kernel
            .try_input(&standardised_host(self.standardise, x.to_vec())))
    }

    fn keep_last(&mut self) {
        self.kernel.keep_last();
    }
}

/// [`NeuralClassifier`]'s clip session: its [`ClipState`] behind the standardisation.
struct NeuralClipSession<'a> {
    state: ClipState<'a>,
    standardise: Option<&'a Standardise>,
    classes: usize,
}

impl ClipSession for NeuralClipSession<'_> {
    fn logits(&self) -> Vec<f32> {
        self.state.logits()
    }

    fn gradient(&self, objective: &dyn Objective) -> Vec<f32> {
        let dlogits = objective.gradient(0, &self.state.logits(), self.classes);
        let mut g = self.state.input_gradient(&dlogits);
        if let Some(s) = self.standardise {
            s.backward_host(&mut g);
        }
        g
    }

    fn replace(&mut self, x: &[f32], frames: &[usize]) -> Vec<f32> {
        self.state
            .replace(&standardised_host(self.standardise, x.to_vec()), frames);
        self.state.logits()
    }
}
