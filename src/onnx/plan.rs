//! An ONNX file turned into what the interpreter runs: a list of steps over numbered value slots,
//! the constants that fill some slots before a run, and the graph's input and output.
//!
//! onnx-ir parses the file (typed nodes, parsed attributes, constants lifted and folded); this
//! keeps only what evaluation needs, in plain data that can cross threads (onnx-ir's graph shares
//! its tensor store through `Rc`). Every op that avfoil cannot evaluate is found here, so an
//! unsupported graph is refused before any work, with each op type and node named.

use super::op::{Op, Unary};
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
    /// The opsets the file imports: (domain, version); `ai.onnx` is the standard one.
    pub opsets: Vec<(String, i64)>,
    /// Nodes avfoil cannot evaluate, as `OpType (node name)`: empty in a plan that runs.
    pub unsupported: Vec<String>,
}

/// The most nodes a graph may have: a bound on the work a hostile file can ask for.
const MAX_NODES: usize = 100_000;

impl Plan {
    /// Parses the ONNX file at `path` for running: every op must be supported.
    pub fn read(path: &Path) -> Result<Self> {
        Self::refuse_unsupported(path, Self::read_any(path)?)
    }

    /// [`Plan::read`] on bytes already in memory; `path` names the file in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        Self::refuse_unsupported(path, Self::parse(path, bytes)?)
    }

    /// [`Plan::parse`] of the file at `path`, without copying it first.
    pub fn read_any(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse_shared(path, bytes::Bytes::from(bytes))
    }

    fn refuse_unsupported(path: &Path, plan: Self) -> Result<Self> {
        if !plan.unsupported.is_empty() {
            return Err(Error::Unsupported(format!(
                "{}: ONNX ops avfoil cannot evaluate: {} (opset {}); docs/onnx.md lists the \
                 supported ops",
                path.display(),
                plan.unsupported.join(", "),
                plan.standard_opset()
                    .map_or("unknown".into(), |v| v.to_string())
            )));
        }
        Ok(plan)
    }

    /// The version of the standard (`ai.onnx`) opset the file imports.
    pub fn standard_opset(&self) -> Option<i64> {
        self.opsets
            .iter()
            .find(|(d, _)| d.is_empty() || d == "ai.onnx")
            .map(|(_, v)| *v)
    }

    /// Parses an ONNX file, recording (not refusing) the ops avfoil cannot evaluate: for
    /// `avfoil inspect`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        Self::parse_shared(path, bytes::Bytes::copy_from_slice(bytes))
    }

    /// [`Plan::parse`] on a buffer the initialisers' bytes are read from in place.
    fn parse_shared(path: &Path, bytes: bytes::Bytes) -> Result<Self> {
        use onnx_ir::Message;
        let mut proto = crate::error::no_panic(path, "ONNX parser", || {
            onnx_ir::ModelProto::parse_from_tokio_bytes(&bytes)
        })?
        .map_err(|e| Error::decode(path, format!("not an ONNX model: {e}")))?;
        let file = FileNames::of(&proto);
        let onnx_ir_parse = |bytes: &[u8]| {
            crate::error::no_panic(path, "ONNX parser", || {
                onnx_ir::OnnxGraphBuilder::new().parse_bytes(bytes)
            })
        };
        let mut detached = super::detach::detach_large_initialisers(&mut proto);
        let mut parsed = None;
        if !detached.is_empty() {
            let slim = proto
                .write_to_bytes()
                .map_err(|e| Error::decode(path, format!("not an ONNX model: {e}")))?;
            drop(proto);
            parsed = onnx_ir_parse(&slim)?.ok();
        }
        let graph = match parsed {
            Some(graph) => graph,
            None => {
                // No large initialisers, or a graph onnx-ir reads only with their values.
                detached.clear();
                onnx_ir_parse(&bytes)?
                    .map_err(|e| Error::decode(path, format!("not a readable ONNX model: {e}")))?
            }
        };
        if graph.nodes.len() > MAX_NODES {
            return Err(Error::decode(
                path,
                format!(
                    "{} nodes; avfoil reads graphs of up to {MAX_NODES}",
                    graph.nodes.len()
                ),
            ));
        }
        let graph_inputs: Vec<&Argument> = graph
            .inputs
            .iter()
            .filter(|a| !detached.contains_key(&a.name))
            .collect();
        let mut builder = Builder {
            detached,
            ..Default::default()
        };
        let input_slots = graph_inputs.iter().map(|a| builder.slot(&a.name)).collect();
        let mut unsupported = Vec::new();
        let mut steps = Vec::new();
        builder
            .add_nodes(&graph.nodes, Some(&file), &mut steps, &mut unsupported)
            .map_err(|e| Error::decode(path, e.to_string()))?;
        let output_slots: Vec<usize> = graph
            .outputs
            .iter()
            .map(|a| builder.input(a).map(|s| s.expect("an output has a name")))
            .collect::<Result<_>>()
            .map_err(|e| Error::decode(path, e.to_string()))?;
        let mut steps = fuse_relus(steps, &output_slots);
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
            slot_count: builder.next,
            constants: builder.constants,
            inputs: file.rename(
                graph_inputs.iter().map(|a| Port::of(a)).collect(),
                &file.inputs,
            ),
            outputs: file.rename(graph.outputs.iter().map(Port::of).collect(), &file.outputs),
            input_slots,
            output_slots,
            op_counts: file.op_counts,
            parameter_count,
            opsets: file.opsets,
            unsupported,
        })
    }
}

/// What the file itself says, which onnx-ir's graph no longer does: onnx-ir renames nodes and
/// graph inputs and outputs (`linear2_out1` for `logits`) and splits op types (`Conv2d`).
struct FileNames {
    opsets: Vec<(String, i64)>,
    /// Node names per op type (lower case: onnx-ir writes `Lstm` for `LSTM`), in file order.
    nodes: HashMap<String, Vec<String>>,
    op_counts: BTreeMap<String, usize>,
    /// Graph inputs that are not initialisers, and graph outputs.
    inputs: Vec<String>,
    outputs: Vec<String>,
}

impl FileNames {
    fn of(proto: &onnx_ir::ModelProto) -> Self {
        let graph = proto.graph.as_ref();
        let mut nodes: HashMap<String, Vec<String>> = HashMap::new();
        let mut op_counts = BTreeMap::new();
        for n in graph.map(|g| g.node.as_slice()).unwrap_or_default() {
            nodes
                .entry(n.op_type.to_lowercase())
                .or_default()
                .push(n.name.clone());
            *op_counts.entry(n.op_type.clone()).or_insert(0) += 1;
        }
        let initialisers: Vec<&str> = graph
            .map(|g| g.initializer.iter().map(|t| t.name.as_str()).collect())
            .unwrap_or_default();
        let names = |list: Option<&[onnx_ir::ValueInfoProto]>, skip: &[&str]| -> Vec<String> {
            list.unwrap_or_default()
                .iter()
                .filter(|v| !skip.contains(&v.name.as_str()))
                .map(|v| v.name.clone())
                .collect()
        };
        Self {
            opsets: proto
                .opset_import
                .iter()
                .map(|o| (o.domain.clone(), o.version))
                .collect(),
            nodes,
            op_counts,
            inputs: names(graph.map(|g| g.input.as_slice()), &initialisers),
            outputs: names(graph.map(|g| g.output.as_slice()), &[]),
        }
    }

    /// The file's name of the node onnx-ir calls `renamed` (`cos1`: the first `Cos` node), when
    /// the file names it.
    fn node_name(&self, op: &str, renamed: &str) -> String {
        let k: usize = renamed
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap_or(0);
        self.nodes
            .get(&op.to_lowercase())
            .and_then(|names| names.get(k.wrapping_sub(1)))
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| renamed.to_string())
    }

    /// Ports with the file's names, where it has one per port.
    fn rename(&self, mut ports: Vec<Port>, names: &[String]) -> Vec<Port> {
        if names.len() == ports.len() {
            for (p, n) in ports.iter_mut().zip(names) {
                p.name = n.clone();
            }
        }
        ports
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
    /// Initialisers read before onnx-ir's parse (`detach.rs`), by name: each becomes a
    /// constant slot when a node first reads it.
    detached: HashMap<String, super::detach::Detached>,
    /// The next free slot.
    next: usize,
}

impl Builder {
    fn fresh(&mut self) -> usize {
        self.next += 1;
        self.next - 1
    }

    fn slot(&mut self, name: &str) -> usize {
        if let Some(&s) = self.slots.get(name) {
            return s;
        }
        let s = self.fresh();
        self.slots.insert(name.to_string(), s);
        s
    }

    /// The slot an input reads: a constant's own (filled before a run), a named value's, or
    /// `None` for an optional input left out.
    fn input(&mut self, arg: &Argument) -> Result<Option<usize>> {
        if arg.is_optional() {
            return Ok(None);
        }
        if let Some((values, shape)) = self.detached.remove(&arg.name) {
            let slot = self.slot(&arg.name);
            self.constants
                .push((slot, Constant::Float { values, shape }));
            return Ok(Some(slot));
        }
        if let Some(data) = arg.value() {
            let slot = self.fresh();
            self.constants.push((slot, constant(&data, &arg.ty)?));
            return Ok(Some(slot));
        }
        Ok(Some(self.slot(&arg.name)))
    }

    /// Steps for `nodes`, in order; the ops avfoil cannot evaluate go to `unsupported`, named
    /// as the file names them (`file`: the top-level graph's names; a branch's nodes keep
    /// onnx-ir's).
    fn add_nodes(
        &mut self,
        nodes: &[Node],
        file: Option<&FileNames>,
        steps: &mut Vec<Step>,
        unsupported: &mut Vec<String>,
    ) -> Result<()> {
        for node in nodes {
            let op_type = op_name(node);
            let name = || {
                file.map_or(node.name().to_string(), |f| {
                    f.node_name(&op_type, node.name())
                })
            };
            if let Node::If(n) = node {
                if let Err(why) = self.inline_if(n, steps, unsupported) {
                    unsupported.push(format!("If (node {}){why}", name()));
                }
                continue;
            }
            match Op::from_node(node) {
                Ok(op) => {
                    let inputs = node
                        .inputs()
                        .iter()
                        .map(|a| self.input(a))
                        .collect::<Result<Vec<_>>>()
                        .map_err(|e| {
                            Error::invalid("onnx", format!("node {}: {e}", node.name()))
                        })?;
                    let outputs = node.outputs().iter().map(|a| self.slot(&a.name)).collect();
                    steps.push(Step {
                        name: node.name().to_string(),
                        op,
                        inputs,
                        outputs,
                        release: Vec::new(),
                    });
                }
                Err(why) => unsupported.push(format!("{op_type} (node {}){why}", name())),
            }
        }
        Ok(())
    }

    /// An If whose condition is a constant of the file (an initialiser, or what onnx-ir folded
    /// to one) is its taken branch: the branch's nodes become steps, reading the outer values
    /// it names, and Identity steps carry its outputs to the If's. An If on a computed
    /// condition is refused (`Err`: why, appended to its name): avfoil runs one fixed list of
    /// steps, so that every run's gradient has the same graph.
    fn inline_if(
        &mut self,
        n: &onnx_ir::node::if_node::IfNode,
        steps: &mut Vec<Step>,
        unsupported: &mut Vec<String>,
    ) -> std::result::Result<(), String> {
        let condition = n
            .inputs
            .first()
            .and_then(|a| a.value())
            .and_then(|d| d.iter::<f64>().next());
        let Some(condition) = condition else {
            return Err(
                ": its condition is computed by the graph; avfoil evaluates an If only \
                        when its condition is a constant (it inlines the taken branch)"
                    .into(),
            );
        };
        let branch = if condition != 0.0 {
            &n.config.then_branch
        } else {
            &n.config.else_branch
        };
        if branch.outputs.len() != n.outputs.len() {
            return Err(format!(
                ": its branch has {} outputs for {}",
                branch.outputs.len(),
                n.outputs.len()
            ));
        }
        // The branch names outer values by their names in the file; onnx-ir passes them as
        // the If's inputs after the condition. Bound for the branch only.
        let mut shadowed = Vec::new();
        for (name, arg) in n.config.scope_ref_names.iter().zip(n.inputs.iter().skip(1)) {
            let slot = self
                .input(arg)
                .map_err(|e| format!(": outer value {name}: {e}"))?
                .ok_or_else(|| format!(": outer value {name} is missing"))?;
            shadowed.push((name.clone(), self.slots.insert(name.clone(), slot)));
        }
        let result = self
            .add_nodes(&branch.nodes, None, steps, unsupported)
            .map_err(|e| format!(": {e}"))
            .and_then(|()| {
                for (out, arg) in n.outputs.iter().zip(&branch.outputs) {
                    let from = self
                        .input(arg)
                        .map_err(|e| format!(": {e}"))?
                        .ok_or_else(|| format!(": branch output {} is missing", arg.name))?;
                    let to = self.slot(&out.name);
                    steps.push(Step {
                        name: n.name.clone(),
                        op: Op::Identity,
                        inputs: vec![Some(from)],
                        outputs: vec![to],
                        release: Vec::new(),
                    });
                }
                Ok(())
            });
        for (name, previous) in shadowed.into_iter().rev() {
            match previous {
                Some(s) => self.slots.insert(name, s),
                None => self.slots.remove(&name),
            };
        }
        result
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
    } else if matches!(data.dtype(), burn::tensor::DType::Bool(_)) {
        // Booleans are 0/1 values, as comparisons give them (an If's condition, a mask); read
        // as bytes, so that a byte other than 0 or 1 in the file is true rather than a panic.
        Constant::Int(Ints {
            data: data.iter::<i64>().map(|v| i64::from(v != 0)).collect(),
            shape,
        })
    } else {
        Constant::Int(Ints {
            data: data.to_i64_vec().map_err(bad)?,
            shape,
        })
    })
}

/// Folds each ReLU into the host op beside it where nothing else reads the value between them:
/// Relu → MaxPool becomes the pool with the ReLU after it (the two commute, gradients included: a
/// window's maximum passes the ReLU exactly when its ReLU'd maximum is positive, from the same
/// entry), then Conv → Relu the convolution with its ReLU in the same pass. burn's ReLU, a pass
/// over the largest activations forwards and two backwards, was a quarter of an exported
/// RawAudioCNN's forward time. Pools first: a ReLU after a pool touches fewer values.
fn fuse_relus(steps: Vec<Step>, outputs: &[usize]) -> Vec<Step> {
    let relu_then_pool = |a: &Step, b: &Step| {
        (matches!(a.op, Op::Unary(Unary::Relu)) && b.op.is_max_pool()).then(|| {
            let inputs = a.inputs.iter().chain(&b.inputs[1..]).copied().collect();
            (b.op.clone(), inputs)
        })
    };
    let conv_then_relu = |a: &Step, b: &Step| {
        (a.op.is_conv() && matches!(b.op, Op::Unary(Unary::Relu)))
            .then(|| (a.op.clone(), a.inputs.clone()))
    };
    let steps = fuse_pairs(steps, outputs, relu_then_pool);
    fuse_pairs(steps, outputs, conv_then_relu)
}

/// Replaces each pair of consecutive steps `a`, `b` for which `fuse` gives an op and its inputs
/// with one step, that op followed by a ReLU ([`Op::WithRelu`]) writing `b`'s output, where `b`
/// reads `a`'s one output as its first input and nothing else (no other step, no graph output)
/// reads it.
fn fuse_pairs(
    steps: Vec<Step>,
    outputs: &[usize],
    fuse: impl Fn(&Step, &Step) -> Option<(Op, Vec<Option<usize>>)>,
) -> Vec<Step> {
    let mut readers: HashMap<usize, usize> = HashMap::new();
    for slot in steps.iter().flat_map(|s| s.inputs.iter().flatten()) {
        *readers.entry(*slot).or_default() += 1;
    }
    let joined = |a: &Step, b: &Step| match (&a.outputs[..], b.inputs.first()) {
        ([out], Some(Some(first))) => {
            out == first && readers.get(out) == Some(&1) && !outputs.contains(out)
        }
        _ => false,
    };
    let mut fused = Vec::with_capacity(steps.len());
    let mut steps = steps.into_iter().peekable();
    while let Some(a) = steps.next() {
        let pair = steps
            .peek()
            .filter(|b| joined(&a, b))
            .and_then(|b| fuse(&a, b).map(|(op, inputs)| (op, inputs, b)));
        match pair {
            Some((op, inputs, b)) => {
                fused.push(Step {
                    name: format!("{}+{}", a.name, b.name),
                    op: Op::WithRelu(Box::new(op)),
                    inputs,
                    outputs: b.outputs.clone(),
                    release: Vec::new(),
                });
                steps.next();
            }
            None => fused.push(a),
        }
    }
    fused
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::export::{Attr, GraphWriter};

    /// x → Conv → Relu → MaxPool, with the Relu's value also read by an Add when `shared`.
    fn graph(shared: bool) -> Vec<u8> {
        let mut g = GraphWriter::new("fusion");
        g.input("x", &[None, Some(2), Some(8)]);
        let w = g.weight("w", &[2, 2, 3], &[0.1; 12]).unwrap();
        let conv = g.node("Conv", &["x", &w], &[("kernel_shape", Attr::Ints(vec![3]))]);
        let relu = g.node("Relu", &[&conv], &[]);
        let pool_attrs = [
            ("kernel_shape", Attr::Ints(vec![2])),
            ("strides", Attr::Ints(vec![2])),
        ];
        if shared {
            let pool = g.node("MaxPool", &[&relu], &pool_attrs);
            let both = g.node("Concat", &[&relu, &pool], &[("axis", Attr::Int(2))]);
            g.node_to("Identity", &[&both], "y", &[]);
        } else {
            g.node_to("MaxPool", &[&relu], "y", &pool_attrs);
        }
        g.output("y", &[None, Some(2), None]);
        g.finish().unwrap()
    }

    fn ops(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .map(|s| match &s.op {
                Op::WithRelu(op) => format!("{}+relu", if op.is_conv() { "conv" } else { "pool" }),
                Op::Unary(Unary::Relu) => "relu".into(),
                op if op.is_conv() => "conv".into(),
                op if op.is_max_pool() => "pool".into(),
                _ => "other".into(),
            })
            .collect()
    }

    /// Relu → MaxPool fuses first (the ReLU after the pool); a ReLU whose value another node
    /// reads stays, and then fuses into the convolution before it only when nothing else reads
    /// the convolution's value.
    #[test]
    fn relus_fuse_into_their_host_ops_only_where_nothing_else_reads_the_value() {
        let plan = Plan::parse(Path::new("fusion.onnx"), &graph(false)).unwrap();
        assert_eq!(ops(&plan), ["conv", "pool+relu"]);
        let plan = Plan::parse(Path::new("fusion.onnx"), &graph(true)).unwrap();
        assert_eq!(ops(&plan), ["conv+relu", "pool", "other"]);
    }
}
