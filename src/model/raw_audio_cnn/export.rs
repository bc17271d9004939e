//! RawAudioCNN as an ONNX graph: eight Conv → BatchNormalization → Relu → MaxPool blocks, a
//! Reshape and a Gemm, with the weights under their PyTorch names, as `torch.onnx.export` would
//! write it (opset 17, a symbolic batch axis).

use super::layout::{BLOCKS, FC_IN, INPUT_LEN};
use crate::error::Result;
use crate::model::ModelConfig;
use crate::model::conv_bn::BN_EPS;
use crate::model::export::finish_with_linear_head;
use crate::model::weights::Weights;
use crate::onnx::export::{Attr, GraphWriter};

pub fn export(config: &ModelConfig, weights: &mut Weights) -> Result<Vec<u8>> {
    let classes = config.classes.len();
    let mut g = GraphWriter::new("raw_audio_cnn");
    g.input("x", &[None, Some(1), Some(INPUT_LEN)]);
    let mut x = "x".to_string();
    for (i, &(cin, cout, pad, kernel, stride)) in BLOCKS.iter().enumerate() {
        let p = format!("conv{}", i + 1);
        let mut w = |key: &str, shape: &[usize]| -> Result<String> {
            let name = format!("{p}.{key}");
            let t = weights.take_host(&name, shape)?;
            g.weight(&name, shape, &t.data)
        };
        let (cw, cb) = (w("0.weight", &[cout, cin, 3])?, w("0.bias", &[cout])?);
        let (bw, bb) = (w("1.weight", &[cout])?, w("1.bias", &[cout])?);
        let (bm, bv) = (w("1.running_mean", &[cout])?, w("1.running_var", &[cout])?);
        let pads = Attr::Ints(vec![pad as i64, pad as i64]);
        x = g.node(
            "Conv",
            &[&x, &cw, &cb],
            &[("kernel_shape", Attr::Ints(vec![3])), ("pads", pads)],
        );
        x = g.node(
            "BatchNormalization",
            &[&x, &bw, &bb, &bm, &bv],
            &[("epsilon", Attr::Float(BN_EPS as f32))],
        );
        x = g.node("Relu", &[&x], &[]);
        x = g.node(
            "MaxPool",
            &[&x],
            &[
                ("kernel_shape", Attr::Ints(vec![kernel as i64])),
                ("strides", Attr::Ints(vec![stride as i64])),
            ],
        );
    }
    let shape = g.ints("flat_shape", &[-1, FC_IN as i64]);
    x = g.node("Reshape", &[&x, &shape], &[]);
    finish_with_linear_head(g, weights, &x, "fc.", [FC_IN, classes])
}
