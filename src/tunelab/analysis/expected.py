"""Expected best validation score as a function of the number of trials (Dodge et al., 2019).

"Show Your Work" (Dodge, Gururangan, Card, Schwartz, Smith; EMNLP 2019) reports, for every budget
``n`` up to the ``N`` trials that were run, the expected maximum of ``n`` trials drawn with
replacement from the ``N`` observed scores. With the scores sorted ascending, ``v_(1) <= ... <= v_(N)``,
the maximum of ``n`` draws is at most ``v_(i)`` with probability ``(i/N)^n``, so

    E[max_n] = sum_i v_(i) * ((i/N)^n - ((i-1)/N)^n)

and the variance is ``E[max_n^2] - E[max_n]^2`` with the same weights. A minimised objective (a loss)
uses the minimum instead: the same formula on the scores sorted descending.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

Goal = Literal["maximize", "minimize"]


def expected_best(values: Sequence[float], n: int, goal: Goal = "maximize") -> tuple[float, float]:
    """Mean and standard deviation of the best of ``n`` draws (with replacement) from ``values``."""
    v = np.sort(np.asarray(values, dtype=float))
    if v.size == 0 or n < 1:
        raise ValueError("expected_best needs at least one value and n >= 1")
    if goal == "minimize":
        v = v[::-1]
    size = v.size
    i = np.arange(1, size + 1, dtype=float)
    weights = (i / size) ** n - ((i - 1) / size) ** n
    mean = float(np.sum(weights * v))
    second = float(np.sum(weights * v * v))
    return mean, math.sqrt(max(second - mean * mean, 0.0))


def expected_best_curve(
    values: Sequence[float], goal: Goal = "maximize", n_max: int | None = None
) -> pd.DataFrame:
    """``n``, ``mean``, ``std``, and ``low``/``high`` (mean ± std clipped to the observed range)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    columns = ["n", "mean", "std", "low", "high"]
    if not finite:
        return pd.DataFrame(columns=columns)
    lo, hi = min(finite), max(finite)
    rows = []
    for n in range(1, (n_max or len(finite)) + 1):
        mean, std = expected_best(finite, n, goal)
        rows.append((n, mean, std, max(mean - std, lo), min(mean + std, hi)))
    return pd.DataFrame(rows, columns=columns)


def budget_verdict(curve: pd.DataFrame, metric: str, goal: Goal = "maximize") -> str:
    """One sentence: did the last doubling of the budget (N/2 to N trials) still pay?

    It did not, and the budget looks sufficient, when the expected best improved by at most half its
    spread at N, or by at most 0.5% of its value: the curve has flattened out.
    """
    if len(curve) < 2:
        return "One completed trial cannot tell whether the budget was sufficient."
    last = curve.iloc[-1]
    half = curve.iloc[max(len(curve) // 2 - 1, 0)]
    size, half_n = int(last["n"]), int(half["n"])
    gain = (last["mean"] - half["mean"]) * (1 if goal == "maximize" else -1)
    spread = float(last["std"])
    numbers = (
        f"the expected best {metric} goes from {half['mean']:.4f} with {_trials(half_n)} to "
        f"{last['mean']:.4f} with {_trials(size)} (a gain of {gain:.4f}; spread ±{spread:.4f} at {size})"
    )
    if gain <= max(0.5 * spread, 0.005 * abs(float(last["mean"])), 1e-12):
        return f"The budget looks sufficient: {numbers}, so more trials would likely add little."
    return (
        f"The budget looks too small: {numbers}; the curve is still rising, so more trials would "
        "likely find a better configuration."
    )


def _trials(n: int) -> str:
    return f"{n} trial" + ("" if n == 1 else "s")
