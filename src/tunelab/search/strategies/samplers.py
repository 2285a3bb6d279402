"""``random``, ``tpe``, ``gp``, ``cmaes``, ``qmc``: one sampled stage over the whole space.

These five are Optuna's samplers with nothing added, so they share this module rather than each
having a file of three lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial

from tunelab.search.space import Space
from tunelab.search.spec import StudySpec
from tunelab.search.strategies.base import Stage


def sampled(spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
    if index > 0:
        return None
    return Stage(name=spec.strategy.name, space=Space(spec.space), sampler=spec.strategy.name)
