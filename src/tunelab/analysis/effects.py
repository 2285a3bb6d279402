"""How the parameters relate to the objective: fANOVA importance, Spearman correlations, densities.

Importance is Optuna's fANOVA on the completed trials. A study whose stages sample the same
parameter from different ranges (coarse-to-fine) would leave Optuna no common search space, so the
trials are first copied into an in-memory study over the union of their ranges. Densities follow
paper 002: a Gaussian KDE of each numeric parameter over the best ``q`` of the trials beside the KDE
over all of them (in log space for a log-scaled parameter).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState
from scipy import stats

from tunelab.analysis.summaries import StudyData, drawn
from tunelab.search.record import TrialRecord
from tunelab.search.strategies.base import ranked


@dataclass(frozen=True)
class Importance:
    """``table``: parameter, importance (sums to 1), best first; empty with ``note`` saying why."""

    table: pd.DataFrame
    note: str | None = None


def param_importance(data: StudyData, seed: int = 0) -> Importance:
    """fANOVA importance of the parameters every completed trial has and that vary between trials."""
    done = [t for t in data.searched if t.state == TrialState.COMPLETE and t.value is not None]
    empty = pd.DataFrame(columns=["parameter", "importance"])
    if len(done) < 2:
        return Importance(empty, "importance needs at least two completed trials")
    common = set.intersection(*(set(drawn(t)) for t in done))
    varying = [n for n in data.param_names() if n in common and len({repr(t.params[n]) for t in done}) > 1]
    if not varying:
        why = "no parameter is shared by all completed trials" if not common else "no parameter varies"
        return Importance(empty, f"importance needs a varying parameter common to all trials ({why})")
    study = optuna.create_study(direction=data.goal)
    distributions = unified_distributions(done)
    study.add_trials(
        optuna.trial.create_trial(
            params={n: t.params[n] for n in varying},
            distributions={n: distributions[n] for n in varying},
            value=t.value,
        )
        for t in done
    )
    try:
        scores = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed), params=varying
        )
    except (ValueError, RuntimeError) as exc:
        return Importance(empty, f"fANOVA failed: {exc}")
    table = pd.DataFrame(
        [(name, float(score)) for name, score in scores.items()], columns=["parameter", "importance"]
    )
    return Importance(table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True))


def unified_distributions(trials: Sequence[FrozenTrial]) -> dict[str, BaseDistribution]:
    """Each parameter's distribution widened to cover every trial's (numeric: min low, max high)."""
    out: dict[str, BaseDistribution] = {}
    for trial in trials:
        for name, dist in trial.distributions.items():
            old = out.get(name)
            if old is None:
                out[name] = dist
            elif isinstance(old, FloatDistribution | IntDistribution) and type(old) is type(dist):
                log = old.log and dist.log
                same = old.step == dist.step and not log
                low, high = min(old.low, dist.low), max(old.high, dist.high)
                if isinstance(old, FloatDistribution):
                    out[name] = FloatDistribution(low, high, log=log, step=old.step if same else None)
                else:
                    out[name] = IntDistribution(int(low), int(high), log=log, step=old.step if same else 1)
            elif isinstance(old, CategoricalDistribution) and isinstance(dist, CategoricalDistribution):
                out[name] = CategoricalDistribution(list(dict.fromkeys([*old.choices, *dist.choices])))
    return out


def correlations(data: StudyData) -> pd.DataFrame:
    """Spearman's rho between each parameter and the objective over the completed trials.

    Numeric parameters (and categorical ones whose choices are all numbers) give one row; any other
    categorical gives one row per choice, correlating the objective with "trial used this choice"
    (``kind`` one-hot). Fewer than three trials, or a constant column, give NaN.
    """
    done = [t for t in data.searched if t.state == TrialState.COMPLETE and t.value is not None]
    rows: list[dict[str, Any]] = []
    for name in data.param_names():
        have = [t for t in done if name in drawn(t)]
        values = [t.params[name] for t in have]
        objective = np.array([t.value for t in have], dtype=float)
        if _numeric(values):
            rows.append(_spearman(name, "numeric", np.asarray(values, dtype=float), objective))
        else:
            for choice in dict.fromkeys(map(str, values)):
                hot = np.array([str(v) == choice for v in values], dtype=float)
                rows.append(_spearman(f"{name} = {choice}", "one-hot", hot, objective))
    return pd.DataFrame(rows, columns=["parameter", "kind", "rho", "p_value", "n"])


def _numeric(values: Sequence[Any]) -> bool:
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _spearman(name: str, kind: str, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    rho = p = math.nan
    if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        result = stats.spearmanr(x, y)
        rho, p = float(result.statistic), float(result.pvalue)
    return {"parameter": name, "kind": kind, "rho": rho, "p_value": p, "n": len(x)}


# ---------------------------------------------------------------------------------------- densities
@dataclass(frozen=True)
class Density:
    """One parameter's KDE over all trials and over the top ``q`` (``top`` None if too few to fit)."""

    parameter: str
    log: bool
    grid: np.ndarray  # parameter values (original units)
    all: np.ndarray | None  # density per unit (per log10 unit when log)
    top: np.ndarray | None
    all_values: np.ndarray
    top_values: np.ndarray
    bounds: tuple[float, float] | None = None  # the fine stage's range (coarse-to-fine)

    def frame(self) -> pd.DataFrame:
        """The curves as a table: ``value``, ``all``, ``top``."""
        nan = np.full(len(self.grid), np.nan)
        return pd.DataFrame(
            {
                "parameter": self.parameter,
                "value": self.grid,
                "all": nan if self.all is None else self.all,
                "top": nan if self.top is None else self.top,
            }
        )


def densities(data: StudyData, q: float = 0.2, points: int = 200) -> list[Density]:
    """KDEs of every numeric (float or int) parameter: the best ``q`` of the trials against all.

    A coarse-to-fine study uses its coarse (random) stage only, as paper 002 did to set the fine
    ranges, and carries each parameter's fine range in ``bounds``.
    """
    trials = ranked(data.searched, data.spec)
    bounds: dict[str, Any] = {}
    if data.spec.strategy.name == "coarse_to_fine":
        trials = [t for t in trials if TrialRecord.from_trial(t).stage == 0]
        if len(data.stages) > 1:
            bounds = dict(data.stages[1].info.get("bounds") or {})
    if len(trials) < 3:
        return []
    n_top = max(2, math.ceil(q * len(trials)))
    distributions = unified_distributions(trials)
    out = []
    for name in data.param_names():
        dist = distributions.get(name)
        if not isinstance(dist, FloatDistribution | IntDistribution):
            continue
        have = [t for t in trials if name in drawn(t)]
        values = np.array([t.params[name] for t in have], dtype=float)
        if len(np.unique(values)) < 3:
            continue
        top_values = np.array([t.params[name] for t in have[:n_top]], dtype=float)
        log = bool(dist.log) and bool(np.all(values > 0))
        f = np.log10 if log else (lambda v: np.asarray(v, dtype=float))
        lo, hi = f(min(dist.low, values.min())), f(max(dist.high, values.max()))
        axis = np.linspace(lo, hi, points)
        grid = 10**axis if log else axis
        span = bounds.get(name) or {}
        fine = (span["low"], span["high"]) if "low" in span else None
        curves = _kde(f(values), axis), _kde(f(top_values), axis)
        out.append(Density(name, log, grid, *curves, values, top_values, fine))
    return out


def _kde(x: np.ndarray, axis: np.ndarray) -> np.ndarray | None:
    if len(x) < 2 or np.ptp(x) == 0:
        return None
    try:
        return stats.gaussian_kde(x)(axis)
    except np.linalg.LinAlgError:
        return None


def density_table(densities: Sequence[Density]) -> pd.DataFrame:
    """Per parameter: the centre of all trials and of the top ones, and the top's mean ± std range.

    The centre is the mean, or the geometric mean for a log-scaled parameter (whose std is taken in
    log space): the range paper 002 (and the coarse-to-fine strategy with width 1) searches next.
    """
    rows = []
    for d in densities:
        f, inv = (np.log10, lambda v: 10**v) if d.log else ((lambda v: v), (lambda v: v))
        top = f(d.top_values)
        mean, std = float(np.mean(top)), float(np.std(top, ddof=1)) if len(top) > 1 else math.nan
        rows.append(
            {
                "parameter": d.parameter,
                "scale": "log" if d.log else "linear",
                "n_all": len(d.all_values),
                "n_top": len(d.top_values),
                "all_centre": float(inv(np.mean(f(d.all_values)))),
                "top_centre": float(inv(mean)),
                "top_low": float(inv(mean - std)),
                "top_high": float(inv(mean + std)),
            }
        )
    columns = ["parameter", "scale", "n_all", "n_top", "all_centre", "top_centre", "top_low", "top_high"]
    return pd.DataFrame(rows, columns=columns)
