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


def make_image_folder(
    root: Path, classes: tuple[str, ...] = ("cat", "dog", "owl"), n: int = 8, size=(8, 8), mode: str = "RGB"
) -> Path:
    """PNGs of random pixels, ``n`` per class subfolder of ``root`` (the folder dataset's layout)."""
    from PIL import Image

    rng = np.random.default_rng(len(classes) * 100 + n)
    shape = (*size, 3) if mode == "RGB" else size
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            pixels[0, 0] = label * 50  # something a class has in common
            Image.fromarray(pixels, mode=mode).save(root / name / f"{i:03d}.png")
    return root


def cifar_batch(x: np.ndarray, y: np.ndarray) -> bytes:
    """A batch pickled as CIFAR-10's: a dict with bytes keys, ``data`` N × 3072 uint8, ``labels``."""
    import pickle

    batch = {b"batch_label": b"test", b"labels": [int(v) for v in y], b"data": x.reshape(len(x), -1)}
    return pickle.dumps(batch, protocol=2)


def make_cifar_archive(
    folder: Path, n_train: int = 50, n_test: int = 20, replace: dict[str, bytes | None] | None = None
) -> Path:
    """A tiny ``cifar-10-python.tar.gz``: five training batches of ``n_train / 5`` and a test batch;
    ``replace`` maps a member to other bytes (``None``: left out)."""
    import io
    import tarfile

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    per = n_train // 5
    content = {
        f"cifar-10-batches-py/data_batch_{i}": cifar_batch(
            rng.integers(0, 256, (per, 3, 32, 32), dtype=np.uint8), np.arange(per) % 10
        )
        for i in range(1, 6)
    }
    content["cifar-10-batches-py/test_batch"] = cifar_batch(
        rng.integers(0, 256, (n_test, 3, 32, 32), dtype=np.uint8), np.arange(n_test) % 10
    )
    content |= replace or {}
    path = folder / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in content.items():
            if data is None:
                continue
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return path


def make_emnist_zip(folder: Path, splits=("balanced", "digits"), n_train: int = 94, n_test: int = 47) -> Path:
    """A tiny NIST ``gzip.zip`` holding each split's four gzip'd IDX files (labels cycle 0..K-1)."""
    import zipfile

    from tunelab.data.emnist import SPLITS, member

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    path = folder / "gzip.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for split in splits:
            k = SPLITS[split][0]
            for part, n in (("train", n_train), ("test", n_test)):
                images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
                zf.writestr(member(split, part, "images"), gzip.compress(idx_bytes(images), mtime=0))
                zf.writestr(
                    member(split, part, "labels"), gzip.compress(idx_bytes(np.arange(n) % k), mtime=0)
                )
    return path
