//! The ONNX ops avfoil evaluates, each with the attributes onnx-ir parsed for it. This is the one
//! list of supported ops (docs/onnx.md mirrors it); evaluation is in `ops/`, one file per family.

use onnx_ir::Node;
use onnx_ir::node::{
    avg_pool1d::AvgPool1dConfig, avg_pool2d::AvgPool2dConfig, avg_pool3d::AvgPool3dConfig,
    clip::ClipConfig, conv1d::Conv1dConfig, conv2d::Conv2dConfig, conv3d::Conv3dConfig,
    gemm::GemmConfig, max_pool1d::MaxPool1dConfig, max_pool2d::MaxPool2dConfig,
    max_pool3d::MaxPool3dConfig, reduce::ReduceConfig, reshape::ReshapeConfig,
    squeeze::SqueezeConfig, unsqueeze::UnsqueezeConfig,
};
use onnx_ir::node::{
    constant_of_shape::ConstantOfShapeConfig, gru::GruConfig, lstm::LstmConfig, pad::PadConfig,
    slice::SliceConfig, split::SplitConfig,
};

/// Elementwise functions of one float input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    Relu,
    Sigmoid,
    Tanh,
    Exp,
    Log,
    Sqrt,
    Abs,
    Neg,
    Reciprocal,
    Erf,
    Softplus,
    HardSwish,
    LeakyRelu(f64),
    Elu(f64),
    Selu,
    HardSigmoid { alpha: f64, beta: f64 },
    Gelu { tanh: bool },
}

/// Elementwise functions of two inputs, with ONNX (numpy) broadcasting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
}

/// Comparisons; booleans are held as 0/1 values of the inputs' kind (floats on the device,
/// integers on the host): they carry no gradient, and `Where` uses them as masks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compare {
    Equal,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reduce {
    Mean,
    Sum,
    Max,
    Min,
    L2,
}

#[derive(Clone, Debug)]
pub enum Op {
    Unary(Unary),
    Binary(Binary),
    /// Max, Min, Sum, Mean of any number of inputs.
    Variadic(Binary, bool),
    Softmax {
        axis: usize,
        log: bool,
    },
    Clip(ClipConfig),
    Conv1d(Conv1dConfig),
    Conv2d(Conv2dConfig),
    Conv3d(Conv3dConfig),
    MaxPool1d(MaxPool1dConfig),
    MaxPool2d(MaxPool2dConfig),
    MaxPool3d(MaxPool3dConfig),
    /// A convolution or max pool followed by a ReLU, computed in one pass: the plan's fusion of a
    /// Conv → Relu or Relu → MaxPool pair whose middle value nothing else reads
    /// (`plan::fuse_relus`).
    WithRelu(Box<Op>),
    AvgPool1d(AvgPool1dConfig),
    AvgPool2d(AvgPool2dConfig),
    AvgPool3d(AvgPool3dConfig),
    GlobalPool {
        max: bool,
    },
    BatchNorm {
        epsilon: f64,
    },
    /// onnx-ir's Linear: a Gemm or MatMul with a constant weight; `transpose`: the weight is
    /// `[out, in]`.
    Linear {
        transpose: bool,
    },
    Gemm(GemmConfig),
    MatMul,
    Reduce(Reduce, ReduceConfig),
    Flatten {
        axis: usize,
    },
    Reshape(ReshapeConfig),
    Transpose(Vec<i64>),
    Squeeze(SqueezeConfig),
    Unsqueeze(UnsqueezeConfig),
    Concat {
        axis: usize,
    },
    Shape {
        start: usize,
        end: usize,
    },
    Gather {
        axis: usize,
    },
    /// Identity, Dropout (inference), Constant: the first input, unchanged.
    Identity,
    Slice(SliceConfig),
    Split(SplitConfig),
    Pad(PadConfig),
    ConstantOfShape(ConstantOfShapeConfig),
    Lstm(LstmConfig),
    Gru(GruConfig),
    InstanceNorm {
        epsilon: f64,
    },
    GroupNorm {
        groups: usize,
        epsilon: f64,
    },
    LayerNorm {
        axis: i64,
        epsilon: f64,
    },
    Prelu,
    Expand(onnx_ir::node::expand::ExpandConfig),
    /// Cast between floats (kept as f32), between integers, or integers to floats.
    Cast {
        to_float: bool,
    },
    ConvTranspose1d(onnx_ir::node::conv_transpose1d::ConvTranspose1dConfig),
    ConvTranspose2d(onnx_ir::node::conv_transpose2d::ConvTranspose2dConfig),
    Resize(onnx_ir::node::resize::ResizeConfig),
    Compare(Compare),
    Not,
    /// Logical and of two masks (0/1 floats or integers), broadcasting.
    And,
    /// The number of elements of the input, an integer scalar.
    Size,
    Where,
    Range(onnx_ir::node::range::RangeConfig),
    Tile(onnx_ir::node::tile::TileConfig),
    Stft(onnx_ir::node::stft::StftConfig),
    Dft(onnx_ir::node::dft::DftConfig),
    /// MelWeightMatrix, computed when the graph loads: `[bins, mels]`, row-major.
    MelWeightMatrix {
        values: std::sync::Arc<[f32]>,
        bins: usize,
        mels: usize,
    },
    Einsum(super::einsum::Equation),
    ConvTranspose3d(onnx_ir::node::conv_transpose3d::ConvTranspose3dConfig),
}

impl Op {
    /// A convolution the host kernel can end with a ReLU.
    pub fn is_conv(&self) -> bool {
        matches!(self, Op::Conv1d(_) | Op::Conv2d(_) | Op::Conv3d(_))
    }

    /// A max pool the host kernel can end with a ReLU.
    pub fn is_max_pool(&self) -> bool {
        matches!(self, Op::MaxPool1d(_) | Op::MaxPool2d(_) | Op::MaxPool3d(_))
    }

    /// The op for `node`, or why it cannot be evaluated (appended to its name in the error).
    pub fn from_node(node: &Node) -> Result<Self, String> {
        use Unary as U;
        Ok(match node {
            Node::Relu(_) => Op::Unary(U::Relu),
            Node::Sigmoid(_) => Op::Unary(U::Sigmoid),
            Node::Tanh(_) => Op::Unary(U::Tanh),
            Node::Exp(_) => Op::Unary(U::Exp),
            Node::Log(_) => Op::Unary(U::Log),
            Node::Sqrt(_) => Op::Unary(U::Sqrt),
            Node::Abs(_) => Op::Unary(U::Abs),
            Node::Neg(_) => Op::Unary(U::Neg),
            Node::Reciprocal(_) => Op::Unary(U::Reciprocal),
            Node::Erf(_) => Op::Unary(U::Erf),
            Node::Softplus(_) => Op::Unary(U::Softplus),
            Node::HardSwish(_) => Op::Unary(U::HardSwish),
            Node::Selu(_) => Op::Unary(U::Selu),
            Node::LeakyRelu(n) => Op::Unary(U::LeakyRelu(n.config.alpha)),
            Node::Elu(n) => Op::Unary(U::Elu(n.config.alpha)),
            Node::HardSigmoid(n) => Op::Unary(U::HardSigmoid {
                alpha: n.config.alpha,
                beta: n.config.beta,
            }),
            Node::Gelu(n) => Op::Unary(U::Gelu {
                tanh: matches!(
                    n.config.approximate,
                    onnx_ir::node::gelu::GeluApproximate::Tanh
                ),
            }),
            Node::Add(_) => Op::Binary(Binary::Add),
            Node::Sub(_) => Op::Binary(Binary::Sub),
            Node::Mul(_) => Op::Binary(Binary::Mul),
            Node::Div(_) => Op::Binary(Binary::Div),
            Node::Pow(_) => Op::Binary(Binary::Pow),
            Node::Max(_) => Op::Variadic(Binary::Max, false),
            Node::Min(_) => Op::Variadic(Binary::Min, false),
            Node::Sum(_) => Op::Variadic(Binary::Add, false),
            Node::Mean(_) => Op::Variadic(Binary::Add, true),
            Node::Softmax(n) => Op::Softmax {
                axis: n.config.axis,
                log: false,
            },
            Node::LogSoftmax(n) => Op::Softmax {
                axis: n.config.axis,
                log: true,
            },
            Node::Clip(n) => Op::Clip(n.config.clone()),
            Node::Conv1d(n) => Op::Conv1d(n.config.clone()),
            Node::Conv2d(n) => Op::Conv2d(n.config.clone()),
            Node::Conv3d(n) => Op::Conv3d(n.config.clone()),
            Node::MaxPool1d(n) => Op::MaxPool1d(n.config.clone()),
            Node::MaxPool2d(n) => Op::MaxPool2d(n.config.clone()),
            Node::MaxPool3d(n) => Op::MaxPool3d(n.config.clone()),
            Node::AveragePool1d(n) => Op::AvgPool1d(n.config.clone()),
            Node::AveragePool2d(n) => Op::AvgPool2d(n.config.clone()),
            Node::AveragePool3d(n) => Op::AvgPool3d(n.config.clone()),
            Node::GlobalAveragePool(_) => Op::GlobalPool { max: false },
            Node::GlobalMaxPool(_) => Op::GlobalPool { max: true },
            Node::BatchNormalization(n) => Op::BatchNorm {
                epsilon: match &n.config {
                    onnx_ir::node::batch_norm::BatchNormConfig::Static(c) => c.epsilon,
                    onnx_ir::node::batch_norm::BatchNormConfig::Runtime(c) => c.epsilon,
                },
            },
            Node::Linear(n) => Op::Linear {
                transpose: n.config.transpose_weight,
            },
            Node::Gemm(n) => Op::Gemm(n.config.clone()),
            Node::MatMul(_) => Op::MatMul,
            Node::ReduceMean(n) => Op::Reduce(Reduce::Mean, n.config.clone()),
            Node::ReduceSum(n) => Op::Reduce(Reduce::Sum, n.config.clone()),
            Node::ReduceMax(n) => Op::Reduce(Reduce::Max, n.config.clone()),
            Node::ReduceMin(n) => Op::Reduce(Reduce::Min, n.config.clone()),
            Node::ReduceL2(n) => Op::Reduce(Reduce::L2, n.config.clone()),
            Node::Flatten(n) => Op::Flatten {
                axis: n.config.axis,
            },
            Node::Reshape(n) => Op::Reshape(n.config.clone()),
            Node::Transpose(n) => Op::Transpose(n.config.perm.clone()),
            Node::Squeeze(n) => Op::Squeeze(n.config.clone()),
            Node::Unsqueeze(n) => Op::Unsqueeze(n.config.clone()),
            Node::Concat(n) => Op::Concat {
                axis: n.config.axis,
            },
            Node::Shape(n) => Op::Shape {
                start: n.config.start,
                end: n.config.end,
            },
            Node::Gather(n) => Op::Gather {
                axis: n.config.axis,
            },
            Node::Identity(_) | Node::Dropout(_) | Node::Constant(_) => Op::Identity,
            Node::Slice(n) => Op::Slice(n.config.clone()),
            Node::Split(n) => Op::Split(n.config.clone()),
            Node::Pad(n) => Op::Pad(n.config.clone()),
            Node::ConstantOfShape(n) => Op::ConstantOfShape(n.config.clone()),
            Node::Lstm(n) => Op::Lstm(n.config.clone()),
            Node::Gru(n) => Op::Gru(n.config.clone()),
            Node::InstanceNormalization(n) => Op::InstanceNorm {
                epsilon: n.config.epsilon,
            },
            Node::GroupNormalization(n) => Op::GroupNorm {
                groups: n.config.num_groups,
                epsilon: n.config.epsilon,
            },
            Node::LayerNormalization(n) => Op::LayerNorm {
                axis: n.config.axis,
                epsilon: n.config.epsilon,
            },
            Node::PRelu(_) => Op::Prelu,
            Node::ConvTranspose1d(n) => Op::ConvTranspose1d(n.config.clone()),
            Node::ConvTranspose2d(n) => Op::ConvTranspose2d(n.config.clone()),
            Node::Resize(n) => Op::Resize(n.config.clone()),
            Node::Equal(_) => Op::Compare(Compare::Equal),
            Node::Greater(_) => Op::Compare(Compare::Greater),
            Node::GreaterOrEqual(_) => Op::Compare(Compare::GreaterOrEqual),
            Node::Less(_) => Op::Compare(Compare::Less),
            Node::LessOrEqual(_) => Op::Compare(Compare::LessOrEqual),
            Node::Not(_) => Op::Not,
            Node::And(_) => Op::And,
            Node::Size(_) => Op::Size,
            Node::Where(_) => Op::Where,
            Node::Range(n) => Op::Range(n.config.clone()),
            Node::Tile(n) => Op::Tile(n.config.clone()),
            Node::Stft(n) => Op::Stft(n.config.clone()),
            // onnx-ir refuses a onesided inverse or complex DFT itself, naming the node.
            Node::Dft(n) => Op::Dft(n.config.clone()),
            Node::MelWeightMatrix(n) => {
                let spec = mel_spec(&n.inputs)?;
                let (values, bins, mels) =
                    super::mel_weights::matrix(&spec).map_err(|e| format!(": {e}"))?;
                Op::MelWeightMatrix {
                    values: values.into(),
                    bins,
                    mels,
                }
            }
            Node::Einsum(n) => Op::Einsum(
                super::einsum::parse(&n.config.equation, n.inputs.len())
                    .map_err(|e| format!(": {e}"))?,
            ),
            Node::ConvTranspose3d(n) => Op::ConvTranspose3d(n.config.clone()),
            Node::Expand(n) => Op::Expand(n.config.clone()),
            Node::Cast(n) => {
                let to = n.config.to;
                if to.is_float() || to.is_int() || to.is_uint() {
                    Op::Cast {
                        to_float: to.is_float(),
                    }
                } else {
                    return Err(format!(" to {to:?}"));
                }
            }
            _ => return Err(String::new()),
        })
    }
}

/// MelWeightMatrix's five inputs, which must be constants: they set the matrix's shape.
fn mel_spec(inputs: &[onnx_ir::ir::Argument]) -> Result<super::mel_weights::MelSpec, String> {
    use onnx_ir::TensorDataExt;
    let names = [
        "num_mel_bins",
        "dft_length",
        "sample_rate",
        "lower_edge_hertz",
        "upper_edge_hertz",
    ];
    let mut data = Vec::with_capacity(5);
    for (i, name) in names.iter().enumerate() {
        let value = inputs.get(i).and_then(|a| a.value()).ok_or_else(|| {
            format!(": input {name} is computed by the graph; avfoil needs a constant")
        })?;
        data.push((name, value));
    }
    let int = |i: usize| {
        data[i]
            .1
            .scalar_i64()
            .map_err(|e| format!(": input {}: {e:?}", data[i].0))
    };
    let float = |i: usize| {
        data[i]
            .1
            .scalar_f64()
            .map(|v| v as f32)
            .map_err(|e| format!(": input {}: {e:?}", data[i].0))
    };
    Ok(super::mel_weights::MelSpec {
        num_mel_bins: int(0)?,
        dft_length: int(1)?,
        sample_rate: int(2)?,
        lower_edge_hertz: float(3)?,
        upper_edge_hertz: float(4)?,
    })
}
