"""Validated, frozen configuration of one training run.

A run is ``RunConfig(data, model, train)``. Every model here is frozen and forbids unknown keys, so
a typo in a YAML file is an error that names the field rather than a silently ignored setting.
``load_run_config`` reads YAML (``yaml.safe_load``: data only), applies ``--set key=value``
overrides and turns pydantic's errors into one sentence that names the field.

One module per concern: ``data``, ``model``, ``train`` (the three sections of a run file), ``run``
(the whole run), ``io`` (YAML and ``--set``), ``validation`` (error messages), ``base`` (what the
models share). Import from here: ``from tunelab.config import RunConfig``.
"""

from __future__ import annotations

from tunelab.config.base import PositiveInt, Probability, _Frozen
from tunelab.config.data import FILE_DATASETS, DataConfig, anchor_data_paths
from tunelab.config.io import apply_overrides, parse_overrides, read_yaml
from tunelab.config.model import (
    ACTIVATIONS,
    BUILT_IN,
    KNOWN_MODELS,
    Activation,
    BlockConfig,
    CNNConfig,
    CustomModelConfig,
    InitConfig,
    LCNNConfig,
    MLPConfig,
    ModelConfig,
)
from tunelab.config.run import RunConfig, load_run_config, validate_run_config
from tunelab.config.train import (
    COMPILE_MODES,
    AugmentConfig,
    CompileMode,
    ConstantSchedule,
    CosineSchedule,
    EarlyStoppingConfig,
    ExponentialSchedule,
    OneCycleSchedule,
    OptimizerConfig,
    PlateauSchedule,
    ScheduleConfig,
    StepSchedule,
    TimeSchedule,
    TrainConfig,
)
from tunelab.config.validation import describe_validation_error

__all__ = [
    "ACTIVATIONS",
    "BUILT_IN",
    "COMPILE_MODES",
    "FILE_DATASETS",
    "KNOWN_MODELS",
    "Activation",
    "AugmentConfig",
    "BlockConfig",
    "CNNConfig",
    "CompileMode",
    "ConstantSchedule",
    "CosineSchedule",
    "CustomModelConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "ExponentialSchedule",
    "InitConfig",
    "LCNNConfig",
    "MLPConfig",
    "ModelConfig",
    "OneCycleSchedule",
    "OptimizerConfig",
    "PlateauSchedule",
    "PositiveInt",
    "Probability",
    "RunConfig",
    "ScheduleConfig",
    "StepSchedule",
    "TimeSchedule",
    "TrainConfig",
    "_Frozen",
    "anchor_data_paths",
    "apply_overrides",
    "describe_validation_error",
    "load_run_config",
    "parse_overrides",
    "read_yaml",
    "validate_run_config",
]
