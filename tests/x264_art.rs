//! The `ffmpeg` feature's x264 round trip (ART's `VideoCompression` codec path): bit-identical to
//! ART's output, odd sizes, CRF 0, argument errors, and the H.264 defence's x264 backend.
//!
//! A test binary of its own: x264 with threads is disturbed by other busy threads of the same
//! process (see `avfoil::video::x264`), so nothing but x264 round trips (serialised by the library)
//! runs here.
#![cfg(feature = "ffmpeg")]

mod common;
use avfoil::defence::{H264Backend, H264Compression, H264Quality};
use avfoil::media::npy::read_npy;
use avfoil::scale::VideoScale;
use avfoil::video::x264::{X264Rate, X264Threads, x264_round_trip, x264_round_trip_with};
use common::video::{crop, fixture, psnr, smooth_clip};
use std::sync::{Mutex, MutexGuard};

/// Tests here run one at a time: the library serialises its `threads=auto` round trips, but a test
/// that runs single-threaded round trips in parallel would still disturb them.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `tools/make_video_fixtures.py`: ART 1.20.1 `VideoCompression(video_format="mp4",
/// constant_rate_factor=30)` on a 12 × 24 × 32 clip.
fn art_fixture() -> (Vec<u8>, Vec<u8>) {
    let bytes = |name: &str| -> Vec<u8> {
        let a = read_npy(&fixture(name)).unwrap();
        assert_eq!(a.shape, [12, 24, 32, 3]);
        a.data.iter().map(|&v| v as u8).collect()
    };
    (bytes("art_x264_in.npy"), bytes("art_x264_crf30_out.npy"))
}

#[test]
fn x264_round_trip_is_bit_identical_to_art() {
    let _serial = serial();
    let (input, art) = art_fixture();
    let copy = input.clone();
    let ours = x264_round_trip(&input, 32, 24, 12, 30).unwrap();
    assert_eq!(input, copy, "input untouched");
    let differing = ours.iter().zip(&art).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "{differing} bytes differ from ART");
}

#[test]
fn h264_defence_x264_backend_matches_art() {
    let _serial = serial();
    let (input, art) = art_fixture();
    let (f, h, w) = (12, 24, 32);
    let plane = f * h * w;
    // [F, H, W, 3] bytes → [3, F, H, W] in [0, 1].
    let mut clip = vec![0f32; 3 * plane];
    for (i, px) in input.chunks_exact(3).enumerate() {
        for c in 0..3 {
            clip[c * plane + i] = f32::from(px[c]) / 255.0;
        }
    }
    let d = H264Compression::new(&[3, f, h, w], VideoScale::Unit, H264Quality::Crf(30))
        .unwrap()
        .with_backend(H264Backend::X264)
        .unwrap();
    assert_eq!(d.backend(), H264Backend::X264);
    let out = d.compress(&clip).unwrap();
    for (i, px) in art.chunks_exact(3).enumerate() {
        for c in 0..3 {
            assert_eq!(
                (out[c * plane + i] * 255.0).round() as u8,
                px[c],
                "value {i}/{c}"
            );
        }
    }
}

#[test]
fn x264_round_trip_handles_odd_sizes_one_frame_and_crf_0() {
    let _serial = serial();
    // Odd size (ART crashes here): padded, encoded, cropped back.
    let v = smooth_clip(3, 17, 23, 25.0);
    let out = x264_round_trip(&v.rgb, 23, 17, 3, 23).unwrap();
    assert_eq!(out.len(), v.rgb.len());
    let odd = psnr(&v.rgb, &out);
    // The same clip at the even size just below, for comparison.
    let even = x264_round_trip(&crop(&v, 22, 16), 22, 16, 3, 23).unwrap();
    let even = psnr(&crop(&v, 22, 16), &even);
    println!("x264 CRF 23, 23 × 17: {odd:.2} dB; 22 × 16: {even:.2} dB");
    // Padding and cropping cost nothing visible: as good as the even size (tiny frames at
    // CRF 23 sit near 30 dB either way).
    assert!(odd > 27.0 && odd > even - 1.5, "odd {odd}, even {even}");
    let one = smooth_clip(1, 24, 32, 25.0);
    assert_eq!(
        x264_round_trip(&one.rgb, 32, 24, 1, 28).unwrap().len(),
        one.rgb.len()
    );
    // CRF 0: only the RGB ↔ YUV 4:2:0 conversion loses anything.
    let v = smooth_clip(4, 32, 48, 25.0);
    let lossless =
        x264_round_trip_with(&v.rgb, 48, 32, 4, X264Rate::Qp(0), X264Threads::Auto).unwrap();
    let crf0 = x264_round_trip(&v.rgb, 48, 32, 4, 0).unwrap();
    let (p_lossless, p0) = (psnr(&v.rgb, &lossless), psnr(&v.rgb, &crf0));
    println!("QP 0: {p_lossless:.2} dB, CRF 0: {p0:.2} dB");
    assert!(
        p0 > 35.0 && p0 > p_lossless - 1.0,
        "CRF 0 {p0}, QP 0 {p_lossless}"
    );
    // Flat clips round-trip exactly at CRF 0 (ART's own test).
    for level in [0u8, 255] {
        let flat = vec![level; 25 * 4 * 6 * 3];
        assert_eq!(x264_round_trip(&flat, 6, 4, 25, 0).unwrap(), flat);
    }
}

#[test]
fn x264_round_trip_rejects_bad_arguments() {
    let _serial = serial();
    let v = vec![0u8; 2 * 4 * 4 * 3];
    assert!(x264_round_trip(&v, 4, 4, 2, 52).is_err());
    assert!(x264_round_trip(&v, 4, 4, 3, 30).is_err());
    assert!(x264_round_trip(&v, 0, 4, 2, 30).is_err());
    assert!(x264_round_trip(&[], 4, 4, 0, 30).is_err());
}

#[test]
fn one_thread_matches_art_on_small_frames_and_repeats_exactly() {
    let _serial = serial();
    // On this small clip the single-threaded mode gives ART's output too (not at 224 × 224, where
    // the synchronous lookahead decides differently); it needs no lock and repeats exactly, even
    // while other encodes run.
    let (input, art) = art_fixture();
    let one =
        || x264_round_trip_with(&input, 32, 24, 12, X264Rate::Crf(30), X264Threads::One).unwrap();
    let runs: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(one)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in runs {
        assert!(run == art, "one-thread x264 differs from ART");
    }
}
