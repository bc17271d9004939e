//! Scenario files: parsing and validation.
//!
//! Any input must give a value or an error: never a panic, an abort or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = avfoil::eval::scenario::Scenario::parse(&String::from_utf8_lossy(data), Path::new("scenario.toml"));
});
