"""Stopping ``tunelab run`` midway (Ctrl-C, or SIGKILL) and running it again loses and repeats nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tunelab.search import load_study

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"
# Long enough per trial (~1 s) that a signal lands inside a trial, short enough for CI. (The grid
# searches train.batch_size, so a --set of it would fix it and leave 4 points, not slow them down.)
SLOW = [
    "--set",
    "train.epochs=60",
    "--set",
    "checkpoint_interval_s=0",
    "--set",
    "population=1",
]


ENV = os.environ | {"OMP_NUM_THREADS": "1"}


def command(out: Path, settings: list[str] = SLOW) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tunelab.cli",
        "run",
        str(EXAMPLES / "digits-grid.yaml"),
        "--out",
        str(out),
        *settings,
    ]


def start(out: Path, settings: list[str] = SLOW) -> tuple[subprocess.Popen[str], list[str]]:
    cmd = command(out, settings)
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    return proc, lines


def wait_for(lines: list[str], predicate, timeout: float = 300.0) -> None:
    """Poll until ``predicate(lines)`` holds; the deadline only stops a test that would hang."""
    deadline = time.monotonic() + timeout
    while not predicate(lines):
        assert time.monotonic() < deadline, "".join(lines)
        time.sleep(0.05)


def inside_a_trial_after_two(lines: list[str]) -> bool:
    """Two trials finished and a third has started."""
    done = sum(" completed:" in line for line in lines)
    started = sum(line.startswith("trial ") and "(grid)" in line for line in lines)
    return done >= 2 and started > done


def finished_points(out: Path) -> list[tuple]:
    trials = load_study(out).study.get_trials(states=(TrialState.COMPLETE,))
    return [tuple(sorted(t.params.items())) for t in trials]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_stop_midway_then_resume(tmp_path, sig):
    proc, lines = start(tmp_path)
    wait_for(lines, inside_a_trial_after_two)
    # ...and that third trial has checkpointed an epoch (the finished ones' checkpoints are gone)
    wait_for(lines, lambda _: any(epoch >= 1 for epoch in checkpointed_epochs(tmp_path)))
    proc.send_signal(sig)
    code = proc.wait(timeout=120)
    before = finished_points(tmp_path)
    assert len(before) >= 2
    interrupted = [t for t in load_study(tmp_path).study.get_trials() if t.state == TrialState.RUNNING]
    if sig == signal.SIGINT:
        assert code == 130
        wait_for(lines, lambda ls: any("run the same command to resume" in line for line in ls))
        failed = load_study(tmp_path).study.get_trials(states=(TrialState.FAIL,))
        assert [t.user_attrs["tunelab.outcome"] for t in failed] == ["interrupted"]
        assert not interrupted
    else:
        assert code == -signal.SIGKILL
        assert len(interrupted) == 1  # nobody could mark it: the next run finds its worker gone

    proc, lines = start(tmp_path)
    assert proc.wait(timeout=300) == 0, "".join(lines)
    after = finished_points(tmp_path)
    assert set(before) <= set(after)  # no finished trial lost
    assert len(after) == len(set(after)) == 8  # every grid point exactly once
    trials = load_study(tmp_path).study.get_trials()
    retried = [t for t in trials if t.system_attrs.get("failed_trial") is not None]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    # ...and it continued from the checkpoint of the trial that was stopped, not from epoch 1
    run = retried[0].user_attrs["tunelab.runs"][0]
    assert run["resumed_from"] >= 1
    assert run["history"]["resumed"][run["resumed_from"]] == 1.0
    assert run["history"]["epoch"] == list(range(1, 61))
    reason = next(t for t in trials if t.state == TrialState.FAIL).user_attrs["tunelab.outcome"]
    assert reason == ("interrupted" if sig == signal.SIGINT else "worker_died")


def checkpointed_epochs(out: Path) -> list[int]:
    """The epochs of the checkpoints in the study's database so far."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{out / 'study.db'}?mode=ro", uri=True, timeout=1) as db:
            return [epoch for (epoch,) in db.execute("SELECT epoch FROM tunelab_checkpoints")]
    except sqlite3.OperationalError:  # not there yet, or locked by the writer
        return []


@pytest.mark.slow
def test_a_killed_population_resumes_each_member_from_its_checkpoint(tmp_path):
    # Without population=1: the grid's points of one batch size train as one population of 4.
    settings = ["train.epochs=20", "checkpoint_interval_s=0"]
    cmd = command(tmp_path, [arg for setting in settings for arg in ("--set", setting)])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.monotonic() + 120
    while len([e for e in checkpointed_epochs(tmp_path) if e >= 2]) < 4:
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoints of the population"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)

    assert subprocess.run(cmd, env=ENV, capture_output=True).returncode == 0
    trials = load_study(tmp_path).study.get_trials()
    assert len(set(finished_points(tmp_path))) == len(finished_points(tmp_path)) == 8
    retried = [t for t in trials if t.system_attrs.get("failed_trial") is not None]
    assert len(retried) == 4 and all(t.state == TrialState.COMPLETE for t in retried)
    for trial in retried:  # each continued from its own checkpoint, in a population again
        (run,) = trial.user_attrs["tunelab.runs"]
        assert run["population"] == 4
        assert run["resumed_from"] >= 2
        assert run["history"]["resumed"][run["resumed_from"]] == 1.0
        assert run["history"]["epoch"] == list(range(1, 21))


@pytest.mark.slow
def test_a_grid_killed_more_times_than_retries_before_any_checkpoint_completes_every_point_once(tmp_path):
    # Populations of 4 (one per batch size), no checkpoint ever (a long interval), no retries: each
    # kill lands inside a trial, and points die more often than retries would have allowed.
    settings = ["train.epochs=2", "retries=0", "checkpoint_interval_s=1000"]
    cmd = command(tmp_path, [arg for setting in settings for arg in ("--set", setting)])
    for _ in range(3):
        proc, lines = start(tmp_path, [arg for setting in settings for arg in ("--set", setting)])
        wait_for(lines, lambda ls: any(line.startswith("trial ") and "(grid)" in line for line in ls))
        proc.send_signal(signal.SIGKILL)  # its trials are running in the storage: it printed them
        assert proc.wait(timeout=120) == -signal.SIGKILL
    assert checkpointed_epochs(tmp_path) == []  # every kill came before any checkpoint

    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr
    assert re.search(r"to do first: \d+ resumed, 0 retried, 0 new", done.stderr), done.stderr
    points = finished_points(tmp_path)
    assert len(points) == len(set(points)) == 8  # every grid point complete, exactly once
    trials = load_study(tmp_path).study.get_trials()
    died = [t for t in trials if t.state == TrialState.FAIL]
    assert len(died) == 12 and {t.user_attrs["tunelab.outcome"] for t in died} == {"worker_died"}
    deaths = Counter(tuple(sorted(t.params.items())) for t in died)
    assert max(deaths.values()) == 2  # more than retries (0): deaths are not failures
