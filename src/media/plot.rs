//! PNG plots of an audio attack: the waveforms and the spectrograms of a clean signal, its adversarial
//! version and the perturbation between them.
//!
//! plotters draws into an RGB buffer that the `png` crate encodes, with an embedded DejaVu Sans, so
//! plotting needs no system fonts and no image codecs.

use crate::error::{Error, Result};
use crate::fs::write_atomic;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::register_font;
use realfft::RealFftPlanner;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

const WAVEFORM_SIZE: (u32, u32) = (1200, 900);
const SPECTROGRAM_SIZE: (u32, u32) = (1200, 1000);

/// Spectrogram cells this far below the loudest one share the floor colour: room for a perturbation
/// of one 16-bit LSB (about −90 dB) under a full-scale signal, while silence (−∞ dB) stays drawable.
const DB_RANGE: f64 = 100.0;

/// Height of the time-axis title under the bottom panel, added to that panel so that all the panels'
/// plotting areas get the same height.
const TIME_DESC_HEIGHT: u32 = 28;

/// ab_glyph draws text about this many pixels above where plotters centres it; y-axis labels move
/// down by as much to sit level with their ticks.
const LABEL_DROP: i32 = 2;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

const ORIGINAL_COLOUR: RGBColor = RGBColor(31, 119, 180);
const ADVERSARIAL_COLOUR: RGBColor = RGBColor(214, 39, 40);
const PERTURBATION_COLOUR: RGBColor = RGBColor(44, 140, 44);
const GRID_COLOUR: RGBColor = RGBColor(225, 225, 225);
const AXIS_COLOUR: RGBColor = RGBColor(60, 60, 60);

/// Viridis (perceptually uniform, readable in grey and by colour-blind readers) at ten even steps.
const VIRIDIS: [[u8; 3]; 10] = [
    [0x44, 0x01, 0x54],
    [0x48, 0x28, 0x78],
    [0x3e, 0x4a, 0x89],
    [0x31, 0x68, 0x8e],
    [0x26, 0x82, 0x8e],
    [0x1f, 0x9e, 0x89],
    [0x35, 0xb7, 0x79],
    [0x6d, 0xcd, 0x59],
    [0xb4, 0xde, 0x2c],
    [0xfd, 0xe7, 0x25],
];

const PANEL_CAPTIONS: [&str; 3] = [
    "Original",
    "Adversarial",
    "Perturbation (adversarial − original)",
];

/// What drawing closures return: plotters' errors, boxed, become one [`Error`] naming the file.
type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

/// Three stacked panels sharing the time axis (seconds): original, adversarial, and their difference
/// (adversarial − original) on its own y scale (it is tiny). Title on top; y axes in the signal's units.
pub fn waveform_png(
    path: &Path,
    title: &str,
    sample_rate: u32,
    original: &[f32],
    adversarial: &[f32],
) -> Result<()> {
    let signals = signals(sample_rate, original, adversarial)?;
    let png = render(path, WAVEFORM_SIZE, |root| {
        draw_waveforms(root, title, sample_rate, &signals)
    })?;
    write_atomic(path, &png)
}

/// Spectrograms of the original, the adversarial and the perturbation, stacked: STFT with a Hann window,
/// ~32 ms frames overlapping by 75%, magnitude in dB on one viridis scale shared by the three panels
/// (0 dB = the loudest cell of any, floor −100 dB) so that the perturbation's level reads against the
/// signal's. Frequency in Hz up to sample_rate/2, time in seconds.
pub fn spectrogram_png(
    path: &Path,
    title: &str,
    sample_rate: u32,
    original: &[f32],
    adversarial: &[f32],
) -> Result<()> {
    let signals = signals(sample_rate, original, adversarial)?;
    let png = render(path, SPECTROGRAM_SIZE, |root| {
        draw_spectrograms(root, title, sample_rate, &signals)
    })?;
    write_atomic(path, &png)
}

/// Checks the inputs and returns the original, the adversarial and the perturbation in f64, where the
/// difference of two finite f32 samples is always finite.
fn signals(sample_rate: u32, original: &[f32], adversarial: &[f32]) -> Result<[Vec<f64>; 3]> {
    if sample_rate == 0 {
        return Err(Error::invalid("sample_rate", "must be positive"));
    }
    if original.is_empty() {
        return Err(Error::invalid("original", "has no samples"));
    }
    if adversarial.len() != original.len() {
        return Err(Error::invalid(
            "adversarial",
            format!(
                "has {} samples but original has {}",
                adversarial.len(),
                original.len()
            ),
        ));
    }
    for (name, signal) in [("original", original), ("adversarial", adversarial)] {
        if let Some(i) = signal.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                name,
                format!("sample {i} is {}, not a finite number", signal[i]),
            ));
        }
    }
    let original: Vec<f64> = original.iter().map(|&v| f64::from(v)).collect();
    let adversarial: Vec<f64> = adversarial.iter().map(|&v| f64::from(v)).collect();
    let perturbation = original
        .iter()
        .zip(&adversarial)
        .map(|(o, a)| a - o)
        .collect();
    Ok([original, adversarial, perturbation])
}

/// Draws a `width` × `height` figure with `draw` and returns it as PNG bytes.
fn render(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Drawn,
) -> Result<Vec<u8>> {
    let mut rgb = vec![0; width as usize * height as usize * 3];
    let drawn: Drawn = (|| {
        if !font_registered() {
            return Err("the embedded font does not load".into());
        }
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    })();
    drawn
        .and_then(|()| Ok(encode_png(&rgb, width, height)?))
        .map_err(|e| {
            Error::io(
                path,
                std::io::Error::other(format!("cannot draw the plot: {e}")),
            )
        })
}

/// plotters' ab_glyph text finds fonts by family name in a process-wide table; fill it once.
fn font_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| register_font("sans-serif", FontStyle::Normal, FONT).is_ok())
}

fn encode_png(
    rgb: &[u8],
    width: u32,
    height: u32,
) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Flat colours and thin lines compress well even at the fast setting.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
}

fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font()).color(&RGBColor(30, 30, 30))
}

fn draw_waveforms(
    root: &DrawingArea<BitMapBackend, Shift>,
    title: &str,
    sample_rate: u32,
    [original, adversarial, perturbation]: &[Vec<f64>; 3],
) -> Drawn {
    let body = root.margin(10, 0, 0, 0).titled(title, font(28.0))?;
    // The original and the adversarial share a scale so that they compare at a glance; the
    // perturbation, orders of magnitude smaller, gets its own. A silent signal still needs a range.
    let signal_half = half_range(peak(original).max(peak(adversarial)), 1.0);
    let perturbation_half = half_range(peak(perturbation), signal_half);
    let rows = stack(&body, 3)?;
    let time = Axis::new(0.0, original.len() as f64 / f64::from(sample_rate), 12);
    let panels = [
        (original, signal_half, ORIGINAL_COLOUR),
        (adversarial, signal_half, ADVERSARIAL_COLOUR),
        (perturbation, perturbation_half, PERTURBATION_COLOUR),
    ];
    for (i, (row, (samples, half, colour))) in rows.iter().zip(panels).enumerate() {
        let amplitude = Axis::new(-half, half, 9);
        let bottom = i == rows.len() - 1;
        let mut chart = panel(row, PANEL_CAPTIONS[i], &time, &amplitude, bottom)?;
        draw_mesh(&mut chart, ("Amplitude", ""), bottom, true)?;
        let width = chart.plotting_area().dim_in_pixel().0 as usize;
        chart.draw_series(LineSeries::new(
            envelope(samples, sample_rate, width),
            colour.stroke_width(1),
        ))?;
    }
    Ok(())
}

fn draw_spectrograms(
    root: &DrawingArea<BitMapBackend, Shift>,
    title: &str,
    sample_rate: u32,
    signals: &[Vec<f64>; 3],
) -> Drawn {
    let stft = Stft::new(sample_rate, signals[0].len());
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(stft.frame);
    let mut levels = Vec::with_capacity(signals.len());
    for signal in signals {
        levels.push(stft.magnitudes(signal, fft.as_ref())?);
    }
    // One reference for all three panels, so that colours compare across them.
    let reference = levels.iter().flatten().fold(0.0, |m: f64, &v| m.max(v));
    for level in levels.iter_mut().flatten() {
        *level = if reference > 0.0 {
            (20.0 * (*level / reference).log10()).max(-DB_RANGE)
        } else {
            -DB_RANGE
        };
    }

    let body = root.margin(10, 0, 0, 0).titled(title, font(28.0))?;
    let (panels_area, bar_area) = body.split_horizontally(body.dim_in_pixel().0 - 135);
    let rows = stack(&panels_area, 3)?;
    let time = Axis::new(0.0, signals[0].len() as f64 / f64::from(sample_rate), 12);
    let frequency = Axis::new(0.0, f64::from(sample_rate) / 2.0, 6);
    let mut plot_rows = Vec::with_capacity(3);
    for (i, (row, level)) in rows.iter().zip(&levels).enumerate() {
        let bottom = i == rows.len() - 1;
        let mut chart = panel(row, PANEL_CAPTIONS[i], &time, &frequency, bottom)?;
        draw_mesh(&mut chart, ("Frequency", "Hz"), bottom, false)?;
        let area = chart.plotting_area().strip_coord_spec();
        let (width, height) = area.dim_in_pixel();
        let pixels = stft.raster(level, width as usize, height as usize);
        area.draw(&bitmap(width, height, pixels)?)?;
        plot_rows.push(area.get_pixel_range().1);
    }
    colour_bar(&bar_area, plot_rows[0].start..plot_rows[2].end)
}

/// The shared dB scale, drawn beside the panels over the vertical extent `rows` of their plots.
fn colour_bar(area: &DrawingArea<BitMapBackend, Shift>, rows: Range<i32>) -> Drawn {
    let outer = area.get_pixel_range().1;
    let level = Axis::new(-DB_RANGE, 0.0, 11);
    let none = Axis::new(0.0, 1.0, 0);
    let mut chart = ChartBuilder::on(area)
        .margin_top(rows.start - outer.start)
        .margin_bottom(outer.end - rows.end)
        .margin_left(15)
        .margin_right(10)
        .right_y_label_area_size(70)
        .build_cartesian_2d(none, level.clone())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .y_desc(level.desc("Magnitude", "dB re. loudest cell"))
        .label_style(font(15.0))
        .axis_desc_style(font(17.0))
        .axis_style(AXIS_COLOUR)
        .set_all_tick_mark_size(5)
        .y_label_offset(LABEL_DROP)
        .draw()?;
    let area = chart.plotting_area().strip_coord_spec();
    let (width, height) = area.dim_in_pixel();
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        let rgb = viridis(1.0 - (f64::from(y) + 0.5) / f64::from(height));
        for _ in 0..width {
            pixels.extend_from_slice(&rgb);
        }
    }
    area.draw(&bitmap(width, height, pixels)?)?;
    Ok(())
}

fn bitmap(
    width: u32,
    height: u32,
    pixels: Vec<u8>,
) -> std::result::Result<BitMapElement<'static, (i32, i32)>, &'static str> {
    BitMapElement::with_owned_buffer((0, 0), (width, height), pixels)
        .ok_or("bitmap smaller than its plot")
}

/// Splits `area` into `n` rows whose plotting areas have the same height, the bottom row also holding
/// the time-axis title.
fn stack<'a>(
    area: &DrawingArea<BitMapBackend<'a>, Shift>,
    n: u32,
) -> std::result::Result<Vec<DrawingArea<BitMapBackend<'a>, Shift>>, &'static str> {
    let height = area.dim_in_pixel().1;
    let row = height
        .checked_sub(TIME_DESC_HEIGHT)
        .map(|h| h / n)
        .filter(|&h| h > 0)
        .ok_or("figure too small")?;
    let mut rows = Vec::with_capacity(n as usize);
    let mut rest = area.clone();
    for _ in 1..n {
        let (top, below) = rest.split_vertically(row);
        rows.push(top);
        rest = below;
    }
    rows.push(rest);
    Ok(rows)
}

/// One captioned panel with the time on x; only the bottom one leaves room for the time-axis title.
fn panel<'a>(
    area: &DrawingArea<BitMapBackend<'a>, Shift>,
    caption: &str,
    x: &Axis,
    y: &Axis,
    bottom: bool,
) -> std::result::Result<
    ChartContext<'a, BitMapBackend<'a>, Cartesian2d<Axis, Axis>>,
    Box<dyn std::error::Error>,
> {
    let x_labels = 30 + if bottom { TIME_DESC_HEIGHT } else { 0 };
    Ok(ChartBuilder::on(area)
        .caption(caption, font(20.0))
        .margin_left(10)
        .margin_right(25)
        .margin_bottom(8)
        .x_label_area_size(x_labels)
        .y_label_area_size(80)
        .build_cartesian_2d(x.clone(), y.clone())?)
}

/// Axes, ticks and labels of a panel, with a light grid behind line plots.
fn draw_mesh(
    chart: &mut ChartContext<'_, BitMapBackend<'_>, Cartesian2d<Axis, Axis>>,
    y_title: (&str, &str),
    bottom: bool,
    grid: bool,
) -> Drawn {
    let (x_desc, y_desc) = {
        let coords = chart.as_coord_spec();
        let (name, unit) = y_title;
        (
            coords.x_spec().desc("Time", "s"),
            coords.y_spec().desc(name, unit),
        )
    };
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(y_desc)
        .label_style(font(15.0))
        .axis_desc_style(font(17.0))
        .axis_style(AXIS_COLOUR)
        .set_all_tick_mark_size(5)
        .y_label_offset(LABEL_DROP)
        .bold_line_style(GRID_COLOUR);
    if bottom {
        mesh.x_desc(x_desc);
    }
    if !grid {
        mesh.disable_mesh();
    }
    mesh.draw()?;
    Ok(())
}

/// Ticks and labels for one axis: ticks 1, 2 or 5 times a power of ten apart, all labels with the same
/// number of decimals, and values far from 1 written as multiples of a power of ten that the axis title
/// names (a perturbation of 0.002 reads "2" on an axis titled "× 10⁻³").
#[derive(Clone)]
struct Axis {
    coord: RangedCoordf64,
    ticks: Vec<f64>,
    decimals: usize,
    exponent: i32,
}

impl Axis {
    fn new(lo: f64, hi: f64, max_ticks: usize) -> Self {
        let largest = lo.abs().max(hi.abs());
        let exponent = if (1e-2..1e5).contains(&largest) {
            0
        } else {
            largest.log10().floor() as i32
        };
        let step = tick_step(hi - lo, max_ticks);
        let ticks: Vec<f64> = if max_ticks == 0 {
            Vec::new()
        } else {
            let first = (lo / step - 1e-9).ceil() as i64;
            let last = (hi / step + 1e-9).floor() as i64;
            (first..=last).map(|i| i as f64 * step).collect()
        };
        let decimals = (-((step / 10f64.powi(exponent)).log10() + 1e-9).floor()).max(0.0) as usize;
        Axis {
            coord: (lo..hi).into(),
            ticks,
            decimals,
            exponent,
        }
    }

    fn label(&self, value: f64) -> String {
        let text = format!("{:.*}", self.decimals, value / 10f64.powi(self.exponent));
        match text.strip_prefix('-') {
            // A tick at zero computed as -1e-20 must not read "-0.0".
            Some(magnitude) if magnitude.bytes().all(|b| b == b'0' || b == b'.') => {
                magnitude.to_string()
            }
            // The typographic minus, as wide as the plus and the digits.
            Some(magnitude) => format!("−{magnitude}"),
            None => text,
        }
    }

    /// The axis title: its name, then the scale and the unit (empty when the values have none).
    fn desc(&self, name: &str, unit: &str) -> String {
        const SUPERSCRIPTS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
        let scale = if self.exponent == 0 {
            String::new()
        } else {
            let digits = self.exponent.unsigned_abs().to_string();
            let sign = if self.exponent < 0 { "⁻" } else { "" };
            let power: String = digits
                .chars()
                .filter_map(|d| d.to_digit(10).map(|d| SUPERSCRIPTS[d as usize]))
                .collect();
            format!("× 10{sign}{power}")
        };
        let qualifiers: Vec<&str> = [scale.as_str(), unit]
            .into_iter()
            .filter(|q| !q.is_empty())
            .collect();
        if qualifiers.is_empty() {
            name.to_string()
        } else {
            format!("{name} ({})", qualifiers.join(" "))
        }
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.coord.map(value, limit)
    }

    /// Only the ticks: no minor grid lines.
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.coord.range()
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

/// The smallest of 1, 2 or 5 times a power of ten that puts at most `max_ticks` ticks on `span`.
fn tick_step(span: f64, max_ticks: usize) -> f64 {
    let intervals = max_ticks.saturating_sub(1).max(1) as f64;
    let mut decade = 10f64.powf((span / intervals).log10().floor());
    loop {
        for multiple in [1.0, 2.0, 5.0] {
            let step = multiple * decade;
            if span / step <= intervals + 1e-9 {
                return step;
            }
        }
        decade *= 10.0;
    }
}

fn peak(samples: &[f64]) -> f64 {
    samples.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// A symmetric y range a little wider than `peak`, or `fallback` when the signal is all zeros.
fn half_range(peak: f64, fallback: f64) -> f64 {
    if peak > 0.0 { peak * 1.1 } else { fallback }
}

/// The points of a waveform line `width` pixels wide: every sample when they fit, otherwise the
/// minimum and the maximum (in time order) of each half-pixel slice, drawn as a vertical stroke at
/// the slice's start. That is the picture of every sample, from far fewer points, with no pixel column
/// left out.
fn envelope(samples: &[f64], sample_rate: u32, width: usize) -> Vec<(f64, f64)> {
    let time = |i: usize| i as f64 / f64::from(sample_rate);
    let slices = 2 * width.max(1);
    if samples.len() <= 2 * slices {
        return samples
            .iter()
            .enumerate()
            .map(|(i, &v)| (time(i), v))
            .collect();
    }
    let mut points = Vec::with_capacity(2 * slices);
    for slice in 0..slices {
        let start = slice * samples.len() / slices;
        let end = (slice + 1) * samples.len() / slices;
        let (mut low, mut high) = (start, start);
        for i in start..end {
            if samples[i] < samples[low] {
                low = i;
            }
            if samples[i] > samples[high] {
                high = i;
            }
        }
        let (first, second) = (low.min(high), low.max(high));
        points.push((time(start), samples[first]));
        points.push((time(start), samples[second]));
    }
    points
}

/// Short-time Fourier transform geometry: centred frames (zero-padded at both ends) `hop` samples
/// apart, so frame `i` describes the signal around sample `i * hop`.
struct Stft {
    frame: usize,
    hop: usize,
    frames: usize,
    bins: usize,
    samples: usize,
    window: Vec<f64>,
}

impl Stft {
    fn new(sample_rate: u32, samples: usize) -> Self {
        // 32 ms resolves the pitch harmonics of speech. A frame longer than the signal would only
        // add zeros (and take gigabytes at absurd sample rates); 16 samples keep a few bins.
        let frame = ((f64::from(sample_rate) * 0.032).round() as usize)
            .min(samples)
            .max(16);
        let hop = frame / 4;
        // Periodic Hann: overlapping frames 75% apart sum to a constant.
        let window = (0..frame)
            .map(|j| 0.5 - 0.5 * (std::f64::consts::TAU * j as f64 / frame as f64).cos())
            .collect();
        Stft {
            frame,
            hop,
            frames: samples / hop + 1,
            bins: frame / 2 + 1,
            samples,
            window,
        }
    }

    /// Magnitudes, frame after frame, `bins` per frame.
    fn magnitudes(
        &self,
        signal: &[f64],
        fft: &dyn realfft::RealToComplex<f64>,
    ) -> std::result::Result<Vec<f64>, realfft::FftError> {
        let mut input = fft.make_input_vec();
        let mut spectrum = fft.make_output_vec();
        let mut magnitudes = Vec::with_capacity(self.frames * self.bins);
        for i in 0..self.frames {
            let start = (i * self.hop) as isize - (self.frame / 2) as isize;
            for (j, slot) in input.iter_mut().enumerate() {
                let sample = usize::try_from(start + j as isize)
                    .ok()
                    .and_then(|k| signal.get(k));
                *slot = sample.map_or(0.0, |s| s * self.window[j]);
            }
            fft.process(&mut input, &mut spectrum)?;
            magnitudes.extend(spectrum.iter().map(|c| c.norm()));
        }
        Ok(magnitudes)
    }

    /// Paints dB `levels` (as from [`Stft::magnitudes`]) into `width` × `height` RGB pixels, low
    /// frequencies at the bottom. A pixel that covers several cells shows the loudest, so a brief or
    /// narrow-band perturbation stays visible in a plot smaller than the spectrogram.
    fn raster(&self, levels: &[f64], width: usize, height: usize) -> Vec<u8> {
        let columns: Vec<Range<usize>> = (0..width)
            .map(|x| covered(x, width, self.samples as f64 / self.hop as f64, self.frames))
            .collect();
        let rows: Vec<Range<usize>> = (0..height)
            .map(|y| covered(height - 1 - y, height, self.frame as f64 / 2.0, self.bins))
            .collect();
        let mut pixels = vec![0; width * height * 3];
        for (x, frames) in columns.iter().enumerate() {
            for (y, bins) in rows.iter().enumerate() {
                let level = frames
                    .clone()
                    .flat_map(|f| &levels[f * self.bins + bins.start..f * self.bins + bins.end])
                    .fold(-DB_RANGE, |m, &v| m.max(v));
                let offset = (y * width + x) * 3;
                pixels[offset..offset + 3].copy_from_slice(&viridis(level / DB_RANGE + 1.0));
            }
        }
        pixels
    }
}

/// The cells (centred at 0, 1, 2, … along an axis `spacings` cells long, `count` of them) whose centres
/// fall in pixel `pixel` of `pixels`, or the nearest one when none does.
fn covered(pixel: usize, pixels: usize, spacings: f64, count: usize) -> Range<usize> {
    let start = pixel as f64 * spacings / pixels as f64;
    let end = (pixel + 1) as f64 * spacings / pixels as f64;
    let first = (start.ceil() as usize).min(count);
    let last = (end.ceil() as usize).min(count);
    if first < last {
        first..last
    } else {
        let nearest = (((start + end) / 2.0).round() as usize).min(count - 1);
        nearest..nearest + 1
    }
}

/// The colour of `t` in [0, 1] on the viridis scale.
fn viridis(t: f64) -> [u8; 3] {
    let position = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (position.floor() as usize).min(VIRIDIS.len() - 2);
    let fraction = position - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    std::array::from_fn(|c| {
        (f64::from(a[c]) + fraction * (f64::from(b[c]) - f64::from(a[c]))).round() as u8
    })
}

/// Columns of the frame strip; longer clips wrap onto more rows.
const STRIP_COLUMNS: usize = 8;
/// Width of one frame in the strip, in pixels.
const STRIP_CELL: usize = 140;

/// A grid of a video attack's frames: each adversarial frame above its perturbation (|δ| per pixel,
/// the largest over channels, on one grey scale for the whole clip: white = none) and a caption with
/// the frame's L∞ change in the clip's units. `shape` is `[3, F, H, W]`, values in `[0, max]`.
pub fn frame_strip_png(
    path: &Path,
    title: &str,
    original: &[f32],
    adversarial: &[f32],
    shape: &[usize],
    max: f32,
) -> Result<()> {
    let &[3, frames, h, w] = shape else {
        return Err(Error::invalid(
            "shape",
            format!("a frame strip needs an RGB clip [3, F, H, W], got {shape:?}"),
        ));
    };
    let d = 3 * frames * h * w;
    if original.len() != d || adversarial.len() != d || d == 0 {
        return Err(Error::invalid(
            "adversarial",
            format!("expected {d} values for {shape:?} in both clips"),
        ));
    }
    if !(max > 0.0 && max.is_finite()) {
        return Err(Error::invalid("max", "the value range must be positive"));
    }
    let plane = h * w;
    let at = |v: &[f32], c: usize, f: usize, p: usize| v[(c * frames + f) * plane + p];
    let delta = |f: usize, p: usize| {
        (0..3)
            .map(|c| (at(adversarial, c, f, p) - at(original, c, f, p)).abs())
            .fold(0f32, f32::max)
    };
    let linf: Vec<f32> = (0..frames)
        .map(|f| (0..plane).map(|p| delta(f, p)).fold(0f32, f32::max))
        .collect();
    let scale = linf
        .iter()
        .cloned()
        .fold(0f32, f32::max)
        .max(f32::MIN_POSITIVE);
    let cell_h = (STRIP_CELL * h).div_ceil(w).max(1);
    let cols = frames.min(STRIP_COLUMNS);
    let rows = frames.div_ceil(STRIP_COLUMNS);
    let (pad, caption, header) = (10usize, 22usize, 40usize);
    let block = 2 * cell_h + caption + pad;
    let width = (cols * (STRIP_CELL + pad) + pad) as u32;
    let height = (header + rows * block + pad) as u32;
    // Nearest-neighbour scaling of a frame to one cell, by a per-pixel colour function.
    let cell = |colour: &dyn Fn(usize) -> [u8; 3]| -> Vec<u8> {
        let mut px = Vec::with_capacity(STRIP_CELL * cell_h * 3);
        for y in 0..cell_h {
            for x in 0..STRIP_CELL {
                let p = (y * h / cell_h) * w + x * w / STRIP_CELL;
                px.extend_from_slice(&colour(p));
            }
        }
        px
    };
    let bytes = render(path, (width, height), |root| {
        root.draw(&Text::new(title.to_string(), (pad as i32, 10), font(20.0)))?;
        for (f, &change) in linf.iter().enumerate() {
            let (r, c) = (f / STRIP_COLUMNS, f % STRIP_COLUMNS);
            let x0 = (pad + c * (STRIP_CELL + pad)) as i32;
            let y0 = (header + r * block) as i32;
            let frame_px = cell(&|p| {
                [0, 1, 2].map(|ch| {
                    (at(adversarial, ch, f, p) / max * 255.0)
                        .round()
                        .clamp(0.0, 255.0) as u8
                })
            });
            let delta_px = cell(&|p| {
                let g = (255.0 * (1.0 - delta(f, p) / scale))
                    .round()
                    .clamp(0.0, 255.0) as u8;
                [g, g, g]
            });
            let mut top = bitmap(STRIP_CELL as u32, cell_h as u32, frame_px)?;
            top.move_to((x0, y0));
            root.draw(&top)?;
            let mut bottom = bitmap(STRIP_CELL as u32, cell_h as u32, delta_px)?;
            bottom.move_to((x0, y0 + cell_h as i32));
            root.draw(&bottom)?;
            // Outline the perturbation cell: an unchanged frame's is white.
            let (x1, y1) = (x0 + STRIP_CELL as i32 - 1, y0 + 2 * cell_h as i32 - 1);
            root.draw(&Rectangle::new(
                [(x0, y0 + cell_h as i32), (x1, y1)],
                RGBColor(190, 190, 190).stroke_width(1),
            ))?;
            let label = if change > 0.0 {
                format!("frame {f}: L∞ {change:.4}")
            } else {
                format!("frame {f}: unchanged")
            };
            root.draw(&Text::new(
                label,
                (x0, y0 + 2 * cell_h as i32 + 4),
                font(13.0),
            ))?;
        }
        Ok(())
    })?;
    write_atomic(path, &bytes)
}

/// One frame of a perturbation against the clean clip's masking threshold
/// ([`MaskingFrame`](crate::perception::masking_frame::MaskingFrame)): the clean clip's spectrum,
/// the threshold and the perturbation's spectrum in dB over frequency, the frame's time and the
/// whole clip's masked energy share in the caption. Where the red curve stays under the black
/// one, the perturbation is masked.
pub fn masking_png(
    path: &Path,
    title: &str,
    frame: &crate::perception::masking_frame::MaskingFrame,
) -> Result<()> {
    let caption = match frame.masked_energy {
        Some(share) => format!(
            "frame at {:.2} s; {:.1}% of the perturbation's energy (whole clip) under the threshold",
            frame.start_s,
            100.0 * share
        ),
        None => format!("frame at {:.2} s; no perturbation", frame.start_s),
    };
    let curves = [
        ("clean clip", &frame.clean_db, ORIGINAL_COLOUR),
        (
            "masking threshold",
            &frame.threshold_db,
            RGBColor(20, 20, 20),
        ),
        ("perturbation", &frame.perturbation_db, ADVERSARIAL_COLOUR),
    ];
    // The threshold dips to -inf below 20 Hz and a silent bin sits at the -200 dB floor: show the
    // 120 dB under the reference 96 dB, where hearing happens.
    let (low, high) = (-24.0, 100.0);
    let top_hz = frame.hz.last().copied().unwrap_or(1.0).max(1.0);
    let png = render(path, (1000, 620), |root| {
        let body = root.margin(10, 0, 0, 0).titled(title, font(24.0))?;
        let mut chart = ChartBuilder::on(&body)
            .caption(&caption, font(17.0))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..top_hz, low..high)?;
        chart
            .configure_mesh()
            .x_desc("frequency (Hz)")
            .y_desc("level (dB, clip's loudest bin at 96)")
            .label_style(font(15.0))
            .axis_desc_style(font(16.0))
            .light_line_style(GRID_COLOUR)
            .draw()?;
        for (name, values, colour) in curves {
            let style = ShapeStyle::from(colour).stroke_width(2);
            let points: Vec<(f64, f64)> = frame
                .hz
                .iter()
                .zip(values.iter())
                .map(|(&hz, &db)| (hz, db.clamp(low, high)))
                .collect();
            chart
                .draw_series(LineSeries::new(points, style))?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(font(15.0))
            .background_style(WHITE.mix(0.85))
            .border_style(AXIS_COLOUR)
            .draw()?;
        Ok(())
    })?;
    write_atomic(path, &png)
}

/// One line of an accuracy chart: its name and `(eps, accuracy)` points, eps ascending.
pub type Curve = (String, Vec<(f64, f64)>);

/// Accuracy (0-100%) against eps, one line per curve, for evaluation reports; PNG bytes.
pub fn accuracy_png(title: &str, x_label: &str, curves: &[Curve]) -> Result<Vec<u8>> {
    const PALETTE: [RGBColor; 6] = [
        ORIGINAL_COLOUR,
        ADVERSARIAL_COLOUR,
        PERTURBATION_COLOUR,
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
    ];
    let xs = || curves.iter().flat_map(|(_, p)| p.iter().map(|&(x, _)| x));
    let x_max = xs().fold(0.0f64, f64::max);
    let x_min = xs().fold(f64::INFINITY, f64::min);
    // Budgets usually grow geometrically: a log axis when they span a decade or more.
    if x_min > 0.0 && x_max >= 8.0 * x_min {
        let range = (x_min / 1.5..x_max * 1.5).log_scale();
        return accuracy_chart(title, x_label, curves, &PALETTE, range);
    }
    let x_max = if x_max > 0.0 { x_max * 1.05 } else { 1.0 };
    accuracy_chart(title, x_label, curves, &PALETTE, 0.0..x_max)
}

/// [`accuracy_png`]'s chart on the x axis `x_range` (linear or logarithmic).
fn accuracy_chart<R>(
    title: &str,
    x_label: &str,
    curves: &[Curve],
    palette: &[RGBColor],
    x_range: R,
) -> Result<Vec<u8>>
where
    R: AsRangedCoord<Value = f64>,
    R::CoordDescType: ValueFormatter<f64>,
{
    render(Path::new(title), (900, 560), |root| {
        let chart = ChartBuilder::on(root)
            .caption(title, font(22.0))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range, 0.0..100.0)?;
        draw_accuracy(chart, x_label, curves, palette)
    })
}

fn draw_accuracy<'a, X>(
    mut chart: ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
    x_label: &str,
    curves: &[Curve],
    palette: &[RGBColor],
) -> Drawn
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    {
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("accuracy (%)")
            .label_style(font(15.0))
            .axis_desc_style(font(16.0))
            .light_line_style(GRID_COLOUR)
            .draw()?;
        for (i, (name, points)) in curves.iter().enumerate() {
            let colour = palette[i % palette.len()];
            let style = ShapeStyle::from(colour).stroke_width(3);
            let pts: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x, 100.0 * y)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), style))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style));
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 5, colour.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(font(15.0))
            .background_style(WHITE.mix(0.85))
            .border_style(AXIS_COLOUR)
            .draw()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(samples: usize, sample_rate: u32) -> Vec<f32> {
        (0..samples)
            .map(|i| {
                let t = i as f32 / sample_rate as f32;
                0.5 * (std::f32::consts::TAU * 440.0 * t).sin() * (1.0 - t).max(0.0)
            })
            .collect()
    }

    fn decoded_size(path: &Path) -> (u32, u32) {
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        (info.width, info.height)
    }

    #[test]
    fn plots_are_decodable_pngs_of_the_expected_size() {
        let dir = tempfile::tempdir().unwrap();
        let original = tone(8000, 8000);
        let adversarial: Vec<f32> = original
            .iter()
            .enumerate()
            .map(|(i, v)| v + 0.002 * if i % 7 < 3 { 1.0 } else { -1.0 })
            .collect();
        let wave = dir.path().join("wave.png");
        waveform_png(&wave, "PGD, eps = 0.002", 8000, &original, &adversarial).unwrap();
        assert_eq!(decoded_size(&wave), WAVEFORM_SIZE);
        let spec = dir.path().join("spec.png");
        spectrogram_png(&spec, "PGD, eps = 0.002", 8000, &original, &adversarial).unwrap();
        assert_eq!(decoded_size(&spec), SPECTROGRAM_SIZE);
    }

    #[test]
    fn accuracy_charts_take_linear_and_geometric_budgets() {
        let size = |png: &[u8]| {
            let info = png::Decoder::new(std::io::Cursor::new(png.to_vec()))
                .read_info()
                .unwrap()
                .info()
                .clone();
            (info.width, info.height)
        };
        let curve = |xs: &[f64]| -> Vec<Curve> {
            vec![(
                "direct".into(),
                xs.iter().map(|&x| (x, 1.0 / (1.0 + x))).collect(),
            )]
        };
        // 1 to 64 spans more than a decade: a log axis; 1 to 4 does not.
        let log = accuracy_png("FGM", "eps", &curve(&[1.0, 4.0, 16.0, 64.0])).unwrap();
        let linear = accuracy_png("FGM", "eps", &curve(&[1.0, 2.0, 3.0, 4.0])).unwrap();
        assert_eq!(size(&log), (900, 560));
        assert_eq!(size(&linear), (900, 560));
        assert_ne!(log, linear);
    }

    #[test]
    fn mismatched_lengths_name_the_parameter_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        let original = tone(100, 8000);
        for plot in [waveform_png, spectrogram_png] {
            let err = plot(&path, "t", 8000, &original, &original[..99]).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidArgument { param, .. } if param == "adversarial"),
                "{err}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        let signal = tone(100, 8000);
        let mut nan = signal.clone();
        nan[5] = f32::NAN;
        let cases: [(&str, u32, &[f32], &[f32]); 4] = [
            ("sample_rate", 0, &signal, &signal),
            ("original", 8000, &[], &[]),
            ("original", 8000, &nan, &signal),
            ("adversarial", 8000, &signal, &nan),
        ];
        for (name, rate, original, adversarial) in cases {
            for plot in [waveform_png, spectrogram_png] {
                let err = plot(&path, "t", rate, original, adversarial).unwrap_err();
                assert!(
                    matches!(&err, Error::InvalidArgument { param, .. } if param == name),
                    "{err}"
                );
            }
        }
        assert!(!path.exists());
    }

    #[test]
    fn zero_perturbation_and_silence_plot() {
        let dir = tempfile::tempdir().unwrap();
        let signal = tone(1000, 16000);
        let silence = vec![0.0; 1000];
        for (name, s) in [("tone", &signal), ("silence", &silence)] {
            let wave = dir.path().join(format!("{name}-wave.png"));
            waveform_png(&wave, name, 16000, s, s).unwrap();
            assert_eq!(decoded_size(&wave), WAVEFORM_SIZE);
            let spec = dir.path().join(format!("{name}-spec.png"));
            spectrogram_png(&spec, name, 16000, s, s).unwrap();
            assert_eq!(decoded_size(&spec), SPECTROGRAM_SIZE);
        }
    }

    #[test]
    fn axis_labels_share_decimals_and_scale_tiny_ranges() {
        let axis = Axis::new(-0.0022, 0.0022, 7);
        assert_eq!(axis.exponent, -3);
        let labels: Vec<String> = axis.ticks.iter().map(|&v| axis.label(v)).collect();
        assert_eq!(labels, ["−2", "−1", "0", "1", "2"]);
        assert_eq!(axis.desc("Amplitude", ""), "Amplitude (× 10⁻³)");
        assert_eq!(axis.desc("Time", "s"), "Time (× 10⁻³ s)");
        let time = Axis::new(0.0, 1.0, 12);
        assert_eq!(time.label(0.0), "0.0");
        assert_eq!(time.label(0.5), "0.5");
    }

    #[test]
    fn frame_strip_shows_every_frame_and_its_change() {
        let dir = tempfile::tempdir().unwrap();
        let (frames, h, w) = (10, 6, 8);
        let original: Vec<f32> = (0..3 * frames * h * w)
            .map(|i| (i % 7) as f32 / 7.0)
            .collect();
        let mut adversarial = original.clone();
        for p in 0..h * w {
            adversarial[(frames + 2) * h * w + p] += 0.03; // green channel of frame 2
        }
        let path = dir.path().join("strip.png");
        frame_strip_png(
            &path,
            "frame saliency",
            &original,
            &adversarial,
            &[3, frames, h, w],
            1.0,
        )
        .unwrap();
        let (width, height) = decoded_size(&path);
        assert_eq!(width as usize, 8 * (STRIP_CELL + 10) + 10, "8 columns");
        assert!(
            height > 2 * 2 * 105,
            "two rows of frames and perturbations: {height}"
        );
        let bad = dir.path().join("bad.png");
        assert!(
            frame_strip_png(
                &bad,
                "",
                &original,
                &adversarial[1..],
                &[3, frames, h, w],
                1.0
            )
            .is_err()
        );
        assert!(!bad.exists());
    }
}
