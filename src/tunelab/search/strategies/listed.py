"""``listed``: explicit named configurations, e.g. 003's "NN model 1, 1.1, 1.2, 2"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from optuna.trial import FrozenTrial
from pydantic import Field, field_validator

from tunelab.search.params import ListedConfig
from tunelab.search.space import Space
from tunelab.search.strategies.base import Stage, Strategy, StrategySettings

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec


class ListedStrategy(StrategySettings):
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


def listed(spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
    assert isinstance(spec.strategy, ListedStrategy)
    if index > 0:
        return None
    space = Space.listed("config", spec.strategy.configs)
    return Stage(name="listed", space=space, points=space.grid())


STRATEGY = Strategy(ListedStrategy, listed, planned=True, values_from="configs")
