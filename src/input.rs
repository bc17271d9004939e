//! Media files as a model's inputs: what the `[input]` table of model.toml says a WAV file or a
//! video becomes. It lives outside `model/` so that the model layer never reads media.

use crate::audio::{ClipFormat, Placement};
use crate::error::{Error, Result};
use crate::model::{InputConfig, Modality};
use crate::scale::{AudioScale, VideoScale};
use crate::video::DEFAULT_FPS;
use crate::video::clip::Sampling;
use crate::video::frames_dir::{frame_files, read_frame_files};
use std::path::Path;

/// Reading media files as inputs of a model described by an [`InputConfig`].
pub trait MediaInput {
    /// How WAV files become inputs of this (mono audio) model: resampled to its rate, centred and
    /// padded or cropped to its length, scaled to its units.
    fn audio_format(&self) -> Result<ClipFormat>;
    /// Pixel units of this video model.
    fn video_scale(&self) -> VideoScale;
    /// A video file or folder of frames as one clip of this `[3, F, H, W]` model: its frame
    /// sampling (`[input.sampling]`, default every second frame from the first), resized and
    /// centre-cropped, in its units (`[0, 1]`, or `[0, 255]` when its clip range says so).
    fn video_clip(&self, path: &Path) -> Result<Vec<f32>>;
    /// A WAV (audio models) or video (video models) file as one input.
    fn load_file(&self, path: &Path) -> Result<Vec<f32>>;
}

impl MediaInput for InputConfig {
    fn audio_format(&self) -> Result<ClipFormat> {
        let (Modality::Audio, Some(rate), [1, len]) =
            (self.modality, self.sample_rate, self.shape.as_slice())
        else {
            return Err(Error::invalid(
                "input",
                "WAV inputs need a mono audio model ([1, L]) with input.sample_rate",
            ));
        };
        Ok(ClipFormat {
            sample_rate: rate,
            len: *len,
            scale: AudioScale::from_clip(self.clip_range()),
            placement: Placement::Centre,
        })
    }

    fn video_scale(&self) -> VideoScale {
        VideoScale::from_clip(self.clip_range())
    }

    fn video_clip(&self, path: &Path) -> Result<Vec<f32>> {
        let (Modality::Video, &[3, f, h, w]) = (self.modality, self.shape.as_slice()) else {
            return Err(Error::invalid(
                "input",
                format!(
                    "{}: video inputs need a video model with input.shape [3, F, H, W]",
                    path.display()
                ),
            ));
        };
        let mut sampling = self.sampling.clone().unwrap_or_default();
        let video = if path.is_dir() {
            // A folder of stills: decode only the frames the model samples, then take them all.
            let files = frame_files(path)?;
            let chosen = if files.is_empty() {
                Vec::new()
            } else {
                sampling
                    .indices(f, files.len())
                    .map_err(|e| Error::decode(path, e.to_string()))?
                    .into_iter()
                    .map(|i| files[i].clone())
                    .collect()
            };
            sampling = Sampling {
                start: 0,
                stride: 1,
                ..sampling
            };
            read_frame_files(path, &chosen, DEFAULT_FPS)?
        } else {
            crate::video::io::read_video(path)?
        };
        let clip = sampling
            .clip(&video, f, h, w)
            .map_err(|e| Error::decode(path, e.to_string()))?;
        let k = self.video_scale().factor();
        Ok(clip.into_iter().map(|v| v * k).collect())
    }

    fn load_file(&self, path: &Path) -> Result<Vec<f32>> {
        match self.modality {
            Modality::Audio => self.audio_format()?.load(path, 0),
            Modality::Video => self.video_clip(path),
        }
    }
}
