"""``python -m tunelab.search.worker_main``: one worker process of ``tunelab run --workers K``.

The parent (:mod:`tunelab.search.workers`) hands each child a :class:`WorkerJob` (the study as the
parent validated it, its folder, budget and device) and the storage URL in environment variables,
never on the command line, where any user of the machine could read a password in it. The child
joins the study the parent opened and works on it like ``tunelab worker``, with the model factories
the parent registered imported again by reference (:func:`tunelab.models.factory.reference`); a bad
input ends it with one ``error:`` line on stderr and exit code 2, Ctrl-C with exit code 130. A child
whose parent is gone (killed, so it could not pass on a Ctrl-C) stops as if interrupted, rather
than work on as an orphan nobody watches.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

JOB_ENV = "TUNELAB_WORKER_JOB"
STORAGE_ENV = "TUNELAB_WORKER_STORAGE"


@dataclass(frozen=True)
class WorkerJob:
    """What one worker process works on."""

    spec: dict[str, Any]  # StudySpec.model_dump(mode="json"), validated again by the child
    out_dir: str
    n_trials: int | None = None
    timeout: float | None = None
    data_dir: str | None = None
    device: str | None = None
    threads: int | None = None  # --threads: what every run trains with
    cores: int | None = None  # this worker's share of the usable cores, when --threads is not given
    models: dict[str, str] = field(default_factory=dict)  # name → factory reference, to register
    sys_path: list[str] | None = None  # the parent's import path, where its factories are found
    parent: int | None = None  # the parent's pid: the child stops when it is gone

    def to_env(self, url: str) -> dict[str, str]:
        """The environment variables that carry this job and the storage ``url`` to the child."""
        return {JOB_ENV: json.dumps(asdict(self)), STORAGE_ENV: url}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> tuple[WorkerJob, str]:
        return cls(**json.loads(environ[JOB_ENV])), environ[STORAGE_ENV]


def main(environ: Mapping[str, str] | None = None) -> int:
    """Run the job in ``environ`` (default: this process's environment); return the exit code."""
    from tunelab.errors import TunelabError

    job, url = WorkerJob.from_env(os.environ if environ is None else environ)
    if job.parent is not None:
        threading.Thread(target=_stop_with_parent, args=(job.parent,), daemon=True).start()
    try:
        work(job, url)
    except TunelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def work(job: WorkerJob, url: str) -> None:
    from tunelab.search.handle import attach_study
    from tunelab.search.spec import validate_study_spec
    from tunelab.search.study import Worker
    from tunelab.train.threads import set_threads, share_cores

    if job.threads:
        set_threads(job.threads)
    elif job.cores:
        share_cores(job.cores)
    register_models(job)
    spec = validate_study_spec(job.spec, "worker job")
    handle = attach_study(spec, url, Path(job.out_dir))
    Worker(
        handle,
        n_trials=job.n_trials,
        timeout=job.timeout,
        data_dir=Path(job.data_dir) if job.data_dir else None,
        device=job.device,
    ).run()


PARENT_POLL_S = 1.0


def _stop_with_parent(parent: int) -> None:
    """Interrupt this process once its parent has gone (the child is then another process's)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: the running trial is marked interrupted


def register_models(job: WorkerJob) -> None:
    """Import and register the parent's model factories, on the parent's import path."""
    from tunelab.models import register
    from tunelab.models.factory import resolve

    for entry in reversed(job.sys_path or []):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    for name, ref in job.models.items():
        register(name, resolve(ref))


if __name__ == "__main__":
    sys.exit(main())
