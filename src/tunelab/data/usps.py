"""USPS: handwritten ZIP-code digits of the US Postal Service, 16×16 grey, 7,291 train / 2,007 test.

The files are those of *The Elements of Statistical Learning* (Hastie, Tibshirani, Friedman): gzip'd
text, one image per line — the digit label, then 256 grey values in [-1, 1], space separated.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from tunelab.data.base import DatasetInfo, RawData, RemoteFile, check_count, check_labels, read_gzip
from tunelab.errors import DataError

N_TRAIN, N_TEST = 7_291, 2_007
SIDE = 16
N_VALUES = 1 + SIDE * SIDE  # the label, then the pixels
TOLERANCE = 1e-3  # the files hold values rounded to 3-4 decimals; allow for that, nothing more


def read_esl(path: Path, n: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """x float32 (N, 1, 16, 16) mapped from [-1, 1] to [0, 1], y int64 and the file's SHA-256."""
    text, sha = read_gzip(path)
    try:
        # numpy's C parser: ~0.3 s for the training file, no per-line Python.
        table = np.loadtxt(io.BytesIO(text), dtype=np.float32, ndmin=2)
    except ValueError as exc:
        problem = _describe_bad_table(path, text) or f"{path}: not a table of numbers ({exc})"
        raise DataError(problem) from None
    if table.shape[1] != N_VALUES:
        raise DataError(_describe_bad_table(path, text) or f"{path}: expected {N_VALUES} values per line")
    labels, pixels = table[:, 0], table[:, 1:]
    if not np.array_equal(labels, np.round(labels)):
        raise DataError(f"{path}: the first value of each line must be a whole-number label")
    y = labels.astype(np.int64)
    check_labels(path, y, 10)
    if pixels.size and (pixels.min() < -1 - TOLERANCE or pixels.max() > 1 + TOLERANCE):
        raise DataError(f"{path}: grey values must be within [-1, 1], found {pixels.min()}..{pixels.max()}")
    check_count(path, len(y), n, "images")
    x = np.clip((pixels + 1) / 2, 0, 1).reshape(-1, 1, SIDE, SIDE)
    return x, y, sha


def _describe_bad_table(path: Path, text: bytes) -> str | None:
    """Name the first line without ``N_VALUES`` numbers (only run once the fast parser has failed)."""
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields and len(fields) != N_VALUES:
            return (
                f"{path}: line {number} has {len(fields)} values, expected {N_VALUES} "
                f"(a label and {SIDE}×{SIDE} grey values)"
            )
        try:
            [float(field) for field in fields]
        except ValueError:
            return f"{path}: line {number} holds something other than numbers"
    return None


def read(folder: Path | None) -> RawData:
    """Read ``zip.train.gz`` and ``zip.test.gz`` from ``folder``."""
    if folder is None:
        raise DataError("usps needs the folder that holds zip.train.gz and zip.test.gz")
    x_train, y_train, sha_train = read_esl(Path(folder) / "zip.train.gz", N_TRAIN)
    x_test, y_test, sha_test = read_esl(Path(folder) / "zip.test.gz", N_TEST)
    return RawData(x_train, y_train, x_test, y_test, {"zip.train.gz": sha_train, "zip.test.gz": sha_test})


INFO = DatasetInfo(
    name="usps",
    description="US Postal Service ZIP-code digits, 16×16 grey (Hastie et al.'s ESL copy)",
    input_shape=(1, SIDE, SIDE),
    n_classes=10,
    n_train=N_TRAIN,
    n_test=N_TEST,
    urls=("https://hastie.su.domains/ElemStatLearn/datasets/",),
    files=(
        RemoteFile("zip.train.gz", "sha256:66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16"),
        RemoteFile("zip.test.gz", "sha256:8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f"),
    ),
    read=read,
)
