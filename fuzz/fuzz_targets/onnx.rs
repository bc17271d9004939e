//! The ONNX reader: onnx-ir's parse and avfoil's plan of the graph, then one run on an example of
//! zeros when the graph parses (what loading a model does).
//!
//! Any input must give a value or an error: never a panic, an abort or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("fuzz.onnx");
    if std::fs::write(&path, data).is_ok() {
        let device = burn::tensor::Device::flex();
        let _ = avfoil::classifier::Model::open(path.to_str().unwrap_or_default(), &device);
    }
});
