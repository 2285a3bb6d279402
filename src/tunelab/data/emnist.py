"""EMNIST: NIST Special Database 19's handwritten characters in MNIST's 28×28 grey format.

Cohen et al. (2017). NIST publishes every split in one archive, ``gzip.zip`` (about 560 MB), which
holds ``gzip/emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte.gz``. Two splits are
registered: ``emnist-balanced`` (47 classes: digits and letters, upper and lower case merged where
they look alike; 112,800 / 18,800) and ``emnist-digits`` (10 classes; 240,000 / 40,000). Both read
the same archive (folder ``emnist``), straight from the zip: nothing is extracted. EMNIST's images are
stored transposed (column by column); they are transposed back, so that characters stand upright.
"""

from __future__ import annotations

import zipfile
import zlib
from functools import partial
from pathlib import Path

import numpy as np

from tunelab.data.base import DatasetInfo, RawData, RemoteFile, check_count, gunzip, sha256_file
from tunelab.data.idx import parse_idx_images, parse_idx_labels
from tunelab.errors import DataError

ARCHIVE = "gzip.zip"
MD5 = "58c8d27c78d21e728a6bc7b3cc06412e"  # of NIST's gzip.zip, as torchvision's EMNIST gives it
FOLDER = "emnist"
#: split → (classes, train images, test images), from the EMNIST paper's table.
SPLITS = {"balanced": (47, 112_800, 18_800), "digits": (10, 240_000, 40_000)}


def member(split: str, part: str, kind: str) -> str:
    """The archive member of ``split``'s ``part`` (train, test) ``kind`` (images, labels)."""
    suffix = "images-idx3" if kind == "images" else "labels-idx1"
    return f"gzip/emnist-{split}-{part}-{suffix}-ubyte.gz"


def _member_content(archive: Path, zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        data = zf.read(name)
    except KeyError:
        raise DataError(f"{archive}: {name} is missing; is this NIST's EMNIST gzip.zip?") from None
    return gunzip(archive / name, data)


def read(
    folder: Path | None, split: str = "balanced", n_train: int | None = None, n_test: int | None = None
) -> RawData:
    """Read ``split``'s four IDX files out of ``folder/gzip.zip``; counts checked when given."""
    if folder is None:
        raise DataError(f"emnist-{split} needs the folder that holds {ARCHIVE}")
    archive = Path(folder) / ARCHIVE
    n_classes = SPLITS[split][0]
    sha = sha256_file(archive)
    arrays: list[np.ndarray] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for part, n in (("train", n_train), ("test", n_test)):
                images, labels = member(split, part, "images"), member(split, part, "labels")
                x = parse_idx_images(archive / images, _member_content(archive, zf, images))
                y = parse_idx_labels(archive / labels, _member_content(archive, zf, labels), n_classes)
                if len(x) != len(y):
                    raise DataError(f"{archive}: {images} holds {len(x)} images but {labels} {len(y)} labels")
                check_count(archive / images, len(x), n, "images")
                # transposed back (H and W swapped), in the same pass that scales to [0, 1]
                arrays += [np.divide(x.transpose(0, 2, 1)[:, None], np.float32(255), dtype=np.float32), y]
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DataError(f"{archive}: not a readable zip archive ({exc})") from None
    except OSError as exc:
        raise DataError(f"{archive}: cannot be read ({exc.strerror or exc})") from None
    x_train, y_train, x_test, y_test = arrays
    return RawData(x_train, y_train, x_test, y_test, {ARCHIVE: sha})


def _info(split: str, description: str) -> DatasetInfo:
    n_classes, n_train, n_test = SPLITS[split]
    return DatasetInfo(
        name=f"emnist-{split}",
        description=description,
        input_shape=(1, 28, 28),
        n_classes=n_classes,
        n_train=n_train,
        n_test=n_test,
        # NIST's current address first; the older one (torchvision's until 2024) as a mirror
        urls=(
            "https://biometrics.nist.gov/cs_links/EMNIST/",
            "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/",
        ),
        files=(RemoteFile(ARCHIVE, f"md5:{MD5}"),),
        read=partial(read, split=split, n_train=n_train, n_test=n_test),
        folder_name=FOLDER,
    )


BALANCED = _info("balanced", "EMNIST balanced: handwritten digits and letters, 47 classes, 28×28 grey (NIST)")
DIGITS = _info("digits", "EMNIST digits: handwritten digits, 28×28 grey (NIST)")
