//! Writing ONNX files: a small builder over the ONNX protobuf types that onnx-ir exports, for
//! families that can describe themselves as a graph (`avfoil export`).

use crate::error::{Error, Result};
use onnx_ir::{
    AttributeProto, AttributeType, GraphProto, Message, ModelProto, NodeProto, TensorProto,
    TypeProto, ValueInfoProto,
};

/// The opset the exported graphs import (every op they use is unchanged since).
pub const OPSET: i64 = 17;

/// ONNX's code for float32 tensors.
const FLOAT: i32 = 1;
const INT64: i32 = 7;

/// An attribute value.
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

/// A graph under construction.
#[derive(Default)]
pub struct GraphWriter {
    graph: GraphProto,
    next: usize,
}

/// A float tensor's declaration (a graph input or output); `None` axes are symbolic (the batch).
pub(crate) fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let mut ty = TypeProto::new();
    let tensor = ty.mut_tensor_type();
    tensor.elem_type = FLOAT;
    let shape = tensor.shape.mut_or_insert_default();
    for d in dims {
        shape.dim.push(Default::default());
        let dim = shape.dim.last_mut().expect("just pushed");
        match d {
            Some(v) => dim.set_dim_value(*v as i64),
            None => dim.set_dim_param("batch".into()),
        }
    }
    let mut info = ValueInfoProto::new();
    info.name = name.into();
    info.type_ = Some(ty).into();
    info
}

impl GraphWriter {
    pub fn new(name: &str) -> Self {
        let mut w = Self::default();
        w.graph.name = name.into();
        w
    }

    /// A graph input; `None` axes are symbolic (the batch).
    pub fn input(&mut self, name: &str, dims: &[Option<usize>]) {
        self.graph.input.push(value_info(name, dims));
    }

    /// A graph output.
    pub fn output(&mut self, name: &str, dims: &[Option<usize>]) {
        self.graph.output.push(value_info(name, dims));
    }

    /// A float32 constant; returns its name.
    pub fn weight(&mut self, name: &str, shape: &[usize], values: &[f32]) -> Result<String> {
        if shape.iter().product::<usize>() != values.len() {
            return Err(Error::invalid(
                "export",
                format!("{name}: {} values for shape {shape:?}", values.len()),
            ));
        }
        let mut t = TensorProto::new();
        t.name = name.into();
        t.data_type = FLOAT;
        t.dims = shape.iter().map(|&d| d as i64).collect();
        t.float_data = values.to_vec();
        self.graph.initializer.push(t);
        Ok(name.into())
    }

    /// An int64 constant (a shape); returns its name.
    pub fn ints(&mut self, name: &str, values: &[i64]) -> String {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.data_type = INT64;
        t.dims = vec![values.len() as i64];
        t.int64_data = values.to_vec();
        self.graph.initializer.push(t);
        name.into()
    }

    /// A node of `op` on `inputs`; returns the name of its (single) output.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)]) -> String {
        self.next += 1;
        let out = format!("{}_{}", op.to_lowercase(), self.next);
        self.node_to(op, inputs, &out, attrs);
        out
    }

    /// A node of `op` whose output is named `output` (a graph output).
    pub fn node_to(&mut self, op: &str, inputs: &[&str], output: &str, attrs: &[(&str, Attr)]) {
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.name = format!("{op}_{}", self.next);
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = vec![output.into()];
        for (name, value) in attrs {
            let mut a = AttributeProto::new();
            a.name = name.to_string();
            match value {
                Attr::Int(i) => {
                    a.type_ = AttributeType::INT.into();
                    a.i = *i;
                }
                Attr::Ints(v) => {
                    a.type_ = AttributeType::INTS.into();
                    a.ints = v.clone();
                }
                Attr::Float(f) => {
                    a.type_ = AttributeType::FLOAT.into();
                    a.f = *f;
                }
            }
            n.attribute.push(a);
        }
        self.graph.node.push(n);
    }

    /// The ONNX file's bytes.
    pub fn finish(self) -> Result<Vec<u8>> {
        let mut model = ModelProto::new();
        model.ir_version = 8;
        model.producer_name = "avfoil".into();
        model.producer_version = env!("CARGO_PKG_VERSION").into();
        model.opset_import.push(Default::default());
        let opset = model.opset_import.last_mut().expect("just pushed");
        opset.domain = String::new();
        opset.version = OPSET;
        model.graph = Some(self.graph).into();
        model
            .write_to_bytes()
            .map_err(|e| Error::invalid("export", format!("cannot encode the graph: {e}")))
    }
}
