//! RGB ↔ YUV 4:2:0 (I420), BT.601 limited range, written by hand: the conversion is a few lines, and
//! doing it here keeps the H.264 defence and the MP4 reader/writer on exactly the same arithmetic
//! (no crate offers this pair with rounding and without pulling in an image stack).
//!
//! RGB → YUV rounds each value; chroma comes from the mean of the 2 × 2 RGB block it covers. YUV →
//! RGB is the inverse matrix, rounded and saturated, with each chroma sample covering its 2 × 2
//! block (no chroma interpolation).

/// BT.601 limited-range RGB → planar YUV 4:2:0 (`Y` plane, then `U`, then `V`), rounded.
///
/// `rgb` is `height × width × 3` bytes, interleaved; `width` and `height` must be even (callers pad
/// or crop first).
pub fn rgb_to_yuv420(rgb: &[u8], width: usize, height: usize) -> Vec<u8> {
    debug_assert_eq!(rgb.len(), width * height * 3);
    let mut planes = [const { Vec::new() }; 3];
    for (c, plane) in planes.iter_mut().enumerate() {
        *plane = rgb.iter().skip(c).step_by(3).copied().collect();
    }
    let [r, g, b] = &planes;
    planar_rgb_to_yuv420(r, g, b, width, height)
}

/// [`rgb_to_yuv420`] from three `height × width` planes (R, G, B), the layout the video models
/// use; the loops run over contiguous rows, so the compiler vectorises them.
pub fn planar_rgb_to_yuv420(r: &[u8], g: &[u8], b: &[u8], width: usize, height: usize) -> Vec<u8> {
    debug_assert!(width.is_multiple_of(2) && height.is_multiple_of(2));
    debug_assert!([r.len(), g.len(), b.len()] == [width * height; 3]);
    let (cw, ch) = (width / 2, height / 2);
    let mut buf = vec![0u8; width * height + 2 * cw * ch];
    let (ys, uv) = buf.split_at_mut(width * height);
    let (us, vs) = uv.split_at_mut(cw * ch);
    for (i, yv) in ys.iter_mut().enumerate() {
        let [r, g, b] = [r[i], g[i], b[i]].map(f32::from);
        *yv = round_u8(16.0 + 0.256_788 * r + 0.504_129 * g + 0.097_906 * b);
    }
    // The mean of a 2 × 2 block: its byte sum is exact in f32.
    let block = |p: &[u8], cy: usize, cx: usize| {
        let (top, bottom) = (2 * cy * width + 2 * cx, (2 * cy + 1) * width + 2 * cx);
        let sum = u16::from(p[top]) + u16::from(p[top + 1]);
        f32::from(sum + u16::from(p[bottom]) + u16::from(p[bottom + 1])) / 4.0
    };
    for cy in 0..ch {
        for cx in 0..cw {
            let (r, g, b) = (block(r, cy, cx), block(g, cy, cx), block(b, cy, cx));
            us[cy * cw + cx] = round_u8(128.0 - 0.148_223 * r - 0.290_993 * g + 0.439_216 * b);
            vs[cy * cw + cx] = round_u8(128.0 + 0.439_216 * r - 0.367_788 * g - 0.071_427 * b);
        }
    }
    buf
}

/// `v.round().clamp(0.0, 255.0) as u8` (half away from zero, saturated, NaN to 0) without the
/// libm call that `round` becomes on baseline x86-64, where it dominated the H.264 defence's
/// colour conversion. Exact: `v - trunc(v)` has no rounding error for `v` in `[0, 255]`.
#[inline]
pub fn round_u8(v: f32) -> u8 {
    let v = v.clamp(0.0, 255.0);
    let t = v as u8;
    t + u8::from(v - f32::from(t) >= 0.5)
}

/// BT.601 limited-range YUV → RGB for one pixel, rounded and saturated.
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let l = 1.164_383 * (f32::from(y) - 16.0);
    let (u, v) = (f32::from(u) - 128.0, f32::from(v) - 128.0);
    let q = round_u8;
    [
        q(l + 1.596_027 * v),
        q(l - 0.391_762 * u - 0.812_968 * v),
        q(l + 2.017_232 * u),
    ]
}

/// The planes of a decoded 4:2:0 picture with their row strides, as decoders hand them out.
#[derive(Clone, Copy, Debug)]
pub struct I420<'a> {
    pub y: &'a [u8],
    pub u: &'a [u8],
    pub v: &'a [u8],
    /// Bytes per row of `y`, `u` and `v`.
    pub strides: (usize, usize, usize),
}

impl I420<'_> {
    /// Whether the planes hold a `width × height` picture at these strides (so that
    /// [`I420::to_rgb`] cannot index out of bounds).
    pub fn fits(&self, width: usize, height: usize) -> bool {
        let (sy, su, sv) = self.strides;
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let plane = |len: usize, stride: usize, w: usize, h: usize| {
            h == 0 || (stride >= w && len >= (h - 1) * stride + w)
        };
        plane(self.y.len(), sy, width, height)
            && plane(self.u.len(), su, cw, ch)
            && plane(self.v.len(), sv, cw, ch)
    }

    /// The top-left `width × height` of the picture as interleaved RGB bytes appended to `out`.
    /// Call [`I420::fits`] first.
    pub fn to_rgb(&self, width: usize, height: usize, out: &mut Vec<u8>) {
        let (sy, su, sv) = self.strides;
        out.reserve(width * height * 3);
        for y in 0..height {
            let (yr, ur, vr) = (y * sy, (y / 2) * su, (y / 2) * sv);
            for x in 0..width {
                let p = yuv_to_rgb(self.y[yr + x], self.u[ur + x / 2], self.v[vr + x / 2]);
                out.extend_from_slice(&p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greys_and_primaries_survive_a_round_trip() {
        // 2 × 2 blocks of one colour: chroma subsampling loses nothing, only rounding remains.
        for rgb in [
            [0, 0, 0],
            [255, 255, 255],
            [128, 128, 128],
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [30, 200, 90],
        ] {
            let frame: Vec<u8> = rgb.iter().copied().cycle().take(12).collect();
            let yuv = rgb_to_yuv420(&frame, 2, 2);
            let back = yuv_to_rgb(yuv[0], yuv[4], yuv[5]);
            for c in 0..3 {
                assert!(
                    (i16::from(back[c]) - i16::from(rgb[c])).abs() <= 2,
                    "{rgb:?} → {back:?}"
                );
            }
        }
    }

    #[test]
    fn round_u8_equals_round_then_saturate() {
        let mut v = -3.0f32;
        while v < 260.0 {
            for x in [v, v.next_up(), v.next_down()] {
                assert_eq!(round_u8(x), x.round().clamp(0.0, 255.0) as u8, "{x}");
            }
            v += 0.125;
        }
        for x in [
            0.499_999_97,
            254.5,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            assert_eq!(round_u8(x), x.round().clamp(0.0, 255.0) as u8, "{x}");
        }
    }

    #[test]
    fn limited_range_levels() {
        let yuv = rgb_to_yuv420(&[0; 12], 2, 2);
        assert_eq!(&yuv[..], &[16, 16, 16, 16, 128, 128]);
        let yuv = rgb_to_yuv420(&[255; 12], 2, 2);
        assert_eq!(&yuv[..], &[235, 235, 235, 235, 128, 128]);
    }

    #[test]
    fn planes_with_strides_convert_and_are_checked() {
        // 3 × 3 picture (odd: chroma 2 × 2) in rows of stride 4 / 2.
        let y = [16u8; 12];
        let (u, v) = ([128u8; 4], [128u8; 4]);
        let pic = I420 {
            y: &y,
            u: &u,
            v: &v,
            strides: (4, 2, 2),
        };
        assert!(pic.fits(3, 3));
        assert!(!pic.fits(5, 3));
        assert!(!pic.fits(3, 4));
        let mut out = Vec::new();
        pic.to_rgb(3, 3, &mut out);
        assert_eq!(out, vec![0; 27]);
    }
}
