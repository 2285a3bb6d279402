"""``tunelab run --workers K``: K worker processes on this machine, sharing the study's storage.

Each worker is a ``python -m tunelab.search.worker_main`` process that is handed the study the
parent opened (:class:`~tunelab.search.worker_main.WorkerJob`) and works on it as ``tunelab worker``
would; the storage URL travels in its environment, not on its command line. With several GPUs,
worker i gets ``cuda:i mod n``; on a CPU the cores this process may use (affinity, cgroup quota) are
split between workers, so K workers do not fight over the same cores.
The parent watches: it polls the storage for progress (trials started and finished, and the epochs
a trial reports to it), checks every worker each time, fails (and queues again) the trials of one
that died at once, and stops the workers on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from optuna.trial import TrialState

from tunelab.errors import TunelabError
from tunelab.models import registered
from tunelab.models.factory import reference
from tunelab.search.execution import EpochUpdate, TrialOutcome
from tunelab.search.handle import StudyHandle
from tunelab.search.plan import repair
from tunelab.search.record import TrialRecord
from tunelab.search.scheduling import counted, done_trials, expected_trials, recover
from tunelab.search.storage import study_lock
from tunelab.search.trial_store import TrialStore
from tunelab.search.worker_main import WorkerJob
from tunelab.train.device import resolve_device
from tunelab.train.threads import threads_per_worker, usable_cores

POLL_S = 1.0


def worker_devices(k: int, device: str | None) -> list[str | None]:
    """The device of each worker: GPUs round-robin when there are several, else ``device`` for all."""
    if device in (None, "auto", "cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        return [f"cuda:{i % torch.cuda.device_count()}" for i in range(k)]
    return [device] * k


def auto_workers(device: str) -> int:
    """``--workers auto``: one worker per GPU where ``device`` resolves to CUDA (one where it names
    one), else one per usable core: a CPU trains a small step fastest with one thread, so one trial
    per core keeps them all busy."""
    resolved = resolve_device(device, "--device")
    if resolved.type == "cuda":
        return 1 if resolved.index is not None else torch.cuda.device_count()
    return usable_cores() if resolved.type == "cpu" else 1


@dataclass(frozen=True)
class WorkerSettings:
    """What ``tunelab run`` passes on to each of its workers, beside the study and the device."""

    n_trials: int | None = None
    timeout: float | None = None
    data_dir: Path | None = None


def run_local_workers(
    handle: StudyHandle,
    k: int,
    settings: WorkerSettings,
    device: str | None,
    observer: Any,
    threads: int | None = None,
    retry_failed: bool = False,
) -> list[str]:
    """Start ``k`` workers on ``handle``'s study; report progress until all have exited. Each trains
    with ``threads`` CPU threads, by default as a lone process would on its share of the usable cores.

    Returns what went wrong with workers, one line each (empty: every worker finished). When none
    finished because one of them was given bad input, raises its error.
    """
    cores = threads_per_worker(k)  # each worker's share of the usable cores; --threads, if given, wins
    # this process's own model factories, by reference: the workers import them again
    models = {name: reference(factory) for name, factory in registered().items()}
    logs = handle.out_dir / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    store = TrialStore(handle.study, handle.storage)
    with study_lock(handle.url, handle.spec.name):  # what the workers take up first, said once
        recover(store)
        redo = repair(store, retry_failed)
    procs = []
    for i, dev in enumerate(worker_devices(k, device)):
        job = WorkerJob(
            spec=handle.spec.model_dump(mode="json"),
            out_dir=str(handle.out_dir),
            n_trials=settings.n_trials,
            timeout=settings.timeout,
            data_dir=str(settings.data_dir) if settings.data_dir else None,
            device=dev,
            threads=threads,
            cores=cores,
            models=models,
            sys_path=list(sys.path) if models else None,
            parent=os.getpid(),
        )
        cmd = [sys.executable, "-m", "tunelab.search.worker_main"]
        env = os.environ | job.to_env(handle.url)
        env |= {"TUNELAB_WORKER_INDEX": str(i)}
        with (logs / f"worker-{i}.log").open("w") as log:  # a file, not a pipe nobody reads until the end
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log))
    trials = handle.study.get_trials(deepcopy=False)
    total = expected_trials(handle.spec, settings.n_trials)
    observer.started(handle.spec, handle.storage_shown, len(done_trials(trials)), total, redo)
    seen: set[int] = set()
    shown: dict[int, int] = {}
    dead: set[int] = set()
    try:
        while True:
            # Every worker, each time: a dead one left unreaped would look alive to the others.
            codes = [p.poll() for p in procs]
            for i, code in enumerate(codes):
                if code not in (None, 0) and i not in dead:
                    dead.add(i)
                    _fail_trials_of(store, handle, procs[i].pid, _death(i, procs[i].pid, code))
            if all(code is not None for code in codes):
                break
            time.sleep(POLL_S)
            _report(handle, observer, seen, shown)
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(2)  # each worker marks its trial interrupted and exits
        for p in procs:
            p.wait()
        raise
    _report(handle, observer, seen, shown)
    failed = [i for i, p in enumerate(procs) if p.returncode != 0]
    if len(failed) == k and any(procs[i].returncode == 2 for i in failed):  # none finished: bad input
        first = next(i for i in failed if procs[i].returncode == 2)
        log_path = logs / f"worker-{first}.log"  # the workers' stderr went there, not to a pipe
        message = (
            _last_line(log_path) or f"worker {first} exited with code {procs[first].returncode}, no message"
        )
        raise TunelabError(f"{len(failed)} of {k} workers failed: {message} (see {log_path})")
    problems = []
    for i in failed:
        said = _last_line(logs / f"worker-{i}.log") if procs[i].returncode > 0 else ""
        problems.append(_death(i, procs[i].pid, procs[i].returncode) + (f": {said}" if said else ""))
    return problems


def _death(i: int, pid: int, code: int) -> str:
    """How worker ``i`` ended, in words."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"worker {i} (pid {pid}) was killed by {signal.Signals(-code).name}"
    return f"worker {i} (pid {pid}) exited with code {code}"


def _fail_trials_of(store: TrialStore, handle: StudyHandle, pid: int, reason: str) -> None:
    """Fail (and queue again) the trials a dead worker was running, with the reason, at once."""
    with study_lock(handle.url, handle.spec.name):
        store.fail_dead(lambda other: reason if other == pid else None)


def _last_line(log: Path) -> str:
    """The last line a worker wrote to its log (its error), without the CLI's ``error:`` prefix."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].removeprefix("error: ") if lines else ""


def _report(handle: StudyHandle, observer: Any, seen: set[int], shown: dict[int, int] | None = None) -> None:
    """Hand ``observer`` what the workers did since the last look: trials started, the epochs their
    first seed reported to the storage (Optuna's intermediate values), trials finished."""
    shown = {} if shown is None else shown  # trial number -> the last epoch shown
    trials = handle.study.get_trials(deepcopy=False)
    done = len(done_trials(trials))
    metric = handle.spec.objective.metric
    for trial in trials:
        record = TrialRecord.from_trial(trial)
        if trial.state == TrialState.RUNNING and record.seeds:  # seeds: its configuration is drawn
            if trial.number not in shown:
                shown[trial.number] = 0
                observer.trial_started(trial.number, record.stage_name or "", trial.params)
            epochs = int(record.overrides.get("train.epochs", handle.spec.train.epochs))
            for epoch in sorted(e for e in trial.intermediate_values if e > shown[trial.number]):
                value = trial.intermediate_values[epoch]
                observer.epoch(EpochUpdate(trial.number, record.seeds[0], epoch, epochs, {metric: value}))
                shown[trial.number] = epoch
        if counted(trial) and trial.number not in seen:
            seen.add(trial.number)
            outcome = TrialOutcome(record.outcome or "completed", record.reason, metrics=record.metrics)
            observer.trial_finished(trial.number, outcome, done, handle.best())
