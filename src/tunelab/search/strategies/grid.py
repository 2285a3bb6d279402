"""``grid``: every combination of the space's discrete values, each run exactly once (001)."""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial

from tunelab.search.space import Space
from tunelab.search.spec import StudySpec
from tunelab.search.strategies.base import Stage


def grid(spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
    if index > 0:
        return None
    space = Space(spec.space)
    return Stage(name="grid", space=space, points=space.grid())
