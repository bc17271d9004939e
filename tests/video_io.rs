//! Video files to and from `Video`: MP4 (OpenH264), GIF, frame directories, errors on bad input,
//! and, with the `ffmpeg` feature, AVI/UCF101 and the ART-exact x264 round trip.

mod common;
use avfoil::error::Error;
use avfoil::video::Video;
use avfoil::video::io::{read_video, write_video};
use common::video::{crop, fixture, psnr, smooth_clip};
use std::path::Path;

fn assert_names(e: &Error, path: &Path) {
    let msg = e.to_string();
    assert!(
        msg.contains(&*path.to_string_lossy()),
        "error should name {}: {msg}",
        path.display()
    );
}

#[test]
fn mp4_round_trip_keeps_size_frames_rate_and_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let video = smooth_clip(12, 48, 64, 30000.0 / 1001.0);
    write_video(&path, &video).unwrap();
    let back = read_video(&path).unwrap();
    assert_eq!((back.width, back.height), (64, 48));
    assert_eq!(back.frame_count(), 12);
    assert!(
        (back.fps - 30000.0 / 1001.0).abs() < 1e-3,
        "fps {}",
        back.fps
    );
    let p = psnr(&video.rgb, &back.rgb);
    println!(
        "MP4 round trip: RGB PSNR {p:.2} dB, {} bytes",
        std::fs::metadata(&path).unwrap().len()
    );
    assert!(p > 35.0, "PSNR {p}");
    // Frame by frame too: each frame's worst PSNR.
    for i in 0..12 {
        let q = psnr(video.frame(i), back.frame(i));
        assert!(q > 33.0, "frame {i}: {q}");
    }
}

#[test]
fn mp4_frames_all_last_one_frame_so_the_last_is_not_short() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.mp4");
    let video = smooth_clip(7, 32, 32, 25.0);
    write_video(&path, &video).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mp4 = re_mp4::Mp4::read_bytes(&bytes).unwrap();
    let track = mp4.tracks().values().next().unwrap();
    assert_eq!(track.samples.len(), 7);
    // 25 fps at 90 kHz: every sample, the last included, lasts 3600 ticks.
    assert!(track.samples.iter().all(|s| s.duration == 3600));
    assert_eq!(track.duration, 7 * 3600);
    assert!(track.samples[0].is_sync);
}

#[test]
fn odd_mp4_sizes_are_cropped_to_even() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.mp4");
    let video = smooth_clip(3, 33, 47, 25.0);
    write_video(&path, &video).unwrap();
    let back = read_video(&path).unwrap();
    assert_eq!((back.width, back.height, back.frame_count()), (46, 32, 3));
    assert!(psnr(&crop(&video, 46, 32), &back.rgb) > 35.0);
}

#[test]
fn tiny_mp4_frames_are_an_error_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.mp4");
    let e = write_video(&path, &smooth_clip(2, 8, 8, 25.0)).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

/// The clip `tools/make_video_fixtures.py` encodes into `x264_bframes.mp4`.
fn bframes_clip() -> Vec<u8> {
    let (f, h, w) = (10, 32, 48);
    let mut rgb = Vec::new();
    for t in 0..f {
        for y in 0..h {
            for x in 0..w {
                let square = x >= 4 + 2 * t && x < 14 + 2 * t && (10..20).contains(&y);
                let px = if square {
                    [250, 240, 40]
                } else {
                    [(x * 4 + t * 6).min(255) as u8, (y * 6) as u8, 96]
                };
                rgb.extend(px);
            }
        }
    }
    rgb
}

#[test]
fn x264_mp4_with_b_frames_decodes_in_display_order() {
    let path = fixture("x264_bframes.mp4");
    let v = read_video(&path).unwrap();
    assert_eq!((v.width, v.height, v.frame_count()), (48, 32, 10));
    assert!((v.fps - 25.0).abs() < 1e-9, "fps {}", v.fps);
    let want = bframes_clip();
    let n = 48 * 32 * 3;
    for i in 0..10 {
        let own = psnr(&want[i * n..(i + 1) * n], v.frame(i));
        assert!(own > 33.0, "frame {i}: {own:.1} dB");
        // Each decoded frame is closest to its own source frame (display order kept).
        for j in [i.wrapping_sub(1), i + 1] {
            if j < 10 {
                let other = psnr(&want[j * n..(j + 1) * n], v.frame(i));
                assert!(own > other + 3.0, "frame {i} looks like source {j}");
            }
        }
    }
}

#[test]
fn a_fragmented_mp4_reads_as_the_same_frames_as_the_plain_one() {
    let plain = read_video(&fixture("x264_bframes.mp4")).unwrap();
    let fragmented = read_video(&fixture("x264_fragmented.mp4")).unwrap();
    assert_eq!(fragmented.frame_count(), 10);
    assert_eq!(
        (fragmented.width, fragmented.height, &fragmented.rgb),
        (plain.width, plain.height, &plain.rgb)
    );
    assert!(
        (fragmented.fps - 25.0).abs() < 1e-9,
        "fps {}",
        fragmented.fps
    );
}

#[test]
fn gif_round_trip_keeps_frames_size_and_colours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.gif");
    let (w, h) = (20, 10);
    let colours = [[255u8, 0, 0], [0, 200, 0], [30, 60, 250], [128, 128, 128]];
    let rgb: Vec<u8> = colours
        .iter()
        .flat_map(|c| {
            c.iter()
                .copied()
                .cycle()
                .take(w * h * 3)
                .collect::<Vec<_>>()
        })
        .collect();
    let video = Video::new(w, h, 25.0, rgb).unwrap();
    write_video(&path, &video).unwrap();
    let back = read_video(&path).unwrap();
    assert_eq!((back.width, back.height, back.frame_count()), (w, h, 4));
    assert_eq!(back.fps, 25.0);
    for (i, c) in colours.iter().enumerate() {
        for px in back.frame(i).chunks_exact(3) {
            for k in 0..3 {
                assert!(
                    (i16::from(px[k]) - i16::from(c[k])).abs() <= 8,
                    "frame {i}: {px:?} vs {c:?}"
                );
            }
        }
    }
    // A smooth clip through a 256-colour palette per frame stays recognisable.
    let smooth = smooth_clip(3, 24, 32, 10.0);
    write_video(&path, &smooth).unwrap();
    let back = read_video(&path).unwrap();
    assert_eq!((back.frame_count(), back.fps), (3, 10.0));
    let p = psnr(&smooth.rgb, &back.rgb);
    println!("GIF: RGB PSNR {p:.2} dB");
    assert!(p > 27.0, "{p}");
}

/// The 16 × 8 frame of the JPEG fixtures.
fn still_clip() -> Vec<u8> {
    let mut rgb = Vec::new();
    for y in 0..8u8 {
        for x in 0..16u8 {
            rgb.extend([x * 15, y * 30, 255 - x * 15]);
        }
    }
    rgb
}

fn write_png(path: &Path, color: png::ColorType, samples: &[u8]) {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 16, 8);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(samples).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn frame_directories_read_in_natural_order_with_any_channel_layout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rgb = still_clip();
    let grey: Vec<u8> = rgb.chunks_exact(3).map(|p| p[1]).collect();
    // What cjpeg -grayscale stores: BT.601 luma.
    let luma: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| {
            let l = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            [l.round() as u8; 3]
        })
        .collect();
    // Grey + alpha: alpha 255 everywhere but the first pixel (0: black after compositing).
    let grey_alpha: Vec<u8> = grey
        .iter()
        .enumerate()
        .flat_map(|(i, &g)| [g, if i == 0 { 0 } else { 255 }])
        .collect();
    let rgba: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    write_png(&d.join("frame_1.png"), png::ColorType::Grayscale, &grey);
    write_png(
        &d.join("frame_2.png"),
        png::ColorType::GrayscaleAlpha,
        &grey_alpha,
    );
    std::fs::copy(fixture("still_rgb.jpg"), d.join("frame_3.JPG")).unwrap();
    std::fs::copy(fixture("still_gray.jpg"), d.join("frame_04.jpeg")).unwrap();
    write_png(&d.join("frame_10.png"), png::ColorType::Rgba, &rgba);
    std::fs::write(d.join("notes.txt"), "not a frame").unwrap();
    std::fs::write(d.join(".frame_0.png"), "hidden, not a frame").unwrap();

    let v = read_video(d).unwrap();
    assert_eq!(
        (v.width, v.height, v.frame_count(), v.fps),
        (16, 8, 5, 25.0)
    );
    let grey_rgb: Vec<u8> = grey.iter().flat_map(|&g| [g; 3]).collect();
    assert_eq!(v.frame(0), &grey_rgb[..]);
    assert_eq!(&v.frame(1)[..3], &[0, 0, 0]);
    assert_eq!(&v.frame(1)[3..], &grey_rgb[3..]);
    let jpeg = psnr(v.frame(2), &rgb);
    assert!(jpeg > 35.0, "RGB JPEG: {jpeg:.1} dB");
    let jpeg_grey = psnr(v.frame(3), &luma);
    assert!(jpeg_grey > 35.0, "grey JPEG: {jpeg_grey:.1} dB");
    assert_eq!(v.frame(4), &rgb[..]);

    // One image alone is a one-frame video.
    let one = read_video(&d.join("frame_10.png")).unwrap();
    assert_eq!((one.frame_count(), one.rgb), (1, rgb));
}

#[test]
fn frame_directory_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let e = read_video(d).unwrap_err();
    assert!(e.to_string().contains("no frames"), "{e}");
    assert_names(&e, d);

    write_png(&d.join("a1.png"), png::ColorType::Rgb, &still_clip());
    let mut small = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut small, 4, 4);
        enc.set_color(png::ColorType::Rgb);
        enc.write_header()
            .unwrap()
            .write_image_data(&[9; 48])
            .unwrap();
    }
    std::fs::write(d.join("a2.png"), small).unwrap();
    let e = read_video(d).unwrap_err();
    assert_names(&e, &d.join("a2.png"));
    assert!(e.to_string().contains("16 × 8"), "{e}");

    std::fs::write(d.join("a2.png"), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
    let e = read_video(d).unwrap_err();
    assert_names(&e, &d.join("a2.png"));
}

#[test]
fn corrupt_files_are_errors_naming_the_file_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mp4");
    write_video(&good, &smooth_clip(6, 32, 32, 25.0)).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    // The mp4 crate writes mdat first, so a cut file loses the moov box (no index) or samples.
    for cut in [bytes.len() / 3, bytes.len() - 40, 40, 9] {
        let path = dir.path().join(format!("cut_{cut}.mp4"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let e = read_video(&path).unwrap_err();
        assert!(matches!(e, Error::Decode { .. }), "cut at {cut}: {e}");
        assert_names(&e, &path);
    }
    // Sample data overwritten with noise: a decode error (or, if OpenH264 conceals it, pictures of
    // the right size); never a panic.
    let mut noisy = bytes.clone();
    let mut state = 12345u32;
    for b in noisy.iter_mut().skip(48).take(bytes.len() / 2) {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (state >> 16) as u8;
    }
    let path = dir.path().join("noisy.mp4");
    std::fs::write(&path, &noisy).unwrap();
    match read_video(&path) {
        Ok(v) => assert_eq!((v.width, v.height), (32, 32)),
        Err(e) => assert_names(&e, &path),
    }
    for (name, content) in [
        (
            "garbage.mp4",
            &b"this is not a video file at all, just text"[..],
        ),
        ("garbage.gif", b"GIF89a\x10\x00\x10\x00garbage"),
        ("empty.mp4", b""),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let e = read_video(&path).unwrap_err();
        assert!(matches!(e, Error::Decode { .. }), "{name}: {e}");
        assert_names(&e, &path);
    }
    let missing = dir.path().join("missing.mp4");
    assert!(matches!(
        read_video(&missing).unwrap_err(),
        Error::Io { .. }
    ));
}

#[test]
fn write_errors_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let v = smooth_clip(2, 16, 16, 25.0);
    let e = write_video(&dir.path().join("clip.xyz"), &v).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let empty = Video::new(16, 16, 25.0, Vec::new()).unwrap();
    for name in ["e.mp4", "e.gif"] {
        assert!(write_video(&dir.path().join(name), &empty).is_err());
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[cfg(not(feature = "ffmpeg"))]
#[test]
fn h264_profiles_openh264_cannot_decode_are_unsupported_and_name_the_feature() {
    let path = fixture("x264_444.mp4");
    let e = read_video(&path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Unsupported(_)), "{msg}");
    assert!(
        msg.contains("High 4:4:4") && msg.contains("--features ffmpeg"),
        "{msg}"
    );
    assert_names(&e, &path);
}

#[cfg(not(feature = "ffmpeg"))]
#[test]
fn avi_without_the_feature_names_the_feature_and_packages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.avi");
    std::fs::write(&path, b"RIFF\x10\0\0\0AVI LIST\0\0\0\0").unwrap();
    let e = read_video(&path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Unsupported(_)), "{msg}");
    assert!(
        msg.contains("--features ffmpeg") && msg.contains("libavcodec-dev"),
        "{msg}"
    );
    assert_names(&e, &path);
    let e = write_video(&path, &smooth_clip(1, 16, 16, 25.0)).unwrap_err();
    assert!(e.to_string().contains("--features ffmpeg"), "{e}");
    use avfoil::defence::{H264Backend, H264Compression, H264Quality};
    use avfoil::scale::VideoScale;
    let d = H264Compression::new(&[3, 1, 16, 16], VideoScale::Unit, H264Quality::Crf(30)).unwrap();
    let e = d.with_backend(H264Backend::X264).unwrap_err();
    assert!(e.to_string().contains("--features ffmpeg"), "{e}");
}

#[cfg(feature = "ffmpeg")]
mod with_ffmpeg {
    use super::*;
    use avfoil::video::ffmpeg::{Encoding, read_ffmpeg, write_ffmpeg};
    use std::path::PathBuf;

    fn ucf101() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/real/ucf101/v_Basketball_g01_c01.avi")
    }

    #[test]
    fn the_real_ucf101_clip_decodes() {
        let v = read_video(&ucf101()).unwrap();
        assert_eq!((v.width, v.height, v.frame_count()), (320, 240, 141));
        assert!((v.fps - 29.97).abs() < 0.01, "fps {}", v.fps);
        // Not a black or constant picture.
        let mean = v.rgb.iter().map(|&b| f64::from(b)).sum::<f64>() / v.rgb.len() as f64;
        assert!((30.0..220.0).contains(&mean), "mean {mean}");
    }

    #[test]
    fn mp4s_openh264_cannot_decode_fall_back_to_ffmpeg() {
        let v = read_video(&fixture("x264_444.mp4")).unwrap();
        assert_eq!(
            (v.width, v.height, v.frame_count(), v.fps),
            (48, 32, 10, 25.0)
        );
        let p = psnr(&bframes_clip(), &v.rgb);
        assert!(p > 35.0, "{p}");
    }

    #[test]
    fn avi_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.avi");
        let video = smooth_clip(10, 48, 64, 30000.0 / 1001.0);
        write_video(&path, &video).unwrap();
        let head = std::fs::read(&path).unwrap();
        assert_eq!(&head[..4], b"RIFF");
        assert!(head.windows(4).any(|w| w == b"XVID"), "fourcc XVID");
        let back = read_video(&path).unwrap();
        assert_eq!((back.width, back.height, back.frame_count()), (64, 48, 10));
        assert!(
            (back.fps - 30000.0 / 1001.0).abs() < 1e-3,
            "fps {}",
            back.fps
        );
        let p = psnr(&video.rgb, &back.rgb);
        println!("AVI round trip: RGB PSNR {p:.2} dB");
        assert!(p > 30.0, "PSNR {p}");
    }

    #[test]
    fn x264_mp4_and_mkv_read_back_through_both_readers() {
        let dir = tempfile::tempdir().unwrap();
        let video = smooth_clip(8, 48, 64, 25.0);
        for name in ["x.mp4", "x.mkv"] {
            let path = dir.path().join(name);
            write_ffmpeg(&path, &video, Encoding::X264).unwrap();
            let back = read_video(&path).unwrap();
            assert_eq!(
                (back.width, back.height, back.frame_count()),
                (64, 48, 8),
                "{name}"
            );
            assert!((back.fps - 25.0).abs() < 1e-6, "{name}: fps {}", back.fps);
            assert!(psnr(&video.rgb, &back.rgb) > 33.0, "{name}");
        }
        // Our OpenH264 MP4 through FFmpeg, and FFmpeg's libx264 MP4 through OpenH264, agree.
        let ours = dir.path().join("ours.mp4");
        write_video(&ours, &video).unwrap();
        let a = read_ffmpeg(&ours).unwrap();
        let b = read_video(&ours).unwrap();
        assert_eq!((a.frame_count(), a.fps), (b.frame_count(), b.fps));
        assert!(psnr(&a.rgb, &b.rgb) > 38.0);
        // And x264's High-profile B-frame fixture: OpenH264 and libavcodec agree (they differ only
        // in the YUV → RGB step: ours nearest-chroma BT.601, swscale bicubic).
        let x264 = fixture("x264_bframes.mp4");
        let (a, b) = (read_ffmpeg(&x264).unwrap(), read_video(&x264).unwrap());
        assert_eq!(
            (a.width, a.height, a.frame_count()),
            (b.width, b.height, b.frame_count())
        );
        let p = psnr(&a.rgb, &b.rgb);
        println!("x264 fixture, OpenH264 vs libavcodec: {p:.2} dB");
        assert!(p > 38.0, "{p}");
    }

    #[test]
    fn ffmpeg_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in [
            (
                "garbage.avi",
                &b"RIFF\x10\0\0\0AVI LIST garbage garbage"[..],
            ),
            ("garbage.bin", b"not a video at all"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            let e = read_video(&path).unwrap_err();
            assert_names(&e, &path);
        }
        // A truncated AVI: either an error naming it or the frames that are whole.
        let avi = dir.path().join("t.avi");
        write_video(&avi, &smooth_clip(10, 48, 64, 25.0)).unwrap();
        let bytes = std::fs::read(&avi).unwrap();
        std::fs::write(&avi, &bytes[..bytes.len() / 2]).unwrap();
        match read_video(&avi) {
            Ok(v) => assert!(v.frame_count() < 10 && v.width == 64),
            Err(e) => assert_names(&e, &avi),
        }
    }
}
