"""What ``tunelab status`` and ``tunelab best`` show: computed here, drawn as rich tables."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

from rich.table import Table

from tunelab.errors import ConfigError
from tunelab.search.handle import StudyHandle
from tunelab.search.record import TrialRecord
from tunelab.search.scheduling import counted
from tunelab.search.strategies.base import is_final


def best_summary(handle: StudyHandle) -> dict[str, Any]:
    """The best trial: number, objective, parameters, run settings and metrics (mean over seeds)."""
    best = handle.best()
    if best is None:
        raise ConfigError(f"study {handle.spec.name!r} has no completed trial yet")
    record = TrialRecord.from_trial(best)
    return {
        "study": handle.spec.name,
        "number": best.number,
        "metric": handle.spec.objective.metric,
        "direction": handle.spec.objective.goal,
        "value": best.value,
        "stage": record.stage_name,
        "params": best.params,
        "overrides": record.overrides,
        "metrics": {k: v for k, v in record.metrics.items() if not k.endswith("_std")},
        "seeds": record.seeds,
    }


def status_tables(handle: StudyHandle) -> list[Table]:
    """A summary table, one row per stage, and the best trial."""
    spec, trials = handle.spec, handle.study.get_trials(deepcopy=False)
    records = {t.number: TrialRecord.from_trial(t) for t in trials}
    states = Counter(records[t.number].status(t) for t in trials)
    summary = Table(title=f"study {spec.name}", show_header=False)
    summary.add_column("key", overflow="fold")
    summary.add_column("value", overflow="fold")
    summary.add_row("storage", handle.storage_shown)
    summary.add_row("strategy", spec.strategy.name)
    summary.add_row(
        "objective",
        f"{spec.objective.goal} {spec.objective.metric}"
        + (f" (mean of {spec.repeats} seeds)" if spec.repeats > 1 else ""),
    )
    budget = handle.spec.budget.n_trials
    searched = sum(counted(t) for t in trials if not is_final(t))
    finals = sum(counted(t) for t in trials if is_final(t))
    summary.add_row(
        "trials",
        f"{searched}" + (f" / {budget}" if budget else "") + (f" + {finals} final" if finals else ""),
    )
    summary.add_row("by outcome", ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
    tables = [summary]

    stages = handle.stages()
    if stages:
        table = Table(title="stages")
        for column in ("#", "stage", "trials", "size", "best", "details"):
            table.add_column(column, overflow="fold")
        for index, stage in enumerate(stages):
            mine = [t for t in trials if records[t.number].stage == index]
            again = set((stage.info.get("reused") or {}).values())
            done = [t for t in trials if (t in mine or t.number in again) and t.value is not None]
            pick = max if spec.objective.goal == "maximize" else min
            top = pick(done, key=lambda t: cast(float, t.value)) if done else None
            reused = stage.info.get("reused") or {}
            size = stage.n_trials if stage.n_trials else (len(mine) if stage.planned else "budget")
            details = stage.info.get("bounds") or stage.carried or (stage.info if stage.final else "")
            if reused:  # points an earlier trial had trained: not trained again
                size = f"{size} + {len(reused)} reused"
                details = f"{_compact(details)}; reused " + ", ".join(f"#{n}" for n in reused.values())
            table.add_row(
                str(index),
                stage.name,
                str(sum(map(counted, mine))),
                str(size),
                f"{top.value:.4f} (#{top.number})" if top else "—",
                _compact(details),
            )
        tables.append(table)

    best = handle.best()
    if best is not None:
        table = Table(title=f"best trial #{best.number}")
        table.add_column("setting", overflow="fold")
        table.add_column("value", overflow="fold")
        record = TrialRecord.from_trial(best)
        for key, value in record.overrides.items():
            table.add_row(key, str(value))
        metrics = record.metrics
        for key in ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "train_time_s"):
            if key in metrics:
                ci = metrics.get(f"{key}_ci95")
                spread = f" ± {ci:.4f}" if isinstance(ci, float) and ci == ci else ""
                table.add_row(key, f"{metrics[key]:.4f}{spread}")
        tables.append(table)
    return tables


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_compact(v)}" for k, v in value.items())
    return f"{value:.4g}" if isinstance(value, float) else str(value)
