"""What ``tunelab status`` and ``tunelab best`` show: computed here, drawn as rich tables."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from optuna.trial import FrozenTrial, TrialState
from rich.table import Table

from tunelab.errors import ConfigError
from tunelab.search.handle import StudyHandle
from tunelab.search.record import TrialRecord
from tunelab.search.scheduling import done_trials
from tunelab.search.strategies.base import is_final

MAX_EXTERNAL = 20  # rows of the external-trials table that status shows


def external_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that other code than tunelab made on the study (``study.optimize`` on its storage)."""
    return [t for t in trials if TrialRecord.from_trial(t).external]


def external_summary(trials: Sequence[FrozenTrial], goal: str) -> dict[str, Any]:
    """How many trials other code made, and the best of them: number, value and parameters."""
    external = external_trials(trials)
    done = [t for t in external if t.state == TrialState.COMPLETE and t.value is not None]
    pick = max if goal == "maximize" else min
    top = pick(done, key=lambda t: float(t.value or 0.0)) if done else None
    best = {"number": top.number, "value": top.value, "params": top.params} if top else None
    return {"count": len(external), "best": best}


def best_summary(handle: StudyHandle) -> dict[str, Any]:
    """The best of tunelab's trials: number, objective, parameters, run settings and metrics (mean
    over seeds); ``external`` says how many trials other code made on the study, and the best of them."""
    trials = handle.study.get_trials(deepcopy=False)
    external = external_summary(trials, handle.spec.objective.goal)
    best = handle.best()
    if best is None:
        others = f" ({external['count']} made by other code than tunelab)" if external["count"] else ""
        raise ConfigError(f"study {handle.spec.name!r} has no completed trial of tunelab's yet{others}")
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
        "external": external,
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
    done = done_trials(trials)
    searched = sum(not is_final(t) for t in done)
    finals = sum(is_final(t) for t in done)
    external = external_trials(trials)
    summary.add_row(
        "trials",
        f"{searched}"
        + (f" / {budget}" if budget else "")
        + (f" + {finals} final" if finals else "")
        + (f" + {len(external)} external (made by other code than tunelab)" if external else ""),
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
            again = set(stage.reused.values())
            done = [t for t in trials if (t in mine or t.number in again) and t.value is not None]
            pick = max if spec.objective.goal == "maximize" else min
            top = pick(done, key=lambda t: cast(float, t.value)) if done else None
            reused = stage.reused
            size = stage.n_trials or (len(stage.points or mine) if stage.planned else "budget")
            details = stage.info.get("bounds") or stage.carried or (stage.info if stage.final else "")
            if reused:  # points an earlier trial had trained: not trained again
                size = f"{size} + {len(reused)} reused"
                details = f"{_compact(details)}; reused " + ", ".join(f"#{n}" for n in reused.values())
            table.add_row(
                str(index),
                stage.name,
                str(len(done_trials(mine))),
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
    if external:
        tables.append(_external_table(external))
    return tables


def _external_table(external: Sequence[FrozenTrial]) -> Table:
    """The trials other code made: their number, state, value and parameters (not ranked by tunelab)."""
    table = Table(title=f"external trials ({len(external)}, made by other code than tunelab; not ranked)")
    for column in ("#", "state", "value", "params"):
        table.add_column(column, overflow="fold")
    for trial in external[-MAX_EXTERNAL:]:
        value = "—" if trial.value is None else f"{trial.value:.4f}"
        table.add_row(str(trial.number), trial.state.name.lower(), value, _compact(trial.params) or "—")
    if len(external) > MAX_EXTERNAL:
        table.caption = f"the last {MAX_EXTERNAL} of {len(external)}"
    return table


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_compact(v)}" for k, v in value.items())
    return f"{value:.4g}" if isinstance(value, float) else str(value)
