//! H.264-in-MP4 files (`.mp4`, `.m4v`, `.mov`) to [`Video`], without system libraries: `re_mp4`
//! (Rerun's maintained MP4 demuxer, plain and fragmented files) finds the first video track and its
//! samples, and OpenH264 (already built for the H.264 defence) decodes them.
//!
//! The track's `avcC` parameter sets go to the decoder first, then each sample, converted from
//! AVCC (length-prefixed) to Annex B; samples are fed in decode order and the decoder reorders
//! B-frames itself. Pictures are converted to RGB with BT.601 limited range ([`super::yuv`]) at the
//! size the decoder reports, which is the SPS's cropped size.
//!
//! The frame rate is `samples / track duration` (exact for constant-rate files such as
//! 30000/1001 = 29.97…; the average for variable-rate ones).
//!
//! Other codecs in MP4 (H.265, AV1, VP9, MPEG-4 part 2) and H.264 features OpenH264 cannot decode
//! are [`Error::Unsupported`]; with the `ffmpeg` feature [`super::io::read_video`] hands those files
//! to FFmpeg instead.

use super::Video;
use super::nal::{avcc_to_annexb, push_annexb};
use super::yuv::I420;
use crate::error::{Error, Result};
use openh264::OpenH264API;
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use re_mp4::{Mp4, StsdBoxContent, TrackKind};
use std::path::Path;

/// Reads the first video track of an MP4 holding H.264.
pub fn read_mp4(path: &Path) -> Result<Video> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_mp4(path, &bytes)
}

/// Boxes whose payload is a list of boxes.
const CONTAINERS: [&[u8; 4]; 11] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"udta", b"mvex", b"moof",
    b"traf",
];

/// Sample entries (inside `stsd`) whose fixed fields are followed by boxes, with the length of
/// those fields: 78 bytes for visual entries, 28 for audio ones (ISO/IEC 14496-12, 12.1.3 and
/// 12.2.3).
const SAMPLE_ENTRIES: [(&[u8; 4], usize); 10] = [
    (b"avc1", 78),
    (b"avc3", 78),
    (b"hvc1", 78),
    (b"hev1", 78),
    (b"av01", 78),
    (b"vp08", 78),
    (b"vp09", 78),
    (b"mp4v", 78),
    (b"encv", 78),
    (b"mp4a", 28),
];

/// Checks the box tree before re_mp4 reads it: every box at least its 8-byte header and inside its
/// parent, and no sample count larger than the file could hold. re_mp4 loops forever on a
/// zero-sized box inside any list of boxes (containers, `meta`, `ilst` and its tags, sample
/// entries), and builds one 56-byte record per claimed sample, so that a 4-byte count of 2^32
/// runs for minutes and allocates hundreds of gigabytes (both found by tests/parsers_fuzz.rs).
/// `depth` bounds the recursion.
fn check_boxes(bytes: &[u8], file_len: usize, depth: usize) -> std::result::Result<(), String> {
    if depth > 16 {
        return Err("boxes nested more than 16 deep".into());
    }
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < 8 {
            return Err(format!("a truncated box header at byte {at}"));
        }
        let kind: &[u8; 4] = rest[4..8].try_into().expect("4 bytes");
        let (size, header) = match be_u32(rest, 0) {
            // Size 0: the box runs to the end of the file, which only a top-level box may say.
            0 if depth == 0 => (rest.len(), 8),
            1 if rest.len() >= 16 => (
                usize::try_from(u64::from_be_bytes(rest[8..16].try_into().expect("8 bytes")))
                    .unwrap_or(usize::MAX),
                16,
            ),
            n => (n as usize, 8),
        };
        let name = String::from_utf8_lossy(kind);
        if size < header || size > rest.len() {
            return Err(format!(
                "box {name:?} at byte {at} claims {size} bytes, {} remain",
                rest.len()
            ));
        }
        check_box(kind, &rest[header..size], file_len, depth)
            .map_err(|why| format!("box {name:?} at byte {at}: {why}"))?;
        at += size;
    }
    Ok(())
}

/// Checks one box's payload: the boxes it holds, and the sample counts of `stsz` and `trun`.
fn check_box(
    kind: &[u8; 4],
    body: &[u8],
    file_len: usize,
    depth: usize,
) -> std::result::Result<(), String> {
    // Full boxes start with 4 bytes of version and flags.
    let full = |n: usize| body.get(n..).ok_or_else(|| "too short".to_string());
    if CONTAINERS.contains(&kind) {
        return check_boxes(body, file_len, depth + 1);
    }
    match kind {
        b"meta" => check_boxes(full(4)?, file_len, depth + 1),
        // `ilst` holds one box per tag, and each tag holds boxes (`data`, `mean`, `name`).
        b"ilst" => {
            check_boxes(body, file_len, depth + 1)?;
            for_each_box(body, |_, tag| check_boxes(tag, file_len, depth + 2))
        }
        // Version and flags, an entry count, then the sample entries.
        b"stsd" => {
            let entries = full(8)?;
            check_boxes(entries, file_len, depth + 1)?;
            for_each_box(entries, |entry, fields| {
                match SAMPLE_ENTRIES.iter().find(|(k, _)| *k == entry) {
                    Some(&(_, skip)) => {
                        check_boxes(fields.get(skip..).unwrap_or_default(), file_len, depth + 2)
                    }
                    None => Ok(()),
                }
            })
        }
        // Version and flags, a constant sample size (0: a table follows), the sample count.
        b"stsz" if body.len() >= 12 => {
            let (size, count) = (be_u32(body, 4), be_u32(body, 8));
            let claimed = u64::from(count) * u64::from(size.max(1));
            if claimed > file_len as u64 {
                return Err(format!(
                    "{count} samples of {size} bytes do not fit in a {file_len}-byte file"
                ));
            }
            Ok(())
        }
        // Version and flags, then the sample count; each sample is at least a byte of the file.
        b"trun" if body.len() >= 8 => {
            let count = be_u32(body, 4);
            if count as usize > file_len {
                return Err(format!("{count} samples in a {file_len}-byte file"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Calls `f` with the kind and payload of each box in `bytes`, which [`check_boxes`] has accepted;
/// stops at a box with a 64-bit size (whose contents the budgeted reader still bounds).
fn for_each_box(
    mut bytes: &[u8],
    mut f: impl FnMut(&[u8; 4], &[u8]) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    while bytes.len() >= 8 {
        let size = be_u32(bytes, 0) as usize;
        if size < 8 || size > bytes.len() {
            break;
        }
        f(bytes[4..8].try_into().expect("4 bytes"), &bytes[8..size])?;
        bytes = &bytes[size..];
    }
    Ok(())
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// A reader over the file's bytes that fails after a budget of calls. A parse reads each byte
/// about once, so a budget of a few calls per byte is never reached by a real file; a parser
/// loop that makes no progress (re_mp4 has had several) ends with an error instead of a hang.
struct Budgeted<'a> {
    cursor: std::io::Cursor<&'a [u8]>,
    calls_left: usize,
}

impl<'a> Budgeted<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            cursor: std::io::Cursor::new(bytes),
            calls_left: 4 * bytes.len() + 4096,
        }
    }

    fn spend(&mut self) -> std::io::Result<()> {
        self.calls_left = self.calls_left.checked_sub(1).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the box structure makes the demuxer loop",
            )
        })?;
        Ok(())
    }
}

impl std::io::Read for Budgeted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.spend()?;
        self.cursor.read(buf)
    }
}

impl std::io::Seek for Budgeted<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.spend()?;
        self.cursor.seek(to)
    }
}

/// [`read_mp4`] on bytes already in memory; `path` only names the source in errors.
pub fn decode_mp4(path: &Path, bytes: &[u8]) -> Result<Video> {
    check_boxes(bytes, bytes.len(), 0)
        .map_err(|why| Error::decode(path, format!("not a readable MP4: {why}")))?;
    let mp4 = crate::error::no_panic(path, "MP4 demuxer", || {
        Mp4::read(Budgeted::new(bytes), bytes.len() as u64)
    })?
    .map_err(|e| Error::decode(path, format!("not a readable MP4: {e}")))?;
    // The first track with a video handler; re_mp4 only labels tracks whose codec it knows.
    let (track, trak) = mp4
        .tracks()
        .values()
        .filter_map(|t| {
            let trak = mp4
                .moov
                .traks
                .iter()
                .find(|k| k.tkhd.track_id == t.track_id)?;
            let video =
                &trak.mdia.hdlr.handler_type.value == b"vide" || t.kind == Some(TrackKind::Video);
            video.then_some((t, trak))
        })
        .next()
        .ok_or_else(|| Error::decode(path, "the MP4 has no video track"))?;
    let avcc = match &trak.mdia.minf.stbl.stsd.contents {
        StsdBoxContent::Avc1(avc1) => &avc1.avcc.contents,
        other => {
            let codec = match other {
                StsdBoxContent::Unknown(fourcc) => format!("'{fourcc}'"),
                known => known.codec_string().unwrap_or_else(|| "not H.264".into()),
            };
            return Err(Error::Unsupported(format!(
                "{}: the video track's codec is {codec}; without FFmpeg only H.264 (avc1) MP4s \
                 decode; {}",
                path.display(),
                super::FFMPEG_HINT
            )));
        }
    };
    // OpenH264 decodes 8-bit 4:2:0 only; these profiles are 10-bit, 4:2:2 or 4:4:4.
    if let Some(name) = match avcc.avc_profile_indication {
        110 => Some("High 10"),
        122 => Some("High 4:2:2"),
        244 => Some("High 4:4:4 Predictive"),
        44 => Some("CAVLC 4:4:4 Intra"),
        _ => None,
    } {
        return Err(Error::Unsupported(format!(
            "{}: H.264 {name} profile; OpenH264 decodes 8-bit 4:2:0 only (Baseline, Main, High); \
             to read it with FFmpeg, {}",
            path.display(),
            super::FFMPEG_HINT
        )));
    }
    if track.samples.is_empty() {
        return Err(Error::decode(path, "the MP4's video track has no frames"));
    }
    let length_size = usize::from(avcc.length_size_minus_one & 3) + 1;
    let mut headers = Vec::new();
    for nal in avcc
        .sequence_parameter_sets
        .iter()
        .chain(&avcc.picture_parameter_sets)
    {
        push_annexb(&mut headers, &nal.bytes);
    }

    let codec = |what: String, e: openh264::Error| {
        Error::decode(path, format!("H.264 {what} does not decode: {e}"))
    };
    let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
    let mut decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| codec("decoder setup".into(), e))?;
    let mut frames = Frames::new(path);
    if !headers.is_empty()
        && let Some(pic) = decoder
            .decode(&headers)
            .map_err(|e| codec("avcC".into(), e))?
    {
        frames.push(&pic)?;
    }
    for (i, sample) in track.samples.iter().enumerate() {
        let range = usize::try_from(sample.offset)
            .ok()
            .zip(usize::try_from(sample.size).ok())
            .and_then(|(start, size)| Some(start..start.checked_add(size)?))
            .filter(|r| r.end <= bytes.len())
            .ok_or_else(|| {
                Error::decode(
                    path,
                    format!(
                        "truncated: frame {i} lies at bytes {}..{} of a {}-byte file",
                        sample.offset,
                        sample.offset.saturating_add(sample.size),
                        bytes.len()
                    ),
                )
            })?;
        let annexb = avcc_to_annexb(&bytes[range], length_size)
            .map_err(|e| Error::decode(path, format!("frame {i}: {e}")))?;
        if let Some(pic) = decoder
            .decode(&annexb)
            .map_err(|e| codec(format!("frame {i}"), e))?
        {
            frames.push(&pic)?;
        }
    }
    for pic in decoder
        .flush_remaining()
        .map_err(|e| codec("flush".into(), e))?
    {
        frames.push(&pic)?;
    }
    let total: u64 = track.samples.iter().map(|s| s.duration).sum();
    let fps = if total > 0 && track.timescale > 0 {
        track.samples.len() as f64 * track.timescale as f64 / total as f64
    } else {
        25.0
    };
    frames.into_video(fps, track.samples.len())
}

/// Decoded pictures collected as RGB, all of one size.
struct Frames<'a> {
    path: &'a Path,
    size: Option<(usize, usize)>,
    count: usize,
    rgb: Vec<u8>,
}

impl<'a> Frames<'a> {
    fn new(path: &'a Path) -> Self {
        Self {
            path,
            size: None,
            count: 0,
            rgb: Vec::new(),
        }
    }

    fn push(&mut self, pic: &DecodedYUV<'_>) -> Result<()> {
        use openh264::formats::YUVSource;
        let (w, h) = pic.dimensions();
        let (w0, h0) = *self.size.get_or_insert((w, h));
        if (w, h) != (w0, h0) {
            return Err(Error::decode(
                self.path,
                format!(
                    "frame {} is {w} × {h}, the first was {w0} × {h0}",
                    self.count
                ),
            ));
        }
        let planes = I420 {
            y: pic.y(),
            u: pic.u(),
            v: pic.v(),
            strides: pic.strides(),
        };
        if w == 0 || h == 0 || !planes.fits(w, h) {
            return Err(Error::decode(
                self.path,
                format!("the decoder returned a malformed {w} × {h} picture"),
            ));
        }
        self.count += 1;
        super::check_decoded_size(self.path, self.count * w * h * 3)?;
        planes.to_rgb(w, h, &mut self.rgb);
        Ok(())
    }

    fn into_video(self, fps: f64, samples: usize) -> Result<Video> {
        let Some((w, h)) = self.size else {
            return Err(Error::decode(
                self.path,
                format!("none of the {samples} H.264 samples decoded to a picture"),
            ));
        };
        if self.count != samples {
            return Err(Error::decode(
                self.path,
                format!(
                    "{} of the track's {samples} frames decoded; the stream is damaged",
                    self.count
                ),
            ));
        }
        Video::new(w, h, fps, self.rgb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom};

    #[test]
    fn the_budgeted_reader_ends_a_parse_that_makes_no_progress() {
        let bytes = [0u8; 16];
        let mut reader = Budgeted::new(&bytes);
        let mut header = [0u8; 8];
        // What a looping parser does: go back, read the same header, forever.
        let e = (0..100_000)
            .find_map(|_| {
                let again = reader.seek(SeekFrom::Start(0)).map(|_| ());
                again.and_then(|_| reader.read_exact(&mut header)).err()
            })
            .expect("the budget runs out");
        assert!(e.to_string().contains("makes the demuxer loop"), "{e}");
    }

    #[test]
    fn boxes_nested_too_deep_are_refused() {
        // 20 `moov` boxes, each holding the next.
        let mut bytes = Vec::new();
        for _ in 0..20 {
            let mut outer = (8 + bytes.len() as u32).to_be_bytes().to_vec();
            outer.extend_from_slice(b"moov");
            outer.extend_from_slice(&bytes);
            bytes = outer;
        }
        let e = check_boxes(&bytes, bytes.len(), 0).unwrap_err();
        assert!(e.contains("nested more than 16 deep"), "{e}");
    }
}
