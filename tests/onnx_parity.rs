//! ONNX graphs interpreted on burn against PyTorch and onnxruntime: logits (onnxruntime's) and
//! input gradients of the cross-entropy (PyTorch's) on the small models that
//! tools/make_onnx_fixtures.py exports (random weights, batch norm away from the identity),
//! loaded as bare `.onnx` files.

mod common;
use avfoil::array::tensor_to_vec;
use avfoil::attack::{Attack, Common, Eps, Fgm, Pgd};
use avfoil::classifier::{Classifier, Model};
use avfoil::media::npy::read_npy;
use burn::tensor::Device;
use common::rel_err;
use std::path::{Path, PathBuf};

const LABELS: [usize; 2] = [3, 1];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(name)
}

fn npy(name: &str) -> Vec<f32> {
    read_npy(&fixture(name)).unwrap().data
}

/// Fraction of values within `tol` of the reference (FGM and PGD take signs of gradients, which
/// rounding may flip where a gradient is nearly zero).
fn agreement(ours: &[f32], want: &[f32], tol: f32) -> f64 {
    assert_eq!(ours.len(), want.len());
    let close = ours
        .iter()
        .zip(want)
        .filter(|(a, b)| (*a - *b).abs() <= tol);
    close.count() as f64 / want.len() as f64
}

/// FGM (eps 0.05) and PGD (eps 0.1, step 0.02, 10 steps) at the fixture's labels, as PyTorch.
fn check_attacks(name: &str, clf: &dyn Classifier, x: &burn::tensor::Tensor<2>) {
    let common = |eps: f32, step: f32| Common {
        eps: Eps::Scalar(eps),
        eps_step: Eps::Scalar(step),
        ..Default::default()
    };
    let fgm = Fgm {
        common: common(0.05, 0.05),
        minimal: false,
    };
    let ours = fgm
        .generate(clf, x, Some(&LABELS), None)
        .unwrap()
        .adversarial;
    let a = agreement(&tensor_to_vec(ours), &npy(&format!("{name}.fgm.npy")), 1e-5);
    assert!(
        a >= 0.999,
        "{name}: FGM agrees with PyTorch on {:.3}%",
        a * 100.0
    );
    let pgd = Pgd {
        common: common(0.1, 0.02),
        max_iter: 10,
        ..Default::default()
    };
    let ours = pgd
        .generate(clf, x, Some(&LABELS), None)
        .unwrap()
        .adversarial;
    let a = agreement(&tensor_to_vec(ours), &npy(&format!("{name}.pgd.npy")), 1e-4);
    assert!(
        a >= 0.995,
        "{name}: PGD agrees with PyTorch on {:.3}%",
        a * 100.0
    );
}

fn check(name: &str) {
    let model = Model::open(
        fixture(&format!("{name}.onnx")).to_str().unwrap(),
        &Device::flex(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let x = read_npy(&fixture(&format!("{name}.x.npy"))).unwrap();
    let want_logits = read_npy(&fixture(&format!("{name}.logits.npy")))
        .unwrap()
        .data;
    let want_grad = read_npy(&fixture(&format!("{name}.grad.npy")))
        .unwrap()
        .data;
    let clf = &model.classifier;
    let x = x.to_tensor(x.shape[0], &Device::flex());
    let logits = tensor_to_vec(clf.logits(x.clone()).unwrap());
    let e = rel_err(&logits, &want_logits);
    assert!(
        e < 1e-4,
        "{name}: logits differ from onnxruntime's by {e:.2e}"
    );
    let grad = tensor_to_vec(clf.loss_gradient(x.clone(), &LABELS).unwrap());
    let e = rel_err(&grad, &want_grad);
    assert!(
        e < 1e-3,
        "{name}: input gradient differs from PyTorch's by {e:.2e}"
    );
    check_attacks(name, clf.as_ref(), &x);
}

#[test]
fn a_1d_cnn_matches_pytorch() {
    check("cnn1d");
}

#[test]
fn a_2d_cnn_with_shape_arithmetic_matches_pytorch() {
    check("cnn2d");
}

#[test]
fn a_3d_cnn_with_composed_3d_pooling_matches_pytorch() {
    check("cnn3d");
}

/// A model directory around a graph that ends in a softmax: `scores = "probabilities"` makes the
/// losses those of the logits, so its gradients are cnn1d's; the output is chosen by its name.
#[test]
fn a_graph_of_probabilities_gives_the_gradients_of_its_logits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("cnn1d_softmax.onnx"), dir.path().join("g.onnx")).unwrap();
    let toml = |output: &str| {
        format!(
            "architecture = \"onnx\"\nclasses = [\"0\", \"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\"]\n\
             [onnx]\nfile = \"g.onnx\"\noutput = \"{output}\"\nscores = \"probabilities\"\n\
             [input]\nmodality = \"audio\"\nshape = [1, 400]\nsample_rate = 8000\n"
        )
    };
    std::fs::write(dir.path().join("model.toml"), toml("probabilities")).unwrap();
    let model = Model::load(dir.path(), &Device::flex()).unwrap();
    let x = read_npy(&fixture("cnn1d.x.npy"))
        .unwrap()
        .to_tensor(2, &Device::flex());
    let grad = tensor_to_vec(model.classifier.loss_gradient(x, &LABELS).unwrap());
    let e = rel_err(&grad, &npy("cnn1d.grad.npy"));
    assert!(e < 1e-3, "gradient differs from the logits' by {e:.2e}");
    // An output the graph does not have is named, with those it has.
    std::fs::write(dir.path().join("model.toml"), toml("scores")).unwrap();
    let e = Model::load(dir.path(), &Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("\"scores\"") && e.contains("probabilities"),
        "{e}"
    );
}

#[test]
fn unsupported_ops_are_refused_before_any_work_naming_op_node_and_opset() {
    let e = Model::open(
        fixture("unsupported.onnx").to_str().unwrap(),
        &Device::flex(),
    )
    .err()
    .unwrap()
    .to_string();
    for want in [
        "unsupported.onnx",
        "Cos (node the_cos)",
        "Det (node the_det)",
        "opset 17",
    ] {
        assert!(e.contains(want), "{want:?} missing from: {e}");
    }
}

#[test]
fn corrupt_and_truncated_graphs_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("cnn2d.onnx")).unwrap();
    let cases: [(&str, Vec<u8>); 3] = [
        ("truncated.onnx", good[..good.len() / 2].to_vec()),
        (
            "noise.onnx",
            (0..4000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
        ("empty.onnx", Vec::new()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let e = Model::open(path.to_str().unwrap(), &Device::flex()).err();
        let e = e.unwrap_or_else(|| panic!("{name} loaded")).to_string();
        assert!(e.contains(name), "{name}: {e}");
    }
}

#[test]
fn a_crnn_with_a_bidirectional_lstm_matches_pytorch() {
    check("crnn_lstm");
}

#[test]
fn a_crnn_with_a_gru_matches_pytorch() {
    check("crnn_gru");
}

#[test]
fn a_small_transformer_matches_pytorch() {
    check("transformer");
}

#[test]
fn instance_group_and_layer_norm_and_prelu_match_pytorch() {
    check("norms");
}

#[test]
fn an_x3d_style_block_with_squeeze_excite_matches_pytorch() {
    check("x3d_like");
}

#[test]
fn m5_matches_pytorch() {
    check("m5");
}

/// And on two comparison masks, Where on it, and Size (with Shape, Gather, Div and Cast: the
/// elements per example) in a mean (onnx.helper; its PyTorch twin gives the references).
#[test]
fn and_and_size_match_pytorch() {
    check("masks17");
}

/// A MatchboxNet-style keyword spotter: depthwise-separable 1-D blocks with residual branches and
/// a dilated epilogue, on MFCC-like features.
#[test]
fn a_depthwise_separable_keyword_spotter_matches_pytorch() {
    check("matchboxnet");
}

/// torchvision's R(2+1)D-18 (random weights, narrowed widths): the (2+1)-D factorised stem and
/// blocks, strided downsampling shortcuts, global average pooling.
#[test]
fn torchvision_r2plus1d_18_matches_pytorch() {
    check("r2plus1d_18");
}

#[test]
fn a_log_mel_cnn_with_its_front_end_in_the_graph_matches_pytorch() {
    check("logmel_cnn");
}

#[test]
fn transposed_convolutions_resize_where_and_tile_match_pytorch() {
    check("decoder");
}

/// Cubic Resize three ways: upsampling by 2 (half-pixel), to a fixed size with aligned corners,
/// and a halving, as torch's bicubic interpolation exports them.
#[test]
fn cubic_resizes_match_pytorch() {
    check("bicubic");
}

/// Cubic Resize with TensorFlow's coefficient (a = -0.5) and scales 1.5 and 2, written with
/// onnx.helper: onnxruntime's logits, and the gradients of its own resize matrix.
#[test]
fn cubic_resize_with_another_coefficient_matches_onnxruntime() {
    check("cubic_a");
}

/// torch.stft exported as an ONNX STFT node (centred: reflect Pad first; Hann window), then
/// power, a mel projection and log under a 2-D CNN.
#[test]
fn a_log_mel_cnn_on_an_stft_node_matches_pytorch() {
    check("stft_logmel");
}

/// torch.fft through the dynamo exporter: opset-20 DFT nodes (axis an input), a onesided real
/// transform, then a complex inverse one across frames.
#[test]
fn opset_20_dfts_real_and_complex_inverse_match_pytorch() {
    check("dft_spectro");
}

/// DFT's opset-17 form (axis, inverse and onesided attributes; dft_length zero-padding to 80).
#[test]
fn opset_17_dfts_with_zero_padding_match_pytorch() {
    check("dft17");
}

/// An STFT node in its own form (signal [N, L, 1]; window and frame_length inputs) and a
/// MelWeightMatrix computed at load, written with onnx.helper: onnxruntime's logits, and the
/// gradients of PyTorch's twin (torch.stft and ONNX's reference filterbank).
#[test]
fn an_stft_and_mel_weight_matrix_graph_matches_onnxruntime_and_pytorch() {
    check("melspec17");
}

/// torch.einsum exported as Einsum nodes: batched matrix products, two summed labels at once,
/// an ellipsis, a reduction, an elementwise gate, an outer product and a transpose.
#[test]
fn an_einsum_transformer_matches_pytorch() {
    check("einsum_transformer");
}

/// A grouped 3-D transposed convolution with strides, padding and output padding.
#[test]
fn a_3d_transposed_convolution_matches_pytorch() {
    check("convtranspose3d");
}

/// Nodes onnx-ir reads but avfoil does not evaluate are refused at load, each named with the
/// reason.
#[test]
fn refused_forms_name_the_node_and_the_reason() {
    let e = Model::open(fixture("refused.onnx").to_str().unwrap(), &Device::flex())
        .err()
        .unwrap()
        .to_string();
    for want in [
        "Einsum (node the_trace)",
        "equation 'bii->b'",
        "label 'i' appears twice",
        "If (node data_dependent_if): its condition is computed by the graph",
    ] {
        assert!(e.contains(want), "{want:?} missing from: {e}");
    }
}

/// Two If nodes on constant conditions (an initialiser, a Constant), inlined at load: the taken
/// branches read outer values and an outer initialiser.
#[test]
fn ifs_on_constant_conditions_are_inlined_and_match_pytorch() {
    check("if_const");
}

/// What `avfoil inspect` reports (its `supported` is an empty `unsupported`) for the fixtures of
/// the spectral, Einsum, If and 3-D transposed-convolution ops.
#[test]
fn inspect_reports_the_new_ops_as_supported() {
    for (name, op) in [
        ("stft_logmel", "STFT"),
        ("dft_spectro", "DFT"),
        ("dft17", "DFT"),
        ("melspec17", "MelWeightMatrix"),
        ("einsum_transformer", "Einsum"),
        ("if_const", "If"),
        ("convtranspose3d", "ConvTranspose"),
    ] {
        let path = fixture(&format!("{name}.onnx"));
        let plan = avfoil::onnx::Plan::parse(&path, &std::fs::read(&path).unwrap()).unwrap();
        assert!(
            plan.op_counts.contains_key(op),
            "{name}: {:?}",
            plan.op_counts
        );
        assert!(
            plan.unsupported.is_empty(),
            "{name}: {:?}",
            plan.unsupported
        );
    }
}

/// A graph whose weight onnx-ir's parse never sees (`src/onnx/detach.rs`): `y = x · W` with a
/// `W` of 4 × 70,000 (1.1 MB), listed as a graph input too (as files of IR version 3 list their
/// initialisers); `W[i][j] = i - j / 1000`.
fn big_matmul_graph() -> (Vec<u8>, Vec<f32>) {
    let (rows, cols) = (4, 70_000);
    let w: Vec<f32> = (0..rows * cols)
        .map(|k| (k / cols) as f32 - (k % cols) as f32 / 1000.0)
        .collect();
    let mut g = avfoil::onnx::export::GraphWriter::new("big");
    g.input("x", &[None, Some(rows)]);
    g.input("W.big", &[Some(rows), Some(cols)]);
    let name = g.weight("W.big", &[rows, cols], &w).unwrap();
    g.node_to("MatMul", &["x", &name], "y", &[]);
    g.output("y", &[None, Some(cols)]);
    (g.finish().unwrap(), w)
}

#[test]
fn a_large_initialiser_is_detached_and_bound_once_with_its_values() {
    let (bytes, w) = big_matmul_graph();
    let plan = avfoil::onnx::Plan::from_bytes(Path::new("big.onnx"), &bytes).unwrap();
    let names: Vec<&str> = plan.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["x"],
        "the detached weight is not an input the user sees"
    );
    assert_eq!(plan.parameter_count, w.len());
    use avfoil::onnx::network::{Binding, OnnxNetwork, Scores};
    use burn::tensor::{Tensor, TensorData};
    let binding = Binding {
        input: 0,
        example_shape: vec![4],
        output: 0,
        scores: Scores::Logits,
        framing: None,
        fixed: vec![],
    };
    let device = Device::flex();
    let net = OnnxNetwork::new(std::sync::Arc::new(plan), binding, &device).unwrap();
    let x = [1.0f32, -2.0, 0.5, 3.0];
    let y = net
        .run(Tensor::from_data(
            TensorData::new(x.to_vec(), [1, 4]),
            &device,
        ))
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for j in [0, 1, 12_345, 69_999] {
        let want: f32 = (0..4).map(|i| x[i] * w[i * 70_000 + j]).sum();
        assert!((y[j] - want).abs() <= 1e-4 * want.abs().max(1.0), "y[{j}]");
    }
}
