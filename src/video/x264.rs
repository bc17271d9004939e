//! ART's `VideoCompression` codec path, in memory: libx264 encode and libavcodec's h264 decode of
//! one clip, with the settings ART's two ffmpeg CLI calls end up using, so the pixels come out
//! bit-identical to ART's (checked against ART 1.20.1 in `tests/video_io.rs`).
//!
//! ART runs `ffmpeg -f rawvideo -pix_fmt rgb24 -s WxH -i pipe: -crf N -pix_fmt yuv420p -vcodec
//! libx264 tmp.<fmt>` and then `ffmpeg -i tmp.<fmt> -f rawvideo -pix_fmt rgb24 pipe:`. That is:
//! - RGB24 → YUV 4:2:0 with swscale's bicubic scaler (the CLI's default `sws_flags`);
//! - libx264 at `crf=N`, preset medium, x264's defaults otherwise (High profile, B-frames), time
//!   base 1/25 (rawvideo's default rate), frame `i` at pts `i`;
//! - **`threads=auto`**, the CLI's default, unlike libavcodec's API default of 1 thread: frame
//!   threads change x264's decisions, so this matters for bit-exactness. x264 picks its thread
//!   count from the machine's cores, so ART's output (and this one) can differ between machines
//!   (not for small frames, where x264 uses one thread anyway);
//! - decoding with libavcodec's h264 decoder and back to RGB24 with the bicubic scaler.
//!
//! # Threads and reproducibility
//!
//! Measured here (FFmpeg 5.1, x264 0.164, 2 cores): with x264's threads (`threads=auto`, and even
//! `threads=1`, whose lookahead still runs in a thread of its own) the bitstream can change from
//! run to run when **other threads of the same process** are busy at the same time (another
//! encode, a swscale conversion, or plain Rust arithmetic), while separate processes, like ART's
//! ffmpeg calls, always agreed. Hence:
//! - [`X264Threads::Auto`] (ART's settings) round trips are serialised through one process-wide
//!   lock, so parallel defence examples cannot disturb each other. Alone in the process they were
//!   bit-identical to ART's CLI (the 32 × 24 × 12 fixture in every run, and a 16-frame 224 × 224
//!   clip at CRF 30);
//!   busy unrelated threads in the same process can still perturb them.
//! - [`X264Threads::One`] (one thread, synchronous lookahead) gives the same output in every run,
//!   under any load, on every machine, but the synchronous lookahead makes different frame-type
//!   decisions: identical to ART on the small fixture, not at 224 × 224.
//!
//! ART crashes on odd sizes (x264 refuses them with 4:2:0); here frames are padded to even by edge
//! replication and the output is cropped back, so odd sizes work (and differ from nothing, since
//! ART has no output for them). The caller's buffer is never modified.

use super::ffmpeg::{converter, copy_rows_in, copy_rows_out, init};
use crate::error::{Error, Result};
use ff::format::Pixel;
use ff::software::scaling::Context as Scaler;
use ff::{Packet, Rational, codec, decoder, encoder, frame};
use ffmpeg_next as ff;

/// How libx264's rate control is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum X264Rate {
    /// Constant rate factor, 0 to 51 (ART's `constant_rate_factor`).
    Crf(u8),
    /// Constant quantiser, 0 to 51 (libx264's `qp`; 0 is lossless in YUV).
    Qp(u8),
}

/// How x264 uses threads (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum X264Threads {
    /// `threads=auto`, as ART's ffmpeg CLI: ART's output on this machine. Round trips are
    /// serialised process-wide.
    #[default]
    Auto,
    /// One thread and a synchronous lookahead: the same output in every run on every machine, but
    /// not ART's output beyond small frames.
    One,
}

/// Encodes `n_frames` RGB frames (`[n_frames, height, width, 3]` bytes) with libx264 at `crf` and
/// decodes them again, as ART's `VideoCompression(constant_rate_factor=crf)` does (see the module
/// docs); returns the decoded frames in the same layout. The input is not modified.
pub fn x264_round_trip(
    frames_rgb: &[u8],
    width: usize,
    height: usize,
    n_frames: usize,
    crf: u8,
) -> Result<Vec<u8>> {
    x264_round_trip_with(
        frames_rgb,
        width,
        height,
        n_frames,
        X264Rate::Crf(crf),
        X264Threads::Auto,
    )
}

/// [`x264_round_trip`] with any [`X264Rate`] and [`X264Threads`].
pub fn x264_round_trip_with(
    frames_rgb: &[u8],
    width: usize,
    height: usize,
    n_frames: usize,
    rate: X264Rate,
    threads: X264Threads,
) -> Result<Vec<u8>> {
    let (key, value) = match rate {
        X264Rate::Crf(v) => ("crf", v),
        X264Rate::Qp(v) => ("qp", v),
    };
    if value > 51 {
        return Err(Error::invalid(
            key,
            format!("{value} is outside the H.264 range 0-51"),
        ));
    }
    if width == 0 || height == 0 || n_frames == 0 {
        return Err(Error::invalid(
            "input.shape",
            format!("x264 needs at least 1 frame of 1 × 1, got {n_frames} of {width} × {height}"),
        ));
    }
    let frame_bytes = width * height * 3;
    if frames_rgb.len() != n_frames * frame_bytes {
        return Err(Error::invalid(
            "input",
            format!(
                "expected {} bytes ({n_frames} × {height} × {width} × 3), got {}",
                n_frames * frame_bytes,
                frames_rgb.len()
            ),
        ));
    }
    if width > 16384 || height > 16384 {
        return Err(Error::invalid(
            "input.shape",
            format!("x264 encodes frames up to 16384 × 16384, got {width} × {height}"),
        ));
    }
    init()?;
    // Threaded x264 is disturbed by other busy threads of this process; see the module docs.
    static X264_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = match threads {
        X264Threads::Auto => Some(X264_LOCK.lock().unwrap_or_else(|e| e.into_inner())),
        X264Threads::One => None,
    };
    let (pw, ph) = (width + width % 2, height + height % 2);
    let time_base = Rational::new(1, 25);

    let codec = encoder::find_by_name("libx264")
        .ok_or_else(|| Error::Unsupported("this FFmpeg has no libx264 encoder".into()))?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(|e| fail("encoder setup", e))?;
    enc.set_width(pw as u32);
    enc.set_height(ph as u32);
    enc.set_format(Pixel::YUV420P);
    enc.set_time_base(time_base);
    enc.set_frame_rate(Some(time_base.invert()));
    let mut options = ff::Dictionary::new();
    options.set(key, &value.to_string());
    options.set("preset", "medium");
    match threads {
        X264Threads::Auto => options.set("threads", "auto"),
        X264Threads::One => {
            options.set("threads", "1");
            options.set("x264-params", "sync-lookahead=0");
        }
    }
    let mut enc = enc
        .open_with(options)
        .map_err(|e| fail("the encoder does not open", e))?;

    let h264 = decoder::find(codec::Id::H264)
        .ok_or_else(|| Error::Unsupported("this FFmpeg has no H.264 decoder".into()))?;
    let mut dec = codec::context::Context::new_with_codec(h264)
        .decoder()
        .video()
        .map_err(|e| fail("decoder setup", e))?;

    let mut to_yuv = converter(Pixel::RGB24, Pixel::YUV420P, pw as u32, ph as u32)
        .map_err(|e| fail("RGB → YUV", e))?;
    let mut rgb_in = frame::Video::new(Pixel::RGB24, pw as u32, ph as u32);
    let mut yuv_in = frame::Video::empty();
    let mut packet = Packet::empty();
    let mut sink = Sink::new(width, height, frames_rgb.len());
    for (i, frame) in frames_rgb.chunks_exact(frame_bytes).enumerate() {
        copy_rows_in(frame, width, height, &mut rgb_in);
        to_yuv
            .run(&rgb_in, &mut yuv_in)
            .map_err(|e| fail("RGB → YUV", e))?;
        yuv_in.set_pts(Some(i as i64));
        enc.send_frame(&yuv_in)
            .map_err(|e| fail(&format!("frame {i}"), e))?;
        sink.pump(&mut enc, &mut dec, &mut packet)?;
    }
    enc.send_eof()
        .map_err(|e| fail("flushing the encoder", e))?;
    sink.pump(&mut enc, &mut dec, &mut packet)?;
    dec.send_eof()
        .map_err(|e| fail("flushing the decoder", e))?;
    sink.drain(&mut dec)?;
    let (decoded, out) = (sink.decoded, sink.out);
    if decoded != n_frames || out.len() != frames_rgb.len() {
        return Err(Error::invalid(
            "h264",
            format!("x264 round trip returned {decoded} frames for {n_frames}"),
        ));
    }
    Ok(out)
}

/// The decoding half: packets in, RGB frames (cropped to the input size) out.
struct Sink {
    width: usize,
    height: usize,
    yuv: frame::Video,
    rgb: frame::Video,
    to_rgb: Option<Scaler>,
    out: Vec<u8>,
    decoded: usize,
}

impl Sink {
    fn new(width: usize, height: usize, capacity: usize) -> Self {
        Self {
            width,
            height,
            yuv: frame::Video::empty(),
            rgb: frame::Video::empty(),
            to_rgb: None,
            out: Vec::with_capacity(capacity),
            decoded: 0,
        }
    }

    /// Moves every packet the encoder has ready through the decoder.
    fn pump(
        &mut self,
        enc: &mut encoder::Video,
        dec: &mut decoder::Video,
        packet: &mut Packet,
    ) -> Result<()> {
        loop {
            match enc.receive_packet(packet) {
                Ok(()) => dec
                    .send_packet(packet)
                    .map_err(|e| fail("decoding a packet", e))?,
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == ff::error::EAGAIN => return Ok(()),
                Err(e) => return Err(fail("encoding", e)),
            }
            self.drain(dec)?;
        }
    }

    /// Takes every picture the decoder has ready, as RGB24.
    fn drain(&mut self, dec: &mut decoder::Video) -> Result<()> {
        loop {
            match dec.receive_frame(&mut self.yuv) {
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == ff::error::EAGAIN => return Ok(()),
                Err(e) => return Err(fail("decoding", e)),
            }
            let (f, w, h) = (self.yuv.format(), self.yuv.width(), self.yuv.height());
            if (w as usize) < self.width || (h as usize) < self.height {
                return Err(Error::invalid(
                    "h264",
                    format!(
                        "x264 decoded {w} × {h} for {} × {}",
                        self.width, self.height
                    ),
                ));
            }
            let to_rgb = match &mut self.to_rgb {
                Some(s) => s,
                None => self
                    .to_rgb
                    .insert(converter(f, Pixel::RGB24, w, h).map_err(|e| fail("YUV → RGB", e))?),
            };
            to_rgb
                .run(&self.yuv, &mut self.rgb)
                .map_err(|e| fail("YUV → RGB", e))?;
            copy_rows_out(&self.rgb, self.width, self.height, &mut self.out);
            self.decoded += 1;
        }
    }
}

fn fail(what: &str, e: ff::Error) -> Error {
    Error::invalid("h264", format!("x264 {what}: {e}"))
}
