//! c3d-lite as an ONNX graph, as `torch.onnx.export` would write its PyTorch twin
//! (`tools/make_c3d_lite_fixtures.py`; opset 17, a symbolic batch axis, weights under their
//! PyTorch names): frame differences as two Slices and a Sub, three Conv → BatchNormalization →
//! Relu blocks with their max pools, a ReduceMean over time and space, a Gemm.
//!
//! The pools are decided here from the model's fixed input shape, as the forward pass decides
//! them (a spatial pool only while the frame is at least 2 × 2, a temporal one only with at least
//! two frames), so the graph is the network for that shape exactly.

use super::{C3dLite, WIDTHS};
use crate::error::Result;
use crate::model::ModelConfig;
use crate::model::conv_bn::BN_EPS;
use crate::model::export::finish_with_linear_head;
use crate::model::weights::Weights;
use crate::onnx::export::{Attr, GraphWriter};

pub fn export(config: &ModelConfig, weights: &mut Weights) -> Result<Vec<u8>> {
    let [c, frames, height, width] = C3dLite::check_input(&config.input.shape)?;
    let classes = config.classes.len();
    let mut g = GraphWriter::new("c3d_lite");
    g.input(
        "x",
        &[None, Some(c), Some(frames), Some(height), Some(width)],
    );
    let mut x = "x".to_string();
    // [f, h, w] of the activations as they flow
    let mut dims = [frames, height, width];
    if frames > 1 {
        let axis = g.ints("time_axis", &[2]);
        let (zero, one) = (g.ints("zero", &[0]), g.ints("one", &[1]));
        let (last, end) = (
            g.ints("last", &[frames as i64 - 1]),
            g.ints("end", &[frames as i64]),
        );
        let later = g.node("Slice", &[&x, &one, &end, &axis], &[]);
        let earlier = g.node("Slice", &[&x, &zero, &last, &axis], &[]);
        x = g.node("Sub", &[&later, &earlier], &[]);
        dims[0] = frames - 1;
    }
    let mut cin = c;
    for (i, &cout) in WIDTHS.iter().enumerate() {
        let p = format!("conv{}", i + 1);
        let mut w = |key: &str, shape: &[usize]| -> Result<String> {
            let name = format!("{p}.{key}");
            let t = weights.take_host(&name, shape)?;
            g.weight(&name, shape, &t.data)
        };
        let (cw, cb) = (w("0.weight", &[cout, cin, 3, 3, 3])?, w("0.bias", &[cout])?);
        let (bw, bb) = (w("1.weight", &[cout])?, w("1.bias", &[cout])?);
        let (bm, bv) = (w("1.running_mean", &[cout])?, w("1.running_var", &[cout])?);
        x = g.node(
            "Conv",
            &[&x, &cw, &cb],
            &[
                ("kernel_shape", Attr::Ints(vec![3, 3, 3])),
                ("pads", Attr::Ints(vec![1; 6])),
            ],
        );
        x = g.node(
            "BatchNormalization",
            &[&x, &bw, &bb, &bm, &bv],
            &[("epsilon", Attr::Float(BN_EPS as f32))],
        );
        x = g.node("Relu", &[&x], &[]);
        if i < 2 && dims[1] >= 2 && dims[2] >= 2 {
            x = max_pool(&mut g, &x, [1, 2, 2]);
            dims = [dims[0], dims[1] / 2, dims[2] / 2];
        }
        if i == 1 && dims[0] >= 2 {
            x = max_pool(&mut g, &x, [2, 1, 1]);
            dims[0] /= 2;
        }
        cin = cout;
    }
    x = g.node(
        "ReduceMean",
        &[&x],
        &[
            ("axes", Attr::Ints(vec![2, 3, 4])),
            ("keepdims", Attr::Int(0)),
        ],
    );
    finish_with_linear_head(g, weights, &x, "fc.", [WIDTHS[2], classes])
}

/// A MaxPool whose kernel is its stride (floor mode: a remainder is dropped, as the native pool).
fn max_pool(g: &mut GraphWriter, x: &str, kernel: [i64; 3]) -> String {
    g.node(
        "MaxPool",
        &[x],
        &[
            ("kernel_shape", Attr::Ints(kernel.to_vec())),
            ("strides", Attr::Ints(kernel.to_vec())),
        ],
    )
}
