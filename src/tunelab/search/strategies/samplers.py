"""What the sampled strategies (``random``, ``tpe``, ``gp``, ``cmaes``, ``qmc``) share: one stage.

Each of the five is Optuna's sampler with nothing added: one sampled stage over the whole space,
until the study's budget. Their modules hold their settings and their sampler; this one their stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from optuna.trial import FrozenTrial

from tunelab.search.space import Space
from tunelab.search.strategies.base import Stage

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec


def sampled(spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
    """The one stage of a sampled strategy: its sampler over the whole space."""
    if index > 0:
        return None
    return Stage(name=spec.strategy.name, space=Space(spec.space), sampler=spec.strategy.name)


def startup_trials(spec: StudySpec) -> int:
    """Random trials before a model-based sampler starts; 10 where its stage belongs to another strategy
    (coarse_to_fine's TPE stage)."""
    return int(getattr(spec.strategy, "n_startup_trials", 10))
