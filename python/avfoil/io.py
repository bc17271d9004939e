"""Media files as numpy arrays, read and written by avfoil's own code (the command line's checks
and errors; writes are atomic, so a failure leaves no partial file)."""

from __future__ import annotations

import os

import numpy as np

from . import _native
from ._arrays import as_float32


def read_wav(path):
    """``(samples, sample_rate)``: float32 samples ``(frames, channels)`` at full scale ±1 (an
    int16 sample ``s`` reads as ``s / 32768``). Any PCM depth or 32-bit float."""
    return _native.read_wav(os.fspath(path))


def write_wav(path, samples, sample_rate: int, int16: bool = False) -> None:
    """Writes mono ``samples`` (full scale ±1; shape ``(L,)``, ``(1, L)`` or ``(L, 1)``) as 32-bit
    float WAV, which keeps any perturbation exactly, or as 16-bit PCM (``int16=True``: rounded,
    saturating)."""
    samples = np.asarray(samples)
    if samples.ndim == 2 and 1 in samples.shape:
        samples = samples.reshape(-1)
    _native.write_wav(os.fspath(path), as_float32(samples, "samples"), int(sample_rate), bool(int16))


def read_video(path):
    """``(frames, fps)``: uint8 RGB frames ``(F, H, W, 3)`` of an MP4 (H.264), GIF or folder of
    numbered PNG/JPEG frames."""
    return _native.read_video(os.fspath(path))


def write_gif(path, clip, fps: float = 25.0, channels_first: bool = True) -> None:
    """Writes an RGB clip as a looping GIF: ``(3, F, H, W)`` (or ``(F, H, W, 3)`` with
    ``channels_first=False``) in [0, 1], or uint8."""
    clip = np.asarray(clip)
    maximum = 255.0 if clip.dtype == np.uint8 else 1.0
    if not channels_first:
        clip = np.transpose(clip, (3, 0, 1, 2))
    _native.write_gif(os.fspath(path), as_float32(clip, "clip"), maximum, float(fps))
