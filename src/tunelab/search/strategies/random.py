"""``random``: parameters drawn independently and uniformly (on a log scale where asked), 000's search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import optuna

from tunelab.search.strategies.base import Strategy, StrategySettings
from tunelab.search.strategies.samplers import sampled

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec


class RandomStrategy(StrategySettings):
    name: Literal["random"] = "random"


def random_sampler(spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


# Independent draws: a batch of them is as good as one at a time.
STRATEGY = Strategy(RandomStrategy, sampled, random_sampler, draws_together=True, open_ended=True)
