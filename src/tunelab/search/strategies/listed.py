"""``listed``: explicit named configurations, e.g. 003's "NN model 1, 1.1, 1.2, 2"."""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial

from tunelab.search.space import Space
from tunelab.search.spec import ListedStrategy, StudySpec
from tunelab.search.strategies.base import Stage


def listed(spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
    assert isinstance(spec.strategy, ListedStrategy)
    if index > 0:
        return None
    space = Space.listed("config", spec.strategy.configs)
    return Stage(name="listed", space=space, points=space.grid())
