//! What an attack run did to each example: predictions before and after, success, perturbation size.
//! The CLI prints it and serialises it as the `attack` JSON document of DESIGN.md.

use crate::array::tensor_to_vec;
use crate::attack::{Attack, AttackOutput, success};
use crate::classifier::{Classifier, argmax_rows, probabilities};
use crate::error::Result;
use crate::metrics::perturbation_sizes;
use burn::tensor::Tensor;
use serde::Serialize;
use std::time::Instant;

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
    /// The budget this example was attacked with.
    pub eps: f32,
    /// Early stopping: the iteration at which it first succeeded.
    pub success_iteration: Option<usize>,
    /// Video only: how many frames changed.
    pub perturbed_frames: Option<usize>,
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
}

/// The adversarial batch and its report.
pub struct AttackRun {
    /// `[N, d]` adversarial inputs.
    pub adversarial: Vec<f32>,
    /// What happened.
    pub report: AttackReport,
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
    } = *batch;
    let [n, _] = x.dims();
    let clean_logits = classifier.predict(x, batch_size)?;
    let clean = argmax_rows(clean_logits.clone());
    let clean_p = tensor_to_vec(probabilities(clean_logits));

    let started = Instant::now();
    let AttackOutput {
        adversarial,
        success_iteration,
        eps,
    } = attack.generate(classifier, x, labels, mask)?;
    let seconds = started.elapsed().as_secs_f64();

    let adv_logits = classifier.predict(&adversarial, batch_size)?;
    let adv = argmax_rows(adv_logits.clone());
    let adv_p = tensor_to_vec(probabilities(adv_logits));
    let reference = labels
        .map(<[usize]>::to_vec)
        .unwrap_or_else(|| clean.clone());
    let ok = success(&adv, &reference, attack.targeted());
    let adversarial = tensor_to_vec(adversarial);
    let sizes = perturbation_sizes(&tensor_to_vec(x.clone()), &adversarial, n);
    let k = classes.len();
    let prediction = |label: usize, p: &[f32], row: usize| Prediction {
        label,
        class: classes[label].clone(),
        probability: p[row * k + label],
    };
    let examples: Vec<ExampleReport> = (0..n)
        .map(|i| ExampleReport {
            input: origins[i].0.clone(),
            item: origins[i].1,
            true_class: labels
                .filter(|_| !attack.targeted())
                .map(|l| classes[l[i]].clone()),
            target_class: labels
                .filter(|_| attack.targeted())
                .map(|l| classes[l[i]].clone()),
            clean: prediction(clean[i], &clean_p, i),
            adversarial: prediction(adv[i], &adv_p, i),
            success: ok[i],
            linf: sizes[i].linf,
            l2: sizes[i].l2,
            snr_db: sizes[i].snr_db,
            eps: eps[i],
            success_iteration: success_iteration[i],
            perturbed_frames: None,
        })
        .collect();
    let mut params = attack.params();
    params["name"] = serde_json::json!(attack.name());
    let success_rate = ok.iter().filter(|&&o| o).count() as f64 / n.max(1) as f64;
    Ok(AttackRun {
        adversarial,
        report: AttackReport {
            attack: params,
            examples,
            success_rate,
            seconds,
        },
    })
}

impl ExampleReport {
    /// One line for humans.
    pub fn line(&self) -> String {
        let given = match (&self.true_class, &self.target_class) {
            (Some(t), _) => format!(" (true {t})"),
            (_, Some(t)) => format!(" (target {t})"),
            _ => String::new(),
        };
        format!(
            "{}[{}]{given}: {} -> {} {} (linf {:.4}, l2 {:.4}, snr {} dB)",
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
