//! torchvision's r3d_18 and r2plus1d_18 against PyTorch: logits and input gradients on fixtures that
//! tools/make_video_resnet_fixtures.py wrote with torchvision's own model code (narrowed stage widths,
//! random weights, non-trivial batch-norm statistics), loaded from safetensors and from a `.pt` state
//! dict; and the errors a wrong weight file gives.

mod common;
use avfoil::array::tensor_to_vec;
use avfoil::classifier::build_classifier;
use avfoil::classifier::{Classifier, NeuralClassifier, Standardise};
use avfoil::media::npy::read_npy;
use avfoil::model::video_resnet::{Variant, VideoResNet, VideoResNetSpec};
use avfoil::model::{InputConfig, Modality, ModelConfig, Weights};
use burn::tensor::Device;
use common::rel_err;
use std::path::{Path, PathBuf};

const ARCHS: [(&str, Variant); 2] = [("r3d_18", Variant::R3d), ("r2plus1d_18", Variant::R2Plus1d)];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/video_resnet")
        .join(name)
}

/// What the fixture script recorded about the models it made (`spec.json`).
struct FixtureSpec {
    widths: [usize; 4],
    stem_mid: usize,
    classes: usize,
    mean: Vec<f32>,
    std: Vec<f32>,
    clip: Vec<usize>,
    labels: Vec<usize>,
}

fn fixture_spec() -> FixtureSpec {
    let text = std::fs::read_to_string(fixture("spec.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let usizes = |k: &str| -> Vec<usize> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect()
    };
    let floats = |k: &str| -> Vec<f32> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    FixtureSpec {
        widths: usizes("widths").try_into().unwrap(),
        stem_mid: v["stem_mid"].as_u64().unwrap() as usize,
        classes: v["classes"].as_u64().unwrap() as usize,
        mean: floats("mean"),
        std: floats("std"),
        clip: usizes("clip"),
        labels: usizes("labels"),
    }
}

impl FixtureSpec {
    fn network(&self, variant: Variant) -> VideoResNetSpec {
        VideoResNetSpec {
            variant,
            widths: self.widths,
            stem_mid: self.stem_mid,
        }
    }

    fn example_shape(&self) -> Vec<usize> {
        self.clip[1..].to_vec()
    }
}

/// The fixture network as an attackable classifier: pixels in [0, 1], Kinetics standardisation.
fn classifier(arch: &str, variant: Variant, weights: &str) -> NeuralClassifier {
    let s = fixture_spec();
    let device = Device::flex();
    let shape = s.example_shape();
    let mut w = Weights::load(&fixture(&format!("{arch}/{weights}"))).unwrap();
    let net =
        VideoResNet::from_weights(&mut w, &s.network(variant), s.classes, &shape, &device).unwrap();
    // num_batches_tracked is in both files; finish() must accept it and nothing else is left.
    w.finish().unwrap();
    NeuralClassifier::new(net, &device, shape.clone(), s.classes, Some((0.0, 1.0)))
        .unwrap()
        .with_standardise(Standardise::new(&s.mean, &s.std, &shape).unwrap())
}

#[test]
fn logits_and_input_gradients_match_pytorch_for_both_architectures_and_formats() {
    let s = fixture_spec();
    let x = read_npy(&fixture("x.npy")).unwrap();
    assert_eq!(x.shape, s.clip);
    let x = x.to_tensor(s.clip[0], &Device::flex());
    for (arch, variant) in ARCHS {
        let want_logits = read_npy(&fixture(&format!("{arch}/logits.npy")))
            .unwrap()
            .data;
        let want_grad = read_npy(&fixture(&format!("{arch}/grad.npy")))
            .unwrap()
            .data;
        for weights in ["model.safetensors", "model.pt"] {
            let clf = classifier(arch, variant, weights);
            let (grad, logits) = clf.loss_gradient_and_logits(x.clone(), &s.labels).unwrap();
            let e = rel_err(&tensor_to_vec(logits), &want_logits);
            println!("{arch} {weights}: logits relative error {e:.2e}");
            assert!(e <= 1e-4, "{arch} {weights}: logits relative error {e}");
            let e = rel_err(&tensor_to_vec(grad), &want_grad);
            println!("{arch} {weights}: input gradient relative error {e:.2e}");
            assert!(
                e <= 1e-4,
                "{arch} {weights}: input gradient relative error {e}"
            );
        }
    }
}

fn load_error(weights: &mut Weights, spec: &VideoResNetSpec, classes: usize) -> String {
    let s = fixture_spec();
    VideoResNet::from_weights(weights, spec, classes, &s.example_shape(), &Device::flex())
        .expect_err("the weights do not fit")
        .to_string()
}

#[test]
fn weights_for_another_shape_name_the_key_and_both_shapes() {
    let s = fixture_spec();
    let path = fixture("r3d_18/model.safetensors");
    // Another class count: fc.weight.
    let err = load_error(
        &mut Weights::load(&path).unwrap(),
        &s.network(Variant::R3d),
        7,
    );
    assert!(
        err.contains("\"fc.weight\"") && err.contains("[5, 24]") && err.contains("[7, 24]"),
        "{err}"
    );
    // R3D weights read as R(2+1)D: the stem's first convolution is 3×7×7, not 1×7×7.
    let err = load_error(
        &mut Weights::load(&path).unwrap(),
        &s.network(Variant::R2Plus1d),
        5,
    );
    assert!(
        err.contains("\"stem.0.weight\"")
            && err.contains("[8, 3, 3, 7, 7]")
            && err.contains("[10, 3, 1, 7, 7]"),
        "{err}"
    );
    // Narrow weights for the full-size architecture that model.toml names.
    let config = ModelConfig {
        architecture: "r2plus1d-18".into(),
        classes: (0..5).map(|i| i.to_string()).collect(),
        weights: Some("model.pt".into()),
        input: InputConfig {
            modality: Modality::Video,
            shape: s.example_shape(),
            clip: Some([0.0, 1.0]),
            sample_rate: None,
            mean: Some(s.mean.clone()),
            std: Some(s.std.clone()),
            sampling: None,
        },
        onnx: None,
    };
    let w = Weights::load(&fixture("r2plus1d_18/model.pt")).unwrap();
    let err = build_classifier(&config, w, &Device::flex())
        .err()
        .expect("narrow weights do not fit r2plus1d-18")
        .to_string();
    assert!(
        err.contains("\"stem.0.weight\"")
            && err.contains("[10, 3, 1, 7, 7]")
            && err.contains("[45, 3, 1, 7, 7]"),
        "{err}"
    );
}

#[test]
fn a_renamed_key_is_reported_as_missing_and_the_stray_one_as_unexpected() {
    let s = fixture_spec();
    let spec = s.network(Variant::R2Plus1d);
    let load = || Weights::load(&fixture("r2plus1d_18/model.safetensors")).unwrap();
    let mut tensors = VideoResNet::init_tensors(&spec, s.classes, 0).unwrap();
    let moved = tensors.remove("layer3.0.downsample.1.running_var").unwrap();
    tensors.insert("layer3.0.downsample.1.running_variance".into(), moved);
    let mut w = Weights::from_tensors("renamed.safetensors", tensors);
    let err = load_error(&mut w, &spec, s.classes);
    assert!(
        err.contains("renamed.safetensors")
            && err.contains("missing tensor \"layer3.0.downsample.1.running_var\"")
            && err.contains("[16]"),
        "{err}"
    );

    // A state dict with one tensor too many (another architecture's) loads but does not finish.
    let mut w = load();
    VideoResNet::from_weights(
        &mut w,
        &spec,
        s.classes,
        &s.example_shape(),
        &Device::flex(),
    )
    .unwrap();
    w.finish().unwrap();
    let mut tensors = VideoResNet::init_tensors(&spec, s.classes, 0).unwrap();
    let extra = tensors["fc.bias"].clone();
    tensors.insert("layer5.0.conv1.1.bias".into(), extra);
    let mut w = Weights::from_tensors("extra.safetensors", tensors);
    VideoResNet::from_weights(
        &mut w,
        &spec,
        s.classes,
        &s.example_shape(),
        &Device::flex(),
    )
    .unwrap();
    let err = w.finish().unwrap_err().to_string();
    assert!(err.contains("layer5.0.conv1.1.bias"), "{err}");
}

#[test]
fn the_documented_model_toml_parses() {
    // src/model/mod.rs's example.
    let text = r#"
architecture = "r3d-18"
classes = ["abseiling", "air drumming", "…"]
weights = "r3d_18.pth"
[input]
modality = "video"
shape = [3, 16, 112, 112]
clip = [0.0, 1.0]
mean = [0.43216, 0.394666, 0.37645]
std = [0.22803, 0.22145, 0.216989]
[input.sampling]
stride = 2
resize = 128
"#;
    let config = ModelConfig::parse(text, Path::new("model.toml")).unwrap();
    assert_eq!(config.architecture, "r3d-18");
    assert_eq!(config.input.sampling.unwrap().resize, Some(128));
}

#[test]
fn model_toml_architectures_build_torchvisions_full_size_networks() {
    // Full widths with in-memory random weights (130 MB of weights is no fixture), on a clip small
    // enough for a debug build.
    for (arch, spec) in [
        ("r3d-18", VideoResNetSpec::r3d_18()),
        ("r2plus1d-18", VideoResNetSpec::r2plus1d_18()),
    ] {
        let config = ModelConfig {
            architecture: arch.into(),
            classes: (0..400).map(|i| format!("class {i}")).collect(),
            weights: Some("model.safetensors".into()),
            input: InputConfig {
                modality: Modality::Video,
                shape: vec![3, 2, 12, 16],
                clip: Some([0.0, 1.0]),
                sample_rate: None,
                mean: Some(vec![0.43216, 0.394666, 0.37645]),
                std: Some(vec![0.22803, 0.22145, 0.216989]),
                sampling: None,
            },
            onnx: None,
        };
        let w = Weights::from_tensors("t", VideoResNet::init_tensors(&spec, 400, 1).unwrap());
        let clf = build_classifier(&config, w, &Device::flex()).unwrap();
        let x = burn::tensor::Tensor::<2>::full([1, 3 * 2 * 12 * 16], 0.5, &Device::flex());
        let logits = clf.logits(x).unwrap();
        assert_eq!(logits.dims(), [1, 400], "{arch}");
        assert!(
            tensor_to_vec(logits).iter().all(|v| v.is_finite()),
            "{arch}"
        );

        let mut bad = config.clone();
        bad.input.shape = vec![1, 2, 12, 16];
        let w = Weights::from_tensors("t", VideoResNet::init_tensors(&spec, 400, 1).unwrap());
        let err = build_classifier(&bad, w, &Device::flex())
            .err()
            .expect("one channel is not RGB")
            .to_string();
        assert!(
            err.contains("input.shape") && err.contains("[1, 2, 12, 16]"),
            "{err}"
        );
    }
}
