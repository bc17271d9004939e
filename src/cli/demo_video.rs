//! `avfoil demo video`: the ART action-recognition notebook's story on the shipped action model and
//! a bundled stand-in clip (a Basketball dribble from a test group the model never saw).
//!
//! 1. clean top-5;
//! 2. FGM, L∞ eps 8/255, on every frame;
//! 3. frame saliency (iterative) around the same FGM: only the most salient frames change;
//! 4. H.264 at CRF 30 on the clean clip and on the sparse adversarial clip.

use anyhow::{Context, Result};
use avfoil::array::tensor_to_vec;
use avfoil::attack::frame_saliency::{FrameSaliency, PrefixSearch, SaliencyMethod};
use avfoil::attack::{Common, Eps, Fgm};
use avfoil::attack_report::{AttackRun, Batch, run_attack};
use avfoil::classifier::{Model, probabilities};
use avfoil::defence::h264::{H264Compression, H264Quality};
use avfoil::fs::write_atomic;
use avfoil::media::plot::frame_strip_png;
use avfoil::scale::VideoScale;
use avfoil::video::gif_write::write_gif;
use burn::tensor::{Device, Tensor, TensorData};
use std::path::Path;

/// The bundled clip (see examples/README.md): 48 frames of 320 × 240 at 25 fps, H.264 in MP4.
const CLIP: &[u8] = include_bytes!("../../examples/v_Basketball_g02_c01.mp4");
const CLIP_NAME: &str = "v_Basketball_g02_c01";
const TRUE_CLASS: &str = "Basketball";

/// Settings of the video demo.
pub struct VideoDemo<'a> {
    pub out: &'a Path,
    /// L∞ budget in pixel units of `[0, 1]` (the notebook's 8/255).
    pub eps: f32,
    pub crf: u8,
    pub seed: u64,
    pub json: bool,
}

pub fn run(demo: VideoDemo, device: &Device) -> Result<()> {
    let model = Model::open("actions", device)?;
    let clf = model.classifier.as_ref();
    let classes = &model.config.classes;
    let shape = clf.input_shape().to_vec();
    let d = clf.features();
    let truth = classes
        .iter()
        .position(|c| c == TRUE_CLASS)
        .context("the shipped action model has no Basketball class")?;

    let video = {
        let tmp = tempfile::Builder::new().suffix(".mp4").tempfile()?;
        std::fs::write(tmp.path(), CLIP)?;
        avfoil::video::io::read_video(tmp.path())?
    };
    let sampling = model.config.input.sampling.clone().unwrap_or_default();
    let clean = sampling.clip(&video, shape[1], shape[2], shape[3])?;
    let upload = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, d]), device);
    let x = upload(&clean);
    std::fs::create_dir_all(demo.out).with_context(|| format!("--out {}", demo.out.display()))?;

    let fgm = Fgm {
        common: Common {
            eps: Eps::Scalar(demo.eps),
            eps_step: Eps::Scalar(demo.eps),
            batch_size: 1,
            seed: demo.seed,
            ..Default::default()
        },
        minimal: false,
    };
    let saliency = FrameSaliency {
        attacker: Box::new(fgm.clone()),
        method: SaliencyMethod::Iterative,
        search: PrefixSearch::Linear,
        frame_axis: 1,
        batch_size: 1,
    };
    let labels = [truth];
    let origins = [(CLIP_NAME.to_string(), 0)];
    let batch = Batch {
        x: &x,
        labels: Some(&labels),
        mask: None,
        origins: &origins,
        video: true,
        sample_rate: None,
        eot: 1,
    };
    let fgm_run = run_attack(clf, classes, &fgm, &batch, 1)?;
    let fsa_run = run_attack(clf, classes, &saliency, &batch, 1)?;
    let h264 = H264Compression::new(&shape, VideoScale::Unit, H264Quality::Crf(demo.crf))?;
    let clean_h264 = h264.compress(&clean)?;
    let fsa_h264 = h264.compress(&fsa_run.adversarial)?;

    let top5 = |v: &[f32]| -> Result<Vec<(String, f32)>> {
        let p = tensor_to_vec(probabilities(clf.predict(&upload(v), 1)?));
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        Ok(order
            .iter()
            .take(5)
            .map(|&k| (classes[k].clone(), p[k]))
            .collect())
    };
    let rows = [
        ("1 clean", top5(&clean)?),
        ("2 FGM 8/255", top5(&fgm_run.adversarial)?),
        ("3 frame saliency", top5(&fsa_run.adversarial)?),
        ("4 H.264 (clean)", top5(&clean_h264)?),
        ("4 H.264 (saliency)", top5(&fsa_h264)?),
    ];

    // Artefacts: GIFs at 4× the model's size (nearest neighbour), a frame strip, the report.
    let fps = video.fps / sampling.stride as f64;
    for (name, clip) in [
        ("clean", &clean),
        ("fgm", &fgm_run.adversarial),
        ("saliency", &fsa_run.adversarial),
        ("saliency.h264", &fsa_h264),
    ] {
        let (big, big_shape) = upscale(clip, &shape, 4);
        write_gif(
            &demo.out.join(format!("{CLIP_NAME}.{name}.gif")),
            &big,
            &big_shape,
            1.0,
            fps as f32,
        )?;
    }
    let frames = fsa_run.report.examples[0].perturbed_frames.unwrap_or(0);
    frame_strip_png(
        &demo.out.join(format!("{CLIP_NAME}.saliency.frames.png")),
        &format!("frame saliency: {frames} of {} frames perturbed", shape[1]),
        &clean,
        &fsa_run.adversarial,
        &shape,
        1.0,
    )?;
    let doc = serde_json::json!({
        "model": model.dir.display().to_string(),
        "clip": CLIP_NAME,
        "true_class": TRUE_CLASS,
        "eps": demo.eps,
        "crf": demo.crf,
        "seed": demo.seed,
        "top5": rows.iter().map(|(step, t)| serde_json::json!({"step": step, "top5": t})).collect::<Vec<_>>(),
        "fgm": fgm_run.report,
        "frame_saliency": fsa_run.report,
    });
    let text = serde_json::to_string_pretty(&doc)?;
    write_atomic(&demo.out.join("report.json"), text.as_bytes())?;
    if demo.json {
        println!("{text}");
        return Ok(());
    }
    println!(
        "ART's action-recognition notebook on the shipped actions model (c3d-lite) and a stand-in \
         {TRUE_CLASS} clip from an unseen group."
    );
    println!(
        "FGM L∞ eps {:.4} ({}/255) on all {} frames; frame saliency (iterative) around the same FGM; \
         H.264 at CRF {} (OpenH264, QP {}).\n",
        demo.eps,
        (demo.eps * 255.0).round(),
        shape[1],
        demo.crf,
        h264.qp()
    );
    println!("{}", story_table(&rows, &fgm_run, &fsa_run, shape[1]));
    println!(
        "\nwrote GIFs (clean, fgm, saliency, saliency.h264), the saliency frame strip and report.json to {}",
        demo.out.display()
    );
    Ok(())
}

fn story_table(
    rows: &[(&str, Vec<(String, f32)>)],
    fgm: &AttackRun,
    fsa: &AttackRun,
    frames: usize,
) -> String {
    let mut lines = vec![format!("{:<20} top-5 (probability)", "step")];
    for (step, top) in rows {
        let cells: Vec<String> = top.iter().map(|(c, p)| format!("{c} {p:.3}")).collect();
        lines.push(format!("{step:<20} {}", cells.join(", ")));
    }
    let (f, s) = (&fgm.report.examples[0], &fsa.report.examples[0]);
    lines.push(String::new());
    lines.push(format!(
        "FGM: {} (L∞ {:.4}, {} of {frames} frames changed).",
        if f.success { "fooled" } else { "not fooled" },
        f.linf,
        f.perturbed_frames.unwrap_or(frames)
    ));
    lines.push(format!(
        "frame saliency: {} with {} of {frames} frames perturbed (L∞ {:.4}).",
        if s.success { "fooled" } else { "not fooled" },
        s.perturbed_frames.unwrap_or(0),
        s.linf
    ));
    lines.join("\n")
}

/// A clip `[3, F, H, W]` enlarged `k` times by pixel repetition, for viewing.
fn upscale(clip: &[f32], shape: &[usize], k: usize) -> (Vec<f32>, Vec<usize>) {
    let (f, h, w) = (shape[1], shape[2], shape[3]);
    let (bh, bw) = (h * k, w * k);
    let mut out = Vec::with_capacity(3 * f * bh * bw);
    for plane in clip.chunks_exact(h * w) {
        for y in 0..bh {
            let row = &plane[(y / k) * w..(y / k + 1) * w];
            for x in 0..bw {
                out.push(row[x / k]);
            }
        }
    }
    (out, vec![3, f, bh, bw])
}
