"""``gp``: Optuna's Gaussian-process Bayesian optimisation, after ``n_startup_trials`` random ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import optuna
from pydantic import Field

from tunelab.search.strategies.base import Strategy, StrategySettings
from tunelab.search.strategies.samplers import sampled, startup_trials

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec


class GPStrategy(StrategySettings):
    name: Literal["gp"] = "gp"
    n_startup_trials: int = Field(10, ge=0)


def gp_sampler(spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup_trials(spec))


STRATEGY = Strategy(GPStrategy, sampled, gp_sampler, open_ended=True)
