"""Reader of gzip'd IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header — the magic number ``0x000008NN`` (``08``: unsigned bytes, ``NN``:
the number of dimensions), then one 32-bit size per dimension — followed by the values, row-major.
Every check names the file and says what was expected, since a damaged download is the usual cause.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tunelab.data.base import RawData, check_count, check_labels, read_gzip
from tunelab.errors import DataError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)

#: The official file names shared by MNIST and Fashion-MNIST: (train images, train labels, test ...).
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _parse(path: Path, data: bytes, magic: int, what: str) -> np.ndarray:
    """The values of one decompressed IDX file as a uint8 array of its declared shape."""
    kind = "image" if magic == IMAGES_MAGIC else "label"
    n_dims = magic & 0xFF
    header = 4 * (1 + n_dims)
    if len(data) < 4:
        raise DataError(f"{path}: truncated IDX file: {len(data)} bytes, too short for a header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"{path}: not an IDX {kind} file: magic number 0x{found:08X}, expected 0x{magic:08X}")
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX file: expected a {header}-byte header, found {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=n_dims, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(data) - header
    if payload < expected:
        raise DataError(f"{path}: truncated IDX file: expected {expected} bytes of {what}, found {payload}")
    if payload > expected:
        raise DataError(f"{path}: IDX file too long: expected {expected} bytes of {what}, found {payload}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def parse_idx_images(path: Path, data: bytes) -> np.ndarray:
    """Images (N, H, W) uint8 of the decompressed IDX content ``data`` (of ``path``, for messages)."""
    return _parse(path, data, IMAGES_MAGIC, "pixels")


def parse_idx_labels(path: Path, data: bytes, n_classes: int = 10) -> np.ndarray:
    """Labels (N,) int64 of the decompressed IDX content ``data``, checked within ``0..n_classes-1``."""
    y = _parse(path, data, LABELS_MAGIC, "labels").astype(np.int64)
    check_labels(path, y, n_classes)
    return y


def read_idx_images(path: Path) -> tuple[np.ndarray, str]:
    """Images (N, H, W) uint8 of a gzip'd IDX file, and the file's SHA-256."""
    data, sha = read_gzip(path)
    return parse_idx_images(path, data), sha


def read_idx_labels(path: Path, n_classes: int = 10) -> tuple[np.ndarray, str]:
    """Labels (N,) int64 of a gzip'd IDX file, checked to be within ``0..n_classes-1``; and the SHA-256."""
    data, sha = read_gzip(path)
    return parse_idx_labels(path, data, n_classes), sha


def read_idx_pair(
    images: Path, labels: Path, *, size: tuple[int, int] | None = None, n: int | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """One split: x float32 (N, 1, H, W) in [0, 1], y int64 and the files' checksums.

    ``size`` (H, W) and ``n`` are checked when given.
    """
    x, sha_x = read_idx_images(images)
    y, sha_y = read_idx_labels(labels)
    if size is not None and x.shape[1:] != size:
        raise DataError(f"{images}: images are {x.shape[1]}×{x.shape[2]}, expected {size[0]}×{size[1]}")
    if len(x) != len(y):
        raise DataError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
    check_count(images, len(x), n, "images")
    # One vectorised pass; the result is a fresh array, so the decompressed buffer can be freed.
    x = np.divide(x[:, None], np.float32(255), dtype=np.float32)
    return x, y, {images.name: sha_x, labels.name: sha_y}


def read_idx_dataset(
    folder: Path | None,
    *,
    size: tuple[int, int] | None = (28, 28),
    n_train: int | None = None,
    n_test: int | None = None,
) -> RawData:
    """Read the four :data:`IDX_FILES` of ``folder``, checking image size and counts when given."""
    if folder is None:
        raise DataError("an IDX dataset needs the folder that holds its files")
    folder = Path(folder)
    train_x, train_y, test_x, test_y = (folder / name for name in IDX_FILES)
    x_train, y_train, sums_train = read_idx_pair(train_x, train_y, size=size, n=n_train)
    x_test, y_test, sums_test = read_idx_pair(test_x, test_y, size=size, n=n_test)
    return RawData(x_train, y_train, x_test, y_test, sums_train | sums_test)
