//! Large float initialisers taken out of a model before onnx-ir reads it.
//!
//! Why: onnx-ir 0.22 keeps each initialiser as bytes and copies the whole tensor out of its store
//! whenever a phase looks at it (`Argument::value()`: type inference of a Gemm or a Constant, the
//! post-processing pass, avfoil's plan), so a 100 MB weight was copied about eight times and
//! loading such a graph took seconds, nearly all of it page faults of fresh copies. A detached
//! initialiser becomes a graph input of the same name, type and fixed shape: onnx-ir infers every
//! shape from that declaration (its processors fall back to the static shape when a weight has
//! no value), and the plan binds the input to the values read here, once. Only tensors no
//! shape computation reads are large, so this changes no op's meaning: an op that must see
//! its weights at parse time would make the parse fail, and then the file is parsed whole.

use super::export::value_info;
use onnx_ir::{GraphProto, ModelProto, TensorProto};
use std::collections::HashMap;

/// Float initialisers of at least this many bytes are detached.
pub const DETACH_BYTES: usize = 1 << 20;

/// `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;
/// `TensorProto.DataLocation.EXTERNAL`.
const EXTERNAL: i32 = 1;

/// A detached tensor: its values and shape.
pub type Detached = (Vec<f32>, Vec<usize>);

/// Takes the large float initialisers out of `proto`'s main graph, declares each as a graph
/// input, and returns their values and shapes by the name the input now has. Tensors whose byte count does
/// not match their shape, whose data lives in another file, or that are graph outputs stay for
/// onnx-ir to judge.
///
/// Each detached tensor is renamed (`avfoil_detached_<k>`, and every node that reads it, in
/// branches too) because onnx-ir rewrites graph-input names into its own spelling, and the plan
/// must find these inputs again among onnx-ir's.
pub fn detach_large_initialisers(proto: &mut ModelProto) -> HashMap<String, Detached> {
    let mut detached = HashMap::new();
    let Some(graph) = proto.graph.as_mut() else {
        return detached;
    };
    let prefix = unused_prefix(graph);
    let mut renamed = HashMap::new();
    let mut kept = Vec::with_capacity(graph.initializer.len());
    for tensor in std::mem::take(&mut graph.initializer) {
        let taken = !renamed.contains_key(&tensor.name)
            && !graph.output.iter().any(|o| o.name == tensor.name);
        match float_values(&tensor).filter(|_| taken) {
            Some((values, shape)) => {
                let name = format!("{prefix}{}", renamed.len());
                graph.input.retain(|i| i.name != tensor.name);
                let dims: Vec<Option<usize>> = shape.iter().map(|&d| Some(d)).collect();
                graph.input.push(value_info(&name, &dims));
                renamed.insert(tensor.name.clone(), name.clone());
                detached.insert(name, (values, shape));
            }
            None => kept.push(tensor),
        }
    }
    graph.initializer = kept;
    rename_reads(graph, &renamed);
    detached
}

/// `avfoil_detached_`, with more `x`s until no value of the file starts with it.
fn unused_prefix(graph: &GraphProto) -> String {
    let mut names = Vec::new();
    collect_names(graph, &mut names);
    let mut prefix = String::from("avfoil_detached_");
    while names.iter().any(|n| n.to_lowercase().starts_with(&prefix)) {
        prefix.insert(prefix.len() - 1, 'x');
    }
    prefix
}

fn collect_names<'g>(graph: &'g GraphProto, names: &mut Vec<&'g str>) {
    names.extend(graph.input.iter().map(|v| v.name.as_str()));
    names.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    for node in &graph.node {
        names.extend(node.input.iter().chain(&node.output).map(String::as_str));
        for a in &node.attribute {
            for g in a.g.as_ref().into_iter().chain(&a.graphs) {
                collect_names(g, names);
            }
        }
    }
}

/// Points every node input named in `renamed` (in the graph and its branches) at the new name.
fn rename_reads(graph: &mut GraphProto, renamed: &HashMap<String, String>) {
    if renamed.is_empty() {
        return;
    }
    for node in &mut graph.node {
        for input in &mut node.input {
            if let Some(new) = renamed.get(input.as_str()) {
                input.clone_from(new);
            }
        }
        for a in &mut node.attribute {
            if let Some(g) = a.g.as_mut() {
                rename_reads(g, renamed);
            }
            for g in &mut a.graphs {
                rename_reads(g, renamed);
            }
        }
    }
}

/// A large float tensor's values and shape, when its stored bytes are exactly its shape's.
fn float_values(t: &TensorProto) -> Option<Detached> {
    if t.data_type != FLOAT || t.data_location.value() == EXTERNAL || t.segment.is_some() {
        return None;
    }
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
    if count.checked_mul(4)? < DETACH_BYTES {
        return None;
    }
    let values = if t.raw_data.is_empty() {
        (t.float_data.len() == count).then(|| t.float_data.clone())?
    } else {
        if t.raw_data.len() != count * 4 {
            return None;
        }
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    Some((values, shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::export::GraphWriter;

    /// `y = x · W` with a `W` of 4 × 70,000 (1.1 MB), listed as a graph input too (as files of
    /// IR version 3 list their initialisers); `W[i][j] = i - j / 1000`.
    fn matmul_graph() -> (Vec<u8>, Vec<f32>) {
        let (rows, cols) = (4, 70_000);
        let w: Vec<f32> = (0..rows * cols)
            .map(|k| (k / cols) as f32 - (k % cols) as f32 / 1000.0)
            .collect();
        let mut g = GraphWriter::new("big");
        g.input("x", &[None, Some(rows)]);
        g.input("W.big", &[Some(rows), Some(cols)]);
        let name = g.weight("W.big", &[rows, cols], &w).unwrap();
        g.node_to("MatMul", &["x", &name], "y", &[]);
        g.output("y", &[None, Some(cols)]);
        (g.finish().unwrap(), w)
    }

    #[test]
    fn detaching_renames_every_read_and_declares_the_input() {
        use onnx_ir::Message;
        let (bytes, _) = matmul_graph();
        let mut proto = ModelProto::parse_from_bytes(&bytes).unwrap();
        // A branch that reads the weight too: its read must follow the rename.
        let mut branch = GraphProto::new();
        let mut read = onnx_ir::NodeProto::new();
        read.input = vec!["W.big".into()];
        branch.node.push(read);
        let mut attr = onnx_ir::AttributeProto::new();
        attr.g = Some(branch).into();
        let graph = proto.graph.as_mut().unwrap();
        graph.node[0].attribute.push(attr);
        let detached = detach_large_initialisers(&mut proto);
        let graph = proto.graph.as_ref().unwrap();
        assert_eq!(detached.keys().collect::<Vec<_>>(), ["avfoil_detached_0"]);
        assert!(graph.initializer.is_empty());
        let inputs: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(inputs, ["x", "avfoil_detached_0"]);
        assert_eq!(graph.node[0].input, ["x", "avfoil_detached_0"]);
        let branch = graph.node[0].attribute[0].g.as_ref().unwrap();
        assert_eq!(branch.node[0].input, ["avfoil_detached_0"]);
    }

    #[test]
    fn raw_bytes_are_read_only_when_they_match_the_shape() {
        let mut t = TensorProto::new();
        t.data_type = FLOAT;
        t.dims = vec![512, 512];
        t.raw_data = (0..512 * 512u32)
            .flat_map(|k| (k as f32).to_le_bytes())
            .collect::<Vec<u8>>()
            .into();
        let (values, shape) = float_values(&t).unwrap();
        assert_eq!(shape, [512, 512]);
        assert_eq!(values[777], 777.0);
        t.dims = vec![512, 513];
        assert!(
            float_values(&t).is_none(),
            "a short payload is left to onnx-ir"
        );
        t.dims = vec![2, 2];
        assert!(float_values(&t).is_none(), "small tensors stay");
    }
}
