//! The MP4 (H.264) reader: demuxing and OpenH264 decoding.
//!
//! Any input must give a value or an error: never a panic, an abort or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = avfoil::video::mp4_read::decode_mp4(Path::new("fuzz.mp4"), data);
});
