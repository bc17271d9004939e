//! The units a model's inputs are in, decided by its clip range: audio samples in int16 steps or
//! full scale ±1, video pixels in `[0, 1]` or bytes. Media readers and writers, defences and the
//! model's input description all convert through these two, so the rule lives in one place.

/// The units a model's waveforms are in, decided by its clip range: int16 sample values
/// (the ART notebook's `clip_values = (-32768, 32767)`) or full scale ±1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioScale {
    /// Int16 units: a full-scale sample is 32768.
    Int16,
    /// Full scale ±1.
    Unit,
}

impl AudioScale {
    /// The scale implied by a model's clip range (`Unit` when it has none or it lies within ±1).
    pub fn from_clip(clip: Option<(f32, f32)>) -> Self {
        match clip {
            Some((lo, hi)) if hi > 1.0 || lo < -1.0 => AudioScale::Int16,
            _ => AudioScale::Unit,
        }
    }

    /// Model units per full-scale unit.
    pub fn factor(self) -> f32 {
        match self {
            AudioScale::Int16 => 32768.0,
            AudioScale::Unit => 1.0,
        }
    }
}

/// The units of a video model's pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoScale {
    /// Full scale 1: pixels in `[0, 1]`.
    Unit,
    /// Byte units: pixels in `[0, 255]`.
    Byte,
}

impl VideoScale {
    /// The scale implied by a model's clip range (`Unit` when it has none or it lies within
    /// `[0, 1]`).
    pub fn from_clip(clip: Option<(f32, f32)>) -> Self {
        match clip {
            Some((_, hi)) if hi > 1.0 => VideoScale::Byte,
            _ => VideoScale::Unit,
        }
    }

    /// Model units per full-scale unit.
    pub fn factor(self) -> f32 {
        match self {
            VideoScale::Byte => 255.0,
            VideoScale::Unit => 1.0,
        }
    }
}
