//! An ONNX file turned into what the interpreter runs: a list of steps over numbered value slots,
//! the constants that fill some slots before a run, and the graph's input and output.
//!
//! onnx-ir parses the file (typed nodes, parsed attributes, constants lifted and folded); this
//! keeps only what evaluation needs, in plain data that can cross threads (onnx-ir's graph shares
//! its tensor store through `Rc`). Every op that avfoil cannot evaluate is found here, so an
//! unsupported graph is refused before any work, with each op type and node named.

use super::op::Op;
use super::value::Ints;
use crate::error::{Error, Result};
use onnx_ir::ir::{ArgType, Argument, TensorData};
use onnx_ir::{Node, TensorDataExt};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A constant of the graph, on the host.
#[derive(Clone, Debug)]
pub enum Constant {
    Float { values: Vec<f32>, shape: Vec<usize> },
    Int(Ints),
}

/// One node to evaluate.
#[derive(Clone, Debug)]
pub struct Step {
    /// The node's name in the file, for errors.
    pub name: String,
    pub op: Op,
    /// Slots of its inputs (`None`: an optional input left out).
    pub inputs: Vec<Option<usize>>,
    pub outputs: Vec<usize>,
    /// Slots no later step reads, freed after this one.
    pub release: Vec<usize>,
}

/// A graph input or output as the file declares it.
#[derive(Clone, Debug)]
pub struct Port {
    pub name: String,
    /// `F32`, `I64`, ...
    pub dtype: String,
    /// Per axis, the size, or `None` where it is symbolic (a batch axis).
    pub shape: Vec<Option<usize>>,
}

impl Port {
    fn of(arg: &Argument) -> Self {
        let (dtype, shape) = match &arg.ty {
            ArgType::Tensor(t) => (
                format!("{:?}", t.dtype),
                t.static_shape.clone().unwrap_or_else(|| vec![None; t.rank]),
            ),
            ArgType::ScalarTensor(d) | ArgType::ScalarNative(d) => (format!("{d:?}"), vec![]),
            ArgType::Shape(rank) => ("I64".into(), vec![Some(*rank)]),
        };
        Self {
            name: arg.name.clone(),
            dtype,
            shape,
        }
    }

    pub fn is_float(&self) -> bool {
        self.dtype.starts_with('F') || self.dtype == "BF16"
    }
}

/// A graph ready to interpret.
#[derive(Clone, Debug)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub slot_count: usize,
    pub constants: Vec<(usize, Constant)>,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    /// Slots of the graph's inputs and outputs, in the file's order.
    pub input_slots: Vec<usize>,
    pub output_slots: Vec<usize>,
    /// How many nodes of each op type the file has (after onnx-ir's simplification).
    pub op_counts: BTreeMap<String, usize>,
    /// Values in the float constants (the parameters).
    pub parameter_count: usize,
}

/// The most nodes a graph may have: a bound on the work a hostile file can ask for.
const MAX_NODES: usize = 100_000;

impl Plan {
    /// Parses the ONNX file at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, &bytes)
    }

    /// Parses an ONNX file already in memory; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let graph = crate::error::no_panic(path, "ONNX parser", || {
            onnx_ir::OnnxGraphBuilder::new().parse_bytes(bytes)
        })?
        .map_err(|e| Error::decode(path, format!("not a readable ONNX model: {e}")))?;
        if graph.nodes.len() > MAX_NODES {
            return Err(Error::decode(
                path,
                format!(
                    "{} nodes; avfoil reads graphs of up to {MAX_NODES}",
                    graph.nodes.len()
                ),
            ));
        }
        let mut builder = Builder::default();
        let input_slots = graph.inputs.iter().map(|a| builder.slot(&a.name)).collect();
        let mut unsupported = Vec::new();
        let mut steps = Vec::new();
        let mut op_counts = BTreeMap::new();
        for node in &graph.nodes {
            *op_counts.entry(node.node_type().to_string()).or_insert(0) += 1;
            match Op::from_node(node) {
                Ok(op) => {
                    let inputs = node
                        .inputs()
                        .iter()
                        .map(|a| builder.input(a))
                        .collect::<Result<Vec<_>>>()
                        .map_err(|e| Error::decode(path, format!("node {}: {e}", node.name())))?;
                    let outputs = node
                        .outputs()
                        .iter()
                        .map(|a| builder.slot(&a.name))
                        .collect();
                    steps.push(Step {
                        name: node.name().to_string(),
                        op,
                        inputs,
                        outputs,
                        release: Vec::new(),
                    });
                }
                Err(why) => {
                    unsupported.push(format!("{} (node {}){why}", op_name(node), node.name()))
                }
            }
        }
        if !unsupported.is_empty() {
            return Err(Error::Unsupported(format!(
                "{}: ONNX ops avfoil cannot evaluate: {}; docs/onnx.md lists the supported ops",
                path.display(),
                unsupported.join(", ")
            )));
        }
        let output_slots: Vec<usize> = graph
            .outputs
            .iter()
            .map(|a| builder.input(a).map(|s| s.expect("an output has a name")))
            .collect::<Result<_>>()
            .map_err(|e| Error::decode(path, e.to_string()))?;
        release_dead_slots(&mut steps, &output_slots);
        let parameter_count = builder
            .constants
            .iter()
            .map(|(_, c)| match c {
                Constant::Float { values, .. } => values.len(),
                Constant::Int(_) => 0,
            })
            .sum();
        Ok(Self {
            steps,
            slot_count: builder.slots.len() + builder.constants.len(),
            constants: builder.constants,
            inputs: graph.inputs.iter().map(Port::of).collect(),
            outputs: graph.outputs.iter().map(Port::of).collect(),
            input_slots,
            output_slots,
            op_counts,
            parameter_count,
        })
    }
}

/// The op's name as the file's author would know it (`Conv`, not onnx-ir's `Conv2d`).
fn op_name(node: &Node) -> String {
    match node {
        Node::Custom(c) => format!("{}::{}", c.domain, c.op_type),
        other => other.node_type().to_string(),
    }
}

/// Numbers the values of the graph: named values by name, constants each their own.
#[derive(Default)]
struct Builder {
    slots: HashMap<String, usize>,
    constants: Vec<(usize, Constant)>,
}

impl Builder {
    fn slot(&mut self, name: &str) -> usize {
        let next = self.slots.len() + self.constants.len();
        *self.slots.entry(name.to_string()).or_insert(next)
    }

    /// The slot an input reads: a constant's own (filled before a run), a named value's, or
    /// `None` for an optional input left out.
    fn input(&mut self, arg: &Argument) -> Result<Option<usize>> {
        if arg.is_optional() {
            return Ok(None);
        }
        if let Some(data) = arg.value() {
            let slot = self.slots.len() + self.constants.len();
            self.constants.push((slot, constant(&data, &arg.ty)?));
            return Ok(Some(slot));
        }
        Ok(Some(self.slot(&arg.name)))
    }
}

fn constant(data: &TensorData, ty: &ArgType) -> Result<Constant> {
    let bad = |e: burn::tensor::DataError| Error::invalid("onnx", format!("a constant: {e:?}"));
    let shape = data.shape().to_vec();
    let is_float = match ty {
        ArgType::Tensor(t) => t.dtype.is_float(),
        ArgType::ScalarTensor(d) | ArgType::ScalarNative(d) => d.is_float(),
        ArgType::Shape(_) => false,
    };
    Ok(if is_float {
        Constant::Float {
            values: data.to_f32_vec().map_err(bad)?,
            shape,
        }
    } else {
        Constant::Int(Ints {
            data: data.to_i64_vec().map_err(bad)?,
            shape,
        })
    })
}

/// Fills each step's `release` with the slots it reads for the last time (never an output).
fn release_dead_slots(steps: &mut [Step], outputs: &[usize]) {
    let mut last_read = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        for slot in step.inputs.iter().flatten() {
            last_read.insert(*slot, i);
        }
    }
    for (slot, i) in last_read {
        if !outputs.contains(&slot) {
            steps[i].release.push(slot);
        }
    }
}
