"""Search strategies, by name: each builds the study's stages (see ``base.Stage``)."""

from __future__ import annotations

from tunelab.search.strategies.base import (
    Stage,
    Strategy,
    best_trial,
    completed,
    draws_together,
    is_final,
    make_sampler,
    ranked,
)
from tunelab.search.strategies.coarse_to_fine import coarse_to_fine
from tunelab.search.strategies.final import final
from tunelab.search.strategies.grid import grid
from tunelab.search.strategies.listed import listed
from tunelab.search.strategies.samplers import sampled
from tunelab.search.strategies.staged import staged

STRATEGIES: dict[str, Strategy] = {
    "random": sampled,
    "tpe": sampled,
    "gp": sampled,
    "cmaes": sampled,
    "qmc": sampled,
    "grid": grid,
    "listed": listed,
    "staged": staged,
    "coarse_to_fine": coarse_to_fine,
}

__all__ = [
    "STRATEGIES",
    "Stage",
    "Strategy",
    "best_trial",
    "completed",
    "draws_together",
    "final",
    "is_final",
    "make_sampler",
    "ranked",
]
