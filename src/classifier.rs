//! The estimator contract that attacks rely on (ART's `PyTorchClassifier`, minus its surprises).
//!
//! A classifier sees inputs in *input space* (the user's units: int16-scale audio, [0, 1] pixels),
//! flattened to `[N, features]`. Inside it, in order: the defence chain (ART's
//! `preprocessing_defences`), the mean/std standardisation, then the network. Gradients come back in
//! input space: autodiff through standardisation and network, each defence's `backward` (identity,
//! i.e. BPDA, unless a defence overrides it) through the chain, with every defence given the input it
//! actually saw in the forward pass (ART gives all of them the original input, its bug #27).

mod counting;
pub use counting::{Counting, Counts};

use crate::error::{Error, Result};
use crate::model::clip_kernel::{ClipKernel, ClipState};
use burn::module::Module;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor, TensorData};

/// A network: flattened inputs `[N, d]` (already standardised) to logits `[N, K]`.
pub trait Network: Send + Sync {
    /// The forward pass. Must accept inputs on a plain device and, for a network built for
    /// gradients, on its autodiff twin.
    fn forward(&self, x: Tensor<2>) -> Tensor<2>;

    /// A hand-written CPU implementation of the same network, used instead of burn's autodiff when
    /// the classifier runs on the flex (CPU) device. `None` (the default) always uses burn.
    fn cpu_kernel(&self) -> Option<Box<dyn CpuKernel>> {
        None
    }

    /// The same network as a [`ClipKernel`], for [`Classifier::clip_session`] on the flex (CPU)
    /// device. `None` (the default) where the network is not of that form.
    fn clip_kernel(&self) -> Option<ClipKernel> {
        None
    }
}

/// One clip evaluated with every activation kept, so that replacing some of its frames is cheap
/// (see [`Classifier::clip_session`]). Clips are one example each, flattened, in input space.
pub trait ClipSession {
    /// Logits of the current clip.
    fn logits(&self) -> Vec<f32>;
    /// Gradient of the cross-entropy against `label` at the current clip.
    fn loss_gradient(&self, label: usize) -> Vec<f32>;
    /// Replaces the frames `frames` of the current clip by those of `x`; returns the new logits.
    fn replace(&mut self, x: &[f32], frames: &[usize]) -> Vec<f32>;
}

/// A network's forward pass and input gradient on host memory (see [`Network::cpu_kernel`]).
/// Inputs are flattened, already standardised batches `[n, d]`.
pub trait CpuKernel: Send + Sync {
    /// Logits `[n, K]`.
    fn logits(&self, x: &[f32], n: usize) -> Vec<f32>;
    /// Logits `[n, K]` and the gradient `[n, d]` of an objective whose derivative with respect to
    /// example `i`'s logits is `dlogits(i, logits_i)`.
    fn input_gradient(
        &self,
        x: &[f32],
        n: usize,
        dlogits: &(dyn Fn(usize, &[f32]) -> Vec<f32> + Sync),
    ) -> (Vec<f32>, Vec<f32>);
}

/// What an input gradient is the gradient of.
#[derive(Clone, Copy)]
enum Objective<'a> {
    /// The summed cross-entropy against these labels.
    CrossEntropy(&'a [usize]),
    /// The summed cross-entropy against each example's predicted label (first maximum logit).
    CrossEntropyAtPrediction,
    /// The sum of these classes' logits.
    Logit(&'a [usize]),
}

impl Objective<'_> {
    /// ∂objective/∂logits for example `i`, on the host.
    fn dlogits(&self, i: usize, logits: &[f32]) -> Vec<f32> {
        let cross_entropy = |label: usize| {
            let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = logits.iter().map(|l| (l - m).exp()).collect();
            let z: f32 = e.iter().sum();
            e.iter()
                .enumerate()
                .map(|(k, v)| v / z - if k == label { 1.0 } else { 0.0 })
                .collect()
        };
        match *self {
            Objective::CrossEntropy(labels) => cross_entropy(labels[i]),
            Objective::CrossEntropyAtPrediction => cross_entropy(argmax(logits)),
            Objective::Logit(classes) => (0..logits.len())
                .map(|k| if k == classes[i] { 1.0 } else { 0.0 })
                .collect(),
        }
    }

    /// The objective as a scalar tensor of `logits` (for burn's autodiff).
    fn of(&self, logits: Tensor<2>, device: &Device) -> Tensor<1> {
        let [n, k] = logits.dims();
        let cross_entropy = |logits: Tensor<2>, labels: &[usize]| -> Tensor<1> {
            (log_softmax(logits, 1) * one_hot(labels, k, device))
                .sum()
                .neg()
        };
        match *self {
            Objective::CrossEntropy(labels) => cross_entropy(logits, labels),
            Objective::CrossEntropyAtPrediction => {
                let host = crate::array::tensor_to_vec(logits.clone().detach());
                let labels: Vec<usize> =
                    (0..n).map(|i| argmax(&host[i * k..(i + 1) * k])).collect();
                cross_entropy(logits, &labels)
            }
            Objective::Logit(classes) => (logits * one_hot(classes, k, device)).sum(),
        }
    }
}

/// An input transformation in front of the model: a defence such as MP3 or H.264 compression.
pub trait Preprocessor: Send + Sync {
    /// A short name for reports (`mp3`, `h264`).
    fn name(&self) -> &str;
    /// The transformation, on a batch `[N, d]` in input space.
    fn forward(&self, x: Tensor<2>) -> Result<Tensor<2>>;
    /// Maps the gradient at this stage's output back to its input `x_in`. The default is the
    /// identity: Backward Pass Differentiable Approximation (BPDA).
    fn backward(&self, _x_in: &Tensor<2>, grad: Tensor<2>) -> Tensor<2> {
        grad
    }
}

/// Everything an attack may ask of a model.
pub trait Classifier {
    /// Number of classes K.
    fn num_classes(&self) -> usize;
    /// Shape of one example, channels first (`[1, 8000]`, `[3, 16, 112, 112]`).
    fn input_shape(&self) -> &[usize];
    /// Valid input range `(min, max)`; attacks clip to it after every step.
    fn clip(&self) -> Option<(f32, f32)>;
    /// The device the classifier computes on.
    fn device(&self) -> &Device;

    /// Logits `[N, K]` for a batch `[N, d]`, through the defence chain, in one pass.
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>>;

    /// Gradient `[N, d]` of the cross-entropy of each example against `labels[i]`, with respect to
    /// its input, together with the logits at `x` (which attacks use to check success for free).
    /// The loss is summed over the batch, so each row is that example's own gradient (ART averages,
    /// which scales rows by 1/N; normalised attacks do not care).
    fn loss_gradient_and_logits(
        &self,
        x: Tensor<2>,
        labels: &[usize],
    ) -> Result<(Tensor<2>, Tensor<2>)>;

    /// Gradient `[N, d]` of logit `classes[i]` of example `i` with respect to its input.
    fn class_gradient(&self, x: Tensor<2>, classes: &[usize]) -> Result<Tensor<2>>;

    /// The predicted label of each example of `x`, the gradient of the cross-entropy against those
    /// labels and the logits: where an untargeted attack given no labels starts (ART takes the
    /// model's predictions, which avoids label leaking).
    ///
    /// The default predicts, then differentiates: two passes. [`NeuralClassifier`] reads the labels
    /// off the logits between its forward and backward pass: one.
    fn prediction_loss_gradient(&self, x: Tensor<2>) -> Result<(Vec<usize>, Tensor<2>, Tensor<2>)> {
        let labels = argmax_rows(self.logits(x.clone())?);
        let (g, logits) = self.loss_gradient_and_logits(x, &labels)?;
        Ok((labels, g, logits))
    }

    /// A [`ClipSession`] on the single example `x` (`[d]`), whose frames lie along `frame_axis` of
    /// the example's shape; `None` where the classifier has no cheaper way to evaluate a few
    /// changed frames than a forward pass (the default; also any classifier with a defence in front,
    /// which sees the whole clip).
    fn clip_session(
        &self,
        _x: &[f32],
        _frame_axis: usize,
    ) -> Result<Option<Box<dyn ClipSession + '_>>> {
        Ok(None)
    }

    /// [`loss_gradient_and_logits`](Self::loss_gradient_and_logits) without the logits.
    fn loss_gradient(&self, x: Tensor<2>, labels: &[usize]) -> Result<Tensor<2>> {
        Ok(self.loss_gradient_and_logits(x, labels)?.0)
    }

    /// Number of input features per example.
    fn features(&self) -> usize {
        self.input_shape().iter().product()
    }

    /// Logits for a batch of any size, `batch_size` examples per forward pass.
    fn predict(&self, x: &Tensor<2>, batch_size: usize) -> Result<Tensor<2>> {
        let [n, _] = x.dims();
        let batch_size = batch_size.max(1);
        if n <= batch_size {
            return self.logits(x.clone());
        }
        let mut parts = Vec::with_capacity(n.div_ceil(batch_size));
        for start in (0..n).step_by(batch_size) {
            let end = (start + batch_size).min(n);
            parts.push(self.logits(x.clone().slice(start..end))?);
        }
        Ok(Tensor::cat(parts, 0))
    }

    /// Predicted class of each example (the first maximum on ties).
    fn predict_labels(&self, x: &Tensor<2>, batch_size: usize) -> Result<Vec<usize>> {
        Ok(argmax_rows(self.predict(x, batch_size)?))
    }
}

/// Index of the largest value of one row on the host (the first on ties), as [`argmax_rows`].
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best
}

/// Index of the largest value in each row (the first on ties).
pub fn argmax_rows(logits: Tensor<2>) -> Vec<usize> {
    logits
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("argmax gives integers")
        .into_iter()
        .map(|i| i as usize)
        .collect()
}

/// Checks that there is one label per example (`n`) and each names one of `classes` classes.
pub fn check_labels(labels: &[usize], n: usize, classes: usize) -> Result<()> {
    if labels.len() != n {
        return Err(Error::invalid(
            "labels",
            format!("expected {n} labels, got {}", labels.len()),
        ));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
        return Err(Error::invalid(
            "labels",
            format!("label {bad} is out of range for {classes} classes"),
        ));
    }
    Ok(())
}

/// Softmax probabilities of each row.
pub fn probabilities(logits: Tensor<2>) -> Tensor<2> {
    softmax(logits, 1)
}

/// Per-example cross-entropy of `logits` against `labels`, on the host.
pub fn cross_entropy_rows(logits: Tensor<2>, labels: &[usize]) -> Vec<f32> {
    let [n, k] = logits.dims();
    let logp = crate::array::tensor_to_vec(log_softmax(logits, 1));
    (0..n).map(|i| -logp[i * k + labels[i]]).collect()
}

/// Per-channel standardisation `(x − mean)/std`, done inside the classifier so gradients flow through it.
#[derive(Clone, Debug)]
pub struct Standardise {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Standardise {
    /// Per-channel `mean` and `std` for examples of `input_shape` (channel axis first). A single
    /// value applies to every channel.
    pub fn new(mean: &[f32], std: &[f32], input_shape: &[usize]) -> Result<Self> {
        let channels = *input_shape.first().unwrap_or(&1);
        let per_channel: usize = input_shape.iter().skip(1).product();
        let expand = |name: &str, v: &[f32]| -> Result<Vec<f32>> {
            let v: Vec<f32> = match v.len() {
                1 => vec![v[0]; channels],
                n if n == channels => v.to_vec(),
                n => {
                    return Err(Error::invalid(
                        name,
                        format!("expected 1 or {channels} values (one per channel), got {n}"),
                    ));
                }
            };
            Ok(v.iter()
                .flat_map(|&c| std::iter::repeat_n(c, per_channel))
                .collect())
        };
        if std.iter().any(|&s| !s.is_finite() || s <= 0.0) {
            return Err(Error::invalid(
                "std",
                "every value must be positive and finite",
            ));
        }
        Ok(Self {
            mean: expand("mean", mean)?,
            std: expand("std", std)?,
        })
    }

    fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        let d = self.mean.len();
        let device = x.device();
        let mean = Tensor::<2>::from_data(TensorData::new(self.mean.clone(), [1, d]), &device);
        let std = Tensor::<2>::from_data(TensorData::new(self.std.clone(), [1, d]), &device);
        (x - mean) / std
    }

    /// [`apply`](Self::apply) in place on host examples (`[n·d]`, flattened).
    fn apply_host(&self, x: &mut [f32]) {
        let d = self.mean.len();
        for (i, v) in x.iter_mut().enumerate() {
            *v = (*v - self.mean[i % d]) / self.std[i % d];
        }
    }

    /// Maps a gradient with respect to standardised host examples back to input space.
    fn backward_host(&self, grad: &mut [f32]) {
        let d = self.std.len();
        for (i, g) in grad.iter_mut().enumerate() {
            *g /= self.std[i % d];
        }
    }
}

/// Builds the `[N, K]` one-hot matrix for `labels` on `device`.
fn one_hot(labels: &[usize], k: usize, device: &Device) -> Tensor<2> {
    let n = labels.len();
    let mut data = vec![0f32; n * k];
    for (i, &l) in labels.iter().enumerate() {
        data[i * k + l] = 1.0;
    }
    Tensor::from_data(TensorData::new(data, [n, k]), device)
}

/// The most memory one clip session may hold; larger clips take the ordinary passes.
const CLIP_SESSION_BYTES: usize = 1 << 30;

/// A neural network with its input description, standardisation and defence chain.
pub struct NeuralClassifier {
    eval: Box<dyn Network>,
    grad: Box<dyn Network>,
    kernel: Option<Box<dyn CpuKernel>>,
    clip_kernel: Option<ClipKernel>,
    device: Device,
    input_shape: Vec<usize>,
    num_classes: usize,
    clip: Option<(f32, f32)>,
    standardise: Option<Standardise>,
    defences: Vec<Box<dyn Preprocessor>>,
}

impl NeuralClassifier {
    /// Wraps `network` (built on `device`) for inference and for input gradients.
    ///
    /// The module is put in evaluation mode (batch norm uses its running statistics) and frozen:
    /// attacks need ∂loss/∂input only, so no weight gradient is ever computed.
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
        let grad = network.valid().fork(&device.clone().autodiff()).freeze();
        let eval = network.valid();
        let on_cpu = *device == Device::flex();
        let kernel = if on_cpu { eval.cpu_kernel() } else { None };
        // Long clips would hold gigabytes per session (c3d-lite chunks them for that reason).
        let clip_kernel = if on_cpu { eval.clip_kernel() } else { None }
            .filter(|k| k.state_bytes() <= CLIP_SESSION_BYTES);
        Ok(Self {
            eval: Box::new(eval),
            grad: Box::new(grad),
            kernel,
            clip_kernel,
            device: device.clone(),
            input_shape,
            num_classes,
            clip,
            standardise: None,
            defences: Vec::new(),
        })
    }

    /// Always uses burn's autodiff, even where a hand-written CPU kernel exists (for checking one
    /// against the other, and for benchmarks); no clip sessions either.
    pub fn without_cpu_kernel(mut self) -> Self {
        self.kernel = None;
        self.clip_kernel = None;
        self
    }

    /// Adds mean/std standardisation inside the model.
    pub fn with_standardise(mut self, standardise: Standardise) -> Self {
        self.standardise = Some(standardise);
        self
    }

    /// Appends a defence to the preprocessing chain (applied in the order added).
    pub fn with_defence(mut self, defence: Box<dyn Preprocessor>) -> Self {
        self.defences.push(defence);
        self
    }

    /// Names of the defences in the chain, in order.
    pub fn defence_names(&self) -> Vec<String> {
        self.defences.iter().map(|d| d.name().to_string()).collect()
    }

    /// Runs the defence chain; returns its output and the input each stage saw.
    fn defend(&self, x: Tensor<2>) -> Result<(Tensor<2>, Vec<Tensor<2>>)> {
        let mut inputs = Vec::with_capacity(self.defences.len());
        let mut x = x;
        for defence in &self.defences {
            inputs.push(x.clone());
            x = defence.forward(x)?;
        }
        Ok((x, inputs))
    }

    fn standardised(&self, x: Tensor<2>) -> Tensor<2> {
        match &self.standardise {
            Some(s) => s.apply(x),
            None => x,
        }
    }

    fn check(&self, x: &Tensor<2>, labels: Option<&[usize]>) -> Result<()> {
        let [n, d] = x.dims();
        if d != self.features() {
            return Err(Error::invalid(
                "input",
                format!(
                    "expected {} features per example ({:?}), got {d}",
                    self.features(),
                    self.input_shape
                ),
            ));
        }
        match labels {
            Some(labels) => check_labels(labels, n, self.num_classes),
            None => Ok(()),
        }
    }

    /// Input gradient of `objective` (through standardisation and network by autodiff or the CPU
    /// kernel, then back through the defence chain), and the logits.
    fn input_gradient(&self, x: Tensor<2>, objective: Objective) -> Result<(Tensor<2>, Tensor<2>)> {
        let (defended, stage_inputs) = self.defend(x)?;
        let (mut g, logits) = match &self.kernel {
            Some(kernel) => {
                let [n, d] = defended.dims();
                let xs = self.host_standardised(defended);
                let (logits, mut grad) =
                    kernel.input_gradient(&xs, n, &|i, l| objective.dlogits(i, l));
                if let Some(s) = &self.standardise {
                    s.backward_host(&mut grad);
                }
                let k = logits.len() / n.max(1);
                (self.upload(grad, n, d), self.upload(logits, n, k))
            }
            None => {
                let device = self.device.clone().autodiff();
                let tracked = defended.autodiff().require_grad();
                let logits = self.grad.forward(self.standardised(tracked.clone()));
                let grads = objective.of(logits.clone(), &device).backward();
                let g = tracked
                    .grad(&grads)
                    .expect("the input was marked as requiring a gradient");
                (g, logits.detach().without_autodiff())
            }
        };
        for (defence, x_in) in self.defences.iter().zip(stage_inputs.iter()).rev() {
            g = defence.backward(x_in, g);
        }
        Ok((g, logits))
    }

    /// The standardised batch on the host.
    fn host_standardised(&self, x: Tensor<2>) -> Vec<f32> {
        standardised_host(self.standardise.as_ref(), crate::array::tensor_to_vec(x))
    }

    fn upload(&self, values: Vec<f32>, rows: usize, cols: usize) -> Tensor<2> {
        Tensor::from_data(TensorData::new(values, [rows, cols]), &self.device)
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

    fn device(&self) -> &Device {
        &self.device
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        self.check(&x, None)?;
        let (x, _) = self.defend(x)?;
        match &self.kernel {
            Some(kernel) => {
                let n = x.dims()[0];
                let xs = self.host_standardised(x);
                let logits = kernel.logits(&xs, n);
                let k = logits.len() / n.max(1);
                Ok(self.upload(logits, n, k))
            }
            None => Ok(self.eval.forward(self.standardised(x))),
        }
    }

    fn loss_gradient_and_logits(
        &self,
        x: Tensor<2>,
        labels: &[usize],
    ) -> Result<(Tensor<2>, Tensor<2>)> {
        self.check(&x, Some(labels))?;
        self.input_gradient(x, Objective::CrossEntropy(labels))
    }

    fn class_gradient(&self, x: Tensor<2>, classes: &[usize]) -> Result<Tensor<2>> {
        self.check(&x, Some(classes))?;
        Ok(self.input_gradient(x, Objective::Logit(classes))?.0)
    }

    fn clip_session(
        &self,
        x: &[f32],
        frame_axis: usize,
    ) -> Result<Option<Box<dyn ClipSession + '_>>> {
        let Some(kernel) = &self.clip_kernel else {
            return Ok(None);
        };
        if frame_axis != 1 || !self.defences.is_empty() || kernel.shape()[..] != self.input_shape {
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
        Ok(Some(Box::new(NeuralClipSession { state, standardise })))
    }

    fn prediction_loss_gradient(&self, x: Tensor<2>) -> Result<(Vec<usize>, Tensor<2>, Tensor<2>)> {
        self.check(&x, None)?;
        let (g, logits) = self.input_gradient(x, Objective::CrossEntropyAtPrediction)?;
        // The logits the objective read its labels from, read again with the same rule.
        let [n, k] = logits.dims();
        let host = crate::array::tensor_to_vec(logits.clone());
        let labels = (0..n).map(|i| argmax(&host[i * k..(i + 1) * k])).collect();
        Ok((labels, g, logits))
    }
}

/// Host examples `x` standardised (unchanged without standardisation).
fn standardised_host(standardise: Option<&Standardise>, mut x: Vec<f32>) -> Vec<f32> {
    if let Some(s) = standardise {
        s.apply_host(&mut x);
    }
    x
}

/// [`NeuralClassifier`]'s clip session: its [`ClipKernel`] state behind the standardisation.
struct NeuralClipSession<'a> {
    state: ClipState<'a>,
    standardise: Option<&'a Standardise>,
}

impl ClipSession for NeuralClipSession<'_> {
    fn logits(&self) -> Vec<f32> {
        self.state.logits()
    }

    fn loss_gradient(&self, label: usize) -> Vec<f32> {
        let dlogits = Objective::CrossEntropy(&[label]).dlogits(0, &self.state.logits());
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
