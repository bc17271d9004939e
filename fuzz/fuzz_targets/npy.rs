//! The .npy reader.
//!
//! Any input must give a value or an error: never a panic, an abort or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = avfoil::media::npy::npy_from_bytes("fuzz.npy", data);
});
