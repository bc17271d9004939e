//! [`Video`] to an H.264 MP4 for viewing, without system libraries: OpenH264 (bundled, BSD) encodes
//! at a fixed QP and the `mp4` crate muxes.
//!
//! Choices:
//! - **Quality:** constant QP [`MP4_QP`] (20): visually transparent for typical clips and
//!   independent of content, unlike a bitrate target. An IDR frame every 2 seconds lets players seek.
//! - **Colour:** BT.601 limited range ([`super::yuv`]), tagged in the SPS's VUI so players convert
//!   back with the same matrix.
//! - **Odd sizes are cropped to even** (the last column and/or row is dropped). H.264 4:2:0 cannot
//!   represent an odd width or height at all (SPS cropping works in 2-pixel units), so the only
//!   alternative would be padding, which shows a replicated edge in players. Reading the file back
//!   gives the even size.
//! - **Small frames:** OpenH264 refuses frames under 16 × 16, so those are an error here.
//! - **Timing:** the track's time scale is 90 kHz and frame `i` starts at `round(i · 90000 / fps)`;
//!   each sample lasts until the next one starts and the last lasts `1/fps` too, so the file's
//!   duration is `frames / fps` (players otherwise show the last frame for no time at all).
//! - The SPS/PPS are written once, in the `avcC` box (`avc1`), and left out of the samples.

use super::Video;
use super::nal::{NAL_AUD, NAL_IDR, NAL_PPS, NAL_SPS, nal_type, push_avcc, strip_start_code};
use super::yuv::rgb_to_yuv420;
use crate::error::{Error, Result};
use crate::fs::write_atomic;
use mp4::{AvcConfig, Bytes, MediaConfig, Mp4Config, Mp4Sample, Mp4Writer, TrackConfig, TrackType};
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, QpRange, RateControlMode,
    UsageType, VuiConfig,
};
use openh264::formats::YUVBuffer;
use std::path::Path;

/// The fixed quantiser MP4 files are encoded at.
pub const MP4_QP: u8 = 20;

/// The MP4 time scale: 90 kHz, which represents 24, 25, 30, 50, 60 and 30000/1001 fps frames exactly.
const TIMESCALE: u32 = 90_000;

/// The smallest side OpenH264 encodes.
pub const MP4_MIN_SIDE: usize = 16;

/// Writes `video` as an H.264 MP4 at `path`, atomically (see the module docs for the choices).
pub fn write_mp4(path: &Path, video: &Video) -> Result<()> {
    let bytes = encode_mp4(video)?;
    write_atomic(path, &bytes)
}

/// The MP4 file [`write_mp4`] writes, in memory.
pub fn encode_mp4(video: &Video) -> Result<Vec<u8>> {
    let n = video.frame_count();
    if n == 0 {
        return Err(Error::invalid("video", "an MP4 needs at least one frame"));
    }
    let (w, h) = (video.width & !1, video.height & !1);
    if w < MP4_MIN_SIDE || h < MP4_MIN_SIDE || w > 3840 * 2 || h > 3840 * 2 {
        return Err(Error::invalid(
            "video",
            format!(
                "OpenH264 encodes frames from {MP4_MIN_SIDE} × {MP4_MIN_SIDE} up to 7680 × 7680, \
                 got {} × {}",
                video.width, video.height
            ),
        ));
    }
    if !(video.fps > 0.0 && video.fps <= 1000.0) {
        return Err(Error::invalid(
            "fps",
            format!(
                "MP4 frame rates from just above 0 to 1000 fps, got {}",
                video.fps
            ),
        ));
    }
    let start = |i: usize| (i as f64 * f64::from(TIMESCALE) / video.fps).round() as u64;
    if start(1) > u64::from(u32::MAX) {
        return Err(Error::invalid(
            "fps",
            format!("{} fps is too slow for an MP4 frame duration", video.fps),
        ));
    }
    let codec = |what: &str, e: openh264::Error| {
        Error::invalid("video", format!("OpenH264 {what} failed: {e}"))
    };
    // Constant QP; buffer-based rather than quality mode only to avoid its stderr warning (see
    // `H264Compression::config`).
    let config = EncoderConfig::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .rate_control_mode(RateControlMode::Bufferbased)
        .qp(QpRange::new(MP4_QP, MP4_QP))
        .bitrate(BitRate::from_bps(50_000_000))
        .max_frame_rate(FrameRate::from_hz(video.fps as f32))
        .skip_frames(false)
        .adaptive_quantization(false)
        .background_detection(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(
            (2.0 * video.fps).round().clamp(1.0, 600.0) as u32,
        ))
        .vui(VuiConfig::bt601())
        .num_threads(1);
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| codec("setup", e))?;

    let mut params: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut samples = Vec::with_capacity(n);
    let mut cropped = Vec::with_capacity(w * h * 3);
    for i in 0..n {
        let frame = video.frame(i);
        cropped.clear();
        for row in frame.chunks_exact(video.width * 3).take(h) {
            cropped.extend_from_slice(&row[..w * 3]);
        }
        let yuv = YUVBuffer::from_vec(rgb_to_yuv420(&cropped, w, h), w, h);
        let stream = encoder
            .encode(&yuv)
            .map_err(|e| codec(&format!("frame {i}"), e))?;
        let (mut sample, mut sync) = (Vec::new(), false);
        let (mut sps, mut pps) = (None, None);
        for layer in (0..stream.num_layers()).filter_map(|l| stream.layer(l)) {
            for nal in (0..layer.nal_count()).filter_map(|k| layer.nal_unit(k)) {
                let nal = strip_start_code(nal);
                match nal_type(nal) {
                    Some(NAL_SPS) => sps = Some(nal.to_vec()),
                    Some(NAL_PPS) => pps = Some(nal.to_vec()),
                    Some(NAL_AUD) | None => {}
                    Some(t) => {
                        sync |= t == NAL_IDR;
                        push_avcc(&mut sample, nal);
                    }
                }
            }
        }
        match (&params, sps, pps) {
            (None, Some(sps), Some(pps)) => params = Some((sps, pps)),
            (None, _, _) => {
                return Err(Error::invalid(
                    "video",
                    "OpenH264 did not start the stream with SPS and PPS",
                ));
            }
            (Some((s0, p0)), sps, pps) => {
                if sps.is_some_and(|s| s != *s0) || pps.is_some_and(|p| p != *p0) {
                    return Err(Error::invalid(
                        "video",
                        format!("OpenH264 changed its parameter sets at frame {i}"),
                    ));
                }
            }
        }
        if sample.is_empty() {
            return Err(Error::invalid(
                "video",
                format!("OpenH264 produced no picture for frame {i}"),
            ));
        }
        samples.push(Mp4Sample {
            start_time: start(i),
            duration: (start(i + 1) - start(i)) as u32,
            rendering_offset: 0,
            is_sync: sync,
            bytes: Bytes::from(sample),
        });
    }
    let Some((sps, pps)) = params else {
        return Err(Error::invalid("video", "OpenH264 wrote no parameter sets"));
    };
    mux(w, h, sps, pps, samples).map_err(|e| Error::invalid("video", format!("MP4 muxer: {e}")))
}

/// One H.264 track of `samples` in an MP4 (`isom`, moov at the end).
fn mux(
    w: usize,
    h: usize,
    sps: Vec<u8>,
    pps: Vec<u8>,
    samples: Vec<Mp4Sample>,
) -> mp4::Result<Vec<u8>> {
    let brand = |s: &[u8; 4]| mp4::FourCC { value: *s };
    let config = Mp4Config {
        major_brand: brand(b"isom"),
        minor_version: 512,
        compatible_brands: [b"isom", b"iso2", b"avc1", b"mp41"].map(brand).to_vec(),
        timescale: TIMESCALE,
    };
    let mut writer = Mp4Writer::write_start(std::io::Cursor::new(Vec::new()), &config)?;
    writer.add_track(&TrackConfig {
        track_type: TrackType::Video,
        timescale: TIMESCALE,
        language: "und".into(),
        media_conf: MediaConfig::AvcConfig(AvcConfig {
            width: w as u16,
            height: h as u16,
            seq_param_set: sps,
            pic_param_set: pps,
        }),
    })?;
    for sample in &samples {
        writer.write_sample(1, sample)?;
    }
    writer.write_end()?;
    Ok(writer.into_writer().into_inner())
}
