"""The planned points of a study (grid points, named configurations, staged and final-seed points).

A planned stage keeps its points with it (``Stage.to_raw``) and enqueues each one as a trial; the
trials of a point are those of its stage that Optuna's ``enqueue_trial`` fixed to it (system
attribute ``fixed_params``, which retries keep). A point is

- ``done``: one of its trials completed or was pruned;
- ``pending``: one of them waits or runs;
- ``failed``: it failed by itself ``retries + 1`` times (or its configuration is invalid);
- ``missing``: none of these: its process died between failing it and queueing it again, or before
  it was queued at all, or an older tunelab gave up on it after ``retries`` deaths.

Under the study lock, a run queues every missing point again (and, with ``--retry-failed``, every
failed one) before it starts (:func:`repair`); when it ends, :func:`shortfall` counts what the
study still lacks, which the CLI's exit code reports.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from optuna.trial import FrozenTrial, TrialState

from tunelab.search.record import StudyRecord, TrialRecord, trial_attrs
from tunelab.search.trial_store import TrialStore

PointState = Literal["done", "pending", "failed", "missing"]


@dataclass(frozen=True)
class Point:
    """One planned point of stage ``stage`` and the trials that ran it (retries included)."""

    stage: int
    raw: Mapping[str, Any]  # the stage, as Stage.to_raw wrote it
    values: dict[str, Any]
    trials: tuple[FrozenTrial, ...]

    @property
    def state(self) -> PointState:
        states = {t.state for t in self.trials}
        if states & {TrialState.COMPLETE, TrialState.PRUNED}:
            return "done"
        if states & {TrialState.WAITING, TrialState.RUNNING}:
            return "pending"
        if any(TrialRecord.from_trial(t).gave_up(t) for t in self.trials):
            return "failed"
        return "missing"

    @property
    def last(self) -> FrozenTrial | None:
        return max(self.trials, key=lambda t: t.number, default=None)


def _key(values: Mapping[str, Any]) -> str:
    return json.dumps(values, sort_keys=True)


def planned_points(study: optuna.Study) -> list[Point]:
    """Every point of every planned stage started so far, with its trials."""
    trials = study.get_trials(deepcopy=False)
    by_point: dict[tuple[int, str], list[FrozenTrial]] = {}
    for trial in trials:
        fixed, stage = trial.system_attrs.get("fixed_params"), TrialRecord.from_trial(trial).stage
        if fixed is not None and stage is not None:
            by_point.setdefault((stage, _key(fixed)), []).append(trial)
    points = []
    for index, raw in enumerate(StudyRecord.from_study(study).stages):
        if raw.get("n_points") is None:
            continue  # a sampled stage
        values = raw.get("points")
        if values is None:  # made by an older tunelab: the points its trials name
            values = [ts[0].system_attrs["fixed_params"] for (s, _), ts in by_point.items() if s == index]
        unique = {_key(v): v for v in values}
        points += [Point(index, raw, v, tuple(by_point.get((index, k), ()))) for k, v in unique.items()]
    return points


@dataclass(frozen=True)
class Redo:
    """What a run takes up before anything new: counts of trials and points."""

    resumed: int  # interrupted, died or queued again after an error: run again, from a checkpoint if any
    retried: int  # failed points run again (--retry-failed)
    new: int  # planned points queued and never started
    failed: int  # failed points left as they are (no --retry-failed)

    def __bool__(self) -> bool:
        return bool(self.resumed or self.retried or self.new or self.failed)


def repair(store: TrialStore, retry_failed: bool = False) -> Redo:
    """Queue again the missing planned points and, with ``retry_failed``, the failed ones (under the lock).

    A point with trials is queued as a retry of its last one (so it continues from that chain's
    checkpoint); a failed one starts its count of failures again.
    """
    study = store.study
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    chained = sum(t.system_attrs.get("failed_trial") is not None for t in waiting)
    missing = retried = left = 0
    for point in planned_points(study):
        state = point.state
        if state == "missing":
            _queue(store, point, fresh=False)
            missing += 1
        elif state == "failed" and retry_failed:
            _queue(store, point, fresh=True)
            retried += 1
        elif state == "failed":
            left += 1
    return Redo(chained + missing, retried, len(waiting) - chained, left)


def _queue(store: TrialStore, point: Point, *, fresh: bool) -> None:
    last = point.last
    if last is not None:
        store.requeue(last.number, fresh=fresh)
        return
    attrs = trial_attrs(stage=point.stage, stage_name=point.raw["name"])
    if point.raw.get("final"):
        attrs |= trial_attrs(final=True)
    store.study.enqueue_trial(point.values, user_attrs=attrs)


@dataclass(frozen=True)
class Shortfall:
    """What a study lacks after a run: planned points that failed, and those left unfinished."""

    planned: int
    failed: Counter[str]  # by outcome
    unfinished: int  # missing, or pending after a run that did not finish
    finished: bool  # the run ended by itself (done, budget or timeout), not with all its workers dead

    def __bool__(self) -> bool:
        return bool(self.failed or self.unfinished or not self.finished)

    def message(self) -> str:
        """One line for the end of ``tunelab run``: what is missing, and what to do."""
        parts = []
        if self.failed:
            by = ", ".join(f"{k} {v}" for k, v in sorted(self.failed.items()))
            parts.append(f"{self.failed.total()} of {self.planned} planned points failed ({by})")
        if self.unfinished:
            parts.append(f"{self.unfinished} of {self.planned} planned points did not finish")
        if not parts:
            parts.append("the study did not finish")
        todo = (
            "run again with --retry-failed to retry the failed ones" if self.failed else "run again to resume"
        )
        return "; ".join(parts) + f"; {todo}"


def shortfall(study: optuna.Study, *, finished: bool) -> Shortfall:
    """What the study lacks now; ``finished``: whether the run ended by itself (pending points then
    are the budget's or the timeout's to leave, not missing)."""
    points = planned_points(study)
    states = [p.state for p in points]
    failed = Counter(_outcome(p.trials) for p, s in zip(points, states, strict=True) if s == "failed")
    unfinished = states.count("missing") + (0 if finished else states.count("pending"))
    return Shortfall(len(points), failed, unfinished, finished)


def _outcome(trials: Iterable[FrozenTrial]) -> str:
    gave_up = [t for t in trials if TrialRecord.from_trial(t).gave_up(t)]
    last = max(gave_up, key=lambda t: t.number)
    return TrialRecord.from_trial(last).outcome or "error"
