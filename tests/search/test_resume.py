"""Stopping ``tunelab run`` midway (Ctrl-C, or SIGKILL) and running it again loses and repeats nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tunelab.search import load_study

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"
# Long enough per trial (~1 s) that a signal lands inside a trial, short enough for CI.
SLOW = [
    "--set",
    "train.epochs=60",
    "--set",
    "train.batch_size=16",
    "--set",
    "checkpoint_interval_s=0",
    "--set",
    "population=1",
]


def start(out: Path) -> tuple[subprocess.Popen[str], list[str]]:
    cmd = [
        sys.executable,
        "-m",
        "tunelab.cli",
        "run",
        str(EXAMPLES / "digits-grid.yaml"),
        "--out",
        str(out),
        *SLOW,
    ]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    return proc, lines


def wait_for(lines: list[str], predicate, timeout: float = 120.0) -> None:
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
    time.sleep(0.3)
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    before = finished_points(tmp_path)
    assert len(before) >= 2
    interrupted = [t for t in load_study(tmp_path).study.get_trials() if t.state == TrialState.RUNNING]
    if sig == signal.SIGINT:
        assert code == 130
        wait_for(lines, lambda ls: any("run the same command to resume" in line for line in ls), 10)
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
