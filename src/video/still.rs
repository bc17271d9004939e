//! Single PNG and JPEG images as 8-bit RGB: the frames of a frame directory (or a one-frame video).
//!
//! PNG goes through the `png` crate (palette and low bit depths expanded, 16-bit reduced to its
//! high byte), JPEG through `zune-jpeg` (grey, YCbCr, CMYK and YCCK converted to RGB by the decoder).
//! Grey is repeated into R, G and B. A video has no alpha, so alpha is composited **over black**:
//! each channel becomes `round(c · a / 255)`, which keeps opaque pixels exact and turns fully
//! transparent ones black (the same black a GIF's transparent canvas gets).

use crate::error::{Error, Result};
use std::path::Path;

/// A decoded still image: `height × width × 3` interleaved RGB bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Still {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// The still image formats read here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StillFormat {
    Png,
    Jpeg,
}

impl StillFormat {
    /// The format a file name's extension (case-insensitive) names, if any.
    pub fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "png" => Some(StillFormat::Png),
            "jpg" | "jpeg" => Some(StillFormat::Jpeg),
            _ => None,
        }
    }

    /// The format the first bytes of a file show, if any.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(StillFormat::Png)
        } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(StillFormat::Jpeg)
        } else {
            None
        }
    }
}

/// Reads a PNG or JPEG (by content, then extension) as RGB.
pub fn read_still(path: &Path) -> Result<Still> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let format = StillFormat::sniff(&bytes)
        .or_else(|| StillFormat::from_extension(path))
        .ok_or_else(|| Error::decode(path, "expected a PNG or JPEG image"))?;
    decode_still(path, &bytes, format)
}

/// Decodes PNG or JPEG bytes as RGB; `path` only names the source in errors.
pub fn decode_still(path: &Path, bytes: &[u8], format: StillFormat) -> Result<Still> {
    match format {
        StillFormat::Png => decode_png(path, bytes),
        StillFormat::Jpeg => decode_jpeg(path, bytes),
    }
}

fn decode_png(path: &Path, bytes: &[u8]) -> Result<Still> {
    let bad = |e: png::DecodingError| Error::decode(path, format!("not a readable PNG: {e}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(bad)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| Error::decode(path, "the PNG is too large to decode"))?;
    super::check_decoded_size(path, size)?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(bad)?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(Error::decode(path, "the PNG palette was not expanded"));
        }
    };
    if info.bit_depth != png::BitDepth::Eight || info.line_size < w * channels {
        return Err(Error::decode(
            path,
            format!(
                "expected 8-bit samples after expansion, got {:?} ({channels} channels)",
                info.bit_depth
            ),
        ));
    }
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in buf.chunks(info.line_size).take(h) {
        push_rgb(&row[..w * channels], channels, &mut rgb);
    }
    if rgb.len() != w * h * 3 {
        return Err(Error::decode(path, "the PNG holds fewer rows than it says"));
    }
    Ok(Still {
        width: w,
        height: h,
        rgb,
    })
}

fn decode_jpeg(path: &Path, bytes: &[u8]) -> Result<Still> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let bad = |e: zune_jpeg::errors::DecodeErrors| {
        Error::decode(path, format!("not a readable JPEG: {e}"))
    };
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(bad)?;
    let (info, size) = match (decoder.info(), decoder.output_buffer_size()) {
        (Some(info), Some(size)) => (info, size),
        _ => return Err(Error::decode(path, "the JPEG's size is not readable")),
    };
    super::check_decoded_size(path, size)?;
    let (w, h) = (usize::from(info.width), usize::from(info.height));
    let mut buf = vec![0u8; size];
    decoder.decode_into(&mut buf).map_err(bad)?;
    let channels = match (w * h, decoder.output_colorspace()) {
        (0, _) => return Err(Error::decode(path, "the JPEG is 0 pixels large")),
        (_, Some(cs)) => cs.num_components(),
        (_, None) => 0,
    };
    if !(1..=4).contains(&channels) || buf.len() < w * h * channels {
        return Err(Error::decode(
            path,
            format!("unexpected JPEG output: {} bytes for {w} × {h}", buf.len()),
        ));
    }
    let mut rgb = Vec::with_capacity(w * h * 3);
    push_rgb(&buf[..w * h * channels], channels, &mut rgb);
    Ok(Still {
        width: w,
        height: h,
        rgb,
    })
}

/// Appends `samples` (grey, grey + alpha, RGB or RGBA, 8 bits) as RGB, alpha composited over black.
fn push_rgb(samples: &[u8], channels: usize, rgb: &mut Vec<u8>) {
    let over_black = |c: u8, a: u8| ((u16::from(c) * u16::from(a) + 127) / 255) as u8;
    match channels {
        1 => samples.iter().for_each(|&g| rgb.extend_from_slice(&[g; 3])),
        2 => samples
            .chunks_exact(2)
            .for_each(|p| rgb.extend_from_slice(&[over_black(p[0], p[1]); 3])),
        3 => rgb.extend_from_slice(samples),
        _ => samples.chunks_exact(4).for_each(|p| {
            rgb.extend_from_slice(&[
                over_black(p[0], p[3]),
                over_black(p[1], p[3]),
                over_black(p[2], p[3]),
            ])
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_is_composited_over_black() {
        let mut rgb = Vec::new();
        push_rgb(&[200, 255, 200, 0, 200, 128], 2, &mut rgb);
        assert_eq!(rgb, [200, 200, 200, 0, 0, 0, 100, 100, 100]);
        rgb.clear();
        push_rgb(&[10, 20, 30, 255, 10, 20, 30, 0], 4, &mut rgb);
        assert_eq!(rgb, [10, 20, 30, 0, 0, 0]);
    }

    #[test]
    fn formats_by_content_and_extension() {
        assert_eq!(
            StillFormat::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(StillFormat::Png)
        );
        assert_eq!(
            StillFormat::sniff(&[0xff, 0xd8, 0xff, 0xe0]),
            Some(StillFormat::Jpeg)
        );
        assert_eq!(StillFormat::sniff(b"GIF89a"), None);
        assert_eq!(
            StillFormat::from_extension(Path::new("a/B.JPEG")),
            Some(StillFormat::Jpeg)
        );
        assert_eq!(StillFormat::from_extension(Path::new("a/b.gif")), None);
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        for format in [StillFormat::Png, StillFormat::Jpeg] {
            let e = decode_still(Path::new("d/f_001"), b"\x89PNG\r\n\x1a\nxx", format).unwrap_err();
            assert!(e.to_string().contains("d/f_001"), "{e}");
        }
    }
}
