"""``coarse_to_fine``: 002's random search, then a Bayesian search where the best trials were.

Stage 1 draws ``coarse_trials`` at random from the whole space. Its best ``top_fraction`` of trials
then set a narrower space: a numeric parameter's new range is mean ± ``width`` × std of its values in
those trials (in log space for a log-scaled one), clipped to the old range; a discrete parameter
takes its most frequent value. Stage 2 runs TPE for ``fine_trials`` in that space. The bounds are
stored with the stage, so ``status`` and the report show them; a parameter narrowed to one value is
pinned (each fine trial records it as a parameter too).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from optuna.trial import FrozenTrial
from pydantic import Field

from tunelab.search.params import FixedParam, FloatParam, IntParam, Param
from tunelab.search.space import Space
from tunelab.search.strategies.base import Stage, Strategy, StrategySettings, completed, ranked

if TYPE_CHECKING:
    from tunelab.search.spec import StudySpec


class CoarseToFineStrategy(StrategySettings):
    """002: random search, then TPE in the range mean ± std of the best ``top_fraction``."""

    name: Literal["coarse_to_fine"] = "coarse_to_fine"
    coarse_trials: int = Field(30, gt=1)
    fine_trials: int = Field(20, gt=0)
    top_fraction: float = Field(0.2, gt=0.0, le=1.0)
    width: float = Field(1.0, gt=0.0, description="the new range is mean ± width × std")


def coarse_to_fine(spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
    strategy = spec.strategy
    assert isinstance(strategy, CoarseToFineStrategy)
    space = Space(spec.space)
    if index == 0:
        return Stage(name="coarse", space=space, n_trials=strategy.coarse_trials, sampler="random")
    if index > 1:
        return None
    coarse = ranked(completed(trials, stage=0), spec)
    n_top = max(2, math.ceil(strategy.top_fraction * len(coarse)))
    narrowed, bounds = narrow(space, coarse[:n_top], strategy.width)
    info = {"top_trials": [t.number for t in coarse[:n_top]], "bounds": bounds, "of": len(coarse)}
    pinned = {name: bound["value"] for name, bound in bounds.items() if "value" in bound}
    return Stage(
        name="fine", space=narrowed, n_trials=strategy.fine_trials, sampler="tpe", info=info, pinned=pinned
    )


def narrow(space: Space, top: Sequence[FrozenTrial], width: float) -> tuple[Space, dict[str, Any]]:
    """The space around ``top``'s parameter values, and the new bounds by parameter name."""
    params: dict[str, Param] = dict(space.params)
    bounds: dict[str, Any] = {}
    names = sorted({name for t in top for name in t.params}, key=_order(space))
    for name in names:
        values = [t.params[name] for t in top if name in t.params]
        template = space.params.get(name) or space.params[name.rpartition(".")[0]]
        new = _narrow_one(template, values, width)
        params[name] = new
        bounds[name] = (
            {"value": new.value} if isinstance(new, FixedParam) else {"low": new.low, "high": new.high}
        )
    return Space(params, space.named), bounds


def _narrow_one(param: Param, values: list[Any], width: float) -> FloatParam | IntParam | FixedParam:
    if not isinstance(param, FloatParam | IntParam):
        return FixedParam(value=Counter(values).most_common(1)[0][0])
    x = np.log(values) if param.log else np.asarray(values, dtype=float)
    mean, std = float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0
    low, high = mean - width * std, mean + width * std
    if param.log:
        low, high = math.exp(low), math.exp(high)
    low, high = max(low, param.low), min(high, param.high)
    if isinstance(param, IntParam):
        step = param.step
        low_i = param.low + math.ceil((low - param.low) / step - 1e-9) * step
        high_i = param.low + math.floor((high - param.low) / step + 1e-9) * step
        if low_i >= high_i:  # the range holds one value of the parameter's grid at most: the nearest
            centre = math.exp(mean) if param.log else mean
            last = param.low + (param.high - param.low) // step * step  # the grid's largest value
            value = param.low + round((centre - param.low) / step) * step
            return FixedParam(value=int(min(max(value, param.low), last)))
        return IntParam(low=low_i, high=high_i, step=step, log=param.log)
    if param.step is not None:
        low = param.low + math.ceil((low - param.low) / param.step - 1e-9) * param.step
        high = param.low + math.floor((high - param.low) / param.step + 1e-9) * param.step
        low, high = round(low, 12), round(high, 12)
    if not low < high:
        return FixedParam(value=float(np.mean(values)))
    return FloatParam(low=low, high=high, log=param.log, step=param.step)


def _order(space: Space) -> Any:
    """Depth parameters and plain ones before per-layer ones, so a fixed depth is known first."""
    keys = list(space.params)

    def key(name: str) -> tuple[int, int, str]:
        base = name if name in space.params else name.rpartition(".")[0]
        return (name not in space.params, keys.index(base) if base in keys else len(keys), name)

    return key


# No sampler of its own: its stages name the random and TPE samplers.
STRATEGY = Strategy(CoarseToFineStrategy, coarse_to_fine)
