"""One training run, ``RunConfig(data, model, train)``, and loading it from a run file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tunelab.config.base import _Frozen
from tunelab.config.data import DataConfig, anchor_data_paths
from tunelab.config.io import apply_overrides, parse_overrides, read_yaml
from tunelab.config.model import KNOWN_MODELS, MLPConfig, ModelConfig
from tunelab.config.train import TrainConfig
from tunelab.config.validation import describe_validation_error
from tunelab.errors import ConfigError


class RunConfig(_Frozen):
    """One training run: what data, which network, how it is trained."""

    name: str = "run"
    data: DataConfig = DataConfig()
    model: ModelConfig = MLPConfig()
    train: TrainConfig = TrainConfig()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def validate_run_config(
    raw: Mapping[str, Any], source: str = "config", *, known_models: bool = True
) -> RunConfig:
    """Validate a run configuration; ``known_models=False`` accepts a model kind that no factory
    is found for (reading what a study with a factory of another process saved)."""
    try:
        return RunConfig.model_validate(raw, context={KNOWN_MODELS: known_models})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None


def load_run_config(path: str | Path, overrides: Iterable[str] = ()) -> RunConfig:
    """Load a run file, apply ``--set`` overrides and validate it.

    Relative data paths in the file are relative to its folder; those of ``--set``, to the
    current folder."""
    raw = anchor_data_paths(read_yaml(path), Path(path).parent)
    raw = apply_overrides(raw, parse_overrides(overrides))
    return validate_run_config(raw, str(path))
