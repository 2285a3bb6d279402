"""What tunelab keeps in Optuna's storage beside each trial and each study: the only code that spells
the ``tunelab.*`` user-attribute keys.

Writers call :func:`trial_attrs` (a few fields at a time, as a trial advances) or
:meth:`TrialRecord.to_attrs`; readers call :meth:`TrialRecord.from_trial` and
:meth:`StudyRecord.from_study`. A trial that tunelab did not make (plain Optuna code on the same
study) reads as a record with ``external`` true.

What is written is plain JSON: a value that is not a finite number (a one-seed trial's ``_std`` and
``_ci95``, a diverged run's loss) is stored as ``null``, never as ``NaN``, which is not JSON and which
other readers of the storage (optuna-dashboard, a PostgreSQL ``json`` column) reject. The headline
metrics are written once more flat, under their own names (:data:`FLAT_METRICS`: ``val_accuracy``,
``test_accuracy_ci95``, ...), so that optuna-dashboard and ``study.trials_dataframe()`` can sort and
filter trials by them; the nested ``tunelab.metrics`` stays the record's own copy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from optuna.trial import FrozenTrial, TrialState

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
FAILURES = ("diverged", "invalid", "error")
"""A trial that failed by itself: run again until it has failed ``retries + 1`` times (``invalid``,
whose configuration cannot be built, never), then final and counted towards the budget."""
DEATHS = ("interrupted", "worker_died")
"""A trial whose process was stopped or died (killed, Ctrl-C, heartbeat lost): always run again."""
FLAT_METRICS = (*OBJECTIVE_METRICS, "train_time_s", "epochs", "val_accuracy_ci95", "test_accuracy_ci95")
"""The user attributes beside ``tunelab.*`` that hold a trial's headline metrics, one number each
(the mean over its seeds; ``_ci95`` the 95% CI half-width, absent for one seed): what
optuna-dashboard sorts and filters by. Few on purpose: each is one write to the storage per trial."""


@dataclass(frozen=True)
class TrialRecord:
    """tunelab's record of one trial, as its user attributes hold it."""

    stage: int | None = None  # index of the stage that made it
    stage_name: str | None = None
    final: bool = False  # a configuration trained again on fresh seeds after the search
    outcome: str | None = None  # running, completed, pruned, FAILURES or DEATHS
    reason: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # the run file's settings it changed
    pinned: list[str] = field(default_factory=list)  # params the stage held at one value, not drawn
    seeds: list[int] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # one record per seed
    metrics: dict[str, float] = field(default_factory=dict)  # mean, <name>_std, <name>_ci95 over seeds
    device: str | None = None
    worker: dict[str, Any] | None = None  # {"host", "pid"} of the process that ran it
    failures: int = 0  # times its point failed by itself (FAILURES), this trial included
    requeued: bool = False  # it failed by itself and was queued to run again

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord:
        present = _present(cls, trial.user_attrs)
        if "metrics" in present:  # stored as null (JSON has no NaN); NaN in memory, as computed
            present["metrics"] = {k: math.nan if v is None else v for k, v in present["metrics"].items()}
        record = cls(**present)
        if record.outcome == "running" and getattr(trial, "state", None) == TrialState.FAIL:
            # Failed by Optuna as stale: its worker never said why, so the heartbeat says it.
            return replace(record, outcome="worker_died", reason="its worker stopped sending heartbeats")
        return record

    def to_attrs(self) -> dict[str, Any]:
        """Every field as user attributes (and the metrics flat, :data:`FLAT_METRICS`)."""
        return trial_attrs(**{f.name: getattr(self, f.name) for f in fields(self)})

    @property
    def external(self) -> bool:
        """Whether the trial was made by other code than tunelab (it has no stage)."""
        return self.stage is None

    def status(self, trial: FrozenTrial) -> str:
        """The outcome, or Optuna's state for a trial without one; ``external`` (plus its state
        unless complete) for a trial that other code than tunelab made."""
        if self.external:
            state = trial.state.name.lower()
            return "external" if state == "complete" else f"external {state}"
        return self.outcome or trial.state.name.lower()

    def gave_up(self, trial: FrozenTrial) -> bool:
        """Whether ``trial`` failed by itself and is not run again: a final failure."""
        return trial.state == TrialState.FAIL and self.outcome in FAILURES and not self.requeued

    def metric(self, name: str) -> float | None:
        return self.metrics.get(name)

    def drawn(self, trial: FrozenTrial) -> dict[str, Any]:
        """The parameters its stage searched: ``trial.params`` less those it held at one value."""
        return {k: v for k, v in trial.params.items() if k not in self.pinned}


def _present(cls: Any, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of record class ``cls`` that ``attrs`` holds (a missing or null one keeps its default)."""
    return {f.name: attrs[PREFIX + f.name] for f in fields(cls) if attrs.get(PREFIX + f.name) is not None}


_TRIAL_FIELDS = {f.name for f in fields(TrialRecord)}


def trial_attrs(**values: Any) -> dict[str, Any]:
    """Some fields of a :class:`TrialRecord` as user attributes, e.g. ``trial_attrs(outcome="running")``.

    Values are made JSON-safe (non-finite numbers become ``None``); ``metrics`` also gives the flat
    attributes of :data:`FLAT_METRICS` that it holds.
    """
    unknown = set(values) - _TRIAL_FIELDS
    if unknown:
        raise TypeError(f"not a field of TrialRecord: {', '.join(sorted(unknown))}")
    attrs = {PREFIX + name: json_safe(value) for name, value in values.items()}
    metrics = attrs.get(PREFIX + "metrics")
    if isinstance(metrics, Mapping):
        # an undefined one (a one-seed trial's CI) is left out: each attribute is a write
        attrs |= {name: metrics[name] for name in FLAT_METRICS if metrics.get(name) is not None}
    return attrs


def json_safe(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def set_trial_attrs(trial: Any, **values: Any) -> None:
    """Write some fields of the record of ``trial`` (an ``optuna.Trial``)."""
    for key, value in trial_attrs(**values).items():
        trial.set_user_attr(key, value)


def retry_attrs(trial: FrozenTrial, *, fresh: bool = False) -> dict[str, Any]:
    """The user attributes a retry of ``trial`` starts with: its stage and its failures so far (none
    when ``fresh``) and other code's attributes, not the outcome, reason, runs or metrics of this try."""
    record = TrialRecord.from_trial(trial)
    kept = trial_attrs(stage=record.stage, stage_name=record.stage_name, final=record.final)
    kept |= trial_attrs(failures=0 if fresh else record.failures)
    other = {k: v for k, v in trial.user_attrs.items() if not k.startswith(PREFIX)}
    return other | {k: v for k, v in kept.items() if v is not None}


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
        study.set_user_attr(PREFIX + name, json_safe(value))
