"""``qmc``: a quasi-random Sobol or Halton sequence, which covers the space more evenly than random."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import optuna

from tunelab.search.strategies.base import Strategy, StrategySettings
from tunelab.search.strategies.samplers import sampled

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec


class QMCStrategy(StrategySettings):
    name: Literal["qmc"] = "qmc"
    qmc_type: Literal["sobol", "halton"] = "sobol"


def qmc_sampler(spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    # The QMC sequence is keyed by its seed: a fixed seed lets a resumed study continue it.
    return optuna.samplers.QMCSampler(
        qmc_type=getattr(spec.strategy, "qmc_type", "sobol"),
        seed=spec.seed,
        warn_independent_sampling=False,
    )


# The sequence's next points do not depend on results: a batch of them is as good as one at a time.
STRATEGY = Strategy(QMCStrategy, sampled, qmc_sampler, draws_together=True, open_ended=True)
