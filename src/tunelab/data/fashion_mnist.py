"""Fashion-MNIST: Zalando's article images, 28×28 grey, 10 classes, 60,000 train / 10,000 test.

A drop-in replacement for MNIST: the same IDX format, file names, sizes and number of classes.
"""

from __future__ import annotations

from pathlib import Path

from tunelab.data.base import DatasetInfo, RawData, RemoteFile
from tunelab.data.idx import IDX_FILES, read_idx_dataset

N_TRAIN, N_TEST = 60_000, 10_000

#: Class names in label order (0..9), as the dataset's README gives them.
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# The official MD5 sums, from the dataset's README (and torchvision).
_MD5 = (
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "25c81989df183df01b3e8a0aad5dffbe",
    "bef4ecab320f06d8554ea6380940ec79",
    "bb300cfdad3c16e7a12a480ee83cd310",
)


def read(folder: Path | None) -> RawData:
    """Read the four official IDX files from ``folder``."""
    return read_idx_dataset(folder, size=(28, 28), n_train=N_TRAIN, n_test=N_TEST)


INFO = DatasetInfo(
    name="fashion-mnist",
    description="clothing and accessories, 28×28 grey (Xiao et al., Zalando)",
    input_shape=(1, 28, 28),
    n_classes=10,
    n_train=N_TRAIN,
    n_test=N_TEST,
    urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    files=tuple(RemoteFile(name, f"md5:{md5}") for name, md5 in zip(IDX_FILES, _MD5, strict=True)),
    read=read,
)
