"""``tunelab run --workers K``: K worker processes on this machine, sharing the study's storage.

Each worker is a ``tunelab worker`` process. With several GPUs, worker i gets ``cuda:i mod n``;
on a CPU the cores are split between workers, so K workers do not fight over the same threads.
The parent only watches: it polls the storage for progress and stops the workers on Ctrl-C.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from tunelab.errors import TunelabError
from tunelab.search.study import StudyHandle, counted

POLL_S = 1.0


def worker_devices(k: int, device: str | None) -> list[str | None]:
    """The device of each worker: GPUs round-robin when there are several, else ``device`` for all."""
    if device in (None, "auto", "cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        return [f"cuda:{i % torch.cuda.device_count()}" for i in range(k)]
    return [device] * k


def run_local_workers(
    handle: StudyHandle, k: int, argv: list[str], device: str | None, observer: Any
) -> None:
    """Start ``k`` workers with ``tunelab worker <argv>``, report progress until all have exited."""
    threads = max(1, (os.cpu_count() or 1) // k)
    logs = handle.out_dir / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for i, dev in enumerate(worker_devices(k, device)):
        cmd = [sys.executable, "-m", "tunelab.cli", "worker", *argv, "--quiet", "--threads", str(threads)]
        cmd += ["--device", dev] if dev else []
        env = os.environ | {"OMP_NUM_THREADS": str(threads), "TUNELAB_WORKER_INDEX": str(i)}
        with (logs / f"worker-{i}.log").open("w") as log:  # a file, not a pipe nobody reads until the end
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log))
    trials = handle.study.get_trials(deepcopy=False)
    observer.started(
        handle.spec, handle.storage_shown, sum(map(counted, trials)), handle.spec.budget.n_trials
    )
    seen: set[int] = set()
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(POLL_S)
            _report(handle, observer, seen)
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(2)  # each worker marks its trial interrupted and exits
        for p in procs:
            p.wait()
        raise
    _report(handle, observer, seen)
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


def _report(handle: StudyHandle, observer: Any, seen: set[int]) -> None:
    from tunelab.search.objective import TrialOutcome

    trials = handle.study.get_trials(deepcopy=False)
    done = sum(map(counted, trials))
    for trial in trials:
        if counted(trial) and trial.number not in seen:
            seen.add(trial.number)
            outcome = TrialOutcome(
                trial.user_attrs.get("tunelab.outcome", "completed"),
                trial.user_attrs.get("tunelab.reason"),
                metrics=trial.user_attrs.get("tunelab.metrics") or {},
            )
            observer.trial_finished(trial.number, outcome, done, handle.best())
