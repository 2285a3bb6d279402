"""MNIST: LeCun, Cortes and Burges' handwritten digits, 28×28 grey, 60,000 train / 10,000 test."""

from __future__ import annotations

from pathlib import Path

from tunelab.data.base import DatasetInfo, RawData, RemoteFile
from tunelab.data.idx import IDX_FILES, read_idx_dataset

N_TRAIN, N_TEST = 60_000, 10_000

# The official MD5 sums, the same that torchvision and the dataset's home page list.
_MD5 = (
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
)


def read(folder: Path | None) -> RawData:
    """Read the four official IDX files from ``folder``."""
    return read_idx_dataset(folder, size=(28, 28), n_train=N_TRAIN, n_test=N_TEST)


INFO = DatasetInfo(
    name="mnist",
    description="handwritten digits, 28×28 grey (LeCun et al.)",
    input_shape=(1, 28, 28),
    n_classes=10,
    n_train=N_TRAIN,
    n_test=N_TEST,
    # torchvision's mirror first: yann.lecun.com often refuses downloads (HTTP 403) or is unreachable.
    urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/"),
    files=tuple(RemoteFile(name, f"md5:{md5}") for name, md5 in zip(IDX_FILES, _MD5, strict=True)),
    read=read,
)
