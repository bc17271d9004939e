//! The GIF reader, compositing included.
//!
//! Any input must give a value or an error: never a panic, an abort or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = avfoil::video::gif_read::decode_gif(Path::new("fuzz.gif"), data);
});
