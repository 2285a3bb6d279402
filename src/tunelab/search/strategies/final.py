"""``final``: after the search, its best configurations trained again on fresh seeds.

A search picks the configuration whose one run (or mean of ``repeats`` runs) scored best, and that
score is biased upwards: part of the win is the luck of the seed. The final stage trains the best
``final.top`` configurations again with ``final.seeds`` seeds that the search did not use, so the
study reports each one as mean ± 95% CI over fresh runs (what papers 000-004 report as a single run).
It follows any strategy, once its stages are done or, for a sampled one, once the budget is spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from optuna.trial import FrozenTrial

from tunelab.search.params import ListedConfig
from tunelab.search.record import TrialRecord
from tunelab.search.space import Space
from tunelab.search.strategies.base import Stage, is_final, ranked

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec

NAME = "final"


def final(spec: StudySpec, trials: Sequence[FrozenTrial]) -> Stage | None:
    """The final stage from the search's trials; None without ``spec.final`` or a completed trial."""
    if spec.final is None:
        return None
    best = ranked([t for t in trials if not is_final(t)], spec)[: spec.final.top]
    if not best:
        return None
    configs = [
        ListedConfig(name=f"trial {t.number}", set=dict(TrialRecord.from_trial(t).overrides)) for t in best
    ]
    space = Space.listed(NAME, configs)
    # Each point pins its search trial's parameters, so a final trial's params are the whole configuration.
    points = [
        {NAME: c.name} | {k: v for k, v in t.params.items() if k != NAME}
        for c, t in zip(configs, best, strict=True)
    ]
    return Stage(
        name=NAME,
        space=space,
        points=points,
        repeats=spec.final.seeds,
        seed_offset=spec.repeats,  # the search used seeds train.seed .. train.seed + repeats - 1
        final=True,
        info={"from_trials": [t.number for t in best], "seeds": spec.final.seeds},
    )
