"""The user's own files (``folder``, ``arrays``) as :class:`RawData`, decoded once and then cached.

The decoded arrays are saved as an ``.npz`` file under the download cache (``<cache>/decoded/``),
named by a hash of the content they came from (:func:`tunelab.data.folder.content_hash`, or the
``.npz`` file's SHA-256) and of how it was decoded; a later run — another process, another study —
reads that file instead of decoding the images again, and an edited image changes the hash. The same
content hashes are what the provenance records (``dataset_sha256``). Within one process the split
arrays are also kept in memory while the files' sizes and modification times stay the same.

Without a test set (``test_path``, or ``x_test`` / ``y_test``), a stratified ``test_fraction`` of
the images (default 0.2) is held out as the test set, with a fixed seed: every study of the same
files tests on the same images, whatever its ``split_seed``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tunelab.data.arrays import read_npz
from tunelab.data.base import RawData, sha256_file, shape_text
from tunelab.data.folder import ImageFiles, content_hash, list_images, read_images
from tunelab.errors import ConfigError, DataError

if TYPE_CHECKING:
    from tunelab.config import DataConfig

TEST_FRACTION = 0.2
TEST_SEED = 0
CACHE_VERSION = 1  # raise it when the decoding changes: older cache files are then not read


def cache_folder() -> Path:
    """Where decoded arrays are kept: ``decoded/`` in tunelab's download cache (``XDG_CACHE_HOME``)."""
    import pooch

    return Path(pooch.os_cache("tunelab")) / "decoded"


def load_local(cfg: DataConfig) -> tuple[RawData, int]:
    """The files ``cfg`` names, as train / test arrays (x float32 (N, C, H, W), y int64), and the
    number of classes. The arrays are shared and read-only."""
    assert cfg.path is not None  # DataConfig requires it for folder and arrays
    if cfg.name == "folder":
        train = list_images(Path(cfg.path))
        test = list_images(Path(cfg.test_path), train.classes) if cfg.test_path else None
        files = train.files + (test.files if test else ())
        return _load_folder(train, test, cfg.size, cfg.test_fraction, _stamp(files))
    path = Path(cfg.path)
    return _load_arrays(path, cfg.test_fraction, _stamp((path,)))


def _stamp(files: tuple[Path, ...]) -> tuple[tuple[int, int], ...]:
    """Size and modification time of each file, so that a changed file is read again."""
    try:
        stats = [f.stat() for f in files]
    except FileNotFoundError as exc:
        raise DataError(f"{exc.filename}: file not found") from None
    return tuple((s.st_size, s.st_mtime_ns) for s in stats)


# ------------------------------------------------------------------------------------------ folder
@functools.lru_cache(maxsize=4)
def _load_folder(
    train: ImageFiles,
    test: ImageFiles | None,
    size: tuple[int, int] | None,
    test_fraction: float | None,
    stamp: tuple[tuple[int, int], ...],
) -> tuple[RawData, int]:
    x_train, y_train, sha_train = _decoded(train, train.classes, size)
    checksums = {f"{train.root.name}/": sha_train}
    if test is None:
        parts = _hold_out(x_train, y_train, test_fraction)
    else:
        x_test, y_test, sha_test = _decoded(test, train.classes, size)
        if x_test.shape[1:] != x_train.shape[1:]:
            a, b = x_train.shape[1:], x_test.shape[1:]
            raise DataError(
                f"{test.root}: its images are {shape_text(b)}, those of {train.root} {shape_text(a)} "
                "(C×H×W); set data.size to resize both to one size"
            )
        name = f"{test.root.name}/" if test.root.name != train.root.name else f"{test.root}/"
        checksums[name] = sha_test
        parts = (x_train, y_train, x_test, y_test)
    return _raw(parts, checksums), len(train.classes)


def _decoded(
    images: ImageFiles, classes: tuple[str, ...], size: tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """A folder's images (N, C, H, W) uint8 and labels, from the cache or decoded (and cached)."""
    sha = content_hash(images)
    key = f"folder|v{CACHE_VERSION}|{sha}|{'/'.join(classes)}|{size}"
    cached = _read_cache(key, ("x", "y"))
    if cached is not None:
        return cached["x"], cached["y"], sha
    x, y = read_images(images, size), np.asarray(images.labels, dtype=np.int64)
    _write_cache(key, {"x": x, "y": y})
    return x, y, sha


# ------------------------------------------------------------------------------------------ arrays
@functools.lru_cache(maxsize=4)
def _load_arrays(
    path: Path, test_fraction: float | None, stamp: tuple[tuple[int, int], ...]
) -> tuple[RawData, int]:
    if not path.is_file():
        raise DataError(f"{path}: not a file (the arrays dataset reads one .npz file)")
    sha = sha256_file(path)
    key = f"arrays|v{CACHE_VERSION}|{sha}"
    arrays = _read_cache(key, ("x_train", "y_train")) or read_npz(path)
    _write_cache(key, arrays)  # a no-op when it came from the cache
    if "x_test" in arrays:
        if test_fraction is not None:
            raise ConfigError(f"data.test_fraction: not needed, {path} holds x_test and y_test")
        parts = (arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])
    else:
        parts = _hold_out(arrays["x_train"], arrays["y_train"], test_fraction)
    n_classes = int(max(int(y.max()) if y.size else -1 for y in parts[1::2])) + 1
    return _raw(parts, {path.name: sha}), n_classes


# ------------------------------------------------------------------------------------------ shared
def _hold_out(
    x: np.ndarray, y: np.ndarray, fraction: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed stratified train / test split (``fraction`` of the images, default 0.2, for test)."""
    from sklearn.model_selection import train_test_split

    fraction = TEST_FRACTION if fraction is None else fraction
    index = np.arange(len(y))
    try:
        fit, test = train_test_split(index, test_size=fraction, random_state=TEST_SEED, stratify=y)
    except ValueError as exc:  # too few images to put every class on both sides
        raise ConfigError(
            f"data.test_fraction: cannot hold out a stratified {fraction} of {len(y)} images as the test "
            f"set ({exc}); add images, or give a test set (data.test_path, or x_test and y_test)"
        ) from None
    fit, test = np.sort(fit), np.sort(test)
    return x[fit], y[fit], x[test], y[test]


def _raw(parts: tuple[np.ndarray, ...], checksums: dict[str, str]) -> RawData:
    """Float32 images (uint8 scaled to [0, 1]) and int64 labels, read-only: they are shared."""
    out = []
    for array in parts:
        if array.dtype == np.uint8:
            array = np.divide(array, np.float32(255), dtype=np.float32)
        elif array.dtype != np.int64:
            array = np.asarray(array, dtype=np.float32)
        array.flags.writeable = False
        out.append(array)
    x_train, y_train, x_test, y_test = out
    return RawData(x_train, y_train, x_test, y_test, checksums)


def _cache_file(key: str) -> Path:
    return cache_folder() / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}.npz"


def _read_cache(key: str, required: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    path = _cache_file(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError):  # a damaged cache file: decode again, and replace it
        return None
    return arrays if all(k in arrays for k in required) else None


def _write_cache(key: str, arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` under ``key`` (atomically: workers may race); failing to is not an error."""
    path = _cache_file(key)
    if path.is_file():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as stream:
            np.savez(stream, **arrays)  # type: ignore[arg-type]  # numpy stubs: allow_pickle in **kwds
        os.replace(tmp, path)
    except OSError:  # a read-only or full cache only costs decoding again next time
        tmp.unlink(missing_ok=True)
