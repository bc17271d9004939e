//! The H.264 defence, the workload of `../shared/bench/art_baseline.py h264`: one 32 × 224 × 224
//! clip (a random texture brightening over time, in `[0, 255]`) round-tripped at CRF 30.
//!
//!     cargo bench --bench h264_video                      # OpenH264
//!     cargo bench --features ffmpeg --bench h264_video     # and libx264, as ART
//!
//! Prints one JSON line, like the baseline script.

use avfoil::defence::{H264Compression, H264Quality};
use avfoil::scale::VideoScale;
use common::{report, time};
use serde_json::json;

#[allow(dead_code)]
mod common;

/// The baseline's `video_batch(1, 32, 224) * 255`: uniform noise in [0, 0.5] plus a ramp over the
/// frames (timing depends on the content only through the bitrate).
fn video_clip(frames: usize, size: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let plane = size * size;
    let base: Vec<f32> = (0..3 * plane)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32 * 0.5
        })
        .collect();
    let mut out = vec![0.0; 3 * frames * plane];
    for c in 0..3 {
        for t in 0..frames {
            let ramp = 0.5 * t as f32 / (frames - 1) as f32;
            for i in 0..plane {
                out[(c * frames + t) * plane + i] =
                    (base[c * plane + i] + ramp).clamp(0.0, 1.0) * 255.0;
            }
        }
    }
    out
}

fn main() -> avfoil::Result<()> {
    let x = video_clip(32, 224);
    let h264 = H264Compression::new(&[3, 32, 224, 224], VideoScale::Byte, H264Quality::Crf(30))?;
    let (s, y) = time(5, || h264.compress(&x).unwrap());
    // A digest of the output, so that a speed change can be checked to leave the codec's output alone.
    let digest = y.iter().fold(0xcbf2_9ce4_8422_2325u64, |d, v| {
        (d ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3)
    });
    report(
        "h264_roundtrip_32x224",
        s,
        1,
        json!({"crf": 30, "qp": h264.qp(), "codec": "openh264", "digest": format!("{digest:016x}")}),
    );
    // ART's own codec, in process (`cargo bench --features ffmpeg --bench h264_video`).
    #[cfg(feature = "ffmpeg")]
    {
        let x264 = h264.with_backend(avfoil::defence::H264Backend::X264)?;
        let (s, _) = time(5, || x264.compress(&x).unwrap());
        report(
            "h264_roundtrip_32x224",
            s,
            1,
            json!({"crf": 30, "codec": "libx264"}),
        );
    }
    Ok(())
}
