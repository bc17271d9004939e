//! Hostile and careless input through the command line: each case crashed avfoil, lost or
//! overwrote data, or gave a silently wrong result before (the reliability campaign's findings).

mod common;

use avfoil::array::Array;
use avfoil::media::npy::write_npy;
use common::{avfoil, ok_json, s, write_linear_model, write_stereo_wav};
use std::path::{Path, PathBuf};

const LEN: usize = 64;

/// A two-class linear audio model in int16 units at 8 kHz and one input `x.npy` inside `dir`.
fn audio_model(dir: &Path) -> (PathBuf, PathBuf) {
    let weight: Vec<f32> = (0..2 * LEN)
        .map(|i| if (i / 3) % 2 == 0 { 1e-4 } else { -1e-4 })
        .collect();
    let input = format!(
        "modality = \"audio\"\nshape = [1, {LEN}]\nclip = [-32768.0, 32767.0]\nsample_rate = 8000"
    );
    let model = write_linear_model(dir, "tiny", ["a", "b"], &input, weight);
    let x = dir.join("x.npy");
    let data: Vec<f32> = (0..LEN).map(|i| ((i * 37) % 200) as f32 - 100.0).collect();
    write_npy(&x, &Array::new(vec![1, LEN], data).unwrap()).unwrap();
    (model, x)
}

/// A two-class linear RGB video model `[3, 4, 16, 16]` sampling every second frame.
fn video_model(dir: &Path) -> PathBuf {
    let d = 3 * 4 * 16 * 16;
    let w: Vec<f32> = (0..2 * d)
        .map(|i| if (i % d) % 2 == 0 { 0.01 } else { -0.01 } * if i < d { 1.0 } else { -1.0 })
        .collect();
    let input = "modality = \"video\"\nshape = [3, 4, 16, 16]\nclip = [0.0, 1.0]\n\
                 [input.sampling]\nstart = 0\nstride = 2";
    write_linear_model(dir, "rgb", ["a", "b"], input, w)
}

/// A folder of `n` 16 × 16 PNG frames; the frames in `corrupt` hold garbage instead.
fn frame_folder(dir: &Path, n: usize, corrupt: &[usize]) -> PathBuf {
    let folder = dir.join("frames");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..n {
        let path = folder.join(format!("frame_{i}.png"));
        if corrupt.contains(&i) {
            std::fs::write(&path, b"\x89PNG\r\n\x1a\n but not really").unwrap();
            continue;
        }
        let file = std::fs::File::create(&path).unwrap();
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), 16, 16);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let pixels: Vec<u8> = (0..16 * 16 * 3)
            .map(|p| ((p + 7 * i) % 256) as u8)
            .collect();
        enc.write_header()
            .unwrap()
            .write_image_data(&pixels)
            .unwrap();
    }
    folder
}

fn stderr_of(args: &[&str]) -> String {
    let o = avfoil(args);
    assert!(!o.status.success(), "{args:?} should fail");
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!e.contains("panicked"), "{args:?} panicked: {e}");
    e
}

#[test]
fn a_huge_p_norm_runs_instead_of_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let (model, x) = audio_model(dir.path());
    for p in ["50", "1e20"] {
        let out = dir.path().join(format!("adv{p}.npy"));
        let doc = ok_json(&[
            "attack",
            "--model",
            s(&model),
            "--attack",
            "pgd",
            "--norm",
            p,
            "--eps",
            "2000",
            "--eps-step",
            "500",
            "--max-iter",
            "3",
            "--json",
            "--out",
            s(&out),
            s(&x),
        ]);
        let linf = doc["examples"][0]["linf"].as_f64().unwrap();
        assert!(linf > 100.0, "p {p}: PGD did not move (L∞ {linf})");
    }
}

#[test]
fn non_finite_weights_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let (_, x) = audio_model(dir.path());
    let mut weight = vec![0.0f32; 2 * LEN];
    weight[5] = f32::NAN;
    let input = format!("modality = \"audio\"\nshape = [1, {LEN}]\nclip = [-32768.0, 32767.0]");
    let model = write_linear_model(dir.path(), "nan", ["a", "b"], &input, weight);
    let e = stderr_of(&["predict", "--model", s(&model), s(&x)]);
    assert!(
        e.contains("model.safetensors") && e.contains("\"weight\"") && e.contains("non-finite"),
        "{e}"
    );
}

#[test]
fn inputs_outside_the_clip_range_are_refused_unless_clipping_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = audio_model(dir.path());
    let x = dir.path().join("loud.npy");
    let mut data = vec![0.0f32; LEN];
    data[3] = 1e6;
    write_npy(&x, &Array::new(vec![1, LEN], data).unwrap()).unwrap();
    let e = stderr_of(&["predict", "--model", s(&model), s(&x)]);
    assert!(
        e.contains("loud.npy") && e.contains("1000000") && e.contains("--clip-inputs"),
        "{e}"
    );
    let o = avfoil(&["predict", "--model", s(&model), "--clip-inputs", s(&x)]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("clipped 1 values"));
}

#[test]
fn frames_and_zero_iterations_are_refused_where_they_mean_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (model, x) = audio_model(dir.path());
    let out = dir.path().join("o.npy");
    let e = stderr_of(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "fgm",
        "--eps",
        "8",
        "--frames",
        "0,1",
        "--out",
        s(&out),
        s(&x),
    ]);
    assert!(e.contains("--frames") && e.contains("audio model"), "{e}");
    let e = stderr_of(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "pgd",
        "--eps",
        "8",
        "--max-iter",
        "0",
        "--out",
        s(&out),
        s(&x),
    ]);
    assert!(e.contains("--max-iter") && e.contains("at least 1"), "{e}");
    assert!(!out.exists());
    let e = stderr_of(&["demo", "--max-iter", "0"]);
    assert!(e.contains("at least 1"), "{e}");
}

#[test]
fn messages_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (model, x) = audio_model(dir.path());
    // A batch of zero examples.
    let empty = dir.path().join("empty.npy");
    write_npy(&empty, &Array::new(vec![0, 1, LEN], vec![]).unwrap()).unwrap();
    let e = stderr_of(&["predict", "--model", s(&model), s(&empty)]);
    assert!(e.contains("empty.npy") && e.contains("no examples"), "{e}");
    // A WAV for a video model.
    let video = video_model(dir.path());
    let wav = dir.path().join("speech.wav");
    write_stereo_wav(&wav, 10);
    let e = stderr_of(&["predict", "--model", s(&video), s(&wav)]);
    assert!(e.contains("speech.wav"), "{e}");
    // A misshaped mask with negative values is a shape error.
    let mask = dir.path().join("mask.npy");
    write_npy(&mask, &Array::new(vec![3], vec![-1.0, 0.0, 1.0]).unwrap()).unwrap();
    let e = stderr_of(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "fgm",
        "--eps",
        "8",
        "--mask",
        s(&mask),
        "--out",
        s(&dir.path().join("o.npy")),
        s(&x),
    ]);
    assert!(e.contains("mask.npy") && e.contains("shape [3]"), "{e}");
    // A missing file: the OS error once.
    let e = stderr_of(&[
        "predict",
        "--model",
        s(&model),
        s(&dir.path().join("gone.npy")),
    ]);
    assert_eq!(e.matches("No such file").count(), 1, "{e}");
}

#[test]
fn outputs_never_overwrite_inputs_or_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (model, x) = audio_model(dir.path());
    let before = std::fs::read(&x).unwrap();
    let attack = |extra: &[&str]| -> String {
        let mut args = vec![
            "attack",
            "--model",
            s(&model),
            "--attack",
            "fgm",
            "--eps",
            "8",
        ];
        args.extend_from_slice(extra);
        stderr_of(&args)
    };
    // --out equal to the input.
    let e = attack(&["--out", s(&x), s(&x)]);
    assert!(e.contains("would overwrite the input"), "{e}");
    assert_eq!(std::fs::read(&x).unwrap(), before);
    // Two inputs with one name, into one folder.
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        std::fs::copy(&x, dir.path().join(sub).join("x.npy")).unwrap();
    }
    let out = dir.path().join("out");
    let (a, b) = (dir.path().join("a/x.npy"), dir.path().join("b/x.npy"));
    let e = attack(&["--out", s(&out), s(&a), s(&b)]);
    assert!(e.contains("would both be written"), "{e}");
    assert!(!out.exists(), "nothing written, not even the folder");
    // A video input whose preview would replace it: --out clip.npy for clip.gif.
    let video = video_model(dir.path());
    let frames = frame_folder(dir.path(), 8, &[]);
    let gif = dir.path().join("clip.mp4");
    let clip = avfoil::video::io::read_video(&frames).unwrap();
    avfoil::video::io::write_video(&gif, &clip).unwrap();
    let gif_before = std::fs::read(&gif).unwrap();
    let e = stderr_of(&[
        "attack",
        "--model",
        s(&video),
        "--attack",
        "fgm",
        "--eps",
        "0.01",
        "--out",
        s(&dir.path().join("clip.npy")),
        s(&gif),
    ]);
    assert!(
        e.contains("clip.mp4") && e.contains("would overwrite"),
        "{e}"
    );
    assert_eq!(std::fs::read(&gif).unwrap(), gif_before);
    // Plots into a folder of frames.
    let listing = |p: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    let files_before = listing(&frames);
    let e = stderr_of(&[
        "attack",
        "--model",
        s(&video),
        "--attack",
        "fgm",
        "--eps",
        "0.01",
        "--plots",
        "--out",
        s(&frames),
        s(&frames),
    ]);
    assert!(e.contains("inside the input folder"), "{e}");
    assert_eq!(listing(&frames), files_before);
}

#[test]
fn a_folder_of_frames_decodes_only_the_frames_the_model_samples() {
    let dir = tempfile::tempdir().unwrap();
    let video = video_model(dir.path());
    // The model samples frames 0, 2, 4 and 6: the odd ones and those past 6 are never decoded.
    let frames = frame_folder(dir.path(), 30, &[1, 3, 5, 7, 20, 29]);
    let doc = ok_json(&["predict", "--model", s(&video), "--json", s(&frames)]);
    assert_eq!(doc["predictions"].as_array().unwrap().len(), 1);
    // A sampled frame that is corrupt is still an error naming it.
    let bad = frame_folder(&dir.path().join("bad"), 8, &[4]);
    let e = stderr_of(&["predict", "--model", s(&video), s(&bad)]);
    assert!(e.contains("frame_4.png"), "{e}");
}

#[test]
fn generated_data_sets_have_bounded_sizes() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, want) in [
        ("--size", "100000x100000", "size"),
        ("--frames", "100000000", "frames"),
    ] {
        let e = stderr_of(&[
            "data",
            "actions",
            "--out",
            s(&dir.path().join("d")),
            "--groups",
            "1",
            "--clips",
            "1",
            flag,
            value,
        ]);
        assert!(e.contains(want) && e.contains("expected"), "{e}");
    }
    assert!(!dir.path().join("d").exists());
}

#[test]
fn a_diverging_training_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("model.toml"), "the user's good model").unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/audiomnist");
    let e = stderr_of(&[
        "train",
        "--arch",
        "raw-audio-cnn",
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--lr",
        "1e9",
    ]);
    assert!(
        e.contains("diverged") && e.contains("nothing was written"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("model.toml")).unwrap(),
        "the user's good model"
    );
    assert!(!out.join("model.safetensors").exists());
}

/// Real UCF101 clips have the names `data actions` writes: it never writes into an existing
/// corpus, and a run that fails midway leaves nothing (the clips are built in a hidden folder).
#[test]
fn generating_a_corpus_never_writes_into_an_existing_one() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("UCF-101/Basketball");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::write(real.join("v_Basketball_g01_c01.avi"), b"a real clip").unwrap();
    let args = |out: &Path| {
        [
            "data",
            "actions",
            "--out",
            s(out),
            "--groups",
            "1",
            "--clips",
            "1",
            "--frames",
            "4",
            "--size",
            "64x48",
            "--format",
            "mp4",
        ]
        .map(String::from)
    };
    let a = args(dir.path());
    let e = stderr_of(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(e.contains("UCF-101") && e.contains("already exists"), "{e}");
    assert_eq!(
        std::fs::read(real.join("v_Basketball_g01_c01.avi")).unwrap(),
        b"a real clip"
    );
    assert!(!dir.path().join("ucfTrainTestlist").exists());
    // A fresh folder gets the corpus and no staging leftovers.
    let fresh = dir.path().join("fresh");
    let a = args(&fresh);
    let o = avfoil(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&fresh)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["UCF-101", "ucfTrainTestlist"]);
}

/// `train --out` is refused before any training when it would lose data: inside the data folder,
/// a file, or a folder of someone else's files.
#[test]
fn training_output_never_lands_on_data_or_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("corpus");
    std::fs::create_dir_all(data.join("01")).unwrap();
    let notes = dir.path().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("thesis.tex"), b"mine").unwrap();
    let file = dir.path().join("model.txt");
    std::fs::write(&file, b"mine").unwrap();
    for (out, want) in [
        (data.join("model"), "inside the data folder"),
        (data.clone(), "inside the data folder"),
        (notes.clone(), "holds thesis.tex"),
        (file.clone(), "is a file"),
    ] {
        let e = stderr_of(&[
            "train",
            "--arch",
            "raw-audio-cnn",
            "--data",
            s(&data),
            "--out",
            s(&out),
        ]);
        assert!(e.contains(want) && e.contains("--out"), "{out:?}: {e}");
    }
    assert!(!data.join("model").exists());
    assert_eq!(std::fs::read(notes.join("thesis.tex")).unwrap(), b"mine");
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
}
