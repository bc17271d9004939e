//! Media files to and from numpy arrays, through the library's own readers and writers (the same
//! checks, the same errors, atomic writes).

use crate::arrays::array;
use crate::errors::{invalid, to_py};
use avfoil::audio::wav::WavEncoding;
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use std::path::PathBuf;

/// A WAV file as `(samples [frames, channels] at full scale ±1, sample_rate)`.
#[pyfunction]
pub fn read_wav<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<(Bound<'py, PyArrayDyn<f32>>, u32)> {
    let wav = py
        .detach(|| avfoil::audio::wav::read_wav(&path))
        .map_err(to_py)?;
    let channels = usize::from(wav.channels);
    let frames = wav.samples.len() / channels.max(1);
    Ok((
        array(py, wav.samples, &[frames, channels])?,
        wav.sample_rate,
    ))
}

/// Writes mono `samples` (full scale ±1) as a WAV file: 32-bit float, or 16-bit PCM (rounded,
/// saturating) with `int16`. Atomic: a failed write leaves nothing behind.
#[pyfunction]
#[pyo3(signature = (path, samples, sample_rate, int16 = false))]
pub fn write_wav(
    py: Python<'_>,
    path: PathBuf,
    samples: PyReadonlyArrayDyn<'_, f32>,
    sample_rate: u32,
    int16: bool,
) -> PyResult<()> {
    if samples.ndim() != 1 {
        return Err(invalid(
            "samples",
            format!("expected mono samples [L], got shape {:?}", samples.shape()),
        ));
    }
    let values = samples
        .as_slice()
        .map_err(|_| invalid("samples", "must be C-contiguous"))?
        .to_vec();
    let encoding = if int16 {
        WavEncoding::Int16
    } else {
        WavEncoding::Float32
    };
    py.detach(|| avfoil::audio::wav::write_wav(&path, sample_rate, &values, encoding))
        .map_err(to_py)
}

/// A video file (MP4, GIF, a folder of frames) as `(frames uint8 [F, H, W, 3], fps)`.
#[pyfunction]
pub fn read_video<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<(Bound<'py, PyArrayDyn<u8>>, f64)> {
    let video = py
        .detach(|| avfoil::video::io::read_video(&path))
        .map_err(to_py)?;
    let shape = [video.frame_count(), video.height, video.width, 3];
    let frames = PyArray1::from_vec(py, video.rgb).reshape(shape.to_vec())?;
    Ok((frames, video.fps))
}

/// Writes a clip `[3, F, H, W]` with values in `[0, max]` as a looping GIF at `fps`.
#[pyfunction]
#[pyo3(signature = (path, clip, max = 1.0, fps = 25.0))]
pub fn write_gif(
    py: Python<'_>,
    path: PathBuf,
    clip: PyReadonlyArrayDyn<'_, f32>,
    max: f32,
    fps: f32,
) -> PyResult<()> {
    let shape = clip.shape().to_vec();
    let values = clip
        .as_slice()
        .map_err(|_| invalid("clip", "must be C-contiguous"))?
        .to_vec();
    py.detach(|| avfoil::video::gif_write::write_gif(&path, &values, &shape, max, fps))
        .map_err(to_py)
}
