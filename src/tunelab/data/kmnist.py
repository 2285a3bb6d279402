"""Kuzushiji-MNIST: cursive Japanese (kuzushiji) characters, 28×28 grey, 10 classes, 60,000 / 10,000.

Clanuwat et al. (2018), from the Center for Open Data in the Humanities (CODH): one character for each
of the ten rows of hiragana, in MNIST's IDX format and file names — a drop-in replacement for MNIST.
"""

from __future__ import annotations

from pathlib import Path

from tunelab.data.base import DatasetInfo, RawData, RemoteFile
from tunelab.data.idx import IDX_FILES, read_idx_dataset

N_TRAIN, N_TEST = 60_000, 10_000

#: Class names in label order (0..9): the romanised hiragana of the dataset's class map.
CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")

# The MD5 sums of the files CODH serves, as torchvision's KMNIST lists them (the rois-codh/kmnist
# repository publishes the URLs but no checksums).
_MD5 = (
    "bdb82020997e1d708af4cf47b453dcf7",
    "e144d726b3acfaa3e44228e80efcd344",
    "5c965bf0a639b31b8f53240b1b52f4d7",
    "7320c461ea6c1c855c0b718fb2a4b134",
)


def read(folder: Path | None) -> RawData:
    """Read the four IDX files from ``folder``."""
    return read_idx_dataset(folder, size=(28, 28), n_train=N_TRAIN, n_test=N_TEST)


INFO = DatasetInfo(
    name="kmnist",
    description="Kuzushiji-MNIST: cursive Japanese characters, 28×28 grey (Clanuwat et al., CODH)",
    input_shape=(1, 28, 28),
    n_classes=10,
    n_train=N_TRAIN,
    n_test=N_TEST,
    urls=("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
    files=tuple(RemoteFile(name, f"md5:{md5}") for name, md5 in zip(IDX_FILES, _MD5, strict=True)),
    read=read,
)
