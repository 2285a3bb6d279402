"""Search strategies, by name: the registry ``STRATEGIES`` and what the study runner asks of it.

Each strategy is one module holding its study-file settings (a pydantic model), its stage builder and,
for a sampled one, its sampler and batching policy, bundled in a :class:`Strategy` named ``STRATEGY``.
The study file's ``strategy:`` section (:mod:`tunelab.search.spec`) is built from this registry, so a
new strategy is one module and one line below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

from tunelab.search.strategies import (
    cmaes,
    coarse_to_fine,
    gp,
    grid,
    listed,
    qmc,
    random,
    staged,
    tpe,
)
from tunelab.search.strategies.base import (
    SamplerFactory,
    Stage,
    StageBuilder,
    Strategy,
    StrategySettings,
    best_trial,
    completed,
    is_final,
    ranked,
)
from tunelab.search.strategies.final import final

if TYPE_CHECKING:  # spec.py imports this package to build its strategy union
    from tunelab.search.spec import StudySpec

# The order is the study file's: error messages and the JSON Schema list strategies in it.
STRATEGIES: dict[str, Strategy] = {
    "random": random.STRATEGY,
    "tpe": tpe.STRATEGY,
    "gp": gp.STRATEGY,
    "cmaes": cmaes.STRATEGY,
    "qmc": qmc.STRATEGY,
    "grid": grid.STRATEGY,
    "coarse_to_fine": coarse_to_fine.STRATEGY,
    "staged": staged.STRATEGY,
    "listed": listed.STRATEGY,
}


def draws_together(stage: Stage) -> bool:
    """Whether a stage's trials may be drawn several at once (to train as one population).

    Planned points lose nothing by being drawn together, nor do the trials of an independent sampler
    (random, QMC: their strategy says so); a model-based sampler learns from each result, so it asks
    for one trial at a time.
    """
    sampler = STRATEGIES.get(stage.sampler)
    return stage.planned or (sampler is not None and sampler.draws_together)


def make_sampler(name: str, spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler behind a sampled stage: that of strategy ``name`` (the stage's ``sampler``)."""
    factory = STRATEGIES[name].sampler
    if factory is None:
        raise ValueError(f"strategy {name!r} has no sampler; a stage's sampler must name one that has")
    return factory(spec, seed)


__all__ = [
    "STRATEGIES",
    "SamplerFactory",
    "Stage",
    "StageBuilder",
    "Strategy",
    "StrategySettings",
    "best_trial",
    "completed",
    "draws_together",
    "final",
    "is_final",
    "make_sampler",
    "ranked",
]
