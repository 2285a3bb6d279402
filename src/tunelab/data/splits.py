"""Device-resident train / validation / test splits of a dataset, as every trial's training uses them.

The raw arrays are read once per process and kept (read-only) in a small cache, because a study loads
the same dataset for each of its many trials; only the cheap steps — subset, split, scaling — are
redone from the config each time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from tunelab.data.base import RawData
from tunelab.data.download import dataset_folder
from tunelab.data.local import load_local
from tunelab.data.registry import DATASETS, get_info
from tunelab.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from tunelab.config import DataConfig

_TENSORS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


@dataclass(frozen=True, eq=False)  # eq=False: tensors do not compare to one bool
class Splits:
    """A dataset split three ways, all on one device: ``x`` float32 (N, C, H, W), ``y`` int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    input_shape: tuple[int, int, int]
    checksums: dict[str, str]

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def to(self, device: str | torch.device) -> Splits:
        """The same splits on ``device`` (tensors already there are not copied)."""
        return replace(self, **{k: getattr(self, k).to(device) for k in _TENSORS})

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(getattr(self, k))}" for k in ("y_train", "y_val", "y_test"))
        return f"Splits({self.name!r}, {sizes}, input_shape={self.input_shape}, device={self.device})"


def load_raw(name: str, data_dir: str | Path | None = None, download: bool = True) -> RawData:
    """The dataset as read from its files (located, else downloaded when ``download``); cached.

    The arrays are shared between callers and marked read-only: copy before changing them.
    """
    folder = dataset_folder(name, data_dir, download)
    folder = folder.resolve() if folder is not None else None
    return _read_cached(name, folder, _stamp(name, folder))


def _stamp(name: str, folder: Path | None) -> tuple[tuple[int, int], ...]:
    """Size and modification time of each file, so that a replaced file is read again."""
    if folder is None:
        return ()
    stats = [(folder / f.name).stat() for f in DATASETS[name].files]
    return tuple((s.st_size, s.st_mtime_ns) for s in stats)


@functools.lru_cache(maxsize=4)  # a few datasets at most; MNIST's arrays take ~220 MB
def _read_cached(name: str, folder: Path | None, stamp: tuple[tuple[int, int], ...]) -> RawData:
    raw = DATASETS[name].read(folder)
    for array in (raw.x_train, raw.y_train, raw.x_test, raw.y_test):
        array.flags.writeable = False  # shared by every later caller: make a mutation fail loudly
    return raw


def load_splits(
    cfg: DataConfig,
    device: str | torch.device = "cpu",
    data_dir: str | Path | None = None,
    download: bool = True,
) -> Splits:
    """Train / validation / test splits of ``cfg.name`` on ``device``, as ``cfg`` asks.

    Steps: read the files (found in ``data_dir``, ``$TUNELAB_DATA_DIR`` or the cache, else downloaded
    when ``download``; the ``folder`` and ``arrays`` datasets read ``cfg.path``); keep a stratified
    subset of ``cfg.train_subset`` train images; hold out a stratified ``cfg.val_fraction`` of them
    for validation (both seeded by ``cfg.split_seed``); scale as ``cfg.normalize`` says, with
    statistics of the training part only; move to ``device`` once.
    """
    import torch

    if cfg.from_files:  # the user's own folder or .npz: its shape and classes come from the files
        raw, n_classes = load_local(cfg)
        input_shape = cast(tuple[int, int, int], tuple(raw.x_train.shape[1:]))
    else:
        info = get_info(cfg.name)
        raw, n_classes, input_shape = load_raw(cfg.name, data_dir, download), info.n_classes, info.input_shape
    index = np.arange(len(raw.y_train))
    if cfg.train_subset is not None:
        index = _subset(index, raw.y_train, cfg.train_subset, cfg.split_seed, cfg.name)
    fit, val = _stratified_split(index, raw.y_train, cfg.val_fraction, cfg.split_seed)
    # Fancy indexing copies, so scaling in place below never touches the cached arrays.
    x_fit, x_val, x_test = raw.x_train[fit], raw.x_train[val], np.array(raw.x_test)
    _normalize(cfg.normalize, x_fit, (x_fit, x_val, x_test))

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(device)

    return Splits(
        name=cfg.name,
        x_train=tensor(x_fit),
        y_train=tensor(raw.y_train[fit]),
        x_val=tensor(x_val),
        y_val=tensor(raw.y_train[val]),
        x_test=tensor(x_test),
        y_test=tensor(np.array(raw.y_test)),
        n_classes=n_classes,
        input_shape=input_shape,
        checksums=dict(raw.checksums),
    )


def _subset(index: np.ndarray, y: np.ndarray, size: int, seed: int, name: str) -> np.ndarray:
    if size > len(index):
        raise ConfigError(f"data.train_subset: {size} is more than the {len(index)} train images of {name}")
    if size == len(index):
        return index
    from sklearn.model_selection import train_test_split

    try:
        subset, _ = train_test_split(index, train_size=size, random_state=seed, stratify=y[index])
    except ValueError as exc:  # e.g. fewer images than classes: a stratified subset is impossible
        raise ConfigError(f"data.train_subset: no stratified subset of {size} images ({exc})") from None
    return np.sort(subset)  # file order: sequential memory access when copying


def _stratified_split(
    index: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    try:
        fit, val = train_test_split(index, test_size=fraction, random_state=seed, stratify=y[index])
    except ValueError as exc:  # too few images to put every class on both sides
        raise ConfigError(
            f"data.val_fraction: cannot hold out a stratified {fraction} of {len(index)} images ({exc}); "
            "raise data.train_subset or change data.val_fraction"
        ) from None
    return np.sort(fit), np.sort(val)


def _normalize(kind: str, x_fit: np.ndarray, arrays: tuple[np.ndarray, ...]) -> None:
    """Scale ``arrays`` in place; ``standardize`` uses one mean and std per channel of ``x_fit``."""
    if kind == "unit":
        return
    if kind == "symmetric":
        for array in arrays:
            np.multiply(array, 2, out=array)
            np.subtract(array, 1, out=array)
        return
    if kind != "standardize":
        raise ConfigError(f"data.normalize: unknown {kind!r}; expected unit, standardize or symmetric")
    # float64 accumulation (pairwise): a float32 sum over 42M pixels loses digits. Centring first and
    # squaring in float32 is 5x faster than ndarray.std(dtype=float64), with the same result.
    axes = (0, 2, 3)
    shift = x_fit.mean(axis=axes, dtype=np.float64).astype(np.float32)[:, None, None]
    for array in arrays:
        np.subtract(array, shift, out=array)
    std = np.sqrt(np.mean(np.square(x_fit), axis=axes, dtype=np.float64))
    std[std == 0] = 1.0  # a constant channel carries no information: centre it, do not divide by 0
    scale = (1 / std).astype(np.float32)[:, None, None]
    for array in arrays:
        np.multiply(array, scale, out=array)
