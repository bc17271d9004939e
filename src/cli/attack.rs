//! `avfoil attack`: craft adversarial examples and report how they fare.
//!
//! The attack comes from the registry: `--attack NAME` and its parameters, given as the named
//! flags below or as `--param KEY=VALUE` (every parameter of every attack: `avfoil list`), are
//! read by the attack's own spec, which a scenario's `[[attack]]` table goes through too.

use super::defences::DefenceArgs;
use super::inputs::{Inputs, OutputPlan};
use super::{class_index, load_model};
use anyhow::{Context, Result, bail};
use avfoil::array::frame_index;
use avfoil::attack::spec::{self, AttackSpec, RunSettings, eps_value};
use avfoil::attack::{Attack, Eps, Mask, PhysicalBudget};
use avfoil::attack_report::{AttackReport, Batch, run_attack};
use avfoil::audio::wav::WavEncoding;
use avfoil::classifier::Classifier;
use avfoil::fs::Staged;
use avfoil::media::npy::read_npy;
use avfoil::media::plot::{frame_strip_png, masking_png, spectrogram_png, waveform_png};
use avfoil::model::Modality;
use avfoil::params::{KeyStyle, Params};
use avfoil::perception::masking_frame::most_audible_frame;
use avfoil::scale::AudioScale;
use avfoil::video::gif_write::write_gif;
use burn::tensor::Device;
use clap::Args;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct AttackArgs {
    /// Model directory (model.toml + weights) or the name of a shipped model (spoken-digits).
    #[arg(long)]
    model: PathBuf,
    /// The attack: auto (the evaluation default), apgd, fab, square, deepfool, cw, pgd, fgm,
    /// frame-saliency (`avfoil list` shows every attack and its parameters).
    #[arg(long)]
    attack: String,
    /// Budget in input units (int16 LSB for int16-scale audio, [0,1] for video); one value, or
    /// one per example separated by commas. Or give one of --snr-db, --dbfs, --eps-uint8.
    #[arg(long, required_unless_present_any = ["snr_db", "dbfs", "eps_uint8"],
          conflicts_with_all = ["snr_db", "dbfs", "eps_uint8"])]
    eps: Option<String>,
    /// Audio: a budget per example from its own level: every perturbation within it leaves the
    /// clip at least this many dB above it (L-inf: eps = RMS(x)·10^(-SNR/20); L2: ‖x‖₂·10^(-SNR/20)).
    #[arg(long, conflicts_with_all = ["dbfs", "eps_uint8"])]
    snr_db: Option<f64>,
    /// Audio: the perturbation's level in dB relative to full scale (32768 int16 steps or 1.0),
    /// at most 0: its peak for L-inf, its RMS for L2.
    #[arg(long, conflicts_with = "eps_uint8")]
    dbfs: Option<f64>,
    /// Video: the budget in 8-bit pixel steps (N/255 for [0, 1] pixels, N for [0, 255] ones).
    #[arg(long)]
    eps_uint8: Option<f64>,
    /// Norm of the budget: inf, 1, 2 or any real p >= 1 [default: inf].
    #[arg(long)]
    norm: Option<String>,
    /// Step size in input units, one value or one per example [default: eps/4 for PGD, eps/10
    /// for minimal FGM; ART's fixed 0.1 only suits [0, 1] inputs].
    #[arg(long)]
    eps_step: Option<String>,
    /// PGD iterations [default: 100].
    #[arg(long)]
    max_iter: Option<usize>,
    /// Random starts inside the eps-ball (0: start at the input); the best is kept per example.
    #[arg(long)]
    random_init: Option<usize>,
    /// Move towards --target instead of away from the true class.
    #[arg(long, requires = "target")]
    targeted: bool,
    /// Target class (name or index): one for all examples, or one per example separated by commas.
    #[arg(long, requires = "targeted")]
    target: Option<String>,
    /// True classes for an untargeted attack (default: the model's predictions), comma-separated.
    #[arg(long, conflicts_with = "targeted")]
    labels: Option<String>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Examples per gradient computation.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// FGM: search the smallest successful multiple of eps-step up to eps.
    #[arg(long)]
    minimal: bool,
    /// PGD: momentum decay factor (Momentum Iterative Method).
    #[arg(long)]
    decay: Option<f32>,
    /// PGD: draw each example's eps from a half-normal truncated to [0, eps].
    #[arg(long)]
    random_eps: bool,
    /// PGD: stop iterating an example as soon as it is adversarial.
    #[arg(long)]
    early_stop: bool,
    /// Project L1 perturbations exactly (ART rescales radially).
    #[arg(long)]
    exact_l1: bool,
    /// Frame saliency: how frames are chosen: iterative, iterative-refresh or one-shot
    /// [default: iterative].
    #[arg(long)]
    method: Option<String>,
    /// Frame saliency, iterative method: linear (ART's answer) or bisect (log2(frames) checks,
    /// assuming more perturbed frames never undo success) [default: linear].
    #[arg(long)]
    search: Option<String>,
    /// Frame saliency: the attack run on the chosen frames, fgm or pgd [default: fgm].
    #[arg(long)]
    inner: Option<String>,
    /// Axis of the frames in one example's shape, for frame saliency and --frames
    /// (`[C, F, H, W]`: 1) [default: 1].
    #[arg(long)]
    frame_axis: Option<usize>,
    /// Any parameter of the attack as KEY=VALUE (repeatable): `--param step=0.5`.
    #[arg(long, value_name = "KEY=VALUE")]
    param: Vec<String>,
    /// Video: perturb only these frames (comma-separated indices along --frame-axis).
    #[arg(long, value_delimiter = ',')]
    frames: Option<Vec<usize>>,
    /// .npy mask of one example's shape (or the whole batch's): 0 = keep, non-zero = may change.
    #[arg(long)]
    mask: Option<PathBuf>,
    #[command(flatten)]
    defences: DefenceArgs,
    /// Expectation over transformation: average every gradient over N draws of the randomised
    /// defences in --defence (seeded by --seed).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    eot: u64,
    /// Output: a .npy (.wav) file for a single .npy (.wav) input, otherwise a folder that gets one
    /// `<name>.adv.npy` or `<name>.adv.wav` per input. WAV outputs are 32-bit float (the perturbation
    /// kept exactly) at the model's rate.
    #[arg(long)]
    out: PathBuf,
    /// Universal: where the fitted perturbation (one example's shape, `.npy`) goes [default:
    /// `universal.perturbation.npy` in the output folder, or beside the output file].
    #[arg(long)]
    perturbation: Option<PathBuf>,
    /// Audio: write WAV outputs as 16-bit PCM, and report whether each attack survives that rounding.
    #[arg(long)]
    wav_int16: bool,
    /// Also write, per example, into the output folder (or beside the output file): audio,
    /// `<name>[-item].waveform.png`, `.spectrogram.png` and `.masking.png` (the perturbation's most
    /// audible frame against the clip's masking threshold); RGB video, `.frames.png` (each frame
    /// over its perturbation) and `.adv.gif` (25 fps).
    #[arg(long)]
    plots: bool,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
    /// Clip .npy values outside the model's input range (`input.clip`) into it, with a warning,
    /// instead of refusing the input.
    #[arg(long)]
    clip_inputs: bool,
    /// .npy files (one example of the model's input shape, or a batch with a leading axis) or, for
    /// audio models, mono WAV files (resampled to the model's rate, centred, padded or cropped), or
    /// for video models video files (MP4, GIF, a folder of frames; AVI and MKV with the `ffmpeg`
    /// feature), sampled as the model's `[input.sampling]` says.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

/// A comma-separated list of numbers as a TOML value: one number, or an array.
fn numbers(flag: &str, s: &str) -> Result<toml::Value> {
    let values: Vec<f64> = s
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .with_context(|| format!("{flag}: {v:?} is not a number"))
        })
        .collect::<Result<_>>()?;
    Ok(match values.as_slice() {
        [one] => toml::Value::Float(*one),
        _ => toml::Value::Array(values.into_iter().map(toml::Value::Float).collect()),
    })
}

impl AttackArgs {
    /// The attack's parameters as the flags give them (only those given: defaults are the spec's).
    fn params(&self) -> Result<Params> {
        let mut p = Params::new(KeyStyle::Flag);
        let mut set = |key: &str, value: Option<toml::Value>| {
            if let Some(v) = value {
                p.insert(key, v);
            }
        };
        let int = |v: usize| toml::Value::Integer(v as i64);
        let flag = |on: bool| on.then_some(toml::Value::Boolean(true));
        set("norm", self.norm.clone().map(toml::Value::String));
        set(
            "eps_step",
            self.eps_step
                .as_deref()
                .map(|s| numbers("--eps-step", s))
                .transpose()?,
        );
        set("max_iter", self.max_iter.map(int));
        set("random_init", self.random_init.map(int));
        set("minimal", flag(self.minimal));
        set("decay", self.decay.map(|v| toml::Value::Float(v.into())));
        set("random_eps", flag(self.random_eps));
        set("early_stop", flag(self.early_stop));
        set("exact_l1", flag(self.exact_l1));
        set("method", self.method.clone().map(toml::Value::String));
        set("search", self.search.clone().map(toml::Value::String));
        set("inner", self.inner.clone().map(toml::Value::String));
        // --frame-axis also places --frames: only an attack with frames takes it as a parameter.
        if self.attack == "frame-saliency" {
            set("frame_axis", self.frame_axis.map(int));
        }
        for assignment in &self.param {
            p.insert_assignment(assignment)?;
        }
        Ok(p)
    }

    /// A budget in physical units, when one was given instead of --eps.
    fn physical_budget(&self) -> Option<PhysicalBudget> {
        match (self.snr_db, self.dbfs, self.eps_uint8) {
            (Some(v), _, _) => Some(PhysicalBudget::SnrDb(v)),
            (_, Some(v), _) => Some(PhysicalBudget::Dbfs(v)),
            (_, _, Some(v)) => Some(PhysicalBudget::Uint8(v)),
            _ => None,
        }
    }

    /// The attack's spec, from the registry.
    fn spec(&self) -> Result<Box<dyn AttackSpec>> {
        let mut params = self.params()?;
        spec::parse(&self.attack, &mut params).with_context(|| format!("--attack {}", self.attack))
    }

    /// What the run decides: the budget (`eps`, else --eps), targeting, seed and batch size.
    fn run_settings(&self, eps: Option<&Eps>) -> Result<RunSettings> {
        let eps: Eps = match (eps, &self.eps) {
            (Some(e), _) => e.clone(),
            (None, Some(text)) => eps_value(&numbers("--eps", text)?, "eps")?,
            (None, None) => bail!("--eps: give a budget (or --snr-db, --dbfs, --eps-uint8)"),
        };
        Ok(RunSettings {
            eps,
            targeted: self.targeted,
            seed: self.seed,
            batch_size: self.batch_size as usize,
            streams: None,
        })
    }
}

/// The attack for a run at `eps` (else --eps).
fn build(args: &AttackArgs, spec: &dyn AttackSpec, eps: Option<&Eps>) -> Result<Box<dyn Attack>> {
    Ok(spec.build(&args.run_settings(eps)?)?)
}

/// The mask that `--frames` and `--mask` make together (both must allow a feature).
fn combined_mask(args: &AttackArgs, shape: &[usize], n: usize) -> Result<Option<Mask>> {
    let user = match &args.mask {
        Some(p) => {
            let array = read_npy(p)?;
            // The shape first: a misshaped mask is a shape error, whatever its values.
            let d: usize = shape.iter().product();
            if array.data.len() != d && array.data.len() != n * d {
                bail!(
                    "--mask {}: shape {:?} matches neither one example {shape:?} nor the batch of \
                     {n} ([{n}, ...])",
                    p.display(),
                    array.shape
                );
            }
            Some(Mask::new(array.data).with_context(|| format!("--mask {}", p.display()))?)
        }
        None => None,
    };
    let Some(frames) = &args.frames else {
        return Ok(user);
    };
    let (frame_of, count) = frame_index(shape, args.frame_axis.unwrap_or(1)).context("--frames")?;
    if let Some(&bad) = frames.iter().find(|&&f| f >= count) {
        bail!(
            "--frames: frame {bad} does not exist; examples have {count} frames (0-{})",
            count - 1
        );
    }
    let d = frame_of.len();
    let base = match &user {
        Some(m) => m.expand(n, d).context("--mask")?,
        None => vec![1.0; n * d],
    };
    let values = base
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if frames.contains(&frame_of[i % d]) {
                v
            } else {
                0.0
            }
        })
        .collect();
    Ok(Some(Mask::new(values)?))
}

pub(super) fn class_list(classes: &[String], s: &str, n: usize, flag: &str) -> Result<Vec<usize>> {
    let parsed: Vec<usize> = s
        .split(',')
        .map(|c| class_index(classes, c.trim()))
        .collect::<Result<_>>()
        .with_context(|| flag.to_string())?;
    match parsed.len() {
        1 => Ok(vec![parsed[0]; n]),
        m if m == n => Ok(parsed),
        m => bail!("{flag}: {m} classes given for {n} examples (give one, or one per example)"),
    }
}

pub fn run(args: AttackArgs, device: &Device) -> Result<()> {
    let spec = args.spec()?;
    let physical = args.physical_budget();
    // With --eps the attack is built before anything is loaded, so that a bad budget or parameter
    // fails at once; a physical budget needs the model's units and the clips' levels first.
    let mut built = None;
    if physical.is_none() {
        built = Some(build(&args, spec.as_ref(), None)?);
    }
    if args.perturbation.is_some() && !spec.fits_one_perturbation() {
        bail!(
            "--perturbation: only an attack that fits one perturbation to the set (universal) \
             writes one ({} makes one per example)",
            args.attack
        );
    }
    let model = load_model(&args.model, device)?;
    spec.check_input(&model.config.input)
        .with_context(|| format!("--attack {}", args.attack))?;
    let (defended, defences, randomised) = args.defences.defended(&model, args.seed)?;
    if args.eot > 1 && !randomised {
        bail!(
            "--eot {}: no randomised defence in front of the model ({}); every draw would give the \
             same gradient (use e.g. --defence gaussian-noise --defence-param gaussian-noise.sigma=S)",
            args.eot,
            if defences.is_empty() {
                "none".to_string()
            } else {
                defences.join(", ")
            }
        );
    }
    let audio = model.config.input.modality == Modality::Audio;
    if audio && (args.frames.is_some() || args.frame_axis.is_some()) {
        bail!(
            "--frames and --frame-axis apply to video models; {} is an audio model (its samples \
             are not frames: use --mask to keep samples unchanged)",
            model.dir.display()
        );
    }
    if args.wav_int16 && !audio {
        bail!("--wav-int16 applies to audio models only");
    }
    let shape = model.config.input.shape.clone();
    if args.plots && !audio && !matches!(shape.as_slice(), [3, _, _, _]) {
        bail!("--plots needs an audio model or an RGB video model ([3, F, H, W]), not {shape:?}");
    }
    let clf: &dyn Classifier = defended.as_ref();
    let classes = &model.config.classes;
    let inputs = Inputs::load(&args.inputs, &model, args.clip_inputs, device)?;
    if let Some(budget) = &physical {
        let clean = avfoil::array::tensor_to_vec(inputs.batch.clone());
        let eps = budget.eps(&model.config.input, spec.norm(), &clean, inputs.rows())?;
        built = Some(build(&args, spec.as_ref(), Some(&eps))?);
    }
    let attack: &dyn Attack = built
        .as_deref()
        .context("the attack is built before the inputs are used")?;
    let n = inputs.rows();
    // Every output path is decided and checked before the attack runs.
    let mut plan = inputs.plan_outputs(&args.out, "adv")?;
    let origins = inputs.origins();
    let plots: Vec<(String, Vec<PathBuf>)> = if args.plots {
        plot_paths(&inputs, &origins, &mut plan, audio)
    } else {
        Vec::new()
    };
    let perturbation_path = spec.fits_one_perturbation().then(|| {
        let path = args
            .perturbation
            .clone()
            .unwrap_or_else(|| plan.dir.join("universal.perturbation.npy"));
        plan.add(path, 0)
    });
    plan.check(&inputs)?;
    let mask = combined_mask(&args, clf.input_shape(), n)?;
    let given = match (&args.target, &args.labels) {
        (Some(t), _) => Some(class_list(classes, t, n, "--target")?),
        (None, Some(l)) => Some(class_list(classes, l, n, "--labels")?),
        (None, None) => None,
    };
    let batch = Batch {
        x: &inputs.batch,
        labels: given.as_deref(),
        mask: mask.as_ref(),
        origins: &origins,
        video: !audio,
        sample_rate: model.config.input.sample_rate,
        eot: args.eot as usize,
    };
    let bs = args.batch_size as usize;
    // A bar over the batches when there are several (the attack reports each one it finishes).
    let bar = if n > bs {
        super::progress_bar(
            n as u64,
            "{bar:40} {pos}/{len} examples, {elapsed} (eta {eta})",
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    let hook = bar.clone();
    let mut run = avfoil::attack::progress::with_progress(
        move |done, _| hook.set_position(done as u64),
        || run_attack(clf, classes, attack, &batch, bs),
    )?;
    bar.finish_and_clear();
    let clean = avfoil::array::tensor_to_vec(inputs.batch.clone());
    let scale = AudioScale::from_clip(clf.clip());
    let (outputs, encoding) = if args.wav_int16 {
        let rounded = run.check_int16(clf, classes, &clean, 32768.0 / scale.factor(), bs)?;
        (rounded, WavEncoding::Int16)
    } else {
        (run.adversarial.clone(), WavEncoding::Float32)
    };
    let mut staged = Staged::new();
    let mut written = inputs.write_outputs(&outputs, &plan, &model, encoding, &mut staged)?;
    if let Some(path) = &perturbation_path {
        let fit = attack
            .fitted()
            .with_context(|| format!("--attack {} returned without a fit", args.attack))?;
        let array = avfoil::array::Array::new(shape.clone(), fit.perturbation)?;
        avfoil::media::npy::write_npy(&staged.path(path)?, &array)?;
        run.report.attack["perturbation"] = json!(path.display().to_string());
        written.push(path.clone());
    }
    let rate = model.config.input.sample_rate.unwrap_or(1);
    let d = clf.features();
    for (i, (name, paths)) in plots.iter().enumerate() {
        let e = &run.report.examples[i];
        let title = format!(
            "{name}: {} -> {} (L∞ {:.3}, SNR {} dB)",
            e.clean.class,
            e.adversarial.class,
            e.linf,
            e.snr_db.map_or("∞".into(), |v| format!("{v:.1}"))
        );
        let (c, a) = (&clean[i * d..(i + 1) * d], &outputs[i * d..(i + 1) * d]);
        if audio {
            waveform_png(&staged.path(&paths[0])?, &title, rate, c, a)?;
            spectrogram_png(&staged.path(&paths[1])?, &title, rate, c, a)?;
            // A clip shorter than the masking model's window has no threshold to draw.
            match most_audible_frame(c, a, rate) {
                Ok(frame) => masking_png(&staged.path(&paths[2])?, &title, &frame)?,
                Err(e) => eprintln!("warning: no masking plot for {name}: {e}"),
            }
        } else {
            let max = clf.clip().map_or(1.0, |(_, hi)| hi);
            frame_strip_png(&staged.path(&paths[0])?, &title, c, a, &shape, max)?;
            write_gif(&staged.path(&paths[1])?, a, &shape, max, 25.0)?;
        }
    }
    staged.commit()?;
    if !args.json {
        for p in &written {
            eprintln!("wrote {}", p.display());
        }
    }
    if let Some(budget) = &physical {
        run.report.attack["budget"] = json!(budget);
    }
    print_report(&run.report, &model.dir, &defences, args.json)
}

/// The plot files of each example (`<name>[-item].waveform.png`, `.spectrogram.png` and
/// `.masking.png` for audio,
/// `.frames.png` and `.adv.gif` for video), in the output folder or beside the output file,
/// registered with `plan`.
fn plot_paths(
    inputs: &Inputs,
    origins: &[(String, usize)],
    plan: &mut OutputPlan,
    audio: bool,
) -> Vec<(String, Vec<PathBuf>)> {
    let per_file = inputs.rows() == inputs.files.len();
    let file_of: Vec<usize> = inputs
        .files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| std::iter::repeat_n(i, f.rows))
        .collect();
    let kinds: &[&str] = if audio {
        &["waveform.png", "spectrogram.png", "masking.png"]
    } else {
        &["frames.png", "adv.gif"]
    };
    origins
        .iter()
        .zip(file_of)
        .map(|((input, item), file)| {
            let stem = Path::new(input)
                .file_stem()
                .map_or("input".into(), |s| s.to_string_lossy().to_string());
            let name = if per_file {
                stem
            } else {
                format!("{stem}-{item}")
            };
            let paths = kinds
                .iter()
                .map(|k| plan.add(plan.dir.join(format!("{name}.{k}")), file))
                .collect();
            (name, paths)
        })
        .collect()
}

/// Prints a report as lines for humans or as one JSON document.
pub fn print_report(
    report: &AttackReport,
    model: &Path,
    defences: &[String],
    json: bool,
) -> Result<()> {
    if json {
        let mut doc = serde_json::to_value(report)?;
        doc["model"] = json!(model.display().to_string());
        doc["defences"] = json!(defences);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for e in &report.examples {
            println!("{}", e.line());
        }
        println!(
            "success rate {:.1}% over {} examples in {:.2} s",
            report.success_rate * 100.0,
            report.examples.len(),
            report.seconds
        );
        if let Some(fit) = report.attack.get("fit") {
            println!(
                "universal perturbation: fooling rate {:.1}% on the set after {} pass(es){}",
                fit["fooling_rate"].as_f64().unwrap_or(0.0) * 100.0,
                fit["passes"],
                if fit["converged"].as_bool() == Some(true) {
                    ""
                } else {
                    " (target rate not reached)"
                }
            );
        }
        for c in &report.components {
            match &c.skipped {
                Some(why) => println!("  {}: skipped ({why})", c.name),
                None => println!(
                    "  {}: attacked {}, fooled {}, robust accuracy after it {:.1}% ({:.2} s)",
                    c.name,
                    c.attacked,
                    c.fooled,
                    c.robust_accuracy * 100.0,
                    c.seconds
                ),
            }
        }
        for w in &report.warnings {
            println!("warning: {w}");
        }
    }
    Ok(())
}
