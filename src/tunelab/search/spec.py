"""The study file: a run configuration plus what is searched, how, for how long and where it is stored.

A study file is a run file (``data``, ``model``, ``train``: the fixed settings) with ``space``,
``strategy``, ``budget``, ``objective``, ``repeats``, ``pruner``, ``final`` and ``storage`` added.
Everything is validated here, before the first trial trains: a mistake is one sentence naming the field.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo

from tunelab.config import (
    KNOWN_MODELS,
    DataConfig,
    MLPConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    _Frozen,
    anchor_data_paths,
    apply_overrides,
    describe_validation_error,
    parse_overrides,
    read_yaml,
    validate_run_config,
)
from tunelab.errors import ConfigError
from tunelab.search.params import (
    RUN_SECTIONS,
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    ListedConfig,
    Param,
    expand_shorthand,
    values_of,
)
from tunelab.search.record import OBJECTIVE_METRICS as OBJECTIVE_METRICS
from tunelab.search.record import PER_EPOCH_METRICS
from tunelab.search.space import Space
from tunelab.search.strategies import STRATEGIES, StrategySettings
from tunelab.search.strategies.random import RandomStrategy  # the default

# Labels pydantic puts in an error's location for the parameter types (the strategies' are their names).
_PARAM_LABELS = ("float", "int", "categorical", "fixed")


def _strategy_union() -> Any:
    """The ``strategy:`` section: one of the registered strategies' settings, told apart by ``name``."""
    configs = tuple(strategy.config for strategy in STRATEGIES.values())
    return Annotated[Union[configs], Field(discriminator="name")]  # noqa: UP007 (a tuple of types)


if TYPE_CHECKING:
    StrategyConfig = StrategySettings
else:
    StrategyConfig = _strategy_union()


# ------------------------------------------------------------------------------- pruner, objective
class PrunerConfig(_Frozen):
    """Stop unpromising trials early, from the per-epoch objective metric: the trials a sampler drew.
    A planned point (grid, listed, staged, final) always trains to its end: its result is the study's."""

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
    retries: int = Field(
        2,
        ge=0,
        description="times a trial that failed by itself (an error, out of memory, divergence) is run "
        "again; one whose worker died or was interrupted is always run again, from its checkpoint",
    )
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
    # False where a finished study is read without its model factory (validation context)
    _known_models: bool = PrivateAttr(True)

    def model_post_init(self, context: Any) -> None:
        if isinstance(context, dict) and context.get(KNOWN_MODELS) is False:
            self._known_models = False

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
        return expand_shorthand(value)

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        strategy, kind = self.strategy.name, STRATEGIES[self.strategy.name]
        if kind.values_from and self.space:
            raise ValueError(
                f"strategy {strategy} takes its values from strategy.{kind.values_from}, not space"
            )
        if not kind.values_from and not self.searched():
            raise ValueError("space has nothing to search; add a parameter with a range or choices")
        if kind.open_ended and not (self.budget.n_trials or self.budget.timeout):
            raise ValueError(f"strategy {strategy} needs a budget: set budget.n_trials or budget.timeout")
        if self.final and kind.open_ended and not self.budget.n_trials:
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
        raw = apply_overrides(self.base_raw(), list(overrides.items()), label=f"{source}: ")
        return validate_run_config(raw, source, known_models=self._known_models)


def refresh_strategies() -> None:
    """Rebuild :class:`StudySpec`'s ``strategy`` field from ``STRATEGIES`` as it is now.

    The field is built when this module is imported; code that registers (or removes) a strategy
    later, a plugin or a test, calls this once afterwards.
    """
    union = _strategy_union()
    globals()["StrategyConfig"] = union  # what the field's annotation names, should pydantic look again
    default = RandomStrategy()
    StudySpec.model_fields["strategy"] = FieldInfo.from_annotated_attribute(union, default)
    StudySpec.model_rebuild(force=True)


# ------------------------------------------------------------------------------------------ loading
def load_study_spec(
    path: str | Path,
    overrides: Iterable[str] = (),
    notes: list[str] | None = None,
    *,
    known_models: bool = True,
) -> StudySpec:
    """Read and validate a study file; ``--set key=value`` overrides apply to it before validation.

    Relative data paths in the file are relative to its folder; those of ``--set``, to the current
    folder. An override of a searched run setting fixes it: the setting leaves the space (see
    :func:`fix_searched`), and ``notes`` (when given) gains a sentence saying so.
    """
    parsed = parse_overrides(overrides)
    raw = anchor_data_paths(read_yaml(path), Path(path).parent)
    raw, said = fix_searched(raw, parsed, str(path))
    if notes is not None:
        notes.extend(said)
    return validate_study_spec(apply_overrides(raw, parsed), str(path), known_models=known_models)


def fix_searched(
    raw: Mapping[str, Any], overrides: Sequence[tuple[str, Any]], source: str
) -> tuple[dict[str, Any], list[str]]:
    """``raw`` without the searched parameters that ``overrides`` fix, and a sentence on each.

    ``--set train.batch_size=16`` on a study that searches ``train.batch_size`` means "this study,
    with the batch size 16": the key leaves ``space`` (or the stage space that varies it; a stage left
    with nothing to vary is dropped). Where the override cannot mean that, it is one sentence
    (ConfigError): a per-layer parameter, a setting that named configurations set, or the only
    parameter searched.
    """
    out = copy.deepcopy(dict(raw))
    notes: list[str] = []
    strategy = out.get("strategy")
    stages = strategy.get("stages") if isinstance(strategy, dict) else None
    for key, value in overrides:
        if not key.startswith(RUN_SECTIONS):
            continue
        shown = f"--set {key}={value}"
        for where, space in _raw_spaces(out.get("space"), stages):
            if key not in space:
                continue
            param = space[key]
            if isinstance(param, dict) and param.get("per_layer") is not None:
                raise ConfigError(
                    f"{shown}: {where}.{key} is drawn per layer (per_layer: {param['per_layer']}); "
                    f"fix it in the space instead, e.g. --set {where}.{key}=VALUE"
                )
            del space[key]
            if where == "space" and not space:
                raise ConfigError(
                    f"{shown}: {key} is all that space searches, so nothing would be left to search; "
                    "drop the --set, or search something else"
                )
            fixed = not isinstance(param, dict | list) or (
                isinstance(param, dict) and ("value" in param or param.get("type") == "fixed")
            )
            said = f"in place of {where}'s fixed value" if fixed else f"it is no longer searched ({where})"
            notes.append(f"{shown} fixes {key}, {said}")
        for config in _raw_configs(strategy, stages):
            if isinstance(config, dict) and key in (config.get("set") or {}):
                raise ConfigError(
                    f"{shown}: the named configuration {config.get('name')!r} sets {key} itself, so an "
                    f"override cannot fix it; edit its set: in {source}"
                )
    if isinstance(stages, list) and isinstance(strategy, dict):
        empty = [st for st in stages if isinstance(st, dict) and "space" in st and not st["space"]]
        notes += [f"stage {st.get('name')!r} varied nothing else: it is left out" for st in empty]
        strategy["stages"] = [st for st in stages if all(st is not e for e in empty)]
        if not strategy["stages"]:
            raise ConfigError("--set: the overrides fix all that the stages vary; nothing is left to search")
    return out, notes


def _raw_spaces(space: Any, stages: Any) -> list[tuple[str, dict[str, Any]]]:
    """The study file's spaces as written: ``space`` and each stage's, with where each is."""
    found = [("space", space)] if isinstance(space, dict) else []
    for i, stage in enumerate(stages if isinstance(stages, list) else []):
        if isinstance(stage, dict) and isinstance(stage.get("space"), dict):
            found.append((f"strategy.stages[{i}].space", stage["space"]))
    return found


def _raw_configs(strategy: Any, stages: Any) -> list[Any]:
    """The named configurations as written: the strategy's ``configs`` and its stages'."""
    configs = list(strategy.get("configs") or []) if isinstance(strategy, dict) else []
    for stage in stages if isinstance(stages, list) else []:
        if isinstance(stage, dict):
            configs += list(stage.get("configs") or [])
    return configs


def validate_study_spec(
    raw: Mapping[str, Any], source: str = "study", *, known_models: bool = True
) -> StudySpec:
    """Validate a study (a mapping) and check that every searched key lands on a real run setting.

    ``known_models=False`` accepts a model kind that no factory is found for: reading a finished
    study whose factory was registered in another process (the report, status, export).
    """
    try:
        spec = StudySpec.model_validate(raw, context={KNOWN_MODELS: known_models})
    except ValidationError as exc:
        labels = {*_PARAM_LABELS, *STRATEGIES}
        raise ConfigError(describe_validation_error(exc, source, labels)) from None
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
    _check_grids(spec, spaces if STRATEGIES[spec.strategy.name].planned else {}, source)
    for key, values in _extremes(spaces).items():
        for overrides in values:
            spec.run_config(overrides, f"{source}: {key}")
    for config in _listed_configs(spec):
        spec.run_config(config.set, f"{source}: configuration {config.name!r}")


def _check_grids(spec: StudySpec, spaces: Mapping[str, Mapping[str, Param]], source: str) -> None:
    """A grid (or a staged study's grid stage) must have finitely many, and not too many, points."""
    for where, space in spaces.items():
        if space:
            try:
                Space(space).grid()
            except ConfigError as exc:  # "space.<key>: ..." or "space: ..."
                raise ConfigError(f"{source}: {where}{str(exc).removeprefix('space')}") from None


def _listed_configs(spec: StudySpec) -> list[ListedConfig]:
    """The named configurations of a strategy that has them: its ``configs``, its stages' ``configs``."""
    strategy = spec.strategy
    in_stages = [c for stage in getattr(strategy, "stages", []) for c in stage.configs]
    return [*getattr(strategy, "configs", []), *in_stages]


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
