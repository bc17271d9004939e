"""Preprocessing defences with ART's names: callable on arrays as ART's preprocessors are
(``x_defended, y = defence(x)``), and given to a :class:`~avfoil.Classifier` as
``preprocessing_defences`` so that attacks go through them.

Every defence of avfoil's registry is here: ART's ``Mp3Compression`` and ``VideoCompression`` with
their parameters, and :class:`Preprocessor` for any registered defence by its avfoil name and
parameters (``avfoil.catalog()`` lists them)."""

from __future__ import annotations

import numpy as np

from . import _native
from ._arrays import as_float32, same_dtype

#: The sample rates MP3 can encode (MPEG-1, 2 and 2.5).
MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


class Preprocessor:
    """The registered defence ``name`` with its avfoil parameters, e.g.
    ``Preprocessor("lowpass", cutoff=3000)``. As a classifier's defence it adopts the model's input
    description (sample rate, clip range); called on its own, ``modality``, ``sample_rate`` and
    ``clip_values`` describe the array."""

    def __init__(
        self,
        name: str,
        modality: str = "audio",
        sample_rate=None,
        clip_values=None,
        seed: int = 0,
        **params,
    ):
        self.name = name
        self.params = {k: v for k, v in params.items() if v is not None}
        self.modality = modality
        self.sample_rate = sample_rate
        self.clip_values = clip_values
        self.seed = int(seed)

    def _registry_entry(self) -> dict:
        return {"name": self.name, "params": self.params}

    def _apply(self, x: np.ndarray, clip_values) -> np.ndarray:
        import json

        return _native.apply_defence(
            self.name,
            json.dumps(self.params),
            self.modality,
            as_float32(x),
            None if self.sample_rate is None else int(self.sample_rate),
            None if clip_values is None else (float(clip_values[0]), float(clip_values[1])),
            self.seed,
        )

    def __call__(self, x, y=None):
        """``(defended x, y)`` for a batch ``x`` of examples (``x.shape[1:]`` is one example);
        ``x`` itself is never modified."""
        return same_dtype(self._apply(np.asarray(x), self.clip_values), x), y

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({self.name!r}{', ' if args else ''}{args})"


class Mp3Compression(Preprocessor):
    """ART's ``Mp3Compression``: an MP3 round trip (LAME encode, minimp3 decode) of each example.

    Inputs as ART takes them: ``(N, L)`` mono, ``(N, L, C)``, or ``(N, C, L)`` with
    ``channels_first=True``; float values in [-1, 1] (full scale) or in int16 units, detected per
    example as ART does, or int16 arrays. ``bitrate`` (kb/s) is avfoil's addition; by default LAME
    chooses, as in ART (8 kb/s at 8 kHz mono).

    Fixed from ART: float input in int16 units is rounded, not truncated, to integers before
    encoding; a full-scale 1.0 no longer wraps to -32768; the sample rate is checked against the
    rates MP3 can encode up front (ART fails with a broadcasting error on 12345 Hz); the caller's
    array is never modified; the decoded length always equals the input's.
    """

    def __init__(
        self,
        sample_rate: int,
        channels_first: bool = False,
        apply_fit: bool = False,
        apply_predict: bool = True,
        verbose: bool = False,
        bitrate=None,
    ):
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError("Sample rate be must a positive integer.")
        if sample_rate not in MP3_SAMPLE_RATES:
            raise ValueError(
                f"invalid sample_rate: MP3 encodes {', '.join(map(str, MP3_SAMPLE_RATES))} Hz, "
                f"got {sample_rate}"
            )
        if not isinstance(verbose, bool):
            raise ValueError("The argument verbose has to be of type bool.")
        super().__init__("mp3", "audio", int(sample_rate), bitrate=bitrate)
        self.channels_first = channels_first
        self.apply_fit = apply_fit
        self.apply_predict = apply_predict
        self.verbose = verbose

    def __call__(self, x, y=None):
        x_in = np.asarray(x)
        if x_in.ndim == 2:
            batch = x_in[:, None, :]
        elif x_in.ndim == 3:
            batch = x_in if self.channels_first else np.swapaxes(x_in, 1, 2)
        else:
            raise ValueError(
                "Mp3 compression can only be applied to temporal data across at least one channel."
            )
        batch = as_float32(batch)
        if x_in.dtype == np.int16:
            unit = np.zeros(batch.shape[0], dtype=bool)
        else:
            # Per example, as ART: full-scale floats in [-1, 1], or int16 units.
            flat = batch.reshape(batch.shape[0], -1)
            unit = (flat.min(axis=1) >= -1.0) & (flat.max(axis=1) <= 1.0)
        out = np.empty_like(batch)
        for is_unit, clip in ((True, (-1.0, 1.0)), (False, (-32768.0, 32767.0))):
            rows = np.flatnonzero(unit == is_unit)
            if rows.size:
                out[rows] = self._apply(np.ascontiguousarray(batch[rows]), clip)
        if x_in.ndim == 2:
            out = out[:, 0, :]
        elif not self.channels_first:
            out = np.swapaxes(out, 1, 2)
        if x_in.dtype == np.int16:
            return np.clip(np.rint(out), -32768, 32767).astype(np.int16), y
        return same_dtype(np.ascontiguousarray(out), x_in), y


class VideoCompression(Preprocessor):
    """ART's ``VideoCompression``: H.264 compression of each clip (bundled OpenH264 at a quantiser
    calibrated to x264's ``constant_rate_factor``).

    Inputs ``(N, F, H, W, 3)``, or ``(N, 3, F, H, W)`` with ``channels_first=True``, in [0, 1] or
    [0, 255] (detected over the batch, as ART). ``video_format`` names a container (``mp4``,
    ``avi``, ``mkv``); the in-memory codec does not need one, so it only has to be valid.

    Fixed from ART: the caller's array is never scaled in place; pixels are rounded, not truncated,
    to bytes; the channel count and even frame sizes are checked up front.
    """

    FORMATS = ("mp4", "avi", "mkv", "mov")

    def __init__(
        self,
        video_format: str,
        constant_rate_factor: int = 28,
        channels_first: bool = False,
        apply_fit: bool = False,
        apply_predict: bool = True,
        verbose: bool = False,
    ):
        if video_format not in self.FORMATS:
            raise ValueError(
                f"invalid video_format: expected one of {', '.join(self.FORMATS)}, "
                f"got {video_format!r}"
            )
        if (
            not isinstance(constant_rate_factor, (int, np.integer))
            or not 0 <= constant_rate_factor <= 51
        ):
            raise ValueError("Constant rate factor must be an integer in the range [0, 51].")
        if not isinstance(verbose, bool):
            raise ValueError("The argument verbose has to be of type bool.")
        super().__init__("h264", "video", crf=int(constant_rate_factor))
        self.video_format = video_format
        self.constant_rate_factor = int(constant_rate_factor)
        self.channels_first = channels_first
        self.apply_fit = apply_fit
        self.apply_predict = apply_predict
        self.verbose = verbose

    def __call__(self, x, y=None):
        x_in = np.asarray(x)
        if x_in.ndim != 5:
            raise ValueError("Video compression can only be applied to spatio-temporal data.")
        clips = x_in if self.channels_first else np.transpose(x_in, (0, 4, 1, 2, 3))
        scale = 255.0 if (x_in.min() >= 0 and x_in.max() <= 1) else 1.0
        clips = as_float32(clips) * np.float32(1.0 / 255.0 if scale == 1.0 else 1.0)
        out = self._apply(np.ascontiguousarray(clips), (0.0, 1.0))
        if scale == 1.0:
            out = out * np.float32(255.0)
        if not self.channels_first:
            out = np.transpose(out, (0, 2, 3, 4, 1))
        out = np.ascontiguousarray(out)
        if x_in.dtype.kind in "iu":
            return np.clip(np.rint(out), 0, 255).astype(x_in.dtype), y
        return same_dtype(out, x_in), y


class GaussianNoise(Preprocessor):
    """Additive Gaussian noise of standard deviation ``sigma`` (the model's input units) on every
    prediction: a randomised defence, seeded by the classifier's seed; attack it with
    ``eot`` > 1 (expectation over transformation)."""

    def __init__(self, sigma: float):
        super().__init__("gaussian-noise", sigma=float(sigma))


class RoomSimulation(Preprocessor):
    """A simulated over-the-air channel (avfoil's ``room`` defence): per example and pass a random
    shoebox room (image-source impulse response), time shift, gain and white noise; randomised and
    seeded, with an exact gradient. Attack through it with ``eot`` > 1 for perturbations that
    survive rooms; parameters as ``avfoil.catalog()`` lists them (ranges as ``[low, high]``)."""

    def __init__(self, **params):
        super().__init__("room", **params)
