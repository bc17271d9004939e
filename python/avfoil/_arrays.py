"""Array conversions shared by the estimator, the attacks and the defences."""

from __future__ import annotations

import numpy as np


def as_float32(x, name: str = "x") -> np.ndarray:
    """``x`` as a C-contiguous float32 array: no copy when it already is one (float64 and integer
    arrays, int16 audio included, are converted). The caller's array is never written."""
    if isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous:
        return x
    array = np.asarray(x)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"invalid {name}: expected a numeric array, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32)


def labels_of(y, n: int, nb_classes: int, name: str = "y") -> list[int]:
    """Class indices from ``y``: indices ``(N,)`` or one-hot / scores ``(N, K)``, as ART takes."""
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[1] != nb_classes:
            raise ValueError(
                f"invalid {name}: {y.shape[1]} columns, expected one per class ({nb_classes})"
            )
        y = np.argmax(y, axis=1)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(
            f"invalid {name}: expected {n} class indices or a ({n}, {nb_classes}) one-hot array, "
            f"got shape {y.shape}"
        )
    if y.dtype.kind == "f" and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError(f"invalid {name}: class indices must be whole numbers")
    if np.any(y < 0):
        raise ValueError(f"invalid {name}: class indices must be non-negative")
    return [int(v) for v in y]


def same_dtype(result: np.ndarray, like) -> np.ndarray:
    """``result`` in the floating dtype of ``like`` (float32 for integer inputs), as ART returns."""
    dtype = np.asarray(like).dtype
    if dtype.kind == "f" and dtype != result.dtype:
        return result.astype(dtype)
    return result
