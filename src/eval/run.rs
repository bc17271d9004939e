//! The evaluation loop: examples in batches ("chunks"), every configuration of each chunk measured
//! and appended to `results.jsonl` as it finishes.
//!
//! Determinism: chunk `c` holds examples `c·B .. (c+1)·B` of the seeded order (B = the scenario's
//! batch size) and draws its attacks' random streams from `mix(seed, [c, attack, eps])`; noise is
//! drawn per example. So a chunk gives the same records whichever shard runs it and whether or not
//! the run was interrupted, and `--shard i/n` (chunks with `c mod n = i`) partitions the work.
//! A universal attack fitted on the train part (`fit = "train"`) is the exception to "an attack
//! per chunk": its one perturbation per eps is fitted once, outside the chunks
//! ([`super::universal`]), and put on every chunk.

use super::configs::{Config, configs};
use super::dataset::Example;
use super::records::{Kind, Record, Results};
use super::scenario::{Scenario, at};
use crate::array::tensor_to_vec;
use crate::attack::{ComponentOutcome, Norm};
use crate::classifier::{Classifier, Counts, Defended, Model};
use crate::error::{Error, Result};
use crate::input::MediaInput;
use crate::measure::{Measured, Target, attack_and_measure};
use crate::metrics::{Examples, Perturbation, perturbations};
use crate::model::{Modality, ModelConfig};
use crate::perception::{Perceptual, perceptual};
use crate::seed::mix;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

/// Which part of the examples this process evaluates: chunks `c` with `c mod count = index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `i/n`, 0-based: `0/3`, `1/3`, `2/3` (Kubernetes' `JOB_COMPLETION_INDEX` counts from 0).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid("shard", format!("expected i/n with 0 <= i < n, got {s:?}"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// Whether this shard runs chunk `c`.
    pub fn owns(&self, chunk: usize) -> bool {
        chunk % self.count == self.index
    }
}

/// The model under evaluation, bare and behind each defence of the scenario.
pub struct Models {
    pub config: ModelConfig,
    pub dir: PathBuf,
    pub bare: Arc<dyn Classifier>,
    /// In the scenario's defence order, each in front of the same network.
    pub defended: Vec<Defended>,
    /// Per defence: the draws each gradient of its adaptive attack averages (EOT).
    pub eot: Vec<usize>,
}

impl Models {
    /// Loads the scenario's model once and puts each defence in front of it. Errors say which table
    /// of the scenario file (`text` at `path`) they come from.
    pub fn load(
        scenario: &Scenario,
        text: &str,
        path: &std::path::Path,
        device: &Device,
    ) -> Result<Self> {
        let model = Model::open(&scenario.model.get_ref().path, device)
            .map_err(|e| at(text, path, scenario.model.span(), "[model]", e))?;
        scenario.check_model(&model.config.input, text, path)?;
        let mut defended = Vec::new();
        for entry in &scenario.defences {
            let chain = entry.chain.build(&model.config.input)?;
            defended.push(Defended::new(model.classifier.clone(), chain).with_seed(scenario.seed));
        }
        Ok(Self {
            config: model.config,
            dir: model.dir,
            bare: model.classifier,
            eot: scenario.defences.iter().map(|d| d.eot).collect(),
            defended,
        })
    }

    /// `audio` or `video`.
    pub fn modality(&self) -> &'static str {
        self.config.input.modality.name()
    }

    /// Whether the examples are video clips.
    pub fn video(&self) -> bool {
        self.config.input.modality == Modality::Video
    }

    /// The perceptual measures of `adv` against `clean` (`n` examples, in the bare model's input
    /// space), outside any timed section.
    pub fn perceptual(&self, clean: &[f32], adv: &[f32], n: usize) -> Vec<Perceptual> {
        let bare = self.bare.as_ref();
        match crate::attack_report::media(bare, self.video(), self.config.input.sample_rate) {
            Some(media) => perceptual(media, clean, adv, n),
            None => vec![Perceptual::default(); n],
        }
    }

    /// The classifier behind defence `d` (`None`: bare).
    pub fn classifier(&self, d: Option<usize>) -> &dyn Classifier {
        match d {
            None => self.bare.as_ref(),
            Some(i) => &self.defended[i],
        }
    }
}

/// One chunk loaded: its examples, inputs (on the device, and the host copy they came from, which
/// perturbation sizes are measured against) and labels.
pub struct Chunk<'a> {
    pub index: usize,
    pub examples: &'a [Example],
    pub x: Tensor<2>,
    /// `x` on the host, `[n·d]`.
    pub clean: Vec<f32>,
    pub labels: Vec<usize>,
}

/// Loads a chunk's inputs (in parallel: video decoding dominates).
pub fn load_chunk<'a>(
    index: usize,
    examples: &'a [Example],
    models: &Models,
    device: &Device,
) -> Result<Chunk<'a>> {
    use rayon::prelude::*;
    let rows: Vec<Vec<f32>> = examples
        .par_iter()
        .map(|e| models.config.input.load_file(&e.path))
        .collect::<Result<_>>()?;
    let d = models.bare.features();
    let clean = rows.concat();
    let x = Tensor::from_data(TensorData::new(clean.clone(), [examples.len(), d]), device);
    Ok(Chunk {
        index,
        examples,
        x,
        clean,
        labels: examples.iter().map(|e| e.label).collect(),
    })
}

/// Universal perturbations fitted on the train part ([`super::universal::Fits`]).
pub trait TrainFits {
    /// The perturbation of attack `a` at its budget `e`, fitted against the bare model (`d`:
    /// `None`) or through defence `d`, with its fooling rate on the train examples.
    fn perturbation(&mut self, a: usize, e: usize, d: Option<usize>) -> Result<(Vec<f32>, f64)>;
}

/// Runs the configurations of `chunk` that `finished` lacks, calling `write` with each one's records
/// as soon as it is measured.
pub fn run_chunk(
    scenario: &Scenario,
    models: &Models,
    chunk: &Chunk,
    fits: &mut dyn TrainFits,
    finished: &HashSet<(usize, String)>,
    mut write: impl FnMut(Vec<Record>) -> Result<()>,
) -> Result<()> {
    let all = configs(scenario);
    let missing = |c: &Config| {
        chunk
            .examples
            .iter()
            .any(|e| !finished.contains(&(e.index, c.key.clone())))
    };
    let keep = |records: Vec<Record>| -> Vec<Record> {
        records
            .into_iter()
            .filter(|r| !finished.contains(&(r.example, r.config.clone())))
            .collect()
    };
    let bs = scenario.batch_size();
    let n = chunk.examples.len();
    let video = models.video();
    // Clean inputs, bare and defended.
    for c in all.iter().filter(|c| c.kind == Kind::Clean && missing(c)) {
        let started = Instant::now();
        let predicted = models.classifier(c.defence).predict_labels(&chunk.x, bs)?;
        let outcome = Outcome {
            predicted: &predicted,
            sizes: None,
            perception: None,
            seconds: started.elapsed().as_secs_f64() / n as f64,
            queries: None,
            components: &[],
            fit: None,
        };
        write(keep(records(chunk, c, scenario, &outcome, video)))?;
    }
    // Randomised-smoothing certificates of the bare model, one per example.
    for c in all.iter().filter(|c| c.kind == Kind::Certify && missing(c)) {
        let spec = &scenario.certifications[c.certify.expect("certify configs name their table")];
        let d = models.bare.features();
        let records = chunk
            .examples
            .iter()
            .enumerate()
            .map(|(i, e)| {
                super::certification::certify_example(
                    spec,
                    models.bare.as_ref(),
                    (e.index, &e.id, e.label),
                    &chunk.clean[i * d..(i + 1) * d],
                )
            })
            .collect::<Result<Vec<_>>>()?;
        write(keep(records))?;
    }
    let clean = &chunk.clean;
    for (a, spec) in scenario.attacks.iter().enumerate() {
        for (e, &eps) in spec.eps.iter().enumerate() {
            let group: Vec<&Config> = all
                .iter()
                .filter(|c| c.attack == Some(a) && c.eps == Some(e))
                .collect();
            let seed = mix(scenario.seed, &[1, chunk.index as u64, a as u64, e as u64]);
            if spec.fits_on_train() {
                // One perturbation fitted on the train part, put on every example.
                for c in group
                    .iter()
                    .filter(|c| c.kind == Kind::Attack && missing(c))
                {
                    // The bare model's fit for direct and transfer rows, the defence's own for
                    // adaptive ones.
                    let through = if c.adaptive { c.defence } else { None };
                    let (v, fooling_rate) = fits.perturbation(a, e, through)?;
                    let started = Instant::now();
                    let adversarial =
                        crate::attack::universal::apply(models.bare.as_ref(), &chunk.x, &v, None)?;
                    let predicted = models
                        .classifier(c.defence)
                        .predict_labels(&adversarial, bs)?;
                    let seconds = started.elapsed().as_secs_f64() / n as f64;
                    let bare = models.bare.as_ref();
                    let examples = Examples {
                        shape: bare.input_shape(),
                        video,
                        clip: bare.clip(),
                        frame_axis: None,
                    };
                    let adversarial = tensor_to_vec(adversarial);
                    let sizes = perturbations(examples, clean, &adversarial, n);
                    let felt = models.perceptual(clean, &adversarial, n);
                    let outcome = Outcome {
                        predicted: &predicted,
                        sizes: Some(&sizes),
                        perception: Some(&felt),
                        seconds,
                        queries: None,
                        components: &[],
                        fit: Some(fooling_rate),
                    };
                    write(keep(records(chunk, c, scenario, &outcome, video)))?;
                }
            } else {
                // Against the bare model, then carried to each defence (transfer).
                let transfer: Vec<&&Config> = group
                    .iter()
                    .filter(|c| c.kind == Kind::Attack && !c.adaptive)
                    .collect();
                if transfer.iter().any(|c| missing(c)) {
                    let attack = spec.build(eps, seed, bs)?;
                    let run = attack_chunk(models, None, attack.as_ref(), chunk)?;
                    let felt = models.perceptual(clean, &run.adversarial, n);
                    let adversarial = Tensor::from_data(
                        TensorData::new(run.adversarial.clone(), chunk.x.dims()),
                        &chunk.x.device(),
                    );
                    for c in transfer {
                        let defended;
                        let outcome = match c.defence {
                            None => Outcome::of(&run, &felt, n),
                            Some(_) => {
                                let started = Instant::now();
                                let classifier = models.classifier(c.defence);
                                defended = classifier.predict_labels(&adversarial, bs)?;
                                Outcome {
                                    predicted: &defended,
                                    sizes: Some(&run.perturbations),
                                    perception: Some(&felt),
                                    seconds: started.elapsed().as_secs_f64() / n as f64,
                                    queries: None,
                                    components: &[],
                                    fit: None,
                                }
                            }
                        };
                        write(keep(records(chunk, c, scenario, &outcome, video)))?;
                    }
                }
                // Through each defence (BPDA): the adaptive attack.
                for c in group
                    .iter()
                    .filter(|c| c.kind == Kind::Attack && c.adaptive && missing(c))
                {
                    let attack = spec.build(eps, seed, bs)?;
                    let run = attack_chunk(models, c.defence, attack.as_ref(), chunk)?;
                    let felt = models.perceptual(clean, &run.adversarial, n);
                    write(keep(records(
                        chunk,
                        c,
                        scenario,
                        &Outcome::of(&run, &felt, n),
                        video,
                    )))?;
                }
            }
            // Random noise of the same norm and budget: the baseline every attack must beat.
            let noise_configs: Vec<&&Config> = group
                .iter()
                .filter(|c| c.kind == Kind::Noise && missing(c))
                .collect();
            if !noise_configs.is_empty() {
                let bare = models.bare.as_ref();
                let noisy = noise(chunk, clean, spec.norm(), eps, a, e, scenario.seed, bare);
                let examples = Examples {
                    shape: bare.input_shape(),
                    video,
                    clip: bare.clip(),
                    frame_axis: None,
                };
                let sizes = perturbations(examples, clean, &noisy, n);
                let felt = models.perceptual(clean, &noisy, n);
                let noisy =
                    Tensor::from_data(TensorData::new(noisy, chunk.x.dims()), &chunk.x.device());
                for c in noise_configs {
                    let started = Instant::now();
                    let predicted = models.classifier(c.defence).predict_labels(&noisy, bs)?;
                    let outcome = Outcome {
                        predicted: &predicted,
                        sizes: Some(&sizes),
                        perception: Some(&felt),
                        seconds: started.elapsed().as_secs_f64() / n as f64,
                        queries: None,
                        components: &[],
                        fit: None,
                    };
                    write(keep(records(chunk, c, scenario, &outcome, video)))?;
                }
            }
        }
    }
    Ok(())
}

/// `attack` on the chunk through defence `d`, against the true labels, measured.
pub fn attack_chunk(
    models: &Models,
    d: Option<usize>,
    attack: &dyn crate::attack::Attack,
    chunk: &Chunk,
) -> Result<Measured> {
    let target = Target {
        x: &chunk.x,
        clean: &chunk.clean,
        labels: Some(&chunk.labels),
        mask: None,
        eot: d.map_or(1, |i| models.eot[i]),
    };
    let n = chunk.examples.len();
    attack_and_measure(models.classifier(d), attack, target, models.video(), n)
}

/// What one configuration gave on a chunk.
struct Outcome<'a> {
    predicted: &'a [usize],
    /// Attack and noise: each perturbation.
    sizes: Option<&'a [Perturbation]>,
    /// Attack and noise: each perturbation's perceptual measures.
    perception: Option<&'a [Perceptual]>,
    /// Per example.
    seconds: f64,
    /// Attacks: what they asked of the model, for the whole chunk.
    queries: Option<Counts>,
    /// Ensembles: what each component did (examples are indices in the chunk).
    components: &'a [ComponentOutcome],
    /// A universal perturbation fitted on the train part: its fooling rate there.
    fit: Option<f64>,
}

impl<'a> Outcome<'a> {
    /// An attack's own outcome on a chunk of `n` examples, with its perceptual measures.
    fn of(run: &'a Measured, perception: &'a [Perceptual], n: usize) -> Self {
        Self {
            predicted: &run.predicted,
            sizes: Some(&run.perturbations),
            perception: Some(perception),
            seconds: run.seconds / n as f64,
            queries: Some(run.queries),
            components: &run.components,
            fit: None,
        }
    }
}

/// The records of configuration `c` on the chunk. Perturbations are measured the way that suits
/// the modality: SNR for audio, PSNR and the number of changed frames for video.
fn records(
    chunk: &Chunk,
    c: &Config,
    scenario: &Scenario,
    outcome: &Outcome,
    video: bool,
) -> Vec<Record> {
    let n = chunk.examples.len() as f64;
    let attack = c.attack.map(|a| &scenario.attacks[a]);
    let per_example = |count: usize| count as f64 / n;
    (0..chunk.examples.len())
        .map(|i| {
            let e = &chunk.examples[i];
            let size = outcome.sizes.map(|s| s[i]);
            let felt = outcome.perception.map(|p| p[i]);
            let prediction = outcome.predicted[i];
            Record {
                example: e.index,
                id: e.id.clone(),
                label: e.label,
                config: c.key.clone(),
                kind: c.kind,
                attack: attack.map(|a| a.label().to_string()),
                eps: attack.zip(c.eps).map(|(a, e)| a.eps[e]),
                defence: c.defence.map(|d| scenario.defences[d].label().to_string()),
                adaptive: c.adaptive,
                prediction,
                correct: prediction == e.label,
                linf: size.map(|s| s.linf),
                l2: size.map(|s| s.l2),
                snr_db: size.and_then(|s| if video { None } else { s.snr_db }),
                psnr_db: size.and_then(|s| s.psnr_db),
                // Attacks without a frame axis count frames the same way.
                perturbed_frames: size
                    .filter(|_| video)
                    .map(|s| s.perturbed_frames.unwrap_or(0)),
                forwards: outcome.queries.map(|q| per_example(q.forward_queries())),
                gradients: outcome.queries.map(|q| per_example(q.gradient_queries())),
                fooled_by: outcome
                    .components
                    .iter()
                    .find(|c| c.fooled.contains(&i))
                    .map(|c| c.name.clone()),
                fit_fooling_rate: outcome.fit,
                certificate: None,
                pesq: felt.and_then(|p| p.pesq),
                stoi: felt.and_then(|p| p.stoi),
                seg_snr_db: felt.and_then(|p| p.seg_snr_db),
                masked_energy: felt.and_then(|p| p.masked_energy),
                ssim: felt.and_then(|p| p.ssim),
                flicker: felt.and_then(|p| p.flicker),
                seconds: outcome.seconds,
            }
        })
        .collect()
}

/// Random noise on each example of the chunk: every feature ±eps for ℓ∞, else a Gaussian direction
/// scaled to ℓp norm eps; clipped to the valid range. Drawn per example (not per chunk).
#[allow(clippy::too_many_arguments)]
fn noise(
    chunk: &Chunk,
    clean: &[f32],
    norm: Norm,
    eps: f32,
    attack: usize,
    eps_index: usize,
    seed: u64,
    model: &dyn Classifier,
) -> Vec<f32> {
    let d = model.features();
    let mut out = clean.to_vec();
    for (row, e) in out.chunks_mut(d).zip(chunk.examples) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(mix(
            seed,
            &[2, e.index as u64, attack as u64, eps_index as u64],
        ));
        let delta: Vec<f32> = match norm {
            Norm::Inf => (0..d)
                .map(|_| if rng.random::<bool>() { eps } else { -eps })
                .collect(),
            Norm::P(p) => {
                let g: Vec<f32> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
                let size = crate::attack::geometry::norm_of(&g, Norm::P(p)) as f32;
                g.iter()
                    .map(|v| v * eps / size.max(f32::MIN_POSITIVE))
                    .collect()
            }
        };
        for (v, dv) in row.iter_mut().zip(delta) {
            *v += dv;
            if let Some((lo, hi)) = model.clip() {
                *v = v.clamp(lo, hi);
            }
        }
    }
    out
}

/// What `evaluate` needs besides the scenario.
#[derive(Clone, Debug)]
pub struct Options {
    /// The output folder.
    pub out: PathBuf,
    /// Continue the run in `out` instead of refusing to overwrite it.
    pub resume: bool,
    pub shard: Shard,
}

/// The run's identity, written beside its results: a resumed or merged run must match it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    pub scenario: String,
    /// FNV-1a of the scenario file's text.
    pub fingerprint: String,
    pub seed: u64,
    pub shard: Shard,
    pub model: String,
    /// `audio` or `video`.
    pub modality: String,
    pub examples: usize,
    pub avfoil: String,
}

impl RunInfo {
    pub const FILE: &'static str = "run.json";
}

/// FNV-1a, hex: enough to tell two scenario texts apart.
pub fn fingerprint(text: &str) -> String {
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

/// What a run needs at hand: the folder prepared, the run identity checked, results opened.
pub fn prepare(
    scenario: &Scenario,
    text: &str,
    examples: usize,
    models: &Models,
    options: &Options,
) -> Result<(Results, Vec<Record>)> {
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let info = RunInfo {
        scenario: scenario.name.clone(),
        fingerprint: fingerprint(text),
        seed: scenario.seed,
        shard: options.shard,
        model: models.dir.display().to_string(),
        modality: models.modality().into(),
        examples,
        avfoil: env!("CARGO_PKG_VERSION").to_string(),
    };
    let info_path = out.join(RunInfo::FILE);
    if options.resume && !info_path.is_file() && out.join(Results::FILE).is_file() {
        return Err(Error::invalid(
            "resume",
            format!(
                "{} holds results but no {}: nothing says which scenario, seed and data set made \
                 them; start a new run in another folder",
                out.display(),
                RunInfo::FILE
            ),
        ));
    }
    if options.resume && info_path.is_file() {
        let old: RunInfo = serde_json::from_str(
            &std::fs::read_to_string(&info_path).map_err(|e| Error::io(&info_path, e))?,
        )
        .map_err(|e| Error::decode(&info_path, e.to_string()))?;
        if (&old.fingerprint, old.seed, old.shard, old.examples)
            != (&info.fingerprint, info.seed, info.shard, examples)
        {
            return Err(Error::invalid(
                "resume",
                format!(
                    "{} was written by another scenario, seed, shard or data set ({} seed {} \
                     shard {}/{}); resume with the same scenario file, seed and --shard",
                    out.display(),
                    old.scenario,
                    old.seed,
                    old.shard.index,
                    old.shard.count
                ),
            ));
        }
    }
    let opened = Results::open(out, options.resume)?;
    crate::fs::write_atomic(
        &info_path,
        serde_json::to_string_pretty(&info)
            .expect("plain data")
            .as_bytes(),
    )?;
    crate::fs::write_atomic(&out.join("scenario.toml"), text.as_bytes())?;
    Ok(opened)
}

/// The chunks of `examples` this shard runs, as (chunk index, its examples).
pub fn chunks(examples: &[Example], batch: usize, shard: Shard) -> Vec<(usize, &[Example])> {
    examples
        .chunks(batch)
        .enumerate()
        .filter(|(c, _)| shard.owns(*c))
        .collect()
}

/// Records still to measure in `chunks`.
pub fn remaining(
    scenario: &Scenario,
    chunks: &[(usize, &[Example])],
    finished: &HashSet<(usize, String)>,
) -> usize {
    let keys: Vec<String> = configs(scenario).into_iter().map(|c| c.key).collect();
    chunks
        .iter()
        .flat_map(|(_, ex)| ex.iter())
        .map(|e| {
            keys.iter()
                .filter(|k| !finished.contains(&(e.index, (*k).clone())))
                .count()
        })
        .sum()
}
