"""``staged``: one group of parameters at a time, each stage from the best configuration so far.

003 and 004 tuned by hand this way: optimizer × learning rate first, then dropout, then the
initialisation, then batch normalisation, each time keeping the winner. A stage is a grid over its
``space`` or a list of named ``configs``; the best completed trial of all earlier stages supplies the
settings the stage does not vary.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial

from tunelab.search.space import Space
from tunelab.search.spec import StagedStrategy, StudySpec
from tunelab.search.strategies.base import Stage, ranked


def staged(spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
    assert isinstance(spec.strategy, StagedStrategy)
    if index >= len(spec.strategy.stages):
        return None
    stage = spec.strategy.stages[index]
    best = ranked(trials, spec)[:1]
    carried = dict(best[0].user_attrs.get("tunelab.overrides", {})) if best else {}
    space = Space.listed(stage.name, stage.configs) if stage.configs else Space(stage.space)
    # A later stage varies its own keys; what it carries must not pin them.
    points = space.grid()
    for point in points:
        for key in space.overrides(point):
            carried.pop(key, None)
    info = {"carried_from": best[0].number if best else None}
    return Stage(name=stage.name, space=space, points=points, carried=carried, info=info)
