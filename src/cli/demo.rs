//! `avfoil demo audio`: the ART audio notebook's story on the shipped model and bundled clips.
//!
//! 1. the clean prediction;
//! 2. PGD flips it with a small perturbation: small steps, stopping as soon as the label flips, so
//!    the perturbation is the smallest PGD finds (the notebook's eps of half an int16 step does not
//!    move this model, see the model card);
//! 3. MP3 compression undoes the attack: such a perturbation does not survive the codec;
//! 4. PGD through the MP3 defence (identity gradient, BPDA), with the full budget, flips it again.

use super::attack::print_report;
use anyhow::{Context, Result};
use avfoil::attack::{Common, Eps, Pgd};
use avfoil::attack_report::{AttackRun, Batch, run_attack};
use avfoil::audio::wav::{WavEncoding, write_wav};
use avfoil::classifier::{Defended, Model, argmax_rows};
use avfoil::defence::Mp3Compression;
use avfoil::fs::write_atomic;
use avfoil::media::npy::npy_from_bytes;
use avfoil::media::plot::{spectrogram_png, waveform_png};
use burn::tensor::{Device, Tensor, TensorData};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Four real FSDD test digits (see examples/README.md) and their true classes.
const SPOKEN_DIGITS: &[u8] = include_bytes!("../../examples/spoken-digits.npy");
const SPOKEN_DIGITS_NAMES: [&str; 4] = ["1_george_0", "3_jackson_0", "5_lucas_0", "8_nicolas_0"];
const SPOKEN_DIGITS_LABELS: [usize; 4] = [1, 3, 5, 8];

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Demo {
    /// Spoken digits: clean, PGD, MP3 defence, adaptive PGD through MP3 (the ART audio notebook).
    Audio,
    /// An action clip: clean, FGM, frame saliency, H.264 defence (the ART video notebook).
    Video,
    /// Real speech hidden from the shipped Silero VAD (a pretrained ONNX graph).
    Vad,
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Which demo [default: all three, in OUT/audio, OUT/video and OUT/vad].
    demo: Option<Demo>,
    /// Folder for the WAV files, plots and report.json.
    #[arg(long, default_value = "avfoil-demo")]
    out: PathBuf,
    /// L∞ budget of the attacks: int16 sample units for audio [default: 64], pixels in [0, 1]
    /// for video [default: 8/255], full scale for the VAD [default: 0.005].
    #[arg(long)]
    eps: Option<f32>,
    /// Video: H.264 constant rate factor of the defence.
    #[arg(long, default_value_t = 30)]
    crf: u8,
    /// Step of the attack on the undefended model, which stops as soon as the label flips.
    #[arg(long, default_value_t = 1.0)]
    eps_step: f32,
    /// Most PGD iterations of the attack on the undefended model.
    #[arg(long, default_value_t = 200, value_parser = at_least_one)]
    max_iter: usize,
    /// PGD iterations of the adaptive attack through MP3 (the notebook's 40), steps of eps/5.
    #[arg(long, default_value_t = 40, value_parser = at_least_one)]
    adaptive_iter: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the report as one JSON document.
    #[arg(long)]
    json: bool,
}

/// Iteration counts: PGD with no iteration returns its input, as `attack` and scenarios refuse it.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("at least 1 (0 iterations would return the input unchanged)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn pgd(eps: f32, eps_step: f32, max_iter: usize, early_stop: bool, seed: u64) -> Result<Pgd> {
    let pgd = Pgd {
        common: Common {
            eps: Eps::Scalar(eps),
            eps_step: Eps::Scalar(eps_step),
            seed,
            ..Default::default()
        },
        max_iter,
        early_stop,
        ..Default::default()
    };
    pgd.validate()?;
    Ok(pgd)
}

pub fn run(mut args: DemoArgs, device: &Device) -> Result<()> {
    let Some(demo) = args.demo else {
        let root = args.out.clone();
        for (which, sub) in [
            (Demo::Audio, "audio"),
            (Demo::Video, "video"),
            (Demo::Vad, "vad"),
        ] {
            args.demo = Some(which);
            args.out = root.join(sub);
            run(args.clone(), device)?;
            println!();
        }
        return Ok(());
    };
    if let Demo::Video = demo {
        let demo = super::demo_video::VideoDemo {
            out: &args.out,
            eps: args.eps.unwrap_or(8.0 / 255.0),
            crf: args.crf,
            seed: args.seed,
            json: args.json,
        };
        return super::demo_video::run(demo, device);
    }
    if let Demo::Vad = demo {
        let demo = super::demo_vad::VadDemo {
            out: &args.out,
            eps: args.eps.unwrap_or(0.005),
            max_iter: args.adaptive_iter,
            seed: args.seed,
            json: args.json,
        };
        return super::demo_vad::run(demo, device);
    }
    let eps = args.eps.unwrap_or(64.0);
    let attack = pgd(eps, args.eps_step, args.max_iter, true, args.seed)?;
    let adaptive_step = if eps > 0.0 { eps / 5.0 } else { 1.0 };
    let adaptive = pgd(eps, adaptive_step, args.adaptive_iter, false, args.seed)?;
    let model = Model::open("spoken-digits", device)?;
    let inputs = npy_from_bytes("examples/spoken-digits.npy", SPOKEN_DIGITS)?;
    let clf = model.classifier.as_ref();
    let classes = &model.config.classes;
    let rate = model.config.input.sample_rate.unwrap_or(8000);
    let n = inputs.batch_len(clf.input_shape())?;
    let d = clf.features();
    let x = inputs.to_tensor(n, device);
    let origins: Vec<(String, usize)> = SPOKEN_DIGITS_NAMES
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    std::fs::create_dir_all(&args.out).with_context(|| format!("--out {}", args.out.display()))?;
    let batch = Batch {
        x: &x,
        labels: Some(&SPOKEN_DIGITS_LABELS),
        mask: None,
        origins: &origins,
        video: false,
        sample_rate: Some(rate),
        eot: 1,
    };

    // 1-2: PGD on the undefended model.
    let pgd_run = run_attack(clf, classes, &attack, &batch, 32)?;
    // 3: MP3 on the clean and the adversarial clips, classified by the undefended model.
    let mp3 = Mp3Compression::new(
        rate,
        clf.input_shape(),
        avfoil::scale::AudioScale::Int16,
        None,
    )?;
    let upload = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [n, d]), device);
    let clean_mp3 = argmax_rows(clf.predict(&mp3.compress_batch(x.clone())?, 32)?);
    let adv = upload(pgd_run.adversarial.clone());
    let adv_mp3 = argmax_rows(clf.predict(&mp3.compress_batch(adv)?, 32)?);
    // 4: PGD through the MP3 defence (BPDA), judged by the defended model.
    let defended = Defended::new(model.classifier.clone(), vec![Box::new(mp3)]);
    let adaptive_run = run_attack(&defended, classes, &adaptive, &batch, 32)?;

    let clean: Vec<f32> = inputs.data.clone();
    for (i, name) in SPOKEN_DIGITS_NAMES.iter().enumerate() {
        let row = |v: &[f32]| {
            v[i * d..(i + 1) * d]
                .iter()
                .map(|s| s / 32768.0)
                .collect::<Vec<_>>()
        };
        let dir = &args.out;
        write_wav(
            &dir.join(format!("{name}.wav")),
            rate,
            &row(&clean),
            WavEncoding::Float32,
        )?;
        write_wav(
            &dir.join(format!("{name}.pgd.wav")),
            rate,
            &row(&pgd_run.adversarial),
            WavEncoding::Float32,
        )?;
        write_wav(
            &dir.join(format!("{name}.adaptive.wav")),
            rate,
            &row(&adaptive_run.adversarial),
            WavEncoding::Float32,
        )?;
        let e = &pgd_run.report.examples[i];
        let title = format!(
            "{name}: PGD (L∞ {:.1}) turns {} into {} (SNR {} dB)",
            e.linf,
            e.clean.class,
            e.adversarial.class,
            e.snr_db.map_or("∞".into(), |v| format!("{v:.1}"))
        );
        let (c, a) = (
            &clean[i * d..(i + 1) * d],
            &pgd_run.adversarial[i * d..(i + 1) * d],
        );
        waveform_png(
            &dir.join(format!("{name}.pgd.waveform.png")),
            &title,
            rate,
            c,
            a,
        )?;
        spectrogram_png(
            &dir.join(format!("{name}.pgd.spectrogram.png")),
            &title,
            rate,
            c,
            a,
        )?;
    }

    let table = story_table(classes, &pgd_run, &clean_mp3, &adv_mp3, &adaptive_run);
    let doc = serde_json::json!({
        "model": model.dir.display().to_string(),
        "eps": eps,
        "seed": args.seed,
        "pgd": pgd_run.report,
        "mp3_on_clean": clean_mp3.iter().map(|&l| &classes[l]).collect::<Vec<_>>(),
        "mp3_on_pgd": adv_mp3.iter().map(|&l| &classes[l]).collect::<Vec<_>>(),
        "adaptive_pgd_through_mp3": adaptive_run.report,
    });
    let text = serde_json::to_string_pretty(&doc)?;
    write_atomic(&args.out.join("report.json"), text.as_bytes())?;
    if args.json {
        println!("{text}");
        return Ok(());
    }
    println!(
        "ART's audio notebook on the shipped spoken-digits model (RawAudioCNN) and 4 real FSDD test clips."
    );
    println!(
        "2: PGD L∞ eps {} int16 units, steps of {}, stopping at the first flip (at most {} iterations).",
        eps, args.eps_step, args.max_iter
    );
    println!("3: MP3 at 8 kb/s (ART's setting) on the clean and on the adversarial clips.");
    println!(
        "4: PGD through MP3 with identity gradients (BPDA), eps {}, steps of {}, {} iterations.\n",
        eps, adaptive_step, args.adaptive_iter
    );
    println!("{table}");
    println!("details of step 2:");
    print_report(&pgd_run.report, &model.dir, &[], false)?;
    println!("details of step 4 (predictions of the MP3-defended model):");
    print_report(&adaptive_run.report, &model.dir, &["mp3".into()], false)?;
    println!(
        "\nwrote WAV files (clean, .pgd, .adaptive; 32-bit float), waveform and spectrogram plots and report.json to {}",
        args.out.display()
    );
    Ok(())
}

/// The four-step story as a table: one row per clip.
fn story_table(
    classes: &[String],
    pgd: &AttackRun,
    clean_mp3: &[usize],
    adv_mp3: &[usize],
    adaptive: &AttackRun,
) -> String {
    let snr = |v: Option<f32>| v.map_or("-".into(), |v| format!("{v:.1} dB"));
    let mut lines = vec![format!(
        "{:<13} {:>4} {:>7} {:>17} {:>10} {:>10} {:>23}",
        "clip",
        "true",
        "1 clean",
        "2 PGD (SNR)",
        "3 MP3(PGD)",
        "MP3(clean)",
        "4 PGD through MP3 (SNR)"
    )];
    for (i, name) in SPOKEN_DIGITS_NAMES.iter().enumerate() {
        let (p, a) = (&pgd.report.examples[i], &adaptive.report.examples[i]);
        lines.push(format!(
            "{:<13} {:>4} {:>7} {:>17} {:>10} {:>10} {:>23}",
            name,
            classes[SPOKEN_DIGITS_LABELS[i]],
            p.clean.class,
            format!("{} ({})", p.adversarial.class, snr(p.snr_db)),
            classes[adv_mp3[i]],
            classes[clean_mp3[i]],
            format!("{} ({})", a.adversarial.class, snr(a.snr_db)),
        ));
    }
    let count =
        |f: &dyn Fn(usize) -> bool| (0..SPOKEN_DIGITS_NAMES.len()).filter(|&i| f(i)).count();
    let n = SPOKEN_DIGITS_NAMES.len();
    lines.push(format!(
        "\nPGD fools the model on {}/{n}; MP3 restores the true digit on {}/{} of those; the adaptive attack fools the defended model on {}/{n}.",
        count(&|i| pgd.report.examples[i].success),
        count(&|i| pgd.report.examples[i].success && adv_mp3[i] == SPOKEN_DIGITS_LABELS[i]),
        count(&|i| pgd.report.examples[i].success),
        count(&|i| adaptive.report.examples[i].success),
    ));
    lines.join("\n")
}
