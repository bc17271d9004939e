//! H.264 compression: OpenH264 encode and decode, in process (in the spirit of ART's
//! `VideoCompression`).
//!
//! ART pipes every clip through two ffmpeg processes running libx264 at a constant rate factor
//! (CRF). Here Cisco's OpenH264 (built from its bundled source, BSD-2-Clause) encodes all frames of
//! a clip as one stream at a **fixed QP** (constant-QP IPPP…, IDR first, one thread, no frame
//! skipping, no adaptive quantisation) and decodes it again in memory. This is **not** ART's
//! bit-exact codec: libx264 (B-frames, psychovisual tuning, CRF rate control) and OpenH264 are
//! different encoders, so outputs differ pixel by pixel. ART's exact libx264 path is the
//! [`H264Backend::X264`] backend, available with the `ffmpeg` cargo feature (system FFmpeg), which
//! uses the CRF directly ([`crate::video::x264`]). ART's conversion bugs are fixed in both: the scale comes from the model's
//! clip range instead of the data, values are rounded and saturated to `u8` instead of truncated
//! and wrapped (ART turns 300 into 44), the caller's array is never touched, and odd or tiny frames
//! (which crash ART) are padded by edge replication to even sizes of at least 16 × 16, then cropped.
//!
//! Colour: RGB → YUV 4:2:0 is BT.601 limited range with rounding (chroma from the 2 × 2 RGB mean),
//! YUV → RGB is its inverse with each chroma sample covering its 2 × 2 block.
//!
//! # CRF → QP calibration
//!
//! [`H264Quality::Crf`] is mapped to the OpenH264 QP whose luma PSNR is closest to libx264's at that
//! CRF (`ffmpeg -c:v libx264 -crf N -pix_fmt yuv420p`, preset medium, FFmpeg 5.1 / x264 0.164) on a
//! synthetic clip: 16 frames of 224 × 224, a textured striped disc moving over a colour gradient
//! with Gaussian noise (σ = 4). The mapping depends on content (codecs.md measured QP 37–38 for
//! CRF 30 on a similar 32-frame clip) and should be recalibrated per data set where it matters:
//!
//! | CRF                      | 0    | 5    | 10   | 15   | 18   | 20   | 23   | 25   | 28   | 30   | 33   | 35   | 38   | 40   | 45   | 51   |
//! |--------------------------|------|------|------|------|------|------|------|------|------|------|------|------|------|------|------|------|
//! | x264 luma PSNR (dB)      | 45.5 | 44.0 | 41.9 | 40.7 | 40.0 | 39.4 | 38.0 | 37.1 | 34.9 | 33.4 | 31.7 | 30.3 | 28.0 | 27.0 | 24.9 | 23.8 |
//! | QP ([`CRF_TO_QP`])       | 12   | 15   | 19   | 22   | 23   | 23   | 25   | 26   | 30   | 31   | 34   | 35   | 38   | 39   | 51   | 51   |
//! | OpenH264 luma PSNR (dB)  | 46.4 | 43.9 | 41.9 | 40.6 | 39.7 | 39.7 | 38.5 | 37.4 | 34.6 | 33.7 | 31.5 | 30.5 | 27.7 | 26.6 | 25.1 | 25.1 |
//!
//! OpenH264 bottoms out near 25 dB on this clip (QP 41–51 all give 25.1–26.5 dB), so CRF ≥ 45 maps
//! to QP 51. On the notes' 32-frame clip CRF 30 matched QP 37–38 instead of 31: the gap between the
//! two encoders varies by several QP with content.
//!
//! Between the measured points the QP is interpolated linearly ([`crf_to_qp`]).
//!
//! OpenH264's rate control never goes below QP 12 (`GOM_MIN_QP_MODE`), so QPs 0–11 are accepted but
//! encode at QP 12.

use super::{DefenceEntry, DefenceSpec};
use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::params::Param;
use crate::scale::VideoScale;
use crate::video::yuv::{planar_rgb_to_yuv420, round_u8, yuv_to_rgb};
use burn::tensor::Tensor;
use openh264::OpenH264API;
use openh264::Timestamp;
use openh264::decoder::Decoder;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, QpRange, RateControlMode,
    UsageType,
};
use openh264::formats::{YUVBuffer, YUVSource};
use rand_chacha::ChaCha8Rng;

/// The smallest QP OpenH264's rate control encodes at; lower QPs are raised to it.
pub const MIN_EFFECTIVE_QP: u8 = 12;

/// The smallest frame side OpenH264 accepts (one macroblock); smaller frames are padded to it.
pub const MIN_SIDE: usize = 16;

/// Measured `(crf, qp)` calibration points, CRF ascending (see the module docs).
pub const CRF_TO_QP: [(u8, u8); 16] = [
    (0, 12),
    (5, 15),
    (10, 19),
    (15, 22),
    (18, 23),
    (20, 23),
    (23, 25),
    (25, 26),
    (28, 30),
    (30, 31),
    (33, 34),
    (35, 35),
    (38, 38),
    (40, 39),
    (45, 51),
    (51, 51),
];

/// The QP used for `crf`, interpolated linearly between the [`CRF_TO_QP`] points.
pub fn crf_to_qp(crf: u8) -> u8 {
    let crf = crf.min(51);
    for w in CRF_TO_QP.windows(2) {
        let ((c0, q0), (c1, q1)) = (w[0], w[1]);
        if crf <= c1 {
            let t = f32::from(crf - c0) / f32::from(c1 - c0);
            return (f32::from(q0) + t * (f32::from(q1) - f32::from(q0))).round() as u8;
        }
    }
    51
}

/// How hard to compress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H264Quality {
    /// A fixed quantisation parameter, 0 (finest) to 51 (coarsest).
    Qp(u8),
    /// An x264-style constant rate factor, 0 to 51, mapped to a QP by [`crf_to_qp`].
    Crf(u8),
}

impl H264Quality {
    /// The fixed QP this quality encodes at (before OpenH264's floor of [`MIN_EFFECTIVE_QP`]).
    pub fn qp(self) -> Result<u8> {
        match self {
            H264Quality::Qp(q) if q <= 51 => Ok(q),
            H264Quality::Qp(q) => Err(Error::invalid(
                "qp",
                format!("{q} is outside the H.264 range 0-51"),
            )),
            H264Quality::Crf(c) if c <= 51 => Ok(crf_to_qp(c)),
            H264Quality::Crf(c) => Err(Error::invalid(
                "crf",
                format!("{c} is outside the H.264 range 0-51"),
            )),
        }
    }
}

/// `h264`: ART's `VideoCompression` with libx264's CRF, or the bundled OpenH264.
pub static ENTRY: DefenceEntry = DefenceEntry {
    name: "h264",
    about: "H.264 compression of each clip: bundled OpenH264 at a QP calibrated to x264's CRF, or \
            ART's exact libx264 round trip (codec = \"x264\", needs --features ffmpeg)",
    params: &[
        Param {
            key: "crf",
            default: "30",
            about: "x264's constant rate factor, 0 (finest) to 51",
        },
        Param {
            key: "qp",
            default: "none",
            about: "a fixed quantiser 0-51 instead of the CRF",
        },
        Param {
            key: "codec",
            default: "\"openh264\"",
            about: "\"openh264\" (bundled) or \"x264\" (ART's libx264, bit-exact)",
        },
    ],
    parse: |p| {
        let crf: Option<u8> = p.take("crf")?;
        let qp: Option<u8> = p.take("qp")?;
        for (value, key) in [(crf, "crf"), (qp, "qp")] {
            if let Some(v) = value
                && v > 51
            {
                return Err(Error::invalid(p.display(key), format!("0-51, got {v}")));
            }
        }
        let quality = match (crf, qp) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(p.display("qp"), "give crf or qp, not both"));
            }
            (_, Some(qp)) => H264Quality::Qp(qp),
            (crf, None) => H264Quality::Crf(crf.unwrap_or(30)),
        };
        let codec: String = p.take_or("codec", "openh264".to_string())?;
        let backend = match codec.as_str() {
            "openh264" => H264Backend::OpenH264,
            "x264" => H264Backend::X264,
            other => {
                return Err(Error::invalid(
                    p.display("codec"),
                    format!("{other:?}: expected \"openh264\" or \"x264\""),
                ));
            }
        };
        Ok(Box::new(H264Spec { quality, backend }))
    },
};

/// The H.264 defence's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct H264Spec {
    pub quality: H264Quality,
    pub backend: H264Backend,
}

impl DefenceSpec for H264Spec {
    fn name(&self) -> &'static str {
        "h264"
    }

    /// Needs an RGB video model.
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        if input.modality != Modality::Video {
            return Err(Error::invalid("defence", "h264 needs a video model"));
        }
        let scale = VideoScale::from_clip(input.clip_range());
        Ok(Box::new(
            H264Compression::new(&input.shape, scale, self.quality)?.with_backend(self.backend)?,
        ))
    }

    fn params(&self) -> serde_json::Value {
        let (crf, qp) = match self.quality {
            H264Quality::Crf(c) => (Some(c), None),
            H264Quality::Qp(q) => (None, Some(q)),
        };
        let codec = match self.backend {
            H264Backend::OpenH264 => "openh264",
            H264Backend::X264 => "x264",
        };
        serde_json::json!({ "crf": crf, "qp": qp, "codec": codec })
    }
}

/// Which H.264 codec the defence runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum H264Backend {
    /// Cisco's OpenH264, bundled (no system packages): a fixed QP, with a CRF mapped to one through
    /// [`crf_to_qp`]. A different codec from ART's, so not ART's numbers.
    #[default]
    OpenH264,
    /// libx264 through the system FFmpeg (`ffmpeg` cargo feature): a CRF is used as it is and the
    /// output is bit-identical to ART's `VideoCompression` on the same machine
    /// ([`crate::video::x264`]; `threads=auto` as ART, so examples are encoded one at a time);
    /// a QP becomes x264's constant quantiser.
    X264,
}

/// The H.264 defence for video examples of `3 × frames × height × width` (channels first, RGB), in
/// a model's units.
#[derive(Clone, Debug)]
pub struct H264Compression {
    frames: usize,
    height: usize,
    width: usize,
    scale: VideoScale,
    qp: u8,
    quality: H264Quality,
    backend: H264Backend,
}

impl H264Compression {
    /// A defence for examples of `shape = [3, frames, height, width]` in `scale` units, compressed at
    /// `quality`.
    pub fn new(shape: &[usize], scale: VideoScale, quality: H264Quality) -> Result<Self> {
        let &[channels, frames, height, width] = shape else {
            return Err(Error::invalid(
                "input.shape",
                format!(
                    "H.264 compression needs [3, frames, height, width] examples, got {shape:?}"
                ),
            ));
        };
        if channels != 3 || frames == 0 || height == 0 || width == 0 {
            return Err(Error::invalid(
                "input.shape",
                format!(
                    "H.264 carries 3 (RGB) channels of at least 1 frame of 1 × 1, got {shape:?}"
                ),
            ));
        }
        let qp = quality.qp()?;
        let (pw, ph) = (padded(width), padded(height));
        if pw.max(ph) > 3840 || pw.min(ph) > 2160 {
            return Err(Error::invalid(
                "input.shape",
                format!("OpenH264 encodes frames up to 3840 × 2160, got {width} × {height}"),
            ));
        }
        Ok(Self {
            frames,
            height,
            width,
            scale,
            qp,
            quality,
            backend: H264Backend::OpenH264,
        })
    }

    /// The same defence run by `backend`. [`H264Backend::X264`] needs the `ffmpeg` cargo feature and
    /// is [`Error::Unsupported`] without it.
    pub fn with_backend(mut self, backend: H264Backend) -> Result<Self> {
        if backend == H264Backend::X264 && !cfg!(feature = "ffmpeg") {
            return Err(Error::Unsupported(format!(
                "the x264 H.264 backend needs FFmpeg: {}",
                crate::video::FFMPEG_HINT
            )));
        }
        self.backend = backend;
        Ok(self)
    }

    /// The quality asked for (a CRF or a QP).
    pub fn quality(&self) -> H264Quality {
        self.quality
    }

    /// The codec this defence runs.
    pub fn backend(&self) -> H264Backend {
        self.backend
    }

    /// The fixed QP OpenH264 is asked for (with [`H264Backend::X264`] a CRF is used as it is instead).
    pub fn qp(&self) -> u8 {
        self.qp
    }

    /// Compresses every example of a batch `[N, d]`, in parallel; the input tensor is not touched.
    pub fn compress_batch(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        super::map_examples(x, |row| self.compress(row))
    }

    /// Compresses one example (`3 × frames × height × width`, channels first) and returns it decoded,
    /// in the same units and shape.
    pub fn compress(&self, example: &[f32]) -> Result<Vec<f32>> {
        let (f, h, w) = (self.frames, self.height, self.width);
        let plane = h * w;
        if example.len() != 3 * f * plane {
            return Err(Error::invalid(
                "input",
                format!(
                    "expected {} values (3 × {f} × {h} × {w}), got {}",
                    3 * f * plane,
                    example.len()
                ),
            ));
        }
        if let Some(i) = example.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid("input", format!("value {i} is not finite")));
        }
        match self.backend {
            H264Backend::OpenH264 => self.compress_openh264(example),
            #[cfg(feature = "ffmpeg")]
            H264Backend::X264 => self.compress_x264(example),
            #[cfg(not(feature = "ffmpeg"))]
            H264Backend::X264 => Err(Error::Unsupported(format!(
                "the x264 H.264 backend needs FFmpeg: {}",
                crate::video::FFMPEG_HINT
            ))),
        }
    }

    /// The libx264 round trip of one validated example.
    #[cfg(feature = "ffmpeg")]
    fn compress_x264(&self, example: &[f32]) -> Result<Vec<f32>> {
        use crate::video::x264::{X264Rate, X264Threads, x264_round_trip_with};
        let (f, h, w) = (self.frames, self.height, self.width);
        let plane = f * h * w;
        let k = 255.0 / self.scale.factor();
        // [3, F, H, W] in model units → [F, H, W, 3] bytes, rounded and saturated.
        let mut rgb = vec![0u8; 3 * plane];
        for (i, px) in rgb.chunks_exact_mut(3).enumerate() {
            for (c, v) in px.iter_mut().enumerate() {
                *v = round_u8(example[c * plane + i] * k);
            }
        }
        let rate = match self.quality {
            H264Quality::Crf(c) => X264Rate::Crf(c),
            H264Quality::Qp(q) => X264Rate::Qp(q),
        };
        let decoded = x264_round_trip_with(&rgb, w, h, f, rate, X264Threads::Auto)?;
        let mut out = vec![0.0; example.len()];
        for (i, px) in decoded.chunks_exact(3).enumerate() {
            for (c, v) in px.iter().enumerate() {
                out[c * plane + i] = f32::from(*v) / k;
            }
        }
        Ok(out)
    }

    /// The OpenH264 round trip of one validated example.
    ///
    /// The encoder (with the conversion to YUV) and the decoder (with the conversion back) run on
    /// two threads joined by a channel of packets: the same streams as one thread, in about half
    /// the time on a clip alone.
    fn compress_openh264(&self, example: &[f32]) -> Result<Vec<f32>> {
        let (f, h, w) = (self.frames, self.height, self.width);
        let plane = h * w;
        let k = 255.0 / self.scale.factor(); // bytes per model unit
        let (pw, ph) = (padded(w), padded(h));
        let mut out = vec![0.0; example.len()];
        let (packets, received) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        std::thread::scope(|s| {
            let decoding = s.spawn(|| self.decode_frames(received, k, &mut out));
            let encoded = (|| {
                let mut encoder =
                    Encoder::with_api_config(OpenH264API::from_source(), self.config())
                        .map_err(|e| codec_error(e, "starting the encoder for", 0, ""))?;
                let mut rgb = vec![vec![0u8; pw * ph]; 3];
                for t in 0..f {
                    // The frame as byte planes, padded by edge replication.
                    for (c, dst) in rgb.iter_mut().enumerate() {
                        let src = &example[c * f * plane + t * plane..][..plane];
                        for (y, row) in dst.chunks_exact_mut(pw).enumerate() {
                            let (inside, pad) = row.split_at_mut(w);
                            for (d, v) in inside.iter_mut().zip(&src[y.min(h - 1) * w..][..w]) {
                                *d = round_u8(v * k);
                            }
                            pad.fill(inside[w - 1]);
                        }
                    }
                    let yuv = planar_rgb_to_yuv420(&rgb[0], &rgb[1], &rgb[2], pw, ph);
                    let yuv = YUVBuffer::from_vec(yuv, pw, ph);
                    let mut packet = Vec::new();
                    encoder
                        .encode_at(&yuv, Timestamp::from_millis(t as u64 * 40))
                        .map_err(|e| codec_error(e, "encoding", t, ENCODE_HINT))?
                        .write_vec(&mut packet);
                    if packets.send(packet).is_err() {
                        break; // the decoder stopped on an error, which it reports
                    }
                }
                Ok(())
            })();
            drop(packets);
            let decoded = decoding.join().expect("the H.264 decoder thread panicked");
            encoded.and(decoded)
        })?;
        Ok(out)
    }

    /// Decodes the packets of one clip into `out` (`3 × frames × height × width`, model units).
    fn decode_frames(
        &self,
        packets: std::sync::mpsc::Receiver<Vec<u8>>,
        k: f32,
        out: &mut [f32],
    ) -> Result<()> {
        let (f, h, w) = (self.frames, self.height, self.width);
        let plane = h * w;
        let (pw, ph) = (padded(w), padded(h));
        let unit: [f32; 256] = std::array::from_fn(|b| f32::from(b as u8) / k);
        let (r_out, gb_out) = out.split_at_mut(f * plane);
        let (g_out, b_out) = gb_out.split_at_mut(f * plane);
        let mut decoder =
            Decoder::new().map_err(|e| codec_error(e, "starting the decoder for", 0, ""))?;
        for t in 0..f {
            let Ok(packet) = packets.recv() else {
                return Ok(()); // the encoder stopped on an error, which it reports
            };
            let decoded = decoder
                .decode(&packet)
                .map_err(|e| codec_error(e, "decoding", t, ""))?
                .ok_or_else(|| Error::invalid("h264", format!("frame {t} was not decoded")))?;
            let (dw, dh) = decoded.dimensions();
            if (dw, dh) != (pw, ph) {
                return Err(Error::invalid(
                    "h264",
                    format!("decoded {dw} × {dh}, expected {pw} × {ph}"),
                ));
            }
            let (sy, su, sv) = decoded.strides();
            let (yp, up, vp) = (decoded.y(), decoded.u(), decoded.v());
            for y in 0..h {
                let (yr, ur, vr) = (&yp[y * sy..][..w], &up[(y / 2) * su..], &vp[(y / 2) * sv..]);
                let i = t * plane + y * w;
                let (r, g, b) = (
                    &mut r_out[i..i + w],
                    &mut g_out[i..i + w],
                    &mut b_out[i..i + w],
                );
                for (x, &luma) in yr.iter().enumerate() {
                    let [rv, gv, bv] = yuv_to_rgb(luma, ur[x / 2], vr[x / 2]);
                    r[x] = unit[usize::from(rv)];
                    g[x] = unit[usize::from(gv)];
                    b[x] = unit[usize::from(bv)];
                }
            }
        }
        Ok(())
    }

    /// The QP range pins every macroblock to one QP, so the rate-control mode only matters for
    /// what it checks: the buffer-based mode gives the same streams as the quality mode (checked
    /// on clips from 16 × 16 to 1920 × 1080, QP 12 to 40) without the quality mode's warning on
    /// stderr about frame skipping at every encoder start.
    fn config(&self) -> EncoderConfig {
        let qp = self.qp.max(MIN_EFFECTIVE_QP);
        EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bufferbased)
            .qp(QpRange::new(qp, qp))
            .bitrate(BitRate::from_bps(50_000_000))
            .max_frame_rate(FrameRate::from_hz(25.0))
            .skip_frames(false)
            .adaptive_quantization(false)
            .background_detection(false)
            .scene_change_detect(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            .num_threads(1)
    }
}

/// Why encoding a frame fails in practice.
const ENCODE_HINT: &str = " (OpenH264 fails this way when a frame's bitstream outgrows its buffer, \
    as noise-like frames do at a low QP: try a higher --crf or --qp, or the x264 backend)";

fn codec_error(e: openh264::Error, doing: &str, frame: usize, hint: &str) -> Error {
    Error::invalid(
        "h264",
        format!("OpenH264 failed {doing} frame {frame}: {e}{hint}"),
    )
}

/// A frame side padded to an even number of at least [`MIN_SIDE`].
fn padded(side: usize) -> usize {
    (side + side % 2).max(MIN_SIDE)
}

impl Preprocessor for H264Compression {
    fn name(&self) -> &str {
        "h264"
    }

    /// Compresses every example of the batch, in parallel; the input tensor is not touched.
    fn forward(&self, x: Tensor<2>, _: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        self.compress_batch(x)
    }
}
