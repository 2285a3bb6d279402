"""``staged``: one group of parameters at a time, each stage from the best configuration so far.

003 and 004 tuned by hand this way: optimizer × learning rate first, then dropout, then the
initialisation, then batch normalisation, each time keeping the winner. A stage is a grid over its
``space`` or a list of named ``configs``; the best completed trial of all earlier stages supplies the
settings the stage does not vary. A point that is the configuration of a trial already trained (the
incumbent itself, usually) reuses that trial rather than training it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from optuna.trial import FrozenTrial
from pydantic import Field, field_validator, model_validator

from tunelab.config import _Frozen
from tunelab.errors import ConfigError
from tunelab.search.params import ListedConfig, Param, expand_shorthand
from tunelab.search.record import TrialRecord
from tunelab.search.space import Space
from tunelab.search.strategies.base import Stage, Strategy, StrategySettings, completed, ranked

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec


class StageConfig(_Frozen):
    """One step of a staged study: a grid over ``space`` or a list of ``configs``."""

    name: str = Field(min_length=1)
    space: dict[str, Param] = Field(default_factory=dict)
    configs: list[ListedConfig] = Field(default_factory=list)

    @field_validator("space", mode="before")
    @classmethod
    def _space_shorthand(cls, value: Any) -> Any:
        return expand_shorthand(value)

    @model_validator(mode="after")
    def _one_kind(self) -> StageConfig:
        if bool(self.space) == bool(self.configs):
            raise ValueError(
                "give either space (a grid) or configs (named configurations), not both or neither"
            )
        return self


class StagedStrategy(StrategySettings):
    """003, 004: stages in order; each starts from the best configuration found so far."""

    name: Literal["staged"] = "staged"
    stages: list[StageConfig] = Field(min_length=1)

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


def staged(spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
    """Stage ``index``: its grid (or configurations) on top of the best trial so far; a point whose
    configuration a completed trial already trained is not trained again, its trial is reused
    (``info["reused"]``: the point's label to that trial's number)."""
    assert isinstance(spec.strategy, StagedStrategy)
    if index >= len(spec.strategy.stages):
        return None
    stage = spec.strategy.stages[index]
    best = ranked(trials, spec)[:1]
    carried = dict(TrialRecord.from_trial(best[0]).overrides) if best else {}
    space = Space.listed(stage.name, stage.configs) if stage.configs else Space(stage.space)
    # A later stage varies its own keys; what it carries must not pin them.
    points = space.grid()
    for point in points:
        for key in space.overrides(point):
            carried.pop(key, None)
    trained = _trained(spec, trials)
    reused: dict[str, int] = {}
    for point in points:
        number = trained.get(_configuration(spec, carried | space.overrides(point)))
        if number is not None:
            reused[", ".join(f"{k}={v}" for k, v in point.items())] = number
    points = [p for p in points if ", ".join(f"{k}={v}" for k, v in p.items()) not in reused]
    info: dict[str, Any] = {"carried_from": best[0].number if best else None}
    if reused:
        info["reused"] = reused
    # The best's parameters that this stage does not vary are pinned: its trials record them too.
    pinned = {k: v for k, v in best[0].params.items() if not space.covers(k)} if best else {}
    return Stage(name=stage.name, space=space, points=points, carried=carried, pinned=pinned, info=info)


def _configuration(spec: StudySpec, overrides: dict[str, Any]) -> str | None:
    """A trial's effective run configuration, as text to compare (None: not a valid one)."""
    try:
        return spec.run_config(overrides, "stage").model_dump_json()
    except ConfigError:
        return None


def _trained(spec: StudySpec, trials: Sequence[FrozenTrial]) -> dict[str | None, int]:
    """The configuration of each completed search trial, to the first trial that trained it."""
    out: dict[str | None, int] = {}
    for trial in sorted(completed(trials), key=lambda t: t.number):
        record = TrialRecord.from_trial(trial)
        if not record.final and not record.external:
            out.setdefault(_configuration(spec, record.overrides), trial.number)
    out.pop(None, None)
    return out


STRATEGY = Strategy(StagedStrategy, staged, planned=True, values_from="stages")
