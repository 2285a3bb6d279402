"""``cmaes``: Optuna's CMA evolution strategy, after ``n_startup_trials`` random ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import optuna
from pydantic import Field

from tunelab.search.strategies.base import Strategy, StrategySettings
from tunelab.search.strategies.samplers import sampled, startup_trials

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec


class CmaEsStrategy(StrategySettings):
    name: Literal["cmaes"] = "cmaes"
    n_startup_trials: int = Field(1, ge=0)


def cmaes_sampler(spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    # Categorical parameters are drawn at random beside CMA-ES, as intended: no warning for each.
    return optuna.samplers.CmaEsSampler(
        seed=seed, n_startup_trials=startup_trials(spec), warn_independent_sampling=False
    )


STRATEGY = Strategy(CmaEsStrategy, sampled, cmaes_sampler, open_ended=True)
