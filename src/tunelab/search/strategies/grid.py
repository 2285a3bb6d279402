"""``grid``: every combination of the space's discrete values, each run exactly once (001)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from optuna.trial import FrozenTrial

from tunelab.search.space import Space
from tunelab.search.strategies.base import Stage, Strategy, StrategySettings

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec


class GridStrategy(StrategySettings):
    name: Literal["grid"] = "grid"


def grid(spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
    if index > 0:
        return None
    space = Space(spec.space)
    return Stage(name="grid", space=space, points=space.grid())


STRATEGY = Strategy(GridStrategy, grid, planned=True)
