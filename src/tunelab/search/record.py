"""What tunelab keeps in Optuna's storage beside each trial and each study: the only code that spells
the ``tunelab.*`` user-attribute keys.

Writers call :func:`trial_attrs` (a few fields at a time, as a trial advances) or
:meth:`TrialRecord.to_attrs`; readers call :meth:`TrialRecord.from_trial` and
:meth:`StudyRecord.from_study`. A trial that tunelab did not make (plain Optuna code on the same
study) reads as a record with ``external`` true.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from optuna.trial import FrozenTrial

from tunelab.train.metrics import SCALAR_METRICS

PREFIX = "tunelab."
SPLITS = ("val", "test")
SPLIT_METRICS = tuple(f"{split}_{name}" for split in SPLITS for name in SCALAR_METRICS)
"""Every metric measured on a split: ``val_accuracy``, ``val_loss``, ..., ``test_recall``."""
RUN_SCALARS = (*SPLIT_METRICS, "train_time_s", "epochs")
"""The per-run scalars that a trial aggregates over its seeds (mean, ``_std``, ``_ci95``)."""
PER_EPOCH_METRICS = ("val_accuracy", "val_loss")
"""Metrics recorded after every epoch: what a pruner and early stopping can follow."""
OBJECTIVE_METRICS = ("val_accuracy", "val_loss", "val_f1", "test_accuracy", "test_loss", "test_f1")
# Outcomes that count towards the budget; "interrupted" and "worker_died" trials are run again.
FINAL_FAILURES = ("diverged", "invalid", "error")


@dataclass(frozen=True)
class TrialRecord:
    """tunelab's record of one trial, as its user attributes hold it."""

    stage: int | None = None  # index of the stage that made it
    stage_name: str | None = None
    final: bool = False  # a configuration trained again on fresh seeds after the search
    outcome: str | None = None  # running, completed, pruned, diverged, invalid, error, interrupted, ...
    reason: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # the run file's settings it changed
    seeds: list[int] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # one record per seed
    metrics: dict[str, float] = field(default_factory=dict)  # mean, <name>_std, <name>_ci95 over seeds
    device: str | None = None
    worker: dict[str, Any] | None = None  # {"host", "pid"} of the process that ran it

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord:
        return cls(**_present(cls, trial.user_attrs))

    def to_attrs(self) -> dict[str, Any]:
        return {PREFIX + f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def external(self) -> bool:
        """Whether the trial was made by other code than tunelab (it has no stage)."""
        return self.stage is None

    def status(self, trial: FrozenTrial) -> str:
        """The outcome, or Optuna's state for a trial without one."""
        return self.outcome or trial.state.name.lower()

    def metric(self, name: str) -> float | None:
        return self.metrics.get(name)


def _present(cls: Any, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of record class ``cls`` that ``attrs`` holds (a missing or null one keeps its default)."""
    return {f.name: attrs[PREFIX + f.name] for f in fields(cls) if attrs.get(PREFIX + f.name) is not None}


_TRIAL_FIELDS = {f.name for f in fields(TrialRecord)}


def trial_attrs(**values: Any) -> dict[str, Any]:
    """Some fields of a :class:`TrialRecord` as user attributes, e.g. ``trial_attrs(outcome="running")``."""
    unknown = set(values) - _TRIAL_FIELDS
    if unknown:
        raise TypeError(f"not a field of TrialRecord: {', '.join(sorted(unknown))}")
    return {PREFIX + name: value for name, value in values.items()}


def set_trial_attrs(trial: Any, **values: Any) -> None:
    """Write some fields of the record of ``trial`` (an ``optuna.Trial``)."""
    for key, value in trial_attrs(**values).items():
        trial.set_user_attr(key, value)


@dataclass(frozen=True)
class StudyRecord:
    """tunelab's record of a study, as its user attributes hold it."""

    spec: dict[str, Any] | None = None  # the comparable study file it was made from
    provenance: dict[str, Any] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)  # Stage.to_raw() of each started stage
    data_dir: str | None = None  # the --data-dir its trials read their data from (absolute)

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> StudyRecord:
        return cls(**_present(cls, attrs))

    @classmethod
    def from_study(cls, study: Any) -> StudyRecord:
        """The record of an ``optuna.Study``."""
        return cls.from_attrs(study.user_attrs)


_STUDY_FIELDS = {f.name for f in fields(StudyRecord)}


def set_study_attrs(study: Any, **values: Any) -> None:
    """Write some fields of the record of ``study`` (an ``optuna.Study``)."""
    unknown = set(values) - _STUDY_FIELDS
    if unknown:
        raise TypeError(f"not a field of StudyRecord: {', '.join(sorted(unknown))}")
    for name, value in values.items():
        study.set_user_attr(PREFIX + name, value)
