"""CIFAR-10: Krizhevsky's tiny colour photographs, 32×32 RGB, 10 classes, 50,000 train / 10,000 test.

The official "python version" archive ``cifar-10-python.tar.gz`` holds six pickled batches (five of
training images, one of test images), each a dict with ``data``, a 10,000 × 3,072 uint8 array (the
red, then green, then blue 32×32 plane of each image, rows top to bottom), and ``labels``. The batches
are read straight out of the archive, nothing is extracted; and a batch is unpickled by an unpickler
that builds only dicts, lists, bytes and numpy arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import importlib
import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.data.base import DatasetInfo, RawData, RemoteFile, check_count, check_labels, sha256_file
from tunelab.errors import DataError

N_TRAIN, N_TEST = 50_000, 10_000
SIDE, CHANNELS = 32, 3
ARCHIVE = "cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"  # the official archive's, as cs.toronto.edu and torchvision give it
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"{FOLDER}/data_batch_{i}" for i in range(1, 6))
TEST_BATCH = f"{FOLDER}/test_batch"

#: Class names in label order (0..9), as ``batches.meta`` lists them.
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# What a batch's pickle may build: numpy arrays (and their dtypes), and bytes as a Python 3 pickle
# of protocol 2 spells them (_codecs.encode). Anything else is refused.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} has no place in a CIFAR batch")
        if name == "_reconstruct":
            core = "numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray"
            return importlib.import_module(core)._reconstruct
        return getattr(importlib.import_module(module), name)


def _batch(archive: Path, tar: tarfile.TarFile, member: str) -> tuple[np.ndarray, np.ndarray]:
    where = f"{archive}: {member}"
    try:
        stream = tar.extractfile(member)
        if stream is None:
            raise KeyError(member)
        content = stream.read()
    except KeyError:
        raise DataError(f"{archive}: {member} is missing; is this the CIFAR-10 python archive?") from None
    try:
        # encoding="bytes": the batches were pickled by Python 2, their keys are bytes
        batch = _BatchUnpickler(io.BytesIO(content), encoding="bytes").load()
    except Exception as exc:  # any unpickling failure (damaged, or not a batch) is the file's fault
        raise DataError(f"{where}: not a CIFAR batch ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{where}: not a CIFAR batch (expected a dict with data and labels)")
    x, y = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != CHANNELS * SIDE * SIDE:
        raise DataError(
            f"{where}: data must be N × 3072 uint8, found {'×'.join(map(str, x.shape))} {x.dtype}"
        )
    if len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: expected {len(x)} integer labels, found {len(y)} of {y.dtype}")
    y = y.astype(np.int64)
    check_labels(Path(where), y, len(CLASSES))
    return x.reshape(-1, CHANNELS, SIDE, SIDE), y


def read(folder: Path | None, n_train: int | None = N_TRAIN, n_test: int | None = N_TEST) -> RawData:
    """Read the training and test batches out of ``folder/cifar-10-python.tar.gz``.

    ``n_train`` / ``n_test`` are the image counts checked (``None``: not checked).
    """
    if folder is None:
        raise DataError(f"cifar10 needs the folder that holds {ARCHIVE}")
    archive = Path(folder) / ARCHIVE
    sha = sha256_file(archive)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            train = [_batch(archive, tar, member) for member in TRAIN_BATCHES]
            test = _batch(archive, tar, TEST_BATCH)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{archive}: not a readable .tar.gz archive ({exc})") from None
    x_train, y_train = np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])
    check_count(archive, len(x_train), n_train, "training images")
    check_count(archive, len(test[0]), n_test, "test images")
    scale = np.float32(255)
    return RawData(
        np.divide(x_train, scale, dtype=np.float32),
        y_train,
        np.divide(test[0], scale, dtype=np.float32),
        test[1],
        {ARCHIVE: sha},
    )


INFO = DatasetInfo(
    name="cifar10",
    description="CIFAR-10: small colour photographs of 10 object classes, 32×32 RGB (Krizhevsky)",
    input_shape=(CHANNELS, SIDE, SIDE),
    n_classes=len(CLASSES),
    n_train=N_TRAIN,
    n_test=N_TEST,
    urls=("https://www.cs.toronto.edu/~kriz/",),
    files=(RemoteFile(ARCHIVE, f"md5:{MD5}"),),
    read=read,
)
