//! Picking the compute device at run time.
//!
//! burn 0.22 tensors carry no backend type: the backend is a property of the [`Device`] they live on.
//! Library code takes a `Device` and never assumes the CPU; only this module knows the names users type.

use crate::error::{Error, Result};
use burn::tensor::Device;

/// The devices a user can ask for with `--device`.
pub const DEVICE_NAMES: [&str; 3] = ["cpu", "cuda", "wgpu"];

/// The device named `name` (`cpu`, `cuda` or `wgpu`), without autodiff.
///
/// `cpu` is burn-flex (pure Rust). `cuda` and `wgpu` exist only when avfoil was built with the cargo
/// feature of the same name; otherwise the error says how to get them.
pub fn parse_device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::flex()),
        "cuda" => cuda(),
        "wgpu" => wgpu(),
        other => Err(Error::invalid(
            "device",
            format!("expected one of cpu, cuda, wgpu, got {other:?}"),
        )),
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device> {
    Err(Error::Unsupported(
        "device cuda: this avfoil was built without CUDA; rebuild with `cargo build --release --features cuda`".into(),
    ))
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device> {
    Err(Error::Unsupported(
        "device wgpu: this avfoil was built without wgpu; rebuild with `cargo build --release --features wgpu`".into(),
    ))
}
