//! Input files as one batch for the model, and outputs written back in the form of each input.

use anyhow::{Context, Result, bail};
use avfoil::array::Array;
use avfoil::audio::wav::{WavEncoding, write_wav};
use avfoil::classifier::Model;
use avfoil::input::MediaInput;
use avfoil::media::npy::{read_npy, write_npy};
use burn::tensor::{Device, Tensor};
use std::path::{Path, PathBuf};

/// What an input file was, so that outputs are written in the same form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Npy,
    /// A WAV file, read as one example at the model's rate and length.
    Wav,
    /// A video (MP4, GIF, a folder of frames; AVI and more with the `ffmpeg` feature), read as one
    /// clip through the model's frame sampling. Written back as `.npy` (exact) plus an `.mp4` to
    /// watch (H.264 at high quality, which does not keep a perturbation of a few grey levels).
    Video,
}

/// Extensions read as videos (a folder of frames is a video too).
const VIDEO_EXTENSIONS: [&str; 7] = ["mp4", "m4v", "mov", "avi", "mkv", "gif", "webm"];

/// One input file: its examples `[rows, ...]` in the model's units.
pub struct InputFile {
    pub path: PathBuf,
    pub array: Array,
    pub rows: usize,
    pub source: Source,
}

/// All inputs stacked into one batch, remembering which file and item each row came from.
pub struct Inputs {
    pub files: Vec<InputFile>,
    pub batch: Tensor<2>,
}

impl Inputs {
    /// Reads `.npy` files (one example of the model's input shape, or a batch with a leading axis)
    /// and, for audio models, WAV files (mono; resampled to the model's rate, centred and padded or
    /// cropped to its length, scaled to its units).
    pub fn load(paths: &[PathBuf], model: &Model, device: &Device) -> Result<Self> {
        if paths.is_empty() {
            bail!("no INPUT given");
        }
        let shape = &model.config.input.shape;
        let mut files = Vec::new();
        let mut flat = Vec::new();
        for path in paths {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let (array, source) = match ext.as_str() {
                "npy" => (read_npy(path)?, Source::Npy),
                "wav" => (
                    Array::new(
                        shape.clone(),
                        model.config.input.audio_format()?.load(path, 0)?,
                    )?,
                    Source::Wav,
                ),
                e if VIDEO_EXTENSIONS.contains(&e) || path.is_dir() => (
                    Array::new(shape.clone(), model.config.input.video_clip(path)?)?,
                    Source::Video,
                ),
                _ => bail!(
                    "{}: expected a .npy, .wav or video file ({}) or a folder of frames",
                    path.display(),
                    VIDEO_EXTENSIONS.join(", ")
                ),
            };
            let rows = array
                .batch_len(shape)
                .with_context(|| path.display().to_string())?;
            flat.extend_from_slice(&array.data);
            files.push(InputFile {
                path: path.clone(),
                array,
                rows,
                source,
            });
        }
        let rows: usize = files.iter().map(|f| f.rows).sum();
        let batch = Array {
            shape: vec![rows, flat.len() / rows.max(1)],
            data: flat,
        }
        .to_tensor(rows, device);
        Ok(Self { files, batch })
    }

    pub fn rows(&self) -> usize {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// (input path, item within that input) for each row.
    pub fn origins(&self) -> Vec<(String, usize)> {
        self.files
            .iter()
            .flat_map(|f| (0..f.rows).map(move |i| (f.path.display().to_string(), i)))
            .collect()
    }

    /// Writes `values` (`[rows, d]`, in input order) as one output per input file, in the input's
    /// form: `.npy`, or WAV at the model's rate. `suffix` names the outputs in a folder
    /// (`clip.adv.wav`); a single input may go to `out` itself when it has the right extension.
    pub fn write_outputs(
        &self,
        values: &[f32],
        out: &Path,
        suffix: &str,
        model: &Model,
        encoding: WavEncoding,
    ) -> Result<Vec<PathBuf>> {
        let d = values.len() / self.rows().max(1);
        let single = self.files.len() == 1;
        let mut offset = 0;
        let mut written = Vec::new();
        for f in &self.files {
            let ext = match f.source {
                Source::Npy | Source::Video => "npy",
                Source::Wav => "wav",
            };
            let path = if single && out.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
                out.to_path_buf()
            } else {
                let stem = f
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| "input".into());
                out.join(format!("{stem}.{suffix}.{ext}"))
            };
            let part = &values[offset * d..(offset + f.rows) * d];
            match f.source {
                Source::Npy => {
                    write_npy(&path, &Array::new(f.array.shape.clone(), part.to_vec())?)?
                }
                Source::Wav => {
                    let format = model.config.input.audio_format()?;
                    let unit: Vec<f32> = part.iter().map(|v| v / format.scale.factor()).collect();
                    write_wav(&path, format.sample_rate, &unit, encoding)?;
                }
                Source::Video => {
                    let shape = &model.config.input.shape;
                    write_npy(&path, &Array::new(shape.clone(), part.to_vec())?)?;
                    let max = model.config.input.video_scale().factor();
                    let fps =
                        25.0 / model.config.input.sampling.as_ref().map_or(1, |s| s.stride) as f64;
                    let video = avfoil::video::Video::from_clip(part, shape, max, fps)?;
                    // OpenH264 needs 16 × 16 at least: enlarge tiny clips by pixel repetition.
                    let video = enlarge(&video, 16);
                    let mp4 = path.with_extension("mp4");
                    avfoil::video::io::write_video(&mp4, &video)?;
                    written.push(mp4);
                }
            }
            written.push(path);
            offset += f.rows;
        }
        Ok(written)
    }

    /// Creates `out` as a folder unless a single input goes to `out` itself.
    pub fn prepare_out(&self, out: &Path) -> Result<()> {
        let is_file = self.files.len() == 1
            && out.extension().is_some_and(|e| {
                let e = e.to_ascii_lowercase();
                (e == "npy" && self.files[0].source != Source::Wav)
                    || (e == "wav" && self.files[0].source == Source::Wav)
            });
        if !is_file {
            std::fs::create_dir_all(out).with_context(|| format!("--out {}", out.display()))?;
        }
        Ok(())
    }
}

/// `video` repeated `k × k` per pixel for the smallest `k` that makes both sides at least `min`.
fn enlarge(video: &avfoil::video::Video, min: usize) -> avfoil::video::Video {
    let k = min.div_ceil(video.width.min(video.height)).max(1);
    if k == 1 {
        return video.clone();
    }
    let (w, h) = (video.width, video.height);
    let mut rgb = Vec::with_capacity(video.rgb.len() * k * k);
    for f in 0..video.frame_count() {
        let frame = video.frame(f);
        for y in 0..h * k {
            for x in 0..w * k {
                let p = ((y / k) * w + x / k) * 3;
                rgb.extend_from_slice(&frame[p..p + 3]);
            }
        }
    }
    avfoil::video::Video {
        width: w * k,
        height: h * k,
        fps: video.fps,
        rgb,
    }
}
