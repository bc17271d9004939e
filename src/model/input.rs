//! Media files as a model's inputs: what `[input]` of model.toml says a WAV or a video becomes.

use super::{InputConfig, Modality};
use crate::audio::{AudioScale, ClipFormat, Placement};
use crate::defence::VideoScale;
use crate::error::{Error, Result};
use std::path::Path;

impl InputConfig {
    /// How WAV files become inputs of this (mono audio) model: resampled to its rate, centred and
    /// padded or cropped to its length, scaled to its units.
    pub fn audio_format(&self) -> Result<ClipFormat> {
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
            scale: AudioScale::from_clip(self.clip.map(|[a, b]| (a, b))),
            placement: Placement::Centre,
        })
    }

    /// Pixel units of this video model.
    pub fn video_scale(&self) -> VideoScale {
        VideoScale::from_clip(self.clip.map(|[a, b]| (a, b)))
    }

    /// A video file or folder of frames as one clip of this `[3, F, H, W]` model: its frame sampling
    /// (`[input.sampling]`, default every second frame from the first), resized and centre-cropped,
    /// in its units (`[0, 1]`, or `[0, 255]` when its clip range says so).
    pub fn video_clip(&self, path: &Path) -> Result<Vec<f32>> {
        let (Modality::Video, &[3, f, h, w]) = (self.modality, self.shape.as_slice()) else {
            return Err(Error::invalid(
                "input",
                format!(
                    "{}: video inputs need a video model with input.shape [3, F, H, W]",
                    path.display()
                ),
            ));
        };
        let video = crate::video::io::read_video(path)?;
        let sampling = self.sampling.clone().unwrap_or_default();
        let clip = sampling
            .clip(&video, f, h, w)
            .map_err(|e| Error::decode(path, e.to_string()))?;
        let k = self.video_scale().factor();
        Ok(clip.into_iter().map(|v| v * k).collect())
    }

    /// A WAV (audio models) or video (video models) file as one input.
    pub fn load_file(&self, path: &Path) -> Result<Vec<f32>> {
        match self.modality {
            Modality::Audio => self.audio_format()?.load(path, 0),
            Modality::Video => self.video_clip(path),
        }
    }
}
