"""The estimator: a model (shipped, a model directory, an ONNX file or a torch module) behind its
preprocessing defences, with ART's ``PyTorchClassifier`` interface."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Optional, Sequence

import numpy as np

from . import _native
from ._arrays import as_float32, labels_of


class Classifier:
    """A classifier as ART's estimators present one: ``predict``, ``loss_gradient``,
    ``class_gradient``, ``nb_classes``, ``input_shape``, ``clip_values``.

    Build one with :meth:`shipped`, :meth:`from_model_dir`, :meth:`from_onnx` or
    :meth:`from_torch`. Inputs are batches ``(N, *input_shape)`` in the model's own units
    (int16-scale audio, pixels in [0, 1]); float32 C-contiguous arrays are read without a copy, and
    any other numeric dtype (float64, int16) is converted.

    ``preprocessing_defences`` (``avfoil.defences`` objects, in order) sit in front of the model for
    every prediction and gradient; gradients go back through each with its own backward pass (the
    identity for codecs: BPDA), so an attack on a defended classifier is the adaptive attack.
    Randomised defences draw from ``seed``. Unlike ART, the defences see the input each one actually
    receives in the backward pass (ART hands them all the original input).
    """

    def __init__(self, model: "_native.Model", preprocessing_defences=None, seed: int = 0):
        self._base = model
        defences = _defence_list(preprocessing_defences)
        for d in defences:
            rate = getattr(d, "sample_rate", None)
            if rate is not None and model.sample_rate is not None and rate != model.sample_rate:
                raise ValueError(
                    f"invalid preprocessing_defences: {type(d).__name__} is set for {rate} Hz, "
                    f"the model takes {model.sample_rate} Hz"
                )
        self._defences = defences
        self._seed = int(seed)
        spec = json.dumps([d._registry_entry() for d in defences])
        self._model = model.with_defences(spec, self._seed) if defences else model

    # Construction -------------------------------------------------------------------------------

    @classmethod
    def shipped(cls, name: str, preprocessing_defences=None, device: str = "cpu", seed: int = 0):
        """A model shipped inside avfoil: ``"spoken-digits"`` (raw-waveform CNN, 8 kHz digits),
        ``"actions"`` (3-D CNN on RGB clips), ``"silero-vad"`` (Silero VAD, ONNX)."""
        return cls(_native.Model.open(name, "{}", device), preprocessing_defences, seed)

    @classmethod
    def from_model_dir(cls, path, preprocessing_defences=None, device: str = "cpu", seed: int = 0):
        """A model directory: ``model.toml`` and its weights (see DESIGN.md)."""
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{path}: no such model directory")
        return cls(_native.Model.open(path, "{}", device), preprocessing_defences, seed)

    @classmethod
    def from_onnx(
        cls,
        path,
        clip_values: Optional[Sequence[float]] = None,
        class_names: Optional[Sequence[str]] = None,
        sample_rate: Optional[int] = None,
        modality: Optional[str] = None,
        preprocessing_defences=None,
        device: str = "cpu",
        seed: int = 0,
    ):
        """An ONNX graph: the input shape comes from its first float input (a symbolic or size-1
        leading dimension is the batch), the first output holds the logits. ``clip_values``
        ``(min, max)`` is the valid input range attacks clip to; ``sample_rate`` and ``modality``
        (``"audio"`` or ``"video"``) say what the input is, for codecs and media files."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such ONNX file")
        options = {}
        if clip_values is not None:
            lo, hi = clip_values
            options["clip_values"] = [float(lo), float(hi)]
        if class_names is not None:
            options["class_names"] = [str(c) for c in class_names]
        if sample_rate is not None:
            options["sample_rate"] = int(sample_rate)
        if modality is not None:
            options["modality"] = str(modality)
        model = _native.Model.open(path, json.dumps(options), device)
        return cls(model, preprocessing_defences, seed)

    @classmethod
    def from_torch(cls, module, example_input, path=None, opset: int = 17, **kwargs):
        """A ``torch.nn.Module``, exported with ``torch.onnx.export`` at ``example_input`` (a batch
        of one example, its leading axis the batch) and loaded with :meth:`from_onnx` (``kwargs``
        go there). Needs torch installed; avfoil itself never depends on it. The graph is written
        to ``path`` (default: a temporary file, kept for the classifier's lifetime)."""
        try:
            import torch
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("Classifier.from_torch needs torch installed") from e
        if path is None:
            handle = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False)
            handle.close()
            path = handle.name
        example = torch.as_tensor(np.asarray(example_input, dtype=np.float32))
        module = module.eval()
        export = dict(
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
        )
        try:
            # The TorchScript exporter: its graphs hold only the ops avfoil interprets.
            torch.onnx.export(module, (example,), path, dynamo=False, **export)
        except TypeError:  # torch before 2.5 has no `dynamo` argument
            torch.onnx.export(module, (example,), path, **export)
        classifier = cls.from_onnx(path, **kwargs)
        classifier.onnx_path = path
        return classifier

    def with_defences(self, preprocessing_defences, seed: Optional[int] = None) -> "Classifier":
        """The same network (shared, not reloaded) behind other defences."""
        return Classifier(self._base, preprocessing_defences, self._seed if seed is None else seed)

    # What ART's estimators offer ----------------------------------------------------------------

    @property
    def nb_classes(self) -> int:
        return self._model.nb_classes

    @property
    def input_shape(self) -> tuple:
        return tuple(self._model.input_shape)

    @property
    def clip_values(self):
        """``(min, max)`` of valid inputs, or ``None``."""
        return self._model.clip_values

    @property
    def channels_first(self) -> bool:
        """Inputs are channels first: audio ``(C, L)``, video ``(3, F, H, W)``."""
        return True

    @property
    def class_names(self) -> list:
        return list(self._model.class_names)

    @property
    def modality(self) -> str:
        """``"audio"`` or ``"video"``."""
        return self._model.modality

    @property
    def sample_rate(self) -> Optional[int]:
        return self._model.sample_rate

    @property
    def preprocessing_defences(self) -> list:
        return list(self._defences)

    @property
    def seed(self) -> int:
        return self._seed

    def predict(self, x, batch_size: int = 128, **kwargs) -> np.ndarray:
        """Logits ``(N, nb_classes)`` of the batch ``x``, through the defences."""
        _no_extra(kwargs, "predict")
        return self._model.predict(as_float32(x), int(batch_size))

    def loss_gradient(self, x, y, **kwargs) -> np.ndarray:
        """Gradient of each example's cross-entropy against ``y`` (indices or one-hot), shaped
        like ``x``. Each row is that example's own gradient (ART's mean loss scales rows by 1/N)."""
        _no_extra(kwargs, "loss_gradient")
        x = as_float32(x)
        labels = labels_of(y, x.shape[0] if x.ndim else 0, self.nb_classes)
        return self._model.loss_gradient(x, labels)

    def class_gradient(self, x, label=None, **kwargs) -> np.ndarray:
        """Gradients of logits with respect to ``x``, as ART shapes them: ``label=None``, every
        class ``(N, nb_classes, *input_shape)``; an int or one index per example,
        ``(N, 1, *input_shape)``."""
        _no_extra(kwargs, "class_gradient")
        x = as_float32(x)
        n = x.shape[0] if x.ndim else 0
        if label is None:
            grads = [self._model.class_gradient(x, [k] * n) for k in range(self.nb_classes)]
            return np.stack(grads, axis=1)
        if np.isscalar(label):
            classes = [int(label)] * n
        else:
            classes = labels_of(label, n, self.nb_classes, "label")
        return self._model.class_gradient(x, classes)[:, None]

    def load_input(self, path) -> np.ndarray:
        """A WAV file (audio: resampled to the model's rate, centred, padded or cropped) or a video
        (video: frames sampled, resized and cropped as the model says) as one example, exactly as
        the command line reads it."""
        return self._model.load_input(os.fspath(path))

    def __repr__(self) -> str:
        defences = ", ".join(self._model.defences) or "none"
        return (
            f"Classifier({self._model.source}, input_shape={self.input_shape}, "
            f"nb_classes={self.nb_classes}, clip_values={self.clip_values}, defences: {defences})"
        )


def _defence_list(defences) -> list:
    if defences is None:
        return []
    if not isinstance(defences, (list, tuple)):
        defences = [defences]
    for d in defences:
        if not hasattr(d, "_registry_entry"):
            raise ValueError(
                f"invalid preprocessing_defences: {d!r} is not an avfoil.defences preprocessor"
            )
    return list(defences)


def _no_extra(kwargs: dict, method: str) -> None:
    if kwargs:
        raise TypeError(f"{method}() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
