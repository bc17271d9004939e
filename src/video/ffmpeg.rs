//! Any container and codec FFmpeg knows, through the system's libav* (`ffmpeg-next`), behind the
//! `ffmpeg` cargo feature: reading AVI (UCF101's MPEG-4 part 2 / Xvid), MKV, WebM and MP4 with any
//! codec, and writing AVI (MPEG-4 part 2, fourcc `XVID`, like UCF101) and libx264 MP4/MKV.
//!
//! There is no pure-Rust MPEG-4 part 2 decoder, which is why this path exists at all. Debian's
//! libavcodec is built `--enable-gpl` (it links libx264), so a binary built with this feature is
//! GPL-encumbered; the default build does not link it.
//!
//! Reading takes the best video stream (audio is ignored), decodes every frame and converts it to
//! RGB24 with swscale's bicubic scaler, exactly what `ffmpeg -i FILE -f rawvideo -pix_fmt rgb24 -`
//! does; the frame rate is the stream's `avg_frame_rate` (then `r_frame_rate`, then 25).
//!
//! Writing converts RGB24 to YUV 4:2:0 with the same bicubic scaler. Odd frame sizes are cropped to
//! even, as in [`super::mp4_write`] (4:2:0 codecs cannot represent them). Every packet gets a
//! duration of one frame, so the last frame is shown for as long as the others.
//!
//! libav* logs only errors: [`init`] lowers its log level for the whole process.

use super::DEFAULT_FPS;
use super::Video;
use crate::error::{Error, Result};
use crate::fs::write_atomic_with;
use ff::format::Pixel;
use ff::software::scaling::{Context as Scaler, Flags as ScaleFlags};
use ff::{Packet, Rational, codec, decoder, encoder, format, frame, media};
use ffmpeg_next as ff;
use std::path::Path;
use std::sync::OnceLock;

/// MPEG-4 part 2 quantiser scale for AVI files (`-q:v 3`, 1 = finest, 31 = coarsest): close to
/// transparent, and well above the quality of UCF101's own files.
pub const XVID_QSCALE: i32 = 3;

/// libx264's constant rate factor for MP4/MKV files written here (visually near-transparent).
pub const X264_FILE_CRF: u8 = 20;

/// How [`write_ffmpeg`] encodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// MPEG-4 part 2 (`mpeg4` encoder) with fourcc `XVID` at [`XVID_QSCALE`], as UCF101's AVIs.
    Xvid,
    /// H.264 with libx264 at CRF [`X264_FILE_CRF`], preset medium.
    X264,
}

/// Initialises libav* once (and sets its log level to errors only).
pub fn init() -> Result<()> {
    static INIT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        ff::init().map_err(|e| e.to_string())?;
        ff::log::set_level(ff::log::Level::Error);
        Ok(())
    })
    .clone()
    .map_err(|e| Error::Unsupported(format!("FFmpeg does not initialise: {e}")))
}

/// Reads the best video stream of any file FFmpeg can open, as RGB frames (see the module docs).
pub fn read_ffmpeg(path: &Path) -> Result<Video> {
    init()?;
    let fail = |what: &str, e: ff::Error| Error::decode(path, format!("{what}: {e}"));
    let mut input = format::input(path).map_err(|e| fail("FFmpeg cannot open it", e))?;
    let stream = input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| Error::decode(path, "no video stream"))?;
    let index = stream.index();
    let fps = [stream.avg_frame_rate(), stream.rate()]
        .into_iter()
        .find(|r| r.numerator() > 0 && r.denominator() > 0)
        .map_or(DEFAULT_FPS, f64::from);
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|e| fail("no decoder for its video codec", e))?;
    let mut frames = RgbFrames::new(path);
    let mut packet = Packet::empty();
    let mut packets = 0usize;
    loop {
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            // A demuxer resyncs past a corrupt packet, as the ffmpeg CLI does.
            Err(ff::Error::InvalidData) => continue,
            Err(e) => return Err(fail("reading the container failed", e)),
        }
        if packet.stream() != index {
            continue;
        }
        decoder
            .send_packet(&packet)
            .map_err(|e| fail(&format!("video packet {packets} does not decode"), e))?;
        packets += 1;
        frames.drain(&mut decoder)?;
    }
    decoder
        .send_eof()
        .map_err(|e| fail("flushing the decoder failed", e))?;
    frames.drain(&mut decoder)?;
    frames.into_video(fps)
}

/// Decoded frames collected as RGB24, all of one size.
struct RgbFrames<'a> {
    path: &'a Path,
    scaler: Option<(Scaler, Pixel, u32, u32)>,
    decoded: frame::Video,
    rgb_frame: frame::Video,
    rgb: Vec<u8>,
    count: usize,
}

impl<'a> RgbFrames<'a> {
    fn new(path: &'a Path) -> Self {
        Self {
            path,
            scaler: None,
            decoded: frame::Video::empty(),
            rgb_frame: frame::Video::empty(),
            rgb: Vec::new(),
            count: 0,
        }
    }

    /// Takes every frame the decoder has ready.
    fn drain(&mut self, decoder: &mut decoder::Video) -> Result<()> {
        loop {
            match decoder.receive_frame(&mut self.decoded) {
                Ok(()) => self.push()?,
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == ff::error::EAGAIN => return Ok(()),
                Err(e) => {
                    return Err(Error::decode(
                        self.path,
                        format!("frame {} does not decode: {e}", self.count),
                    ));
                }
            }
        }
    }

    fn push(&mut self) -> Result<()> {
        let (format, w, h) = (
            self.decoded.format(),
            self.decoded.width(),
            self.decoded.height(),
        );
        if w == 0 || h == 0 {
            return Err(Error::decode(
                self.path,
                format!("frame {} is {w} × {h}", self.count),
            ));
        }
        match &self.scaler {
            Some((_, f0, w0, h0)) if (*f0, *w0, *h0) != (format, w, h) => {
                return Err(Error::decode(
                    self.path,
                    format!(
                        "frame {} is {w} × {h} ({format:?}), the first was {w0} × {h0} ({f0:?})",
                        self.count
                    ),
                ));
            }
            Some(_) => {}
            None => {
                let scaler = converter(format, Pixel::RGB24, w, h).map_err(|e| {
                    Error::decode(self.path, format!("no {format:?} → RGB24 conversion: {e}"))
                })?;
                self.scaler = Some((scaler, format, w, h));
            }
        }
        let (w, h) = (w as usize, h as usize);
        self.count += 1;
        super::check_decoded_size(self.path, self.count * w * h * 3)?;
        if let Some((scaler, ..)) = &mut self.scaler {
            scaler
                .run(&self.decoded, &mut self.rgb_frame)
                .map_err(|e| Error::decode(self.path, format!("RGB conversion failed: {e}")))?;
        }
        copy_rows_out(&self.rgb_frame, w, h, &mut self.rgb);
        Ok(())
    }

    fn into_video(self, fps: f64) -> Result<Video> {
        match &self.scaler {
            Some((_, _, w, h)) => Video::new(*w as usize, *h as usize, fps, self.rgb),
            None => Err(Error::decode(self.path, "no video frame decodes")),
        }
    }
}

/// Appends the top-left `w × h` of a packed RGB24 frame to `out`, row by row (frames have padded
/// strides).
pub(crate) fn copy_rows_out(frame: &frame::Video, w: usize, h: usize, out: &mut Vec<u8>) {
    let stride = frame.stride(0);
    let data = frame.data(0);
    for y in 0..h {
        out.extend_from_slice(&data[y * stride..y * stride + w * 3]);
    }
}

/// A same-size bicubic pixel-format conversion (swscale), as the codecs on both sides need.
pub(crate) fn converter(
    from: Pixel,
    to: Pixel,
    w: u32,
    h: u32,
) -> std::result::Result<Scaler, ff::Error> {
    Scaler::get(from, w, h, to, w, h, ScaleFlags::BICUBIC)
}

/// Fills a packed RGB24 frame of `pw × ph` from `src` (`w × h`, interleaved), replicating the last
/// column and row into any padding.
pub(crate) fn copy_rows_in(src: &[u8], w: usize, h: usize, frame: &mut frame::Video) {
    let (pw, ph) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let data = frame.data_mut(0);
    for y in 0..ph {
        let row = &src[y.min(h - 1) * w * 3..][..w * 3];
        let dst = &mut data[y * stride..y * stride + pw * 3];
        dst[..w.min(pw) * 3].copy_from_slice(&row[..w.min(pw) * 3]);
        for x in w..pw {
            dst[x * 3..x * 3 + 3].copy_from_slice(&row[(w - 1) * 3..]);
        }
    }
}

/// A frame rate as a small rational: exact for integer rates and NTSC's `n·1000/1001`, otherwise
/// to a thousandth of a frame per second (MPEG-4 part 2 time bases must stay below 65536).
pub(crate) fn frame_rate(fps: f64) -> Rational {
    for den in [1, 1001, 100, 1000] {
        let num = (fps * f64::from(den)).round();
        if num >= 1.0 && ((num / f64::from(den)) - fps).abs() <= 1e-9 * fps.max(1.0) {
            return Rational::new(num as i32, den).reduce();
        }
    }
    Rational::new(((fps * 1000.0).round() as i32).max(1), 1000).reduce()
}

/// The libavformat muxer for a file name's extension.
fn muxer_name(path: &Path) -> Result<&'static str> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "avi" => "avi",
        "mp4" | "m4v" => "mp4",
        "mov" => "mov",
        "mkv" => "matroska",
        _ => {
            return Err(Error::invalid(
                "out",
                format!(
                    "{}: FFmpeg writes .avi, .mp4, .m4v, .mov or .mkv here",
                    path.display()
                ),
            ));
        }
    })
}

/// Writes `video` through libavformat/libavcodec (container from the extension: `.avi`, `.mp4`,
/// `.m4v`, `.mov`, `.mkv`), atomically; see the module docs.
pub fn write_ffmpeg(path: &Path, video: &Video, encoding: Encoding) -> Result<()> {
    init()?;
    let muxer = muxer_name(path)?;
    let n = video.frame_count();
    let (w, h) = (video.width & !1, video.height & !1);
    if n == 0 || w == 0 || h == 0 {
        return Err(Error::invalid(
            "video",
            format!(
                "FFmpeg needs at least one frame of at least 2 × 2, got {n} of {} × {}",
                video.width, video.height
            ),
        ));
    }
    let rate = frame_rate(video.fps);
    write_atomic_with(path, |tmp| {
        let fail = |what: &str, e: ff::Error| {
            Error::invalid("video", format!("{}: {what}: {e}", path.display()))
        };
        let mut output = format::output_as(tmp, muxer).map_err(|e| fail("cannot create", e))?;
        let global_header = output
            .format()
            .flags()
            .contains(format::Flags::GLOBAL_HEADER);
        let (codec_id, name) = match encoding {
            Encoding::Xvid => (codec::Id::MPEG4, "mpeg4"),
            Encoding::X264 => (codec::Id::H264, "libx264"),
        };
        let codec = encoder::find_by_name(name)
            .or_else(|| encoder::find(codec_id))
            .ok_or_else(|| Error::Unsupported(format!("this FFmpeg has no {name} encoder")))?;
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| fail("encoder setup", e))?;
        enc.set_width(w as u32);
        enc.set_height(h as u32);
        enc.set_format(Pixel::YUV420P);
        enc.set_time_base(rate.invert());
        enc.set_frame_rate(Some(rate));
        let mut flags = codec::Flags::empty();
        if global_header {
            flags |= codec::Flags::GLOBAL_HEADER;
        }
        let mut options = ff::Dictionary::new();
        match encoding {
            Encoding::Xvid => {
                flags |= codec::Flags::QSCALE;
                enc.set_global_quality(XVID_QSCALE * ff::ffi::FF_QP2LAMBDA);
                // SAFETY: the context is allocated and not opened yet; `codec_tag` is a plain field.
                unsafe {
                    (*enc.as_mut_ptr()).codec_tag = u32::from_le_bytes(*b"XVID");
                }
            }
            Encoding::X264 => {
                options.set("crf", &X264_FILE_CRF.to_string());
                options.set("preset", "medium");
            }
        }
        enc.set_flags(flags);
        let mut enc = enc
            .open_with(options)
            .map_err(|e| fail("the encoder does not open", e))?;
        let encoder_tb = rate.invert();
        {
            let mut stream = output
                .add_stream(codec)
                .map_err(|e| fail("cannot add a stream", e))?;
            stream.set_parameters(&enc);
            stream.set_time_base(encoder_tb);
            stream.set_avg_frame_rate(rate);
            stream.set_rate(rate);
            if encoding == Encoding::Xvid {
                // SAFETY: `codecpar` of a stream just added is allocated; setting the tag is what
                // `ffmpeg -vtag XVID` does.
                unsafe {
                    (*(*stream.as_mut_ptr()).codecpar).codec_tag = u32::from_le_bytes(*b"XVID");
                }
            }
        }
        output
            .write_header()
            .map_err(|e| fail("cannot write the header", e))?;
        let stream_tb = output
            .stream(0)
            .map(|s| s.time_base())
            .unwrap_or(encoder_tb);
        let mut scaler = converter(Pixel::RGB24, Pixel::YUV420P, w as u32, h as u32)
            .map_err(|e| fail("no RGB24 → YUV420P conversion", e))?;
        let mut rgb = frame::Video::new(Pixel::RGB24, w as u32, h as u32);
        let mut yuv = frame::Video::empty();
        let mut packet = Packet::empty();
        let mut cropped = Vec::with_capacity(w * h * 3);
        let mut send = |enc: &mut encoder::Video,
                        output: &mut format::context::Output|
         -> Result<()> {
            loop {
                match enc.receive_packet(&mut packet) {
                    Ok(()) => {
                        if packet.duration() <= 0 {
                            packet.set_duration(1);
                        }
                        packet.set_stream(0);
                        packet.rescale_ts(encoder_tb, stream_tb);
                        packet
                            .write_interleaved(output)
                            .map_err(|e| fail("cannot write a packet", e))?;
                    }
                    Err(ff::Error::Eof) => return Ok(()),
                    Err(ff::Error::Other { errno }) if errno == ff::error::EAGAIN => return Ok(()),
                    Err(e) => return Err(fail("the encoder failed", e)),
                }
            }
        };
        for i in 0..n {
            cropped.clear();
            for row in video.frame(i).chunks_exact(video.width * 3).take(h) {
                cropped.extend_from_slice(&row[..w * 3]);
            }
            copy_rows_in(&cropped, w, h, &mut rgb);
            scaler
                .run(&rgb, &mut yuv)
                .map_err(|e| fail("RGB → YUV conversion failed", e))?;
            yuv.set_pts(Some(i as i64));
            if encoding == Encoding::Xvid {
                // SAFETY: a plain field of an allocated frame; the CLI sets it the same way for
                // fixed-quantiser encoding.
                unsafe {
                    (*yuv.as_mut_ptr()).quality = XVID_QSCALE * ff::ffi::FF_QP2LAMBDA;
                }
            }
            enc.send_frame(&yuv)
                .map_err(|e| fail(&format!("frame {i} does not encode"), e))?;
            send(&mut enc, &mut output)?;
        }
        enc.send_eof()
            .map_err(|e| fail("flushing the encoder", e))?;
        send(&mut enc, &mut output)?;
        output
            .write_trailer()
            .map_err(|e| fail("cannot finish the file", e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_stay_small_and_exact() {
        assert_eq!(frame_rate(25.0), Rational::new(25, 1));
        assert_eq!(frame_rate(30000.0 / 1001.0), Rational::new(30000, 1001));
        assert_eq!(frame_rate(29.97), Rational::new(2997, 100));
        assert_eq!(frame_rate(12.5), Rational::new(25, 2));
        let r = frame_rate(std::f64::consts::PI);
        assert_eq!(r, Rational::new(1571, 500));
    }

    #[test]
    fn padding_replicates_the_edges() {
        init().unwrap();
        let src = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]; // 2 × 2 pixels
        let mut f = frame::Video::new(Pixel::RGB24, 3, 3);
        copy_rows_in(&src, 2, 2, &mut f);
        let mut out = Vec::new();
        copy_rows_out(&f, 3, 3, &mut out);
        assert_eq!(
            out,
            [
                1, 2, 3, 4, 5, 6, 4, 5, 6, 7, 8, 9, 10, 11, 12, 10, 11, 12, 7, 8, 9, 10, 11, 12,
                10, 11, 12
            ]
        );
    }
}
