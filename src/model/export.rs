//! What the families' ONNX exporters share: the linear layer that ends each graph, as PyTorch's
//! `nn.Linear` exports it (a Gemm with the weight as stored, `transB = 1`), and the graph's end.

use super::weights::Weights;
use crate::error::Result;
use crate::onnx::export::{Attr, GraphWriter};

/// `logits = x · weightᵀ + bias` from the weights `{prefix}weight` `[classes, inputs]` and
/// `{prefix}bias` `[classes]`, declared as the graph's output; returns the file's bytes.
pub fn finish_with_linear_head(
    mut g: GraphWriter,
    weights: &mut Weights,
    x: &str,
    prefix: &str,
    [inputs, classes]: [usize; 2],
) -> Result<Vec<u8>> {
    let (w_name, b_name) = (format!("{prefix}weight"), format!("{prefix}bias"));
    let w = weights.take_host(&w_name, &[classes, inputs])?;
    let b = weights.take_host(&b_name, &[classes])?;
    let w = g.weight(&w_name, &[classes, inputs], &w.data)?;
    let b = g.weight(&b_name, &[classes], &b.data)?;
    g.node_to("Gemm", &[x, &w, &b], "logits", &[("transB", Attr::Int(1))]);
    g.output("logits", &[None, Some(classes)]);
    g.finish()
}
