"""Summaries of staged searches: one table per stage, and the coarse-to-fine strategy's narrowed ranges."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tunelab.analysis.summaries import StudyData, results_table
from tunelab.search.record import TrialRecord
from tunelab.search.spec import CategoricalParam, FixedParam, FloatParam, IntParam
from tunelab.search.strategies.base import is_final, ranked


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
    """The search's stages (the final stage has a table of its own: :func:`final_table`)."""
    out = []
    for index, stage in enumerate(data.stages):
        if stage.final:
            continue
        reused = set(stage.reused.values())  # points trained in an earlier stage
        mine = [t for t in data.trials if TrialRecord.from_trial(t).stage == index or t.number in reused]
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


def final_table(data: StudyData) -> pd.DataFrame | None:
    """The final stage: each configuration's search result beside its mean ± 95% CI on fresh seeds."""
    stage = next((s for s in data.stages if s.final), None)
    if stage is None:
        return None
    sources = {f"trial {n}": n for n in stage.info.get("from_trials", [])}
    by_number = {t.number: t for t in data.trials}
    metric = data.metric
    shown = list(dict.fromkeys([metric, "val_accuracy", "test_accuracy", "test_f1", "train_time_s"]))
    rows = []
    for trial in [t for t in data.trials if is_final(t)]:
        name = trial.params.get("final", "")
        source = by_number.get(sources.get(name, -1))
        record = TrialRecord.from_trial(trial)
        metrics = record.metrics
        row: dict[str, Any] = {
            "configuration": name,
            "final_trial": trial.number,
            "status": str(record.status(trial)),
            "seeds": ", ".join(map(str, record.seeds)),
            f"search_{metric}": source.value if source is not None else math.nan,
        }
        for name in shown:
            row |= {name: metrics.get(name, math.nan), f"{name}_ci95": metrics.get(f"{name}_ci95", math.nan)}
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    ascending = data.goal == "minimize"
    return frame.sort_values(metric, ascending=ascending, na_position="last").reset_index(drop=True)
