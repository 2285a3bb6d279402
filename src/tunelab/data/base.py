"""The records every dataset module fills in, and the file helpers their readers share."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunelab.errors import DataError


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset and its official checksum, pooch style (``"md5:…"`` or ``"sha256:…"``)."""

    name: str
    known_hash: str


@dataclass(frozen=True, eq=False)  # eq=False: comparing numpy arrays with == is ambiguous
class RawData:
    """A dataset as read from its files: ``x`` float32 (N, C, H, W) in [0, 1], ``y`` int64.

    ``checksums`` maps each file read to its SHA-256 (hex), for provenance.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    checksums: dict[str, str]


@dataclass(frozen=True)
class DatasetInfo:
    """What is known of a dataset before reading it: shape, sizes, where to get it and how to read it.

    ``urls`` are base URLs (official first, then official mirrors) and ``files`` the files under each;
    both are empty for a dataset bundled with a library. ``read`` turns the folder holding ``files``
    (``None`` for a bundled one) into :class:`RawData`. ``folder_name`` names the folder its files
    are looked for and downloaded in (default: ``name``), so datasets read from the same files
    (EMNIST's splits) share one download.
    """

    name: str
    description: str
    input_shape: tuple[int, int, int]
    n_classes: int
    n_train: int
    n_test: int
    urls: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    read: Callable[[Path | None], RawData]
    folder_name: str = ""

    @property
    def bundled(self) -> bool:
        return not self.files

    @property
    def folder(self) -> str:
        """The folder (under ``--data-dir``, a mirror or the cache) that holds its files."""
        return self.folder_name or self.name


# ------------------------------------------------------------------------------------------ helpers
def read_file(path: Path) -> tuple[bytes, str]:
    """The bytes of ``path`` and their SHA-256; a missing or unreadable file is a DataError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    return data, hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file read in chunks (archives of hundreds of MB); unreadable: a DataError."""
    try:
        with path.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc.__class__.__name__})") from None


def gunzip(path: Path, data: bytes) -> bytes:
    """Decompress ``data`` (the content of ``path``); a corrupt or cut-off gzip stream is a DataError."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; a cut stream is EOFError
        raise DataError(f"{path}: not a valid gzip file ({exc})") from None


def read_gzip(path: Path) -> tuple[bytes, str]:
    """The decompressed content of a ``.gz`` file and the SHA-256 of the file as stored."""
    data, sha = read_file(path)
    return gunzip(path, data), sha


def check_labels(path: Path, y: np.ndarray, n_classes: int) -> None:
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{path}: labels must be within 0..{n_classes - 1}, found {y.min()}..{y.max()}")


def check_count(path: Path, found: int, expected: int | None, what: str) -> None:
    """A wrong count means the wrong file (another dataset of the same format), not a damaged one."""
    if expected is not None and found != expected:
        raise DataError(f"{path}: expected {expected} {what}, found {found}; is this the right file?")


def shape_text(shape: tuple[int, ...]) -> str:
    """``(1, 28, 28)`` as ``1×28×28``, for messages."""
    return "×".join(map(str, shape))
