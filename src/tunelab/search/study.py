"""Run a study: open (or resume) it in its storage and work through its stages, trial by trial.

Every worker, in this process or on another machine, runs the same loop: under the study lock its
:class:`~tunelab.search.scheduling.Schedule` says what to train next; without the lock its
:class:`~tunelab.search.execution.Executor` trains it; then the schedule tells the outcomes.
Stopping at any moment loses nothing: finished trials are in the storage, and an interrupted trial
is queued to run again.

The device is resolved here, once per worker (``auto`` becomes e.g. ``cuda``): the trial records,
every run folder's saved configuration and the study's provenance name the device actually used.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from tunelab.errors import TunelabError
from tunelab.provenance import provenance
from tunelab.search.checkpoints import clear as clear_checkpoints
from tunelab.search.execution import Executor, Observer, Prepared
from tunelab.search.handle import StudyHandle, load_study, open_study
from tunelab.search.record import StudyRecord, set_study_attrs
from tunelab.search.results import trials_dataframe
from tunelab.search.scheduling import Schedule, counted
from tunelab.search.spec import StudySpec, load_study_spec, validate_study_spec
from tunelab.search.storage import study_lock
from tunelab.search.strategies import Stage, best_trial
from tunelab.search.trial_store import TrialStore
from tunelab.train import resolve_device

__all__ = [
    "Observer",
    "StudyHandle",
    "StudyResult",
    "Worker",
    "counted",
    "load_study",
    "open_study",
    "run_study",
]

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Heartbeats and stale-trial retries are what a resumable study needs; Optuna flags them experimental
# and expects Study.optimize, which this runner replaces with ask/tell to control stages and budgets.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")

POLL_S = 0.5


class Worker:
    """One process working through a study until its stages are done or the budget is spent."""

    def __init__(
        self,
        handle: StudyHandle,
        *,
        n_trials: int | None = None,
        timeout: float | None = None,
        data_dir: Path | None = None,
        device: str | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.handle, self.spec, self.study = handle, handle.spec, handle.study
        self.n_trials = n_trials or self.spec.budget.n_trials
        self.timeout = timeout or self.spec.budget.timeout
        # The one place the device is resolved; everything below is given the result.
        self.device = str(resolve_device(device or self.spec.train.device))
        self.observer = observer or Observer()
        self.provenance = provenance(self.device)
        self.store = TrialStore(handle.study, handle.storage)
        self.schedule = Schedule(self.spec, self.store, n_trials=self.n_trials, device=self.device)
        self.executor = Executor(
            self.spec,
            self.store,
            url=handle.url,
            out_dir=handle.out_dir,
            device=self.device,
            provenance=self.provenance,
            data_dir=data_dir,
            observer=self.observer,
        )

    def run(self) -> None:
        """Run trials until there is nothing left to do (or the budget or timeout is reached)."""
        with study_lock(self.handle.url, self.spec.name):
            if not StudyRecord.from_study(self.study).provenance:  # the first worker's, device resolved
                set_study_attrs(self.study, provenance=self.provenance)
        self.executor.splits(self.spec.run_config({}, "study"))  # missing data fails here, before any trial
        trials = self.study.get_trials(deepcopy=False)
        self.observer.started(self.spec, self.handle.storage_shown, sum(map(counted, trials)), self.n_trials)
        start = time.monotonic()
        while self.timeout is None or time.monotonic() - start < self.timeout:
            with study_lock(self.handle.url, self.spec.name):
                action, batch, stage = self.schedule.next()
            if action == "done":
                return
            if action == "wait":
                time.sleep(POLL_S)
                continue
            assert stage is not None
            self._run_trials(batch, stage)

    def _run_trials(self, batch: list[Prepared], stage: Stage) -> None:
        """Train a batch with heartbeats; an interruption fails (and queues again) all of it.

        The heartbeats go on until each trial is told: telling a population's trials takes a dozen
        writes each, and a trial whose heartbeat stopped meanwhile would look like a dead worker's.
        """
        for item in batch:
            self.observer.trial_started(item.trial.number, stage.name, item.params)
        heartbeats = [self.store.heartbeat(p.trial.number) for p in batch]
        try:
            for beat in heartbeats:
                beat.__enter__()
            try:
                self.executor.run(batch)
            except (KeyboardInterrupt, SystemExit, TunelabError) as exc:
                reason = "an input error" if isinstance(exc, TunelabError) else "the user"
                for item in batch:  # none is told yet: all run again
                    self.store.fail(item.trial.number, "interrupted", f"stopped by {reason}")
                raise
            for item, beat in zip(batch, heartbeats, strict=True):
                self.schedule.tell(item)
                beat.__exit__()
                chain = self.store.first_of_chain(item.trial.number)
                clear_checkpoints(self.handle.url, self.spec.name, chain)
        finally:
            for beat in heartbeats:
                beat.__exit__()
        trials = self.study.get_trials(deepcopy=False)
        best = best_trial(trials, self.spec)
        for item in batch:
            assert item.outcome is not None
            self.observer.trial_finished(item.trial.number, item.outcome, sum(map(counted, trials)), best)


# ------------------------------------------------------------------------------------------ results
@dataclass
class StudyResult:
    """A study after a run: ``trials_dataframe()`` for notebooks, ``best`` for the winner."""

    handle: StudyHandle

    @property
    def study(self) -> optuna.Study:
        return self.handle.study

    @property
    def spec(self) -> StudySpec:
        return self.handle.spec

    @property
    def best(self) -> FrozenTrial | None:
        return self.handle.best()

    def trials_dataframe(self) -> Any:
        return trials_dataframe(self.handle)


def run_study(
    study: str | Path | StudySpec | Mapping[str, Any],
    *,
    storage: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    out: str | Path | None = None,
    overrides: Iterable[str] = (),
    data_dir: str | Path | None = None,
    device: str | None = None,
    observer: Observer | None = None,
) -> StudyResult:
    """Run (or resume) a study from a study file, a mapping or a :class:`StudySpec`."""
    if isinstance(study, StudySpec):
        spec = study
    elif isinstance(study, Mapping):
        spec = validate_study_spec(study)
    else:
        spec = load_study_spec(study, overrides)
    handle = open_study(spec, storage, Path(out) if out else None)
    worker = Worker(
        handle,
        n_trials=n_trials,
        timeout=timeout,
        data_dir=Path(data_dir) if data_dir else None,
        device=device,
        observer=observer,
    )
    worker.run()
    return StudyResult(handle)
