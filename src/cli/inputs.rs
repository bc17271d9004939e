//! Input files as one batch for the model, and outputs written back in the form of each input.

use anyhow::{Context, Result, bail};
use avfoil::array::Array;
use avfoil::audio::wav::{WavEncoding, write_wav};
use avfoil::classifier::Model;
use avfoil::fs::Staged;
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
    ///
    /// `.npy` values outside the model's input range (`input.clip`) are refused, naming the file,
    /// the value and the range, or clipped into it with a warning when `clip` is set: a model
    /// given int16 samples where it expects `[0, 1]` otherwise answers confidently and wrongly.
    /// WAV and video inputs are converted into the range by avfoil and only clamped (a full-scale
    /// float sample of 1.0 is 32768 in int16 units, one above the top).
    pub fn load(paths: &[PathBuf], model: &Model, clip: bool, device: &Device) -> Result<Self> {
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
                        model
                            .config
                            .input
                            .audio_format()
                            .with_context(|| path.display().to_string())?
                            .load(path, 0)?,
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
            let mut array = array;
            if let Some((lo, hi)) = model.classifier.clip() {
                let outside = array
                    .data
                    .iter()
                    .filter(|v| !(lo..=hi).contains(*v))
                    .count();
                if outside > 0 && source == Source::Npy && !clip {
                    let (i, v) = array
                        .data
                        .iter()
                        .enumerate()
                        .find(|(_, v)| !(lo..=hi).contains(*v))
                        .expect("counted above");
                    bail!(
                        "{}: value {v} at flat index {i} (and {} more) lies outside the model's \
                         input range [{lo}, {hi}] (input.clip in its model.toml); convert the \
                         input to the model's units, or pass --clip-inputs to clip it",
                        path.display(),
                        outside - 1
                    );
                }
                if outside > 0 && source == Source::Npy {
                    eprintln!(
                        "warning: {}: clipped {outside} values into [{lo}, {hi}]",
                        path.display()
                    );
                }
                array.data.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
            }
            let rows = array
                .batch_len(shape)
                .with_context(|| path.display().to_string())?;
            if rows == 0 {
                bail!(
                    "{}: holds no examples (shape {:?})",
                    path.display(),
                    array.shape
                );
            }
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

    /// Decides, before any work, where every output goes: one per input file in the input's form
    /// (`.npy`, or WAV at the model's rate), named `<stem>.<suffix>.<ext>` in the folder `out`, or
    /// `out` itself for a single input when it has the right extension; a video input also gets an
    /// `.mp4` preview beside its `.npy`. Add further outputs (plots) with [`OutputPlan::add`], then
    /// [`OutputPlan::check`] them all against the inputs.
    pub fn plan_outputs(&self, out: &Path, suffix: &str) -> Result<OutputPlan> {
        let single = self.files.len() == 1;
        let mut plan = OutputPlan {
            dir: out.to_path_buf(),
            files: Vec::new(),
            owners: Vec::new(),
        };
        for (i, f) in self.files.iter().enumerate() {
            let ext = match f.source {
                Source::Npy | Source::Video => "npy",
                Source::Wav => "wav",
            };
            let path = if single && out.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
                plan.dir = out.parent().unwrap_or(Path::new("")).to_path_buf();
                out.to_path_buf()
            } else {
                out.join(format!("{}.{suffix}.{ext}", stem(&f.path)))
            };
            let preview = (f.source == Source::Video).then(|| path.with_extension("mp4"));
            plan.owners.push((path.clone(), i));
            if let Some(p) = &preview {
                plan.owners.push((p.clone(), i));
            }
            plan.files.push((path, preview));
        }
        Ok(plan)
    }

    /// Writes `values` (`[rows, d]`, in input order) where `plan` says, staged: nothing appears
    /// until [`Staged::commit`].
    pub fn write_outputs(
        &self,
        values: &[f32],
        plan: &OutputPlan,
        model: &Model,
        encoding: WavEncoding,
        staged: &mut Staged,
    ) -> Result<Vec<PathBuf>> {
        let d = values.len() / self.rows().max(1);
        let mut offset = 0;
        let mut written = Vec::new();
        for (f, (path, preview)) in self.files.iter().zip(&plan.files) {
            let part = &values[offset * d..(offset + f.rows) * d];
            let tmp = staged.path(path)?;
            match f.source {
                Source::Npy => write_npy(&tmp, &Array::new(f.array.shape.clone(), part.to_vec())?)?,
                Source::Wav => {
                    let format = model.config.input.audio_format()?;
                    let unit: Vec<f32> = part.iter().map(|v| v / format.scale.factor()).collect();
                    write_wav(&tmp, format.sample_rate, &unit, encoding)?;
                }
                Source::Video => {
                    let shape = &model.config.input.shape;
                    write_npy(&tmp, &Array::new(shape.clone(), part.to_vec())?)?;
                    let max = model.config.input.video_scale().factor();
                    let fps =
                        25.0 / model.config.input.sampling.as_ref().map_or(1, |s| s.stride) as f64;
                    let video = avfoil::video::Video::from_clip(part, shape, max, fps)?;
                    // OpenH264 needs 16 × 16 at least: enlarge tiny clips by pixel repetition.
                    let video = enlarge(&video, 16);
                    let mp4 = preview.as_ref().expect("videos have a preview");
                    avfoil::video::io::write_video(&staged.path(mp4)?, &video)?;
                    written.push(mp4.clone());
                }
            }
            written.push(path.clone());
            offset += f.rows;
        }
        Ok(written)
    }
}

/// Every file a command will write, known before it starts.
pub struct OutputPlan {
    /// The folder the outputs go in.
    pub dir: PathBuf,
    /// Per input file: its output, and the MP4 preview of a video input.
    pub files: Vec<(PathBuf, Option<PathBuf>)>,
    /// Every planned path with the input it comes from.
    owners: Vec<(PathBuf, usize)>,
}

impl OutputPlan {
    /// Registers a further output made from input file `input` (a plot).
    pub fn add(&mut self, path: PathBuf, input: usize) -> PathBuf {
        self.owners.push((path.clone(), input));
        path
    }

    /// Refuses, naming the paths, any output that would overwrite an input, land inside an input
    /// folder (a folder of frames would then read differently), or be written twice (two inputs
    /// `a/x.wav` and `b/x.wav` both make `x.adv.wav`).
    pub fn check(&self, inputs: &Inputs) -> Result<()> {
        let input_keys: Vec<PathBuf> = inputs.files.iter().map(|f| identity(&f.path)).collect();
        let mut seen: std::collections::HashMap<PathBuf, usize> = Default::default();
        for (path, owner) in &self.owners {
            let key = identity(path);
            if let Some(i) = input_keys.iter().position(|k| *k == key) {
                bail!(
                    "{} would overwrite the input {}; choose another --out",
                    path.display(),
                    inputs.files[i].path.display()
                );
            }
            if let Some(f) = inputs
                .files
                .iter()
                .zip(&input_keys)
                .find(|(f, k)| f.path.is_dir() && key.starts_with(k))
            {
                bail!(
                    "{} would be written inside the input folder {}; choose another --out",
                    path.display(),
                    f.0.path.display()
                );
            }
            if let Some(&first) = seen.get(&key) {
                bail!(
                    "inputs {} and {} would both be written to {}; give them different names or \
                     attack them in separate runs",
                    inputs.files[first].path.display(),
                    inputs.files[*owner].path.display(),
                    path.display()
                );
            }
            seen.insert(key, *owner);
        }
        Ok(())
    }
}

/// The file name without its extension (`input` when there is none).
fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "input".into())
}

/// A path as comparable as the file system allows: canonical where it exists, else its canonical
/// folder joined with its name, else made absolute.
pub(crate) fn identity(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map(|d| d.join(name))
            .unwrap_or(absolute.clone()),
        _ => absolute,
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
