"""``tunelab run --workers K``: K worker processes on this machine, sharing the study's storage.

Each worker is a ``python -m tunelab.search.worker_main`` process that is handed the study the
parent opened (:class:`~tunelab.search.worker_main.WorkerJob`) and works on it as ``tunelab worker``
would; the storage URL travels in its environment, not on its command line. With several GPUs,
worker i gets ``cuda:i mod n``; on a CPU the cores are split between workers, so K workers do not
fight over the same threads.
The parent only watches: it polls the storage for progress (trials started and finished, and the
epochs a trial reports to it) and stops the workers on Ctrl-C.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from optuna.trial import TrialState

from tunelab.errors import TunelabError
from tunelab.search.execution import EpochUpdate, TrialOutcome
from tunelab.search.handle import StudyHandle
from tunelab.search.record import TrialRecord
from tunelab.search.scheduling import counted, expected_trials
from tunelab.search.worker_main import WorkerJob

POLL_S = 1.0


def worker_devices(k: int, device: str | None) -> list[str | None]:
    """The device of each worker: GPUs round-robin when there are several, else ``device`` for all."""
    if device in (None, "auto", "cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        return [f"cuda:{i % torch.cuda.device_count()}" for i in range(k)]
    return [device] * k


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
) -> None:
    """Start ``k`` workers on ``handle``'s study; report progress until all have exited."""
    threads = max(1, (os.cpu_count() or 1) // k)
    logs = handle.out_dir / "workers"
    logs.mkdir(parents=True, exist_ok=True)
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
        )
        cmd = [sys.executable, "-m", "tunelab.search.worker_main"]
        env = os.environ | job.to_env(handle.url)
        env |= {"OMP_NUM_THREADS": str(threads), "TUNELAB_WORKER_INDEX": str(i)}
        with (logs / f"worker-{i}.log").open("w") as log:  # a file, not a pipe nobody reads until the end
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log))
    trials = handle.study.get_trials(deepcopy=False)
    total = expected_trials(handle.spec, settings.n_trials)
    observer.started(handle.spec, handle.storage_shown, sum(map(counted, trials)), total)
    seen: set[int] = set()
    shown: dict[int, int] = {}
    try:
        while any(p.poll() is None for p in procs):
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
    if failed:
        first = failed[0]
        log_path = logs / f"worker-{first}.log"  # the workers' stderr went there, not to a pipe
        message = (
            _last_line(log_path) or f"worker {first} exited with code {procs[first].returncode}, no message"
        )
        raise TunelabError(f"{len(failed)} of {k} workers failed: {message} (see {log_path})")


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
    done = sum(map(counted, trials))
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
