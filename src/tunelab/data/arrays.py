"""``arrays``: the user's own images as numpy arrays in one ``.npz`` file.

The file holds ``x_train`` and ``y_train``, and optionally ``x_test`` and ``y_test`` (both or
neither). Images are N×H×W (grey), N×H×W×C or N×C×H×W: of a 4-d array's second and last axes, the
smaller is the channel axis (the last when they are equal). ``uint8`` images are scaled to [0, 1];
other numbers are kept as they are (as float32). Labels are whole numbers from 0: K classes are
0..K-1 (integers, or floats without a fractional part).

Write one with ``numpy.savez("data.npz", x_train=x, y_train=y)``.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from tunelab.data.base import shape_text
from tunelab.errors import DataError

KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of ``path``: images (N, C, H, W) uint8 or float32 and labels (N,) int64, checked."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        # allow_pickle=False: an object array would need unpickling, which can run code
        with np.load(path, allow_pickle=False) as npz:
            stored = {key: npz[key] for key in npz.files if key in KEYS}
            names = list(npz.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    for key in ("x_train", "y_train"):
        if key not in stored:
            found = ", ".join(names) or "no arrays"
            raise DataError(f"{path}: {key} is missing; expected x_train and y_train (found {found})")
    if ("x_test" in stored) != ("y_test" in stored):
        given, missing = ("x_test", "y_test") if "x_test" in stored else ("y_test", "x_test")
        raise DataError(f"{path}: {given} is given without {missing}; give both or neither")
    out: dict[str, np.ndarray] = {}
    for part in ("train", "test"):
        if f"x_{part}" not in stored:
            continue
        x = _images(path, f"x_{part}", stored[f"x_{part}"])
        y = _labels(path, f"y_{part}", stored[f"y_{part}"])
        if len(x) != len(y):
            raise DataError(f"{path}: x_{part} holds {len(x)} images but y_{part} holds {len(y)} labels")
        out[f"x_{part}"], out[f"y_{part}"] = x, y
    if "x_test" in out and out["x_test"].shape[1:] != out["x_train"].shape[1:]:
        a, b = out["x_train"].shape[1:], out["x_test"].shape[1:]
        raise DataError(f"{path}: x_test's images are {shape_text(b)}, x_train's {shape_text(a)} (C×H×W)")
    return out


def _images(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or np.iscomplexobj(x):
        raise DataError(f"{path}: {key} must hold numbers, found {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        if x.shape[3] <= x.shape[1]:  # N×H×W×C
            x = x.transpose(0, 3, 1, 2)
    else:
        raise DataError(
            f"{path}: {key} must be N×H×W, N×H×W×C or N×C×H×W, found {x.ndim} dimensions {x.shape}"
        )
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: {key} holds NaN or infinite values")
    return x


def _labels(path: Path, key: str, y: np.ndarray) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]  # a column vector, as scikit-learn and Keras often write labels
    if y.ndim != 1:
        raise DataError(f"{path}: {key} must be one integer label per image (N,), found shape {y.shape}")
    whole = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and np.array_equal(y, np.round(y))
    )
    if not whole:
        raise DataError(f"{path}: {key} must hold integer class labels 0..K-1, found {y.dtype} values")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise DataError(f"{path}: {key} must hold class labels 0..K-1, found {y.min()}")
    return y
