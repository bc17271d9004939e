//! ONNX models, loaded at run time: onnx-ir parses the file ([`plan`]), and avfoil interprets the
//! graph on burn tensors ([`ops`]), so input gradients come from burn's autodiff for every op,
//! with no code per model.

mod detach;
pub mod einsum;
pub mod export;
mod host_conv;
mod host_lstm;
mod host_op;
mod host_pool;
pub mod mel_weights;
pub mod network;
pub mod op;
mod ops;
pub mod plan;
pub mod value;

pub use network::OnnxNetwork;
pub use plan::Plan;
