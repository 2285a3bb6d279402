"""What ``tunelab run --workers K`` hands each worker process: the study itself, not a command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.search import Observer, load_study_spec, open_study
from tunelab.search import workers as workers_module
from tunelab.search.worker_main import STORAGE_ENV, WorkerJob, main

GRID = Path(__file__).resolve().parents[2] / "studies" / "examples" / "digits-grid.yaml"


class Quiet(Observer):
    """Reports nothing."""


class Exited:
    """A worker process that has already exited cleanly."""

    returncode = 0

    def poll(self):
        return 0


@pytest.fixture
def started(monkeypatch):
    calls: list[tuple[list[str], dict[str, str]]] = []

    def popen(cmd, env, **kwargs):
        calls.append((cmd, env))
        return Exited()

    monkeypatch.setattr(workers_module.subprocess, "Popen", popen)
    monkeypatch.setattr(workers_module, "POLL_S", 0.0)
    return calls


def test_each_worker_gets_the_study_and_the_storage_url_by_environment(tmp_path, started):
    settings = workers_module.WorkerSettings(n_trials=3, timeout=60.0, data_dir=Path("/data"))
    spec = load_study_spec(GRID, ["train.epochs=1"])
    handle = open_study(spec, out_dir=tmp_path / "out")
    workers_module.run_local_workers(handle, 2, settings, "cpu", Quiet())
    assert len(started) == 2
    for i, (cmd, env) in enumerate(started):
        assert cmd == [sys.executable, "-m", "tunelab.search.worker_main"]  # no URL, no user argv
        job, url = WorkerJob.from_env(env)
        assert url == handle.url and env["TUNELAB_WORKER_INDEX"] == str(i)
        assert job.spec == spec.model_dump(mode="json") and job.out_dir == str(handle.out_dir)
        assert (job.n_trials, job.timeout, job.data_dir, job.device) == (3, 60.0, "/data", "cpu")


def test_a_worker_job_for_a_study_nobody_opened_is_one_error_line(tmp_path, capsys):
    spec = load_study_spec(GRID)
    job = WorkerJob(spec=spec.model_dump(mode="json"), out_dir=str(tmp_path))
    env = job.to_env(f"sqlite:///{tmp_path / 'none.db'}")
    assert main(env) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: no study 'digits-grid'")
    assert STORAGE_ENV in env


@pytest.mark.parametrize(("threads", "each"), [(None, None), (4, 4)])
def test_workers_share_the_usable_cores_unless_threads_are_given(
    tmp_path, started, monkeypatch, threads, each
):
    monkeypatch.setattr("tunelab.train.threads.usable_cores", lambda: 6)  # e.g. a cgroup quota of 6 cores
    spec = load_study_spec(GRID, ["train.epochs=1"])
    handle = open_study(spec, out_dir=tmp_path / "out")
    workers_module.run_local_workers(handle, 2, workers_module.WorkerSettings(), "cpu", Quiet(), threads)
    for _, env in started:
        job, _ = WorkerJob.from_env(env)
        # the share caps a worker's threads; its runs still choose one thread for a small step
        assert job.threads == each and job.cores == 3
        assert env.get("OMP_NUM_THREADS") == os.environ.get("OMP_NUM_THREADS")  # not set by tunelab


def test_auto_workers_are_one_per_usable_core_on_a_cpu(monkeypatch):
    monkeypatch.setattr(workers_module, "usable_cores", lambda: 6)
    assert workers_module.auto_workers("cpu") == 6
    if not __import__("torch").cuda.is_available():
        assert workers_module.auto_workers("auto") == 6


def test_run_with_workers_auto_starts_one_worker_per_core(tmp_path, started, monkeypatch):
    monkeypatch.setattr(workers_module, "usable_cores", lambda: 3)
    monkeypatch.setattr("tunelab.train.threads.usable_cores", lambda: 3)
    out = tmp_path / "out"
    args = ["run", str(GRID), "--workers", "auto", "--device", "cpu", "--out", str(out), "--quiet"]
    CliRunner().invoke(app, [*args, "--set", "train.epochs=1"])
    assert len(started) == 3
    for _, env in started:
        job, _ = WorkerJob.from_env(env)
        assert job.threads is None and job.cores == 1
