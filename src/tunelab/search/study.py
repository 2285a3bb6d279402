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
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial

from tunelab.errors import TunelabError
from tunelab.provenance import provenance
from tunelab.search.checkpoints import clear as clear_checkpoints
from tunelab.search.execution import Executor, Observer, Observers, Prepared
from tunelab.search.handle import StudyHandle, load_study, open_study
from tunelab.search.record import StudyRecord, set_study_attrs
from tunelab.search.results import trials_dataframe
from tunelab.search.scheduling import Schedule, counted, expected_trials
from tunelab.search.spec import StudySpec, load_study_spec, validate_study_spec
from tunelab.search.storage import study_lock
from tunelab.search.strategies import Stage, best_trial
from tunelab.search.trial_store import TrialStore
from tunelab.train import resolve_device

if TYPE_CHECKING:
    from tunelab.progress import ProgressSetting

__all__ = [
    "Observer",
    "Observers",
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
        self.data_dir = data_dir
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
            if self.data_dir is not None:  # where probe, ensemble and baselines look for the data too
                set_study_attrs(self.study, data_dir=str(self.data_dir.resolve()))
        with study_lock(self.handle.url, self.spec.name):
            self.schedule.check_budget()
        self.executor.splits(self.spec.run_config({}, "study"))  # missing data fails here, before any trial
        trials = self.study.get_trials(deepcopy=False)
        total = expected_trials(self.spec, self.n_trials)
        self.observer.started(self.spec, self.handle.storage_shown, sum(map(counted, trials)), total)
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
        """Train a batch with heartbeats; an interruption fails (and queues again) all of it."""
        for item in batch:
            self.observer.trial_started(item.trial.number, stage.name, item.params)
        heartbeats = [self.store.heartbeat(p.trial.number) for p in batch]
        try:
            for beat in heartbeats:
                beat.__enter__()
            self.executor.run(batch)
        except (KeyboardInterrupt, SystemExit, TunelabError) as exc:
            reason = "an input error" if isinstance(exc, TunelabError) else "the user"
            for item in batch:  # none is told yet: all run again
                self.store.fail(item.trial.number, "interrupted", f"stopped by {reason}")
            raise
        finally:
            for beat in heartbeats:
                beat.__exit__()
        for item in batch:  # each told, then shown with the count and best of that moment
            assert item.outcome is not None
            self.schedule.tell(item)
            clear_checkpoints(self.handle.url, self.spec.name, self.store.first_of_chain(item.trial.number))
            trials = self.study.get_trials(deepcopy=False)
            done, best = sum(map(counted, trials)), best_trial(trials, self.spec)
            self.observer.trial_finished(item.trial.number, item.outcome, done, best)


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
    progress: ProgressSetting = False,
) -> StudyResult:
    """Run (or resume) a study from a study file, a mapping or a :class:`StudySpec`.

    ``progress=True`` shows each trial and epoch as it happens (rich's live view on a terminal or in
    a notebook with ipywidgets, plain lines otherwise); ``"lines"``, ``"live"`` or ``"tqdm"`` choose
    the view, and a callable receives each :class:`tunelab.progress.Event`. ``observer`` receives
    the reports themselves (:class:`Observer`); with both, both do.
    """
    notes: list[str] = []  # what the overrides and a rerun changed: said with the progress
    if isinstance(study, StudySpec):
        spec = study
    elif isinstance(study, Mapping):
        spec = validate_study_spec(study)
    else:
        spec = load_study_spec(study, overrides, notes)
    handle = open_study(spec, storage, Path(out) if out else None, notes)
    from tunelab.progress import progress_board  # rich's views: only when a study runs

    board = progress_board(progress)
    if board is not None:
        for note in notes:
            board.note(note)
    if board is not None and observer is not None:
        observer = Observers(board, observer)
    worker = Worker(
        handle,
        n_trials=n_trials,
        timeout=timeout,
        data_dir=Path(data_dir) if data_dir else None,
        device=device,
        observer=observer or board,
    )
    try:
        worker.run()
    finally:
        if board is not None:
            board.close()
    return StudyResult(handle)
