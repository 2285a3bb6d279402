"""Small dataset files made on the spot, for the data tests (`from datafiles import ...`)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from tunelab.data.idx import IDX_FILES


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An uncompressed IDX file holding ``array`` (uint8), with the magic number its rank implies."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = magic if magic is not None else 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_gz(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0))  # mtime=0: the same bytes, hence hashes, every run
    return path


def make_idx_set(folder: Path, n_train: int = 40, n_test: int = 20, size: tuple[int, int] = (28, 28)) -> Path:
    """The four IDX files of a tiny MNIST-like dataset (labels cycle through 0..9) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for (images, labels), n in zip((IDX_FILES[:2], IDX_FILES[2:]), (n_train, n_test), strict=True):
        write_gz(folder / images, idx_bytes(rng.integers(0, 256, (n, *size), dtype=np.uint8)))
        write_gz(folder / labels, idx_bytes(np.arange(n) % 10))
    return folder


def esl_text(labels: np.ndarray, pixels: np.ndarray) -> bytes:
    """Lines in the ESL format: the label, then the 256 grey values; a trailing space as in the original."""
    rows = np.column_stack([labels, pixels.reshape(len(labels), -1)])
    return "".join(" ".join(f"{v:.4f}" for v in row) + " \n" for row in rows).encode()


def make_esl(path: Path, n: int = 30, seed: int = 0) -> tuple[Path, np.ndarray, np.ndarray]:
    """A gzip'd ESL file of ``n`` random images; returns it with its labels and [-1, 1] pixels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    pixels = np.round(rng.uniform(-1, 1, (n, 256)), 4)
    return write_gz(path, esl_text(labels, pixels)), labels, pixels


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, path.read_bytes()).hexdigest()
