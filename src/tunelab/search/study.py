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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial

from tunelab.data import dataset_folder
from tunelab.errors import ConfigError, TunelabError
from tunelab.provenance import provenance
from tunelab.search.checkpoints import clear as clear_checkpoints
from tunelab.search.execution import Executor, Observer, Observers, Prepared
from tunelab.search.handle import StudyHandle, load_study, open_study
from tunelab.search.plan import Shortfall, repair, shortfall
from tunelab.search.record import StudyRecord, set_study_attrs
from tunelab.search.results import trials_dataframe
from tunelab.search.scheduling import Schedule, counted, done_trials, expected_trials, recover
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
    "check_inputs",
    "counted",
    "done_trials",
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
        retry_failed: bool = False,
    ) -> None:
        self.handle, self.spec, self.study = handle, handle.spec, handle.study
        self.retry_failed = retry_failed
        self.n_trials = n_trials or self.spec.budget.n_trials
        self.timeout = timeout or self.spec.budget.timeout
        # The one place the device is resolved; everything below is given the result.
        self.device = str(resolve_device(*_device_and_source(self.spec, device)))
        self.observer = observer or Observer()
        self.data_dir = data_dir
        self.provenance = provenance(self.device)
        self.store = TrialStore(handle.study, handle.storage)
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
        self.schedule = Schedule(
            self.spec,
            self.store,
            n_trials=self.n_trials,
            device=self.device,
            stackable=self.executor.stackable,
        )

    def run(self) -> None:
        """Run trials until there is nothing left to do (or the budget or timeout is reached).

        First the planned work a previous run left: trials of dead workers, planned points that are
        missing and, with ``retry_failed``, those that failed (:func:`~tunelab.search.plan.repair`).
        """
        with study_lock(self.handle.url, self.spec.name):
            if not StudyRecord.from_study(self.study).provenance:  # the first worker's, device resolved
                set_study_attrs(self.study, provenance=self.provenance)
            if self.data_dir is not None:  # where probe, ensemble and baselines look for the data too
                set_study_attrs(self.study, data_dir=str(self.data_dir.resolve()))
        with study_lock(self.handle.url, self.spec.name):
            self.schedule.check_budget()
        # missing data, or a model factory that fails, stops the study here, before any trial
        self.executor.check(self.spec.run_config({}, "study"))
        with study_lock(self.handle.url, self.spec.name):
            recover(self.store)
            redo = repair(self.store, self.retry_failed)
        done = len(done_trials(self.study.get_trials(deepcopy=False)))
        total = expected_trials(self.spec, self.n_trials)
        self.observer.started(self.spec, self.handle.storage_shown, done, total, redo)
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
            self.executor.run(batch, prune=not stage.planned)
            # Told under the lock, so that a failed trial is queued again in the same turn, and with
            # the heartbeats still on, so that waiting for the lock cannot make them look stale.
            with study_lock(self.handle.url, self.spec.name):
                for item in batch:
                    # before the tell: a retry it queues may soon be checkpointing under the same chain
                    chain = self.store.first_of_chain(item.trial.number)
                    clear_checkpoints(self.handle.url, self.spec.name, chain)
                    self.schedule.tell(item)
                    # each shown as it is told, with the count and best of that moment
                    assert item.outcome is not None
                    trials = self.study.get_trials(deepcopy=False)
                    done, best = len(done_trials(trials)), best_trial(trials, self.spec)
                    self.observer.trial_finished(item.trial.number, item.outcome, done, best)
        except (KeyboardInterrupt, SystemExit, TunelabError) as exc:
            reason = "an input error" if isinstance(exc, TunelabError) else "the user"
            with study_lock(self.handle.url, self.spec.name):
                for item in batch:  # those not told yet run again
                    self.store.fail(item.trial.number, "interrupted", f"stopped by {reason}")
            raise
        finally:
            for beat in heartbeats:
                beat.__exit__()


def _device_and_source(spec: StudySpec, device: str | None, source: str = "") -> tuple[str, str]:
    """The device a worker trains on, and where it was given (for the error if it is not here)."""
    if device:
        return device, "--device"
    return spec.train.device, f"{source}: train.device" if source else "train.device"


def check_inputs(
    spec: StudySpec, device: str | None = None, data_dir: Path | None = None, source: str = ""
) -> None:
    """Check what a worker needs before its study is opened, so that a mistake leaves nothing written.

    The device (``device``, else the study file's ``train.device``; ``source`` names that file) must
    be on this machine, and the study's data files must be found in ``data_dir`` (or downloaded);
    reading them is the worker's.
    """
    resolve_device(*_device_and_source(spec, device, source))
    data = spec.run_config({}, "study").data
    if not data.from_files:  # a folder or .npz of the user's own is checked as it is read
        dataset_folder(data.name, data_dir)


# ------------------------------------------------------------------------------------------ results
@dataclass
class StudyResult:
    """A study after a run: ``trials_dataframe()`` for notebooks, ``best`` for the winner;
    ``problems``: what went wrong with local worker processes (one line each, e.g. one killed)."""

    handle: StudyHandle
    problems: list[str] = field(default_factory=list)
    finished: bool = True  # false when every worker process died before the study was done

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

    @property
    def shortfall(self) -> Shortfall:
        """The planned points that failed or are missing (false when the plan was met)."""
        return shortfall(self.study, finished=self.finished)


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
    models: Mapping[str, Callable[..., Any]] | None = None,
    workers: int = 1,
    overwrite: bool = False,
    retry_failed: bool = False,
    progress: ProgressSetting = False,
) -> StudyResult:
    """Run (or resume) a study from a study file, a mapping or a :class:`StudySpec`.

    ``models`` registers model factories first (name → ``factory(input_shape, n_classes,
    **params)``; see :func:`tunelab.models.register`), so the study's ``model.kind`` can name them.
    ``workers`` > 1 runs that many worker processes on this machine, as ``tunelab run --workers``;
    they import this process's registered factories by module and name (a script's own, without
    its ``if __name__ == "__main__":`` block, which should hold this call). ``overwrite``: start
    afresh, deleting the study's earlier trials and result files (see
    :func:`~tunelab.search.handle.open_study`). ``retry_failed`` runs again the planned points that
    failed by themselves ``retries + 1`` times; ``result.shortfall`` says what the study still lacks.

    ``progress=True`` shows each trial and epoch as it happens (rich's live view on a terminal or in
    a notebook with ipywidgets, plain lines otherwise); ``"lines"``, ``"live"`` or ``"tqdm"`` choose
    the view, and a callable receives each :class:`tunelab.progress.Event`. ``observer`` receives
    the reports themselves (:class:`Observer`); with both, both do.
    """
    from tunelab.models import register
    from tunelab.models.factory import loading_script

    if (script := loading_script()) is not None:
        raise TunelabError(
            f"{script} calls run_study when a worker process imports it for its model factories; "
            'put the call under if __name__ == "__main__":'
        )
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    for name, factory in (models or {}).items():
        register(name, factory)
    notes: list[str] = []  # what the overrides and a rerun changed: said with the progress
    if isinstance(study, StudySpec):
        spec = study
    elif isinstance(study, Mapping):
        spec = validate_study_spec(study)
    else:
        spec = load_study_spec(study, overrides, notes)
    source = "" if isinstance(study, StudySpec | Mapping) else str(study)
    check_inputs(spec, device, Path(data_dir) if data_dir else None, source)
    handle = open_study(spec, storage, Path(out) if out else None, notes, overwrite=overwrite)
    from tunelab.progress import progress_board  # rich's views: only when a study runs

    board = progress_board(progress)
    if board is not None:
        for note in notes:
            board.note(note)
    if board is not None and observer is not None:
        observer = Observers(board, observer)
    observer = observer or board
    problems: list[str] = []
    try:
        if workers > 1:
            from tunelab.search.workers import WorkerSettings, run_local_workers

            settings = WorkerSettings(n_trials, timeout, Path(data_dir) if data_dir else None)
            problems = run_local_workers(
                handle, workers, settings, device, observer or Observer(), retry_failed=retry_failed
            )
        else:
            Worker(
                handle,
                n_trials=n_trials,
                timeout=timeout,
                data_dir=Path(data_dir) if data_dir else None,
                device=device,
                observer=observer,
                retry_failed=retry_failed,
            ).run()
    finally:
        if board is not None:
            board.close()
    return StudyResult(handle, problems, finished=len(problems) < workers)
