"""The small study the analysis tests share, and variants of its trials (`from studyfiles import ...`)."""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial, TrialState

SPEC: dict[str, Any] = {
    "name": "report-test",
    "data": {"name": "digits", "val_fraction": 0.2, "normalize": "standardize"},
    "model": {"kind": "mlp", "hidden": [32]},
    "train": {"epochs": 2, "batch_size": 64, "optimizer": "adam"},
    "space": {
        "train.optimizer.lr": {"low": 1.0e-4, "high": 3.0e-2, "log": True},
        "model.dropout": {"low": 0.0, "high": 0.5},
        "train.batch_size": [32, 64],
    },
    "strategy": "random",
    "budget": {"n_trials": 8},
}


def variant(trial: FrozenTrial, number: int, state: TrialState, outcome: str, **attrs: Any) -> FrozenTrial:
    """A copy of ``trial`` under another number and state (no value unless it is complete)."""
    return FrozenTrial(
        number=number,
        state=state,
        value=trial.value if state == TrialState.COMPLETE else None,
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        params=dict(trial.params),
        distributions=dict(trial.distributions),
        user_attrs=dict(trial.user_attrs) | {"tunelab.outcome": outcome} | attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )
