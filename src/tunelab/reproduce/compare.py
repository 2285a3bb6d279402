"""Paper against tunelab: one row per number with a verdict from the interval, and ranking checks.

Pure compute on plain values, so that the rules are tested on their own: a verdict is ``inside``
only when the paper's number lies in tunelab's 95% CI (Student t over seeds); ``above`` / ``below``
say on which side of the interval the paper's number is; with one value there is no interval, and
the verdict says so (``no CI (1 seed)``) with the difference alone.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tunelab.stats import mean_ci

INSIDE, ABOVE, BELOW, NO_CI, MISSING = "inside", "above", "below", "no CI (1 seed)", "not measured"


@dataclass(frozen=True)
class Row:
    """One paper number set against tunelab's: ``diff`` is tunelab's mean minus the paper's."""

    id: str
    table: str
    row: str
    metric: str
    split: str
    part: str
    paper: float
    values: tuple[float, ...]
    mean: float
    ci95: float
    diff: float
    verdict: str
    note: str = ""

    @property
    def n(self) -> int:
        return len(self.values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["values"] = list(self.values)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def verdict(paper: float, values: Sequence[float]) -> tuple[float, float, float, str]:
    """tunelab's mean and CI half-width over ``values``, the difference from ``paper``, the verdict.

    The paper's number is ``above`` the interval when it exceeds tunelab's upper limit (tunelab
    measured less), ``below`` when it is under the lower one.
    """
    clean = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not clean:
        return math.nan, math.nan, math.nan, MISSING
    mean, _, half = mean_ci(clean)
    diff = mean - paper
    if len(clean) == 1 or math.isnan(half):
        return mean, math.nan, diff, NO_CI
    if paper > mean + half:
        return mean, half, diff, ABOVE
    if paper < mean - half:
        return mean, half, diff, BELOW
    return mean, half, diff, INSIDE


def compare_row(
    id: str,
    table: str,
    row: str,
    metric: str,
    split: str,
    part: str,
    paper: float,
    values: Sequence[float],
    note: str = "",
) -> Row:
    mean, half, diff, said = verdict(paper, values)
    clean = tuple(float(v) for v in values if v is not None and not math.isnan(float(v)))
    return Row(id, table, row, metric, split, part, paper, clean, mean, half, diff, said, note)


@dataclass(frozen=True)
class RankingCheck:
    """Whether tunelab orders the numbers as the paper does; ``tunelab_order`` by tunelab's means."""

    id: str
    table: str
    claim: str
    paper_order: tuple[str, ...]
    tunelab_order: tuple[str, ...]
    holds: bool | None  # None: some number was not measured
    swaps: tuple[tuple[str, str], ...]  # pairs the paper ranks a > b that tunelab ranks b > a
    ties: tuple[tuple[str, str], ...]  # adjacent pairs whose tunelab intervals overlap

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "paper_order": list(self.paper_order),
            "tunelab_order": list(self.tunelab_order),
            "swaps": [list(p) for p in self.swaps],
            "ties": [list(p) for p in self.ties],
        }

    @property
    def verdict(self) -> str:
        if self.holds is None:
            return "not measured"
        if self.holds:
            return "holds"
        return f"differs ({len(self.swaps)} pair{'s' * (len(self.swaps) != 1)} swapped)"


def check_ranking(
    id: str,
    table: str,
    claim: str,
    order: Sequence[str],
    rows: Mapping[str, Row],
    higher_is_better: bool = True,
) -> RankingCheck:
    """Compare the paper's ``order`` (best first) with the order of tunelab's means.

    Every pair the paper ranks is checked (not only neighbours); a pair whose tunelab means are
    equal counts as kept. ``ties`` names the neighbours in tunelab's order whose 95% intervals
    overlap: their order is within seed noise.
    """
    sign = 1.0 if higher_is_better else -1.0
    measured = [k for k in order if k in rows and not math.isnan(rows[k].mean)]
    if len(measured) < len(order):
        return RankingCheck(id, table, claim, tuple(order), tuple(measured), None, (), ())
    ours = tuple(sorted(order, key=lambda k: -sign * rows[k].mean))
    swaps = tuple(
        (a, b)
        for i, a in enumerate(order)
        for b in order[i + 1 :]
        if sign * rows[a].mean < sign * rows[b].mean
    )
    ties = tuple((a, b) for a, b in itertools.pairwise(ours) if _overlap(rows[a], rows[b]))
    return RankingCheck(id, table, claim, tuple(order), ours, not swaps, swaps, ties)


def _overlap(a: Row, b: Row) -> bool:
    if math.isnan(a.ci95) or math.isnan(b.ci95):
        return False
    return abs(a.mean - b.mean) <= a.ci95 + b.ci95


def verdict_counts(rows: Sequence[Row]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.verdict] = counts.get(row.verdict, 0) + 1
    return counts
