//! A tiny antialiased rasteriser: gradients, rectangles, thick segments, discs and curves on an RGB
//! frame. Written by hand because the stand-in corpus needs only these five shapes, and a drawing
//! crate (tiny-skia, plotters' bitmap backend) would cost more to set up per frame than to draw them.

/// An RGB colour, 0–255 per channel.
pub type Rgb = [f32; 3];

/// One frame being drawn, `width × height` RGB in floats (rounded to bytes at the end).
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub px: Vec<Rgb>,
}

impl Canvas {
    /// A canvas filled with a linear gradient from `a` to `b` along direction `angle` (radians),
    /// the gradient's origin shifted by `offset` (camera shake moves the background too).
    pub fn gradient(
        width: usize,
        height: usize,
        a: Rgb,
        b: Rgb,
        angle: f32,
        offset: (f32, f32),
    ) -> Self {
        let (dx, dy) = (angle.cos(), angle.sin());
        let half = 0.5 * (width as f32 * dx.abs() + height as f32 * dy.abs());
        let (cx, cy) = (
            width as f32 / 2.0 + offset.0,
            height as f32 / 2.0 + offset.1,
        );
        let mut px = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let t = (((x as f32 + 0.5 - cx) * dx + (y as f32 + 0.5 - cy) * dy) / (2.0 * half)
                    + 0.5)
                    .clamp(0.0, 1.0);
                px.push(std::array::from_fn(|c| a[c] + (b[c] - a[c]) * t));
            }
        }
        Self { width, height, px }
    }

    /// Blends `colour` into pixel `(x, y)` with coverage `alpha` in `[0, 1]`.
    fn blend(&mut self, x: usize, y: usize, colour: Rgb, alpha: f32) {
        let p = &mut self.px[y * self.width + x];
        for c in 0..3 {
            p[c] += (colour[c] - p[c]) * alpha;
        }
    }

    /// Pixels within `r + 1` of the box `[x0, x1] × [y0, y1]`, clipped to the canvas.
    fn bounds(&self, x0: f32, x1: f32, y0: f32, y1: f32, r: f32) -> Option<[usize; 4]> {
        let lo = |v: f32| (v - r - 1.0).floor().max(0.0) as usize;
        let hi = |v: f32, n: usize| ((v + r + 1.0).ceil().max(0.0) as usize).min(n);
        let b = [lo(x0), hi(x1, self.width), lo(y0), hi(y1, self.height)];
        (b[0] < b[1] && b[2] < b[3]).then_some(b)
    }

    /// An axis-aligned filled rectangle.
    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, colour: Rgb) {
        if let Some([xa, xb, ya, yb]) = self.bounds(x, x + w, y, y + h, 0.0) {
            for py in ya..yb {
                for px in xa..xb {
                    let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
                    let cover_x = (cx + 0.5 - x).min(x + w - cx + 0.5).clamp(0.0, 1.0);
                    let cover_y = (cy + 0.5 - y).min(y + h - cy + 0.5).clamp(0.0, 1.0);
                    if cover_x * cover_y > 0.0 {
                        self.blend(px, py, colour, cover_x * cover_y);
                    }
                }
            }
        }
    }

    /// A segment from `a` to `b` of half-width `r`, with round caps.
    pub fn segment(&mut self, a: (f32, f32), b: (f32, f32), r: f32, colour: Rgb) {
        let (x0, x1) = (a.0.min(b.0), a.0.max(b.0));
        let (y0, y1) = (a.1.min(b.1), a.1.max(b.1));
        let Some([xa, xb, ya, yb]) = self.bounds(x0, x1, y0, y1, r) else {
            return;
        };
        let (vx, vy) = (b.0 - a.0, b.1 - a.1);
        let len2 = (vx * vx + vy * vy).max(1e-9);
        for py in ya..yb {
            for px in xa..xb {
                let (cx, cy) = (px as f32 + 0.5 - a.0, py as f32 + 0.5 - a.1);
                let t = ((cx * vx + cy * vy) / len2).clamp(0.0, 1.0);
                let d = ((cx - t * vx).powi(2) + (cy - t * vy).powi(2)).sqrt();
                let cover = (r + 0.5 - d).clamp(0.0, 1.0);
                if cover > 0.0 {
                    self.blend(px, py, colour, cover);
                }
            }
        }
    }

    /// A filled disc.
    pub fn disc(&mut self, c: (f32, f32), r: f32, colour: Rgb) {
        self.segment(c, c, r, colour);
    }

    /// A polyline through `points` of half-width `r`.
    pub fn polyline(&mut self, points: &[(f32, f32)], r: f32, colour: Rgb) {
        for w in points.windows(2) {
            self.segment(w[0], w[1], r, colour);
        }
    }

    /// An ellipse outline centred at `c` with half-axes `(rx, ry)`, drawn as 32 segments.
    pub fn ellipse(&mut self, c: (f32, f32), rx: f32, ry: f32, r: f32, colour: Rgb) {
        let points: Vec<(f32, f32)> = (0..=32)
            .map(|i| {
                let a = i as f32 / 32.0 * std::f32::consts::TAU;
                (c.0 + rx * a.cos(), c.1 + ry * a.sin())
            })
            .collect();
        self.polyline(&points, r, colour);
    }

    /// The frame as bytes, with `noise(i)` (in grey levels) added to every pixel's three channels.
    pub fn into_bytes(self, mut noise: impl FnMut() -> f32) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.px.len() * 3);
        for p in self.px {
            let n = noise();
            out.extend(p.map(|v| crate::video::yuv::round_u8(v + n)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_cover_what_they_should() {
        let mut c = Canvas::gradient(40, 30, [0.0; 3], [0.0; 3], 0.0, (0.0, 0.0));
        c.disc((10.0, 10.0), 4.0, [255.0; 3]);
        c.segment((20.0, 5.0), (35.0, 5.0), 1.5, [100.0; 3]);
        c.rect(2.0, 20.0, 6.0, 5.0, [50.0; 3]);
        let at = |c: &Canvas, x: usize, y: usize| c.px[y * 40 + x][0];
        assert_eq!(at(&c, 9, 9), 255.0);
        assert_eq!(at(&c, 17, 10), 0.0);
        assert_eq!(at(&c, 27, 4), 100.0);
        assert_eq!(at(&c, 27, 9), 0.0);
        assert_eq!(at(&c, 4, 22), 50.0);
        assert_eq!(at(&c, 9, 22), 0.0);
        // Shapes off the canvas are clipped, not a panic.
        c.disc((-50.0, 500.0), 3.0, [1.0; 3]);
        c.segment((-10.0, -10.0), (100.0, 100.0), 2.0, [7.0; 3]);
    }

    #[test]
    fn gradient_runs_from_a_to_b() {
        let c = Canvas::gradient(100, 10, [0.0; 3], [200.0; 3], 0.0, (0.0, 0.0));
        assert!(c.px[0][0] < 2.0 && c.px[99][0] > 198.0);
        let bytes = c.into_bytes(|| 0.0);
        assert_eq!(bytes.len(), 3000);
    }
}
