//! `avfoil export`: native models written as ONNX and read back by avfoil's interpreter give the
//! native logits and the same FGM result; families without an exporter, and a non-empty --out,
//! are refused naming why.

mod common;
use avfoil::array::tensor_to_vec;
use avfoil::attack::{Attack, Common, Eps, Fgm};
use avfoil::classifier::Model;
use avfoil::media::npy::read_npy;
use burn::tensor::Device;
use common::{avfoil, rel_err, s, write_linear_model};
use std::path::Path;

fn export(model: &str, out: &Path) {
    let o = avfoil(&["export", "--model", model, "--out", s(out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Logits within 1e-5 (relative) and FGM's result on at least 99.9% of the values.
fn round_trip(native: &Model, exported: &Model, x: burn::tensor::Tensor<2>, eps: f32) {
    let a = tensor_to_vec(native.classifier.logits(x.clone()).unwrap());
    let b = tensor_to_vec(exported.classifier.logits(x.clone()).unwrap());
    let e = rel_err(&b, &a);
    assert!(e < 1e-5, "logits differ by {e:.2e}");
    let fgm = Fgm {
        common: Common {
            eps: Eps::Scalar(eps),
            eps_step: Eps::Scalar(eps),
            ..Default::default()
        },
        minimal: false,
    };
    let run = |m: &Model| {
        let out = fgm.generate(m.classifier.as_ref(), &x, None, None).unwrap();
        tensor_to_vec(out.adversarial)
    };
    let (a, b) = (run(native), run(exported));
    let same = a
        .iter()
        .zip(&b)
        .filter(|(p, q)| (*p - *q).abs() <= 1e-3 * eps)
        .count();
    assert!(
        same as f64 >= 0.999 * a.len() as f64,
        "FGM agrees on {same} of {}",
        a.len()
    );
}

#[test]
fn the_shipped_spoken_digits_model_round_trips_through_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("spoken-digits-onnx");
    export("spoken-digits", &out);
    let device = Device::flex();
    let native = Model::open("spoken-digits", &device).unwrap();
    let exported = Model::open(s(&out), &device).unwrap();
    assert_eq!(exported.config.architecture, "onnx");
    assert_eq!(exported.config.classes, native.config.classes);
    assert_eq!(exported.config.input.clip, native.config.input.clip);
    let x = read_npy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spoken-digits.npy"))
        .unwrap();
    round_trip(&native, &exported, x.to_tensor(x.shape[0], &device), 64.0);
}

/// c3d-lite (the shipped action model): frame differences, 3-D convolutions with batch norm,
/// spatial and temporal max pools, a mean over time and space. Two stand-in clips cut to its
/// input shape.
#[test]
fn the_shipped_action_model_round_trips_through_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("actions-onnx");
    export("actions", &out);
    let device = Device::flex();
    let native = Model::open("actions", &device).unwrap();
    let exported = Model::open(s(&out), &device).unwrap();
    assert_eq!(exported.config.architecture, "onnx");
    assert_eq!(exported.config.input.shape, native.config.input.shape);
    let d: usize = native.config.input.shape.iter().product();
    // smooth, moving pictures in [0, 1] (a still clip's frame differences are all zero)
    let values: Vec<f32> = (0..2 * d)
        .map(|i| 0.5 + 0.45 * ((i as f32) * 0.013).sin() * ((i / 4800) as f32 * 0.7).cos())
        .collect();
    let x = burn::tensor::Tensor::<2>::from_data(
        burn::tensor::TensorData::new(values, [2, d]),
        &device,
    );
    round_trip(&native, &exported, x, 2.0 / 255.0);
}

#[test]
fn a_linear_model_round_trips_through_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let weight: Vec<f32> = (0..24)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0)
        .collect();
    let model = write_linear_model(
        dir.path(),
        "lin",
        ["no", "yes"],
        "modality = \"video\"\nshape = [3, 1, 2, 2]\nclip = [0.0, 1.0]",
        weight,
    );
    let out = dir.path().join("lin-onnx");
    export(s(&model), &out);
    let device = Device::flex();
    let native = Model::load(&model, &device).unwrap();
    let exported = Model::load(&out, &device).unwrap();
    let values: Vec<f32> = (0..36).map(|i| (i as f32 * 0.37) % 1.0).collect();
    let x = burn::tensor::Tensor::<2>::from_data(
        burn::tensor::TensorData::new(values, [3, 12]),
        &device,
    );
    round_trip(&native, &exported, x, 0.05);
}

#[test]
fn exports_that_cannot_be_made_are_refused_naming_why() {
    let dir = tempfile::tempdir().unwrap();
    // a family without an exporter (torchvision's r3d-18, narrow test weights)
    let r3d = dir.path().join("r3d");
    std::fs::create_dir_all(&r3d).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/video_resnet/r3d_18/model.safetensors"),
        r3d.join("model.safetensors"),
    )
    .unwrap();
    std::fs::write(
        r3d.join("model.toml"),
        "architecture = \"r3d-18\"\nclasses = [\"a\", \"b\"]\nweights = \"model.safetensors\"\n\
         [input]\nmodality = \"video\"\nshape = [3, 8, 112, 112]\n",
    )
    .unwrap();
    let o = avfoil(&[
        "export",
        "--model",
        s(&r3d),
        "--out",
        s(&dir.path().join("a")),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && e.contains("r3d-18")
            && e.contains("raw-audio-cnn")
            && e.contains("c3d-lite"),
        "{e}"
    );
    assert!(!dir.path().join("a").exists());
    // an ONNX model is one already
    let o = avfoil(&[
        "export",
        "--model",
        "silero-vad",
        "--out",
        s(&dir.path().join("v")),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("already an ONNX model"),
        "{e}"
    );
    assert!(!dir.path().join("v").exists());
    let full = dir.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("notes.txt"), "mine").unwrap();
    let o = avfoil(&["export", "--model", "spoken-digits", "--out", s(&full)]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("not an empty folder"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(full.join("notes.txt")).unwrap(),
        "mine"
    );
}

/// An eval scenario runs on an ONNX model unchanged: the exported spoken-digits model gives the
/// native model's clean and robust accuracies (FGM, and PGD through the MP3 defence with BPDA).
#[test]
fn an_eval_scenario_on_the_exported_model_gives_the_native_numbers() {
    use avfoil::eval::{Options, Shard};
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("onnx-model");
    export("spoken-digits", &exported);
    let fsdd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/fsdd");
    let summary = |model: &str, name: &str| {
        let text = format!(
            "name = \"{name}\"\nseed = 3\nbatch_size = 2\n[model]\npath = \"{model}\"\n\
             [dataset]\nloader = \"fsdd\"\nroot = \"{}\"\nlimit = 4\n\
             [[attack]]\nname = \"fgm\"\neps = [256]\n\
             [[attack]]\nname = \"pgd\"\neps = [128]\nmax_iter = 3\n\
             [[defence]]\nname = \"mp3\"\n",
            fsdd.display()
        );
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let options = Options {
            out: dir.path().join(name),
            resume: false,
            shard: Shard::default(),
        };
        let device = avfoil::device::parse_device("cpu").unwrap();
        avfoil::eval::evaluate(&path, &options, &device, &mut |_, _| {})
            .unwrap()
            .summary
    };
    let native = summary("spoken-digits", "native");
    let onnx = summary(s(&exported), "onnx");
    assert_eq!(onnx.examples, 4);
    assert_eq!(onnx.clean_accuracy, native.clean_accuracy);
    assert_eq!(onnx.rows.len(), native.rows.len());
    for (a, b) in onnx.rows.iter().zip(&native.rows) {
        assert_eq!(
            (&a.attack, a.eps, &a.defence),
            (&b.attack, b.eps, &b.defence)
        );
        assert_eq!(
            a.accuracy, b.accuracy,
            "{} {} {}",
            a.attack, a.eps, a.defence
        );
    }
}
