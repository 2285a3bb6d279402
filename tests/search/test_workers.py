"""``tunelab run --workers K`` on this machine: the parent reports what a failed worker said, and
sees a worker that died at once."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState
from storage_support import PG_URL, postgres_up

from tunelab.errors import TunelabError
from tunelab.search import Observer, load_study_spec, open_study
from tunelab.search import workers as workers_module

GRID = Path(__file__).resolve().parents[2] / "studies" / "examples" / "digits-grid.yaml"
ENV = os.environ | {"OMP_NUM_THREADS": "1"}


class Quiet(Observer):
    """Reports nothing."""


def test_a_failed_worker_is_reported_with_the_last_line_of_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(workers_module, "POLL_S", 0.05)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    overrides = ["data.name=mnist"]  # not in the empty --data-dir, and downloads go to a closed port
    handle = open_study(load_study_spec(GRID, overrides), out_dir=tmp_path / "out")
    (tmp_path / "empty").mkdir()
    settings = workers_module.WorkerSettings(data_dir=tmp_path / "empty")
    with pytest.raises(TunelabError) as info:
        workers_module.run_local_workers(handle, 1, settings, "cpu", Quiet())
    message = str(info.value)
    assert message.startswith("1 of 1 workers failed: mnist: could not download")
    assert "--data-dir" in message and "no message" not in message
    assert message.endswith(f"(see {handle.out_dir / 'workers' / 'worker-0.log'})")
    assert len(message.splitlines()) == 1


def test_last_line_skips_blank_lines_and_the_cli_error_prefix(tmp_path):
    log = tmp_path / "worker-0.log"
    log.write_text("")
    assert workers_module._last_line(log) == ""
    assert workers_module._last_line(tmp_path / "missing.log") == ""
    log.write_text("Traceback (most recent call last):\n  ...\nerror: something broke\n\n")
    assert workers_module._last_line(log) == "something broke"


# ------------------------------------------------------------------------- a local worker that dies


def running_after_an_epoch(storage: optuna.storages.RDBStorage, url: str, name: str) -> FrozenTrial | None:
    """A running trial that has checkpointed at least one epoch, if there is one now."""
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        query = sqlalchemy.text("SELECT trial, epoch FROM tunelab_checkpoints WHERE study = :s")
        with sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool).connect() as conn:
            epochs = dict(conn.execute(query, {"s": name}).all())
    except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # not there yet, or locked by a writer
        return None
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return next((t for t in running if epochs.get(t.number, 0) >= 1), None)


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        pytest.param(
            "postgresql",
            marks=[pytest.mark.postgres, pytest.mark.skipif(not postgres_up(), reason="no PostgreSQL")],
        ),
    ],
)
def test_a_killed_worker_is_seen_at_once_and_the_study_decides_the_exit_code(tmp_path, backend):
    name = f"death-{uuid.uuid4().hex[:8]}"
    url = PG_URL if backend == "postgresql" else f"sqlite:///{tmp_path / 'study.db'}"
    sets = [f"name={name}", "train.epochs=30", "train.batch_size=16", "population=1"]
    sets.append("checkpoint_interval_s=0")  # a checkpoint every epoch
    cmd = [sys.executable, "-m", "tunelab.cli", "run", str(GRID), "--storage", url, "--out", str(tmp_path)]
    cmd += ["--workers", "2", *(f"--set={s}" for s in sets)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 300  # only stops a test that would hang
        while not (tmp_path / "study.yaml").exists():  # the parent made the study
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        storage = optuna.storages.RDBStorage(url)
        while (victim := running_after_an_epoch(storage, url, name)) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "no trial checkpointed"
            time.sleep(0.05)
        pid = victim.user_attrs["tunelab.worker"]["pid"]
        os.kill(pid, signal.SIGKILL)  # one of the two workers, inside a trial
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr  # every point completed: the study decides, not the workers
        assert f"(pid {pid}) was killed by SIGKILL" in stderr

        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        complete = [tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE]
        # --set train.batch_size=16 fixes the searched batch size (issue 23): 2 × 2 points left
        assert len(complete) == len(set(complete)) == 4
        dead = trials[victim.number]
        reason = dead.user_attrs["tunelab.reason"]
        assert dead.state == TrialState.FAIL and dead.user_attrs["tunelab.outcome"] == "worker_died"
        # by the parent or the other worker, which saw the process gone, not by a lost heartbeat
        assert str(pid) in reason and ("killed by SIGKILL" in reason or "died" in reason), reason
        (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
        assert retry.state == TrialState.COMPLETE
        assert retry.user_attrs["tunelab.runs"][0]["resumed_from"] >= 1  # from the dead one's checkpoint
    finally:
        if proc.poll() is None:
            proc.kill()
        if backend == "postgresql":
            with contextlib.suppress(KeyError):
                optuna.delete_study(study_name=name, storage=PG_URL)


class Killed:
    """A worker process that was killed: it ran as ``pid``."""

    returncode = -signal.SIGKILL

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self):
        return self.returncode


def test_the_parent_fails_a_killed_workers_trials_at_once_and_the_study_is_unfinished(tmp_path, monkeypatch):
    from tunelab.search.plan import shortfall
    from tunelab.search.record import TrialRecord, set_trial_attrs

    monkeypatch.setattr(workers_module, "POLL_S", 0.0)
    handle = open_study(load_study_spec(GRID, ["train.epochs=1"]), out_dir=tmp_path / "out")
    trial = handle.study.ask()  # as a worker would: running, with its host and pid
    # this process's pid: alive to every other check, so only the parent's own can fail it
    worker = {"host": socket.gethostname(), "pid": os.getpid()}
    set_trial_attrs(trial, stage=0, outcome="running", worker=worker)
    monkeypatch.setattr(workers_module.subprocess, "Popen", lambda *args, **kwargs: Killed(os.getpid()))
    problems = workers_module.run_local_workers(handle, 1, workers_module.WorkerSettings(), "cpu", Quiet())
    assert problems == [f"worker 0 (pid {os.getpid()}) was killed by SIGKILL"]
    failed = handle.study.get_trials()[trial.number]
    record = TrialRecord.from_trial(failed)
    assert failed.state == TrialState.FAIL and record.outcome == "worker_died"
    assert record.reason == problems[0]
    assert [t.state for t in handle.study.get_trials()].count(TrialState.WAITING) == 1  # queued again
    short = shortfall(handle.study, finished=False)
    assert short and short.message() == "the study did not finish; run again to resume"


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads process states from /proc")
def test_workers_whose_parent_was_killed_stop_and_mark_their_trials_interrupted(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    sets = ["train.epochs=5000", "population=1", "checkpoint_interval_s=0"]  # trials that outlast the test
    cmd = [sys.executable, "-m", "tunelab.cli", "run", str(GRID), "--storage", url, "--out", str(tmp_path)]
    cmd += ["--workers", "2", *(f"--set={s}" for s in sets)]
    parent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    pids: set[int] = set()
    try:
        deadline = time.monotonic() + 300  # only stops a test that would hang
        while not (tmp_path / "study.yaml").exists():
            assert parent.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        storage = optuna.storages.RDBStorage(url)
        name = load_study_spec(GRID).name
        running: list[FrozenTrial] = []
        while len(running) < 2:  # each worker inside a trial
            assert parent.poll() is None and time.monotonic() < deadline, "the workers took no trial"
            time.sleep(0.05)
            with contextlib.suppress(KeyError):  # the study is not there yet
                trials = optuna.load_study(study_name=name, storage=storage).get_trials()
                running = [
                    t for t in trials if "tunelab.worker" in t.user_attrs and t.state == TrialState.RUNNING
                ]
        pids = {t.user_attrs["tunelab.worker"]["pid"] for t in running}
        assert len(pids) == 2 and parent.pid not in pids
        parent.kill()
        parent.wait()
        while not all(gone(pid) for pid in pids):
            assert time.monotonic() < deadline, "the workers outlived their parent"
            time.sleep(0.1)
    finally:  # no process outlives the test, whatever failed
        if parent.poll() is None:
            parent.kill()
        for pid in pids:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    stopped = [trials[t.number] for t in running]
    assert [t.state for t in stopped] == [TrialState.FAIL] * 2
    assert {t.user_attrs["tunelab.outcome"] for t in stopped} == {"interrupted"}
