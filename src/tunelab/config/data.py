"""Which dataset a run uses, how it is split and scaled."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from tunelab.config.base import PositiveInt, _Frozen
from tunelab.data.registry import find_info, unknown_dataset
from tunelab.errors import ConfigError

#: The datasets read from the user's own files (``data.path``) rather than from the registry.
FILE_DATASETS = ("folder", "arrays")
_PATHS = ("path", "test_path")


SPLIT_FIELDS = (
    "name",
    "path",
    "test_path",
    "test_fraction",
    "size",
    "val_fraction",
    "split_seed",
    "train_subset",
)
"""The DataConfig fields that choose the images of train, validation and test: runs that share them
were measured on the same images (an ensemble's members must). The scaling (``normalize``) is not
one: each run sees the images as its own config prepares them."""


class DataConfig(_Frozen):
    """Which dataset, how it is split and scaled.

    ``name`` is a registered dataset (``tunelab datasets``), or ``folder`` (a folder of one
    subfolder of PNG/JPEG images per class) or ``arrays`` (an ``.npz`` file) read from ``path``.
    """

    name: str = "digits"
    path: str | None = Field(
        None,
        validate_default=True,
        description="folder: the folder of class subfolders; arrays: the .npz file (absolute once read)",
    )
    test_path: str | None = Field(
        None, description="folder: a second folder of class subfolders, the test set"
    )
    test_fraction: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="folder or arrays without a test set: the stratified share of the images held out "
        "as the test set (default 0.2; a fixed split, the same whatever split_seed)",
    )
    size: tuple[PositiveInt, PositiveInt] | None = Field(
        None, description="folder: resize every image to height × width (one number: a square)"
    )
    val_fraction: float = Field(
        0.1, gt=0.0, lt=1.0, description="stratified share of train kept for validation"
    )
    normalize: Literal["unit", "standardize", "symmetric"] = Field(
        "unit", description="unit: [0, 1]; standardize: train mean 0, std 1; symmetric: [-1, 1]"
    )
    train_subset: PositiveInt | None = Field(
        None, description="use a stratified subset of this many train images"
    )
    split_seed: int = Field(0, description="seed of the train/validation split (fixed across trials)")

    @property
    def from_files(self) -> bool:
        """Whether the dataset is the user's own files (``folder`` or ``arrays``)."""
        return self.name in FILE_DATASETS

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        if name in FILE_DATASETS:
            return name
        try:
            found = find_info(name)
        except ConfigError as exc:  # an installed plug-in that cannot be loaded
            raise ValueError(str(exc)) from None
        if found is None:
            raise ValueError(unknown_dataset(name))
        return name

    @field_validator("size", mode="before")
    @classmethod
    def _square(cls, value: Any) -> Any:
        return (value, value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator(*_PATHS, "test_fraction", "size")
    @classmethod
    def _where_it_belongs(cls, value: Any, info: ValidationInfo) -> Any:
        name, key = info.data.get("name"), info.field_name
        if name is None:  # the name itself failed: that is the error to report
            return value
        if name not in FILE_DATASETS:
            if value is not None:
                raise ValueError(
                    f"applies to the folder and arrays datasets, not {name} "
                    "(a registered dataset's files are found with --data-dir)"
                )
            return value
        if key == "path" and value is None:
            what = "a folder of class subfolders" if name == "folder" else "an .npz file"
            raise ValueError(f"the {name} dataset needs a path ({what})")
        if name == "arrays" and key in ("test_path", "size") and value is not None:
            raise ValueError("applies to the folder dataset, not arrays (whose images are already arrays)")
        if key == "test_fraction" and value is not None and info.data.get("test_path") is not None:
            raise ValueError("not needed with data.test_path (the test set is given)")
        if key in _PATHS and value is not None:
            # Absolute once validated: every trial, worker and saved config names the same files.
            return str(Path(value).expanduser().absolute())
        return value


def anchor_data_paths(raw: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """``raw`` (a run or study file) with relative ``data.path`` / ``data.test_path`` made relative
    to ``folder``, the folder of the file that names them (so a study file and its data folder
    beside it work from anywhere)."""
    out = dict(raw)
    data = out.get("data")
    if isinstance(data, Mapping):
        data = dict(data)
        for key in _PATHS:
            value = data.get(key)
            if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                data[key] = str(folder / value)
        out["data"] = data
    return out
