"""A study's trials as one table: one row per trial, as ``tunelab export`` writes it."""

from __future__ import annotations

from typing import Any

import pandas as pd
from optuna.trial import FrozenTrial

from tunelab.search.handle import StudyHandle
from tunelab.search.record import RUN_SCALARS, TrialRecord


def trial_row(trial: FrozenTrial) -> dict[str, Any]:
    """Parameters, metrics (mean, std and 95% CI half-width over seeds), status, duration and seeds."""
    record = TrialRecord.from_trial(trial)
    duration = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start
        else None
    )
    row: dict[str, Any] = {
        "number": trial.number,
        "stage": record.stage_name,
        "state": trial.state.name,
        "outcome": record.outcome,
        "reason": record.reason,
        "value": trial.value,
        "duration_s": duration,
        "seeds": ",".join(map(str, record.seeds)),
        "n_runs": len(record.runs),
        "device": record.device,
        "retry_of": trial.system_attrs.get("failed_trial"),
    }
    row |= {f"params_{k}": v for k, v in trial.params.items()}
    for name in RUN_SCALARS:
        for suffix in ("", "_std", "_ci95"):
            row[name + suffix] = record.metric(name + suffix)
    return row


def trials_dataframe(handle: StudyHandle) -> pd.DataFrame:
    """Every trial of the study, in trial order."""
    rows = [trial_row(t) for t in handle.study.get_trials(deepcopy=False)]
    frame = pd.DataFrame(rows)
    params = sorted(c for c in frame.columns if c.startswith("params_"))
    rest = [c for c in frame.columns if not c.startswith("params_")]
    head, tail = rest[: rest.index("value") + 1], rest[rest.index("value") + 1 :]
    return frame[head + params + tail] if rows else frame
