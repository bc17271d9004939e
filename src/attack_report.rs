//! What an attack run did to each example, as the command line and the demo report it: predictions
//! before and after, success, perturbation size, query counts. The CLI prints it and serialises it
//! as the `attack` JSON document of DESIGN.md. The run itself is [`crate::measure`]'s.

use crate::array::tensor_to_vec;
use crate::attack::{Attack, ComponentOutcome, masking_warning, success};
use crate::classifier::{Classifier, Counts, argmax_rows, probabilities};
use crate::error::Result;
use crate::measure::{Target, attack_and_measure};
use crate::metrics::perturbation_sizes;
use crate::perception::{Media, Perceptual, perceptual};
use crate::scale::{AudioScale, VideoScale};
use burn::tensor::Tensor;
use serde::Serialize;

/// A prediction as reported.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// Class index.
    pub label: usize,
    /// Class name.
    pub class: String,
    /// Its softmax probability.
    pub probability: f32,
}

/// One example's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct ExampleReport {
    /// The file it came from.
    pub input: String,
    /// Its index within that file.
    pub item: usize,
    /// The true class, when the caller gave labels to an untargeted attack.
    pub true_class: Option<String>,
    /// The class a targeted attack aims for.
    pub target_class: Option<String>,
    /// Prediction on the clean input.
    pub clean: Prediction,
    /// Prediction on the adversarial input.
    pub adversarial: Prediction,
    /// Targeted: reached the target; untargeted: differs from the true label (or the clean prediction).
    pub success: bool,
    /// Largest absolute change.
    pub linf: f32,
    /// Euclidean norm of the change.
    pub l2: f32,
    /// Signal-to-perturbation ratio in dB (`null` when nothing changed).
    pub snr_db: Option<f32>,
    /// Video: peak signal-to-noise ratio in dB (`null` when nothing changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psnr_db: Option<f32>,
    /// The budget this example was attacked with.
    pub eps: f32,
    /// Early stopping: the iteration at which it first succeeded.
    pub success_iteration: Option<usize>,
    /// An ensemble: the component whose adversarial example this is (`null` when none fooled it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fooled_by: Option<String>,
    /// Video only: how many frames changed.
    pub perturbed_frames: Option<usize>,
    /// Perceptual measures against the clean input (audio: `pesq`, `stoi`, `seg_snr_db`, `masked_energy`; video:
    /// `ssim`, `flicker`), each left out when it cannot score the example.
    #[serde(flatten)]
    pub perception: Perceptual,
    /// Audio stored as 16-bit PCM (`--wav-int16`): the prediction on the rounded adversarial example.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int16: Option<AfterQuantisation>,
}

/// How an adversarial example fares once rounded to 16-bit PCM: perturbations below half a step
/// (the ART notebook's eps of 0.5) vanish.
#[derive(Clone, Debug, Serialize)]
pub struct AfterQuantisation {
    /// Prediction on the rounded example.
    pub adversarial: Prediction,
    /// Whether the attack still succeeds.
    pub success: bool,
    /// Largest absolute change left, in input units.
    pub linf: f32,
    /// Signal-to-perturbation ratio left, in dB.
    pub snr_db: Option<f32>,
}

/// A whole run.
#[derive(Clone, Debug, Serialize)]
pub struct AttackReport {
    /// Every parameter of the attack, its name and seed included.
    pub attack: serde_json::Value,
    /// Per example, in input order.
    pub examples: Vec<ExampleReport>,
    /// Fraction of successful examples.
    pub success_rate: f64,
    /// Wall-clock seconds of the attack itself.
    pub seconds: f64,
    /// What the attack asked of the model: forward and gradient passes, and the examples they held.
    pub queries: Counts,
    /// Draws of the defences' randomness each gradient averaged (expectation over transformation).
    pub eot: usize,
    /// An ensemble's components in the order they ran, with the robust accuracy after each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentReport>,
    /// What the numbers above should not be read without (gradient masking).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One component of an ensemble, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentReport {
    /// Its name (`apgd-ce`).
    pub name: String,
    /// Whether it uses scores only.
    pub gradient_free: bool,
    /// Examples it attacked: those still correctly classified when its turn came.
    pub attacked: usize,
    /// Examples it fooled first.
    pub fooled: usize,
    /// Fraction of all examples still correctly classified after it (AutoAttack's running figure;
    /// the last component's is the ensemble's robust accuracy).
    pub robust_accuracy: f64,
    /// Why it did not run, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The running robust accuracy of an ensemble's components: `correct` is how many of the `n`
/// examples were correctly classified before the attack.
pub fn component_reports(
    components: &[ComponentOutcome],
    correct: usize,
    n: usize,
) -> Vec<ComponentReport> {
    let mut robust = correct;
    components
        .iter()
        .map(|c| {
            robust = robust.saturating_sub(c.fooled.len());
            ComponentReport {
                name: c.name.clone(),
                gradient_free: c.gradient_free,
                attacked: c.attacked,
                fooled: c.fooled.len(),
                robust_accuracy: robust as f64 / n.max(1) as f64,
                skipped: c.skipped.clone(),
                seconds: c.seconds,
            }
        })
        .collect()
}

/// The adversarial batch and its report.
pub struct AttackRun {
    /// `[N, d]` adversarial inputs.
    pub adversarial: Vec<f32>,
    /// What happened.
    pub report: AttackReport,
    /// The labels success is judged against (targets, true labels or clean predictions).
    pub reference: Vec<usize>,
    /// Whether the attack was targeted.
    pub targeted: bool,
}

impl AttackRun {
    /// Rounds every adversarial example to the int16 grid (`steps_per_unit` int16 steps per input
    /// unit: 1 for int16-scale audio, 32768 for ±1 audio), predicts again and records the outcome in
    /// each example's `int16` field. Returns the rounded batch.
    pub fn check_int16(
        &mut self,
        classifier: &dyn Classifier,
        classes: &[String],
        clean: &[f32],
        steps_per_unit: f32,
        batch_size: usize,
    ) -> Result<Vec<f32>> {
        let n = self.reference.len();
        let d = self.adversarial.len() / n.max(1);
        let rounded: Vec<f32> = self
            .adversarial
            .iter()
            .map(|v| (v * steps_per_unit).round().clamp(-32768.0, 32767.0) / steps_per_unit)
            .collect();
        let x = Tensor::<2>::from_data(
            burn::tensor::TensorData::new(rounded.clone(), [n, d]),
            classifier.device(),
        );
        let logits = classifier.predict(&x, batch_size)?;
        let predicted = argmax_rows(logits.clone());
        let p = tensor_to_vec(probabilities(logits));
        let ok = success(&predicted, &self.reference, self.targeted);
        let sizes = perturbation_sizes(clean, &rounded, n);
        let k = classes.len();
        for (i, e) in self.report.examples.iter_mut().enumerate() {
            e.int16 = Some(AfterQuantisation {
                adversarial: Prediction {
                    label: predicted[i],
                    class: classes[predicted[i]].clone(),
                    probability: p[i * k + predicted[i]],
                },
                success: ok[i],
                linf: sizes[i].linf,
                snr_db: sizes[i].snr_db,
            });
        }
        Ok(rounded)
    }
}

/// What to attack.
pub struct Batch<'a> {
    /// Flattened inputs `[N, d]`.
    pub x: &'a Tensor<2>,
    /// Targets (targeted) or true labels (untargeted; default: the clean predictions).
    pub labels: Option<&'a [usize]>,
    /// Features the attack may change.
    pub mask: Option<&'a crate::attack::Mask>,
    /// `origins[i]` names example `i`: its file and its index there.
    pub origins: &'a [(String, usize)],
    /// Whether the examples are video clips (perturbations in PSNR and frames).
    pub video: bool,
    /// Audio: the model's sample rate, which PESQ, STOI and segmental SNR need (`None`: those are
    /// left out).
    pub sample_rate: Option<u32>,
    /// Draws of the defences' randomness each gradient averages (1: plain; see [`Target::eot`]).
    pub eot: usize,
}

/// Runs `attack` on a batch and reports each example; `batch_size` examples per prediction.
pub fn run_attack(
    classifier: &dyn Classifier,
    classes: &[String],
    attack: &dyn Attack,
    batch: &Batch,
    batch_size: usize,
) -> Result<AttackRun> {
    let Batch {
        x,
        labels,
        mask,
        origins,
        video,
        sample_rate,
        eot,
    } = *batch;
    let [n, _] = x.dims();
    let clean_logits = classifier.predict(x, batch_size)?;
    let clean = argmax_rows(clean_logits.clone());
    let clean_p = tensor_to_vec(probabilities(clean_logits));
    let clean_x = tensor_to_vec(x.clone());
    let target = Target {
        x,
        clean: &clean_x,
        labels,
        mask,
        eot,
    };
    let run = attack_and_measure(classifier, attack, target, video, batch_size)?;
    // After the timed run: the perceptual measures cost no attack time.
    let perception = match media(classifier, video, sample_rate) {
        Some(media) => perceptual(media, &clean_x, &run.adversarial, n),
        None => vec![Perceptual::default(); n],
    };
    let reference = labels
        .map(<[usize]>::to_vec)
        .unwrap_or_else(|| clean.clone());
    let ok = success(&run.predicted, &reference, attack.targeted());
    let k = classes.len();
    let prediction = |label: usize, p: &[f32], row: usize| Prediction {
        label,
        class: classes[label].clone(),
        probability: p[row * k + label],
    };
    let examples: Vec<ExampleReport> = (0..n)
        .map(|i| {
            let size = &run.perturbations[i];
            ExampleReport {
                input: origins[i].0.clone(),
                item: origins[i].1,
                true_class: labels
                    .filter(|_| !attack.targeted())
                    .map(|l| classes[l[i]].clone()),
                target_class: labels
                    .filter(|_| attack.targeted())
                    .map(|l| classes[l[i]].clone()),
                clean: prediction(clean[i], &clean_p, i),
                adversarial: prediction(run.predicted[i], &run.probabilities, i),
                success: ok[i],
                linf: size.linf,
                l2: size.l2,
                snr_db: size.snr_db,
                psnr_db: size.psnr_db,
                eps: run.eps[i],
                success_iteration: run.success_iteration[i],
                fooled_by: run
                    .components
                    .iter()
                    .find(|c| c.fooled.contains(&i))
                    .map(|c| c.name.clone()),
                perturbed_frames: size.perturbed_frames,
                perception: perception[i],
                int16: None,
            }
        })
        .collect();
    let mut params = attack.params();
    params["name"] = serde_json::json!(attack.name());
    let success_rate = ok.iter().filter(|&&o| o).count() as f64 / n.max(1) as f64;
    let correct = (0..n).filter(|&i| clean[i] == reference[i]).count();
    Ok(AttackRun {
        adversarial: run.adversarial,
        report: AttackReport {
            attack: params,
            examples,
            success_rate,
            seconds: run.attack_seconds,
            queries: run.queries,
            eot,
            components: component_reports(&run.components, correct, n),
            warnings: masking_warning(&run.components).into_iter().collect(),
        },
        reference,
        targeted: attack.targeted(),
    })
}

/// What the perceptual measures need to know of a classifier's examples: video clips by their
/// shape, audio by its rate (`None` for audio without one).
pub fn media(
    classifier: &dyn Classifier,
    video: bool,
    sample_rate: Option<u32>,
) -> Option<Media<'_>> {
    let clip = classifier.clip();
    if video {
        Some(Media::Video {
            shape: classifier.input_shape(),
            scale: VideoScale::from_clip(clip),
        })
    } else {
        sample_rate.map(|sample_rate| Media::Audio {
            sample_rate,
            scale: AudioScale::from_clip(clip),
        })
    }
}

impl ExampleReport {
    /// One line for humans.
    pub fn line(&self) -> String {
        let given = match (&self.true_class, &self.target_class) {
            (Some(t), _) => format!(" (true {t})"),
            (_, Some(t)) => format!(" (target {t})"),
            _ => String::new(),
        };
        let int16 = match &self.int16 {
            Some(q) => format!(
                "; as int16: {} {}",
                q.adversarial.class,
                if q.success { "success" } else { "failed" }
            ),
            None => String::new(),
        };
        format!(
            "{}[{}]{given}: {} -> {} {} (linf {:.4}, l2 {:.4}, snr {} dB){int16}",
            self.input,
            self.item,
            self.clean.class,
            self.adversarial.class,
            if self.success { "success" } else { "failed" },
            self.linf,
            self.l2,
            self.snr_db.map_or("inf".into(), |v| format!("{v:.1}"))
        )
    }
}
