"""``tpe``: Optuna's tree-structured Parzen estimator, after ``n_startup_trials`` random ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import optuna
from pydantic import Field

from tunelab.search.strategies.base import Strategy, StrategySettings
from tunelab.search.strategies.samplers import sampled, startup_trials

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec


class TPEStrategy(StrategySettings):
    name: Literal["tpe"] = "tpe"
    n_startup_trials: int = Field(10, ge=0)


def tpe_sampler(spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials(spec))


STRATEGY = Strategy(TPEStrategy, sampled, tpe_sampler, open_ended=True)
