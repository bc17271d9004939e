//! The H.264 defence: shape kept and input untouched, flat clips round-trip, quality falls with QP
//! and CRF, odd and tiny frames, one frame, parameter errors, identity gradient.

use avfoil::classifier::Preprocessor;
use avfoil::defence::{H264Compression, H264Quality};
use avfoil::error::Error;
use avfoil::scale::VideoScale;
use burn::tensor::{Device, Tensor, TensorData};

/// A textured striped disc moving over a colour gradient with a little noise, `[3, f, h, w]` in
/// `[0, 1]`.
fn moving_clip(f: usize, h: usize, w: usize) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f32 / (1u64 << 53) as f32 - 0.5) * 8.0
    };
    let mut out = vec![0.0; 3 * f * h * w];
    for t in 0..f {
        let (cx, cy) = (
            w as f32 * (0.3 + 0.4 * t as f32 / f.max(2) as f32),
            h as f32 * 0.5,
        );
        let r = w.min(h) as f32 * 0.3;
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f32, y as f32);
                let mut px = [
                    255.0 * xf / w as f32,
                    255.0 * yf / h as f32,
                    128.0 + 60.0 * ((xf + yf) * 0.2).sin(),
                ];
                if (xf - cx).powi(2) + (yf - cy).powi(2) < r * r {
                    let stripe = if ((xf - cx + yf) as i32).rem_euclid(6) < 3 {
                        230.0
                    } else {
                        30.0
                    };
                    px = [stripe, 255.0 - stripe, stripe * 0.5];
                }
                for (c, v) in px.iter().enumerate() {
                    out[((c * f + t) * h + y) * w + x] = ((v + noise()).clamp(0.0, 255.0)) / 255.0;
                }
            }
        }
    }
    out
}

/// Luma (BT.601) PSNR in dB between two `[3, f, h, w]` clips in `[0, 1]`.
fn luma_psnr(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() / 3;
    let luma = |v: &[f32], i: usize| {
        255.0 * (0.299 * v[i] as f64 + 0.587 * v[n + i] as f64 + 0.114 * v[2 * n + i] as f64)
    };
    let mse = (0..n)
        .map(|i| (luma(a, i) - luma(b, i)).powi(2))
        .sum::<f64>()
        / n as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

fn param(e: Error) -> String {
    match e {
        Error::InvalidArgument { param, .. } => param,
        other => panic!("expected an invalid argument, got {other}"),
    }
}

const SHAPE: [usize; 4] = [3, 4, 24, 32];

#[test]
fn keeps_shape_and_leaves_the_input_alone() {
    let x = moving_clip(4, 24, 32);
    let copy = x.clone();
    let d = H264Compression::new(&SHAPE, VideoScale::Unit, H264Quality::Crf(30)).unwrap();
    let y = d.compress(&x).unwrap();
    assert_eq!(y.len(), x.len());
    assert_eq!(x, copy);
    assert!(y.iter().all(|v| (0.0..=1.0).contains(v)));
    // Through the preprocessor: [N, d] in and out, two examples.
    let device = Device::flex();
    let batch: Vec<f32> = [x.clone(), x.clone()].concat();
    let t = Tensor::<2>::from_data(TensorData::new(batch.clone(), [2, x.len()]), &device);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let out = d.forward(t.clone(), &mut rng).unwrap();
    assert_eq!(out.dims(), [2, x.len()]);
    let host = out.into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(&host[..x.len()], &y[..]);
    assert_eq!(&host[x.len()..], &y[..]);
    assert_eq!(t.into_data().try_to_vec::<f32>().unwrap(), batch);
}

#[test]
fn flat_clips_round_trip() {
    for (scale, full) in [(VideoScale::Unit, 1.0f32), (VideoScale::Byte, 255.0)] {
        let d = H264Compression::new(&SHAPE, scale, H264Quality::Qp(30)).unwrap();
        for level in [0.0, full] {
            let x = vec![level; 3 * 4 * 24 * 32];
            let y = d.compress(&x).unwrap();
            let worst = x
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            // DC quantisation at QP 30 may move a flat level by a step or two.
            assert!(
                worst <= 2.0 * full / 255.0 + 1e-6,
                "level {level}: off by {worst}"
            );
        }
    }
}

#[test]
fn quality_falls_with_qp_and_crf() {
    let x = moving_clip(4, 24, 32);
    let psnr = |q: H264Quality| {
        let d = H264Compression::new(&SHAPE, VideoScale::Unit, q).unwrap();
        luma_psnr(&x, &d.compress(&x).unwrap())
    };
    let qp: Vec<f64> = [20, 30, 40].map(|q| psnr(H264Quality::Qp(q))).to_vec();
    let crf: Vec<f64> = [18, 30, 45].map(|q| psnr(H264Quality::Crf(q))).to_vec();
    println!("luma PSNR at QP 20/30/40: {qp:.2?}; at CRF 18/30/45: {crf:.2?}");
    assert!(qp[0] > qp[1] && qp[1] > qp[2], "{qp:?}");
    assert!(crf[0] > crf[1] && crf[1] > crf[2], "{crf:?}");
    // CRF 30 (QP 37): visibly lossy but recognisable.
    assert!(
        (24.0..40.0).contains(&crf[1]),
        "CRF 30 luma PSNR {}",
        crf[1]
    );
    assert!(qp[0] > 38.0, "QP 20 luma PSNR {}", qp[0]);
}

#[test]
fn odd_and_tiny_frames_are_padded_then_cropped() {
    for (h, w) in [(17, 23), (3, 5), (1, 1)] {
        let x = moving_clip(2, h, w);
        let d = H264Compression::new(&[3, 2, h, w], VideoScale::Unit, H264Quality::Qp(20)).unwrap();
        let y = d.compress(&x).unwrap();
        assert_eq!(y.len(), x.len());
        let p = luma_psnr(&x, &y);
        assert!(p > 30.0, "{w} × {h}: luma PSNR {p}");
    }
}

#[test]
fn one_frame_works() {
    let x = moving_clip(1, 24, 32);
    let d = H264Compression::new(&[3, 1, 24, 32], VideoScale::Unit, H264Quality::Crf(23)).unwrap();
    let y = d.compress(&x).unwrap();
    assert_eq!(y.len(), x.len());
    assert!(luma_psnr(&x, &y) > 30.0);
}

#[test]
fn out_of_range_values_saturate() {
    let mut x = vec![0.5f32; 3 * 4 * 24 * 32];
    x[0] = 300.0 / 255.0;
    x[1] = -0.5;
    let d = H264Compression::new(&SHAPE, VideoScale::Unit, H264Quality::Qp(20)).unwrap();
    let y = d.compress(&x).unwrap();
    assert!(y.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn errors_name_the_parameter() {
    let q = H264Quality::Qp(30);
    for shape in [
        &[4, 4, 24, 32][..],
        &[3, 24, 32],
        &[1, 3, 4, 24, 32],
        &[3, 0, 24, 32],
    ] {
        let e = H264Compression::new(shape, VideoScale::Unit, q).unwrap_err();
        assert_eq!(param(e), "input.shape", "{shape:?}");
    }
    let e = H264Compression::new(&SHAPE, VideoScale::Unit, H264Quality::Qp(52)).unwrap_err();
    assert_eq!(param(e), "qp");
    let e = H264Compression::new(&SHAPE, VideoScale::Unit, H264Quality::Crf(52)).unwrap_err();
    assert_eq!(param(e), "crf");
    let d = H264Compression::new(&SHAPE, VideoScale::Unit, q).unwrap();
    let mut x = vec![0.5f32; 3 * 4 * 24 * 32];
    x[7] = f32::NAN;
    assert_eq!(param(d.compress(&x).unwrap_err()), "input");
    assert_eq!(param(d.compress(&x[1..]).unwrap_err()), "input");
}

#[test]
fn scale_comes_from_the_clip_range() {
    assert_eq!(VideoScale::from_clip(None), VideoScale::Unit);
    assert_eq!(VideoScale::from_clip(Some((0.0, 1.0))), VideoScale::Unit);
    assert_eq!(VideoScale::from_clip(Some((0.0, 255.0))), VideoScale::Byte);
}

#[test]
fn backward_is_identity() {
    let d = H264Compression::new(&SHAPE, VideoScale::Unit, H264Quality::Crf(30)).unwrap();
    assert_eq!(d.name(), "h264");
    let device = Device::flex();
    let n = 3 * 4 * 24 * 32;
    let x = Tensor::<2>::from_data(TensorData::new(moving_clip(4, 24, 32), [1, n]), &device);
    let g: Vec<f32> = (0..n).map(|i| i as f32 * 1e-3).collect();
    let gt = Tensor::<2>::from_data(TensorData::new(g.clone(), [1, n]), &device);
    let back = d.backward(&x, gt);
    assert_eq!(back.into_data().try_to_vec::<f32>().unwrap(), g);
}

/// Writes the calibration clip (16 × 224 × 224, rgb24 frames) to `$H264_CALIB_DIR/clip.rgb` and
/// prints our luma PSNR per QP; `tools`-style companion of the CRF table in `defence::h264`.
#[test]
#[ignore]
fn calibration_sweep() {
    let dir = std::env::var("H264_CALIB_DIR").unwrap_or_else(|_| "/tmp".into());
    let (f, h, w) = (16, 224, 224);
    let x = moving_clip(f, h, w);
    let plane = h * w;
    let mut raw = Vec::with_capacity(3 * f * plane);
    for t in 0..f {
        for i in 0..plane {
            for c in 0..3 {
                raw.push((x[(c * f + t) * plane + i] * 255.0).round() as u8);
            }
        }
    }
    std::fs::write(format!("{dir}/clip.rgb"), raw).unwrap();
    for qp in (12..=51).step_by(1) {
        let d = H264Compression::new(&[3, f, h, w], VideoScale::Unit, H264Quality::Qp(qp)).unwrap();
        println!("qp {qp} {:.3}", luma_psnr(&x, &d.compress(&x).unwrap()));
    }
}
