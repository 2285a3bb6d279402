"""Which dataset a run uses, how it is split and scaled."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tunelab.config.base import PositiveInt, _Frozen
from tunelab.data.registry import find_info, unknown_dataset
from tunelab.errors import ConfigError


class DataConfig(_Frozen):
    """Which dataset, how it is split and scaled."""

    name: str = "digits"
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

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        try:
            found = find_info(name)
        except ConfigError as exc:  # an installed plug-in that cannot be loaded
            raise ValueError(str(exc)) from None
        if found is None:
            raise ValueError(unknown_dataset(name))
        return name
