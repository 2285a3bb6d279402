"""Summaries of staged searches: one table per stage, and the coarse-to-fine strategy's narrowed ranges."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tunelab.analysis.summaries import StudyData, results_table
from tunelab.search.spec import CategoricalParam, FixedParam, FloatParam, IntParam
from tunelab.search.strategies.base import ranked


@dataclass(frozen=True)
class StageSummary:
    """One stage of a staged (or coarse-to-fine) study: what it carried over and its trials, ranked."""

    index: int
    name: str
    carried: dict[str, Any]
    info: dict[str, Any]
    table: pd.DataFrame
    best: int | None


def stage_summaries(data: StudyData) -> list[StageSummary]:
    out = []
    for index, stage in enumerate(data.stages):
        mine = [t for t in data.trials if t.user_attrs.get("tunelab.stage") == index]
        table = results_table(data, mine)
        table = table.drop(columns=[c for c in ("stage",) if c in table])
        top = ranked(mine, data.spec)
        out.append(
            StageSummary(
                index,
                stage.name,
                dict(stage.carried),
                dict(stage.info),
                table,
                top[0].number if top else None,
            )
        )
    return out


def narrowed_bounds(data: StudyData) -> pd.DataFrame | None:
    """Coarse-to-fine: each parameter's coarse range and the fine stage's narrowed one."""
    if data.spec.strategy.name != "coarse_to_fine" or len(data.stages) < 2:
        return None
    coarse, bounds = data.stages[0].space.params, data.stages[1].info.get("bounds") or {}
    rows = []
    for name, new in bounds.items():
        old = coarse.get(name) or coarse.get(name.rpartition(".")[0])
        row: dict[str, Any] = {"parameter": name, "scale": "categorical"}
        if isinstance(old, FloatParam | IntParam):
            row |= {"scale": "log" if old.log else "linear", "coarse_low": old.low, "coarse_high": old.high}
        elif isinstance(old, CategoricalParam):
            row["coarse_choices"] = ", ".join(map(str, old.choices))
        elif isinstance(old, FixedParam):
            row["coarse_choices"] = str(old.value)
        row |= {"fine_low": new.get("low"), "fine_high": new.get("high"), "fine_value": new.get("value")}
        if row.get("coarse_low") is not None and new.get("low") is not None:
            f = math.log if row["scale"] == "log" else float
            width = f(row["coarse_high"]) - f(row["coarse_low"])
            row["fine_share"] = (f(new["high"]) - f(new["low"])) / width if width else math.nan
        rows.append(row)
    columns = ["parameter", "scale", "coarse_low", "coarse_high", "coarse_choices"]
    columns += ["fine_low", "fine_high", "fine_value", "fine_share"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.dropna(axis=1, how="all")
