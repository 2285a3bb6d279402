"""The study file: a run configuration plus what is searched, how, for how long and where it is stored.

A study file is a run file (``data``, ``model``, ``train``: the fixed settings) with ``space``,
``strategy``, ``budget``, ``objective``, ``repeats``, ``pruner``, ``final`` and ``storage`` added.
Everything is validated here, before the first trial trains: a mistake is one sentence naming the field.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from tunelab.config import (
    DataConfig,
    MLPConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    _Frozen,
    apply_overrides,
    describe_validation_error,
    parse_overrides,
    read_yaml,
)
from tunelab.errors import ConfigError

Scalar = bool | int | float | str | None
RUN_SECTIONS = ("data.", "model.", "train.")
PER_EPOCH_METRICS = ("val_accuracy", "val_loss")
OBJECTIVE_METRICS = ("val_accuracy", "val_loss", "val_f1", "test_accuracy", "test_loss", "test_f1")


# -------------------------------------------------------------------------------------- parameters
class _Param(_Frozen):
    per_layer: str | None = Field(
        None, description="name of the depth parameter: one value is drawn per layer (model.hidden.0, ...)"
    )


class FloatParam(_Param):
    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be used together")
        return self


class IntParam(_Param):
    type: Literal["int"] = "int"
    low: int
    high: int
    step: int = Field(1, gt=0)
    log: bool = False

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError("log and step cannot be used together")
        return self


class CategoricalParam(_Param):
    type: Literal["categorical"] = "categorical"
    choices: list[Scalar] = Field(min_length=1)

    @field_validator("choices", mode="before")
    @classmethod
    def _scalars(cls, choices: Any) -> Any:
        for choice in choices if isinstance(choices, list) else []:
            if isinstance(choice, list | dict):
                raise ValueError(
                    f"choice {choice!r} is a {type(choice).__name__}; a choice must be a number, string, "
                    "boolean or null (vary a list with per_layer, or use strategy listed)"
                )
        return choices

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[Scalar]) -> list[Scalar]:
        if len({repr(c) for c in choices}) != len(choices):
            raise ValueError("choices must be distinct")
        return choices


class FixedParam(_Param):
    type: Literal["fixed"] = "fixed"
    value: Any


Param = Annotated[FloatParam | IntParam | CategoricalParam | FixedParam, Field(discriminator="type")]


def _space_shorthand(value: Any) -> Any:
    return {k: _param_shorthand(v) for k, v in value.items()} if isinstance(value, dict) else value


def _check_range(low: float, high: float, log: bool) -> None:
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log scale needs low > 0 (got {low})")


def _param_shorthand(value: Any) -> Any:
    """``[a, b]`` is categorical, a scalar is fixed, ``{low, high}`` is int when both are ints."""
    if isinstance(value, list):
        return {"type": "categorical", "choices": value}
    if not isinstance(value, dict):
        return {"type": "fixed", "value": value}
    if "type" in value:
        return value
    if "choices" in value:
        return {"type": "categorical", **value}
    if "value" in value:
        return {"type": "fixed", **value}
    ints = all(isinstance(value.get(k), int) and not isinstance(value.get(k), bool) for k in ("low", "high"))
    return {"type": "int" if ints and not value.get("log") else "float", **value}


# -------------------------------------------------------------------------------------- strategies
class RandomStrategy(_Frozen):
    name: Literal["random"] = "random"


class TPEStrategy(_Frozen):
    name: Literal["tpe"] = "tpe"
    n_startup_trials: int = Field(10, ge=0)


class GPStrategy(_Frozen):
    name: Literal["gp"] = "gp"
    n_startup_trials: int = Field(10, ge=0)


class CmaEsStrategy(_Frozen):
    name: Literal["cmaes"] = "cmaes"
    n_startup_trials: int = Field(1, ge=0)


class QMCStrategy(_Frozen):
    name: Literal["qmc"] = "qmc"
    qmc_type: Literal["sobol", "halton"] = "sobol"


class GridStrategy(_Frozen):
    name: Literal["grid"] = "grid"


class CoarseToFineStrategy(_Frozen):
    """002: random search, then TPE in the range mean ± std of the best ``top_fraction``."""

    name: Literal["coarse_to_fine"] = "coarse_to_fine"
    coarse_trials: int = Field(30, gt=1)
    fine_trials: int = Field(20, gt=0)
    top_fraction: float = Field(0.2, gt=0.0, le=1.0)
    width: float = Field(1.0, gt=0.0, description="the new range is mean ± width × std")


class ListedConfig(_Frozen):
    """One named configuration: dotted run settings, e.g. ``{model.hidden: [128, 64]}``."""

    name: str = Field(min_length=1)
    set: dict[str, Any] = Field(default_factory=dict)


class Stage(_Frozen):
    """One step of a staged study: a grid over ``space`` or a list of ``configs``."""

    name: str = Field(min_length=1)
    space: dict[str, Param] = Field(default_factory=dict)
    configs: list[ListedConfig] = Field(default_factory=list)

    @field_validator("space", mode="before")
    @classmethod
    def _space_shorthand(cls, value: Any) -> Any:
        return _space_shorthand(value)

    @model_validator(mode="after")
    def _one_kind(self) -> Stage:
        if bool(self.space) == bool(self.configs):
            raise ValueError(
                "give either space (a grid) or configs (named configurations), not both or neither"
            )
        return self


class StagedStrategy(_Frozen):
    """003, 004: stages in order; each starts from the best configuration found so far."""

    name: Literal["staged"] = "staged"
    stages: list[Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> StagedStrategy:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError("stage names must be distinct")
        seen: dict[str, str] = {}
        for stage in self.stages:
            for key in stage.space:
                if key in seen:
                    raise ValueError(f"{key} is varied in stage {seen[key]!r} and again in {stage.name!r}")
                seen[key] = stage.name
        return self


class ListedStrategy(_Frozen):
    """003: explicit named configurations, each trained once (times ``repeats``)."""

    name: Literal["listed"] = "listed"
    configs: list[ListedConfig] = Field(min_length=1)

    @field_validator("configs")
    @classmethod
    def _distinct(cls, configs: list[ListedConfig]) -> list[ListedConfig]:
        names = [c.name for c in configs]
        if len(set(names)) != len(names):
            raise ValueError("configuration names must be distinct")
        return configs


StrategyConfig = Annotated[
    RandomStrategy
    | TPEStrategy
    | GPStrategy
    | CmaEsStrategy
    | QMCStrategy
    | GridStrategy
    | CoarseToFineStrategy
    | StagedStrategy
    | ListedStrategy,
    Field(discriminator="name"),
]
PLANNED = ("grid", "listed", "staged")  # strategies whose trials are known in advance
SAMPLED = ("random", "tpe", "gp", "cmaes", "qmc")  # one open-ended sampled stage, until the budget


# ------------------------------------------------------------------------------- pruner, objective
class PrunerConfig(_Frozen):
    """Stop unpromising trials early, from the per-epoch objective metric."""

    name: Literal["none", "median", "asha", "hyperband"] = "none"
    n_startup_trials: int = Field(5, ge=0, description="median: trials before pruning starts")
    n_warmup_steps: int = Field(0, ge=0, description="median: epochs before a trial can be pruned")
    min_resource: int | Literal["auto"] = Field("auto", description="asha / hyperband: minimum epochs")
    reduction_factor: int = Field(3, ge=2)


class ObjectiveConfig(_Frozen):
    metric: Literal["val_accuracy", "val_loss", "val_f1", "test_accuracy", "test_loss", "test_f1"] = (
        "val_accuracy"
    )
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="default: maximize accuracy and F1, minimize loss"
    )

    @property
    def goal(self) -> Literal["maximize", "minimize"]:
        return self.direction or ("minimize" if self.metric.endswith("loss") else "maximize")


class FinalConfig(_Frozen):
    """After the search: the best configurations trained again on fresh seeds, for mean ± 95% CI."""

    top: int = Field(1, ge=1, le=50, description="how many of the best configurations to train again")
    seeds: int = Field(3, ge=2, le=100, description="fresh seeds per configuration (after repeats' seeds)")


class BudgetConfig(_Frozen):
    n_trials: int | None = Field(None, gt=0, description="trials in the whole study (all workers)")
    timeout: float | None = Field(None, gt=0, description="seconds for this worker")


# ------------------------------------------------------------------------------------------ study
class StudySpec(_Frozen):
    """A whole study, as written in a study file."""

    name: str = Field(description="names the study in its storage and its output folder")
    description: str = ""
    data: DataConfig = DataConfig()
    model: ModelConfig = MLPConfig()
    train: TrainConfig = TrainConfig()
    space: dict[str, Param] = Field(default_factory=dict)
    strategy: StrategyConfig = RandomStrategy()
    budget: BudgetConfig = BudgetConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    repeats: int = Field(1, ge=1, le=100, description="seeds per configuration: train.seed, +1, ...")
    pruner: PrunerConfig = PrunerConfig()
    final: FinalConfig | None = Field(
        None, description="after the search, train the best configurations again on fresh seeds"
    )
    storage: str | None = Field(None, description="SQLAlchemy URL; default: sqlite in the output folder")
    seed: int = Field(0, description="seed of the sampler")
    retries: int = Field(2, ge=0, description="times a trial whose worker died or was interrupted is rerun")
    population: int = Field(
        16,
        ge=1,
        le=256,
        description="runs (trials × repeats) of one architecture trained together as one vectorised "
        "population when a strategy offers several at once; 1 trains them one by one",
    )
    population_padding: bool | Literal["auto"] = Field(
        "auto",
        description="train MLPs of different widths, depths, activations and dropout rates as one "
        "population, zero-padded to the largest; auto: any on a GPU, on a CPU only those with the "
        "same layer sizes (a CPU pays for padded arithmetic)",
    )
    checkpoint_interval_s: float = Field(
        10.0, ge=0, description="checkpoint a running trial at the end of an epoch at most this often"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ValueError("use letters, digits, '.', '_' and '-' only (it names a folder)")
        return name

    @field_validator("population_padding", mode="before")
    @classmethod
    def _padding(cls, value: Any) -> Any:
        if isinstance(value, bool) or value == "auto":
            return value
        raise ValueError(f"must be true, false or auto, got {value!r}")

    @field_validator("strategy", "objective", "pruner", mode="before")
    @classmethod
    def _named(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            return {"metric": value} if info.field_name == "objective" else {"name": value}
        return value

    @field_validator("space", mode="before")
    @classmethod
    def _space_shorthand(cls, value: Any) -> Any:
        return _space_shorthand(value)

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        strategy = self.strategy.name
        if strategy in ("listed", "staged") and self.space:
            raise ValueError(
                f"strategy {strategy} takes its values from strategy.{_plan_field(strategy)}, not space"
            )
        if strategy not in ("listed", "staged") and not self.searched():
            raise ValueError("space has nothing to search; add a parameter with a range or choices")
        if strategy in SAMPLED and not (self.budget.n_trials or self.budget.timeout):
            raise ValueError(f"strategy {strategy} needs a budget: set budget.n_trials or budget.timeout")
        if self.final and strategy in SAMPLED and not self.budget.n_trials:
            raise ValueError(
                f"final needs budget.n_trials with strategy {strategy}: it starts when the trials are done"
            )
        if self.pruner.name != "none" and self.objective.metric not in PER_EPOCH_METRICS:
            raise ValueError(
                f"pruner {self.pruner.name} needs an objective recorded every epoch "
                f"({' or '.join(PER_EPOCH_METRICS)}), not {self.objective.metric}"
            )
        return self

    def searched(self) -> dict[str, Param]:
        return {k: p for k, p in self.space.items() if not isinstance(p, FixedParam)}

    def base_raw(self) -> dict[str, Any]:
        """The fixed settings as a plain dict, ready for dotted overrides."""
        return {
            "name": self.name,
            "data": self.data.model_dump(mode="json"),
            "model": self.model.model_dump(mode="json"),
            "train": self.train.model_dump(mode="json"),
        }

    def run_config(self, overrides: Mapping[str, Any], source: str = "trial") -> RunConfig:
        """The run configuration of one trial: the fixed settings with ``overrides`` applied."""
        from tunelab.config import validate_run_config

        raw = apply_overrides(self.base_raw(), list(overrides.items()), label=f"{source}: ")
        return validate_run_config(raw, source)


def _plan_field(strategy: str) -> str:
    return "configs" if strategy == "listed" else "stages"


# ------------------------------------------------------------------------------------------ loading
def load_study_spec(path: str | Path, overrides: Iterable[str] = ()) -> StudySpec:
    """Read and validate a study file; ``--set key=value`` overrides apply to it before validation."""
    raw = apply_overrides(read_yaml(path), parse_overrides(overrides))
    return validate_study_spec(raw, str(path))


def validate_study_spec(raw: Mapping[str, Any], source: str = "study") -> StudySpec:
    """Validate a study (a mapping) and check that every searched key lands on a real run setting."""
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None
    check_space(spec, source)
    return spec


def check_space(spec: StudySpec, source: str) -> None:
    """Each parameter must map into the run configuration, and its extreme values must validate."""
    stages = getattr(spec.strategy, "stages", [])
    spaces = {"space": spec.space} | {f"strategy.stages[{i}].space": s.space for i, s in enumerate(stages)}
    for where, space in spaces.items():
        for key, param in space.items():
            if param.per_layer is not None:
                depth = space.get(param.per_layer)
                if depth is None:
                    raise ConfigError(
                        f"{source}: {where}.{key}: per_layer names {param.per_layer!r}, which is not in "
                        f"{where}"
                    )
                if not isinstance(depth, IntParam | CategoricalParam | FixedParam) or depth.per_layer:
                    raise ConfigError(
                        f"{source}: {where}.{param.per_layer}: a depth parameter must be an int"
                    )
            if not key.startswith(RUN_SECTIONS) and not any(p.per_layer == key for p in space.values()):
                raise ConfigError(
                    f"{source}: {where}.{key}: not a run setting (expected a dotted key such as "
                    "train.optimizer.lr) and no per_layer parameter refers to it"
                )
    _check_grids(spec, spaces if spec.strategy.name in PLANNED else {}, source)
    for key, values in _extremes(spaces).items():
        for overrides in values:
            spec.run_config(overrides, f"{source}: {key}")
    for config in _listed_configs(spec):
        spec.run_config(config.set, f"{source}: configuration {config.name!r}")


def _check_grids(spec: StudySpec, spaces: Mapping[str, Mapping[str, Param]], source: str) -> None:
    """A grid (or a staged study's grid stage) must have finitely many, and not too many, points."""
    from tunelab.search.space import Space

    for where, space in spaces.items():
        if space:
            try:
                Space(space).grid()
            except ConfigError as exc:  # "space.<key>: ..." or "space: ..."
                raise ConfigError(f"{source}: {where}{str(exc).removeprefix('space')}") from None


def _listed_configs(spec: StudySpec) -> list[ListedConfig]:
    strategy = spec.strategy
    if isinstance(strategy, ListedStrategy):
        return list(strategy.configs)
    if isinstance(strategy, StagedStrategy):
        return [c for stage in strategy.stages for c in stage.configs]
    return []


def values_of(param: Param) -> list[Any]:
    """The finite values of a discrete parameter (used by the grid and to validate extremes)."""
    if isinstance(param, CategoricalParam):
        return list(param.choices)
    if isinstance(param, FixedParam):
        return [param.value]
    if isinstance(param, IntParam):
        if param.log:
            raise ValueError("a log-scaled int has no grid; give choices instead")
        return list(range(param.low, param.high + 1, param.step))
    if param.step is None:
        raise ValueError("a float range without step has no grid; give a step or choices")
    n = math.floor((param.high - param.low) / param.step + 1e-9)
    return [round(param.low + i * param.step, 12) for i in range(n + 1)]


def _ends(param: Param) -> list[Any]:
    if isinstance(param, FloatParam | IntParam):
        return [param.low, param.high]
    return values_of(param)


def _extremes(spaces: Mapping[str, Mapping[str, Param]]) -> dict[str, list[dict[str, Any]]]:
    """Override sets with the end values of each searched key (per-layer keys at every depth).

    Keyed by where the key is written: ``space.<key>`` or ``strategy.stages[i].space.<key>``.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for where, sub in spaces.items():
        for key, param in sub.items():
            if not key.startswith(RUN_SECTIONS):
                continue
            if param.per_layer is None:
                out[f"{where}.{key}"] = [{key: v} for v in _ends(param)]
                continue
            siblings = {k: p for k, p in sub.items() if p.per_layer == param.per_layer}
            out[f"{where}.{key}"] = [
                {k: [v] * depth for k, v in zip(siblings, combo, strict=True)}
                for depth in _ends(sub[param.per_layer])
                for combo in itertools.product(
                    *(_ends(p)[:: max(1, len(_ends(p)) - 1)] for p in siblings.values())
                )
            ]
    return out
