"""optuna-dashboard on a finished tunelab study, started by ``tunelab dashboard`` on 127.0.0.1: its
JSON API shows every trial's learning curve (intermediate values) and its headline metrics as flat,
sortable user attributes, and params with no holes where a stage held a parameter at one value."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tunelab.search import run_study
from tunelab.search.record import FLAT_METRICS

pytest.importorskip(
    "optuna_dashboard", reason='optuna-dashboard is not installed (pip install -e ".[dashboard]")'
)

DEADLINE_S = 180  # to start: a cold interpreter imports torch, optuna and the dashboard's server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """A small coarse-to-fine study (one parameter narrowed to one value), served by the dashboard."""
    out = tmp_path_factory.mktemp("dashboard")
    study = {
        "name": "dashboard-study",
        "data": {"name": "digits", "val_fraction": 0.2},
        "model": {"kind": "mlp", "hidden": [16]},
        "train": {"epochs": 2, "batch_size": 64},
        "space": {
            "train.optimizer.lr": {"low": 1e-3, "high": 1e-1, "log": True},
            "train.batch_size": [32, 64],
        },
        "strategy": {"name": "coarse_to_fine", "coarse_trials": 3, "fine_trials": 1, "top_fraction": 0.5},
    }
    run_study(study, out=out)
    port = free_port()
    command = [sys.executable, "-m", "tunelab", "dashboard", str(out), "--port", str(port)]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:  # wait for the server to answer, not for a fixed time
            try:
                studies = get(f"{base}/api/studies")
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None:
                    pytest.fail(f"tunelab dashboard exited: {server.stderr.read().decode()[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"optuna-dashboard did not answer on {base} within {DEADLINE_S} s")
                time.sleep(0.2)
        yield base, studies
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow  # starts a second interpreter (torch, optuna, the dashboard's server)
def test_the_dashboard_api_shows_learning_curves_and_flat_metrics(dashboard):
    base, studies = dashboard
    (summary,) = [s for s in studies["study_summaries"] if s["study_name"] == "dashboard-study"]
    detail = get(f"{base}/api/studies/{summary['study_id']}?after=0")
    trials = detail["trials"]
    assert len(trials) == 4
    for trial in trials:
        curve = {v["step"]: v["value"] for v in trial["intermediate_values"]}
        assert sorted(curve) == [1, 2] and all(0.0 <= v <= 1.0 for v in curve.values())
        assert curve[2] == pytest.approx(trial["values"][0])  # one seed, no early stopping
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        for name in ("val_accuracy", "val_loss", "test_accuracy", "train_time_s"):
            assert name in FLAT_METRICS
            float(attrs[name])  # a plain number: the dashboard sorts and filters by it
        assert float(attrs["val_accuracy"]) == pytest.approx(trial["values"][0])
        assert "val_accuracy_ci95" not in attrs  # one seed: no interval (null in tunelab.metrics)
        assert '"val_accuracy_ci95": null' in attrs["tunelab.metrics"]  # an early key: not cut off
        assert "NaN" not in json.dumps(trial["user_attrs"])
        params = {p["name"] for p in trial["params"]}
        assert params == {"train.optimizer.lr", "train.batch_size"}  # pinned in the fine stage too


def test_dashboard_help_says_how_to_install_the_extra():
    from typer.testing import CliRunner

    from tunelab.cli import app

    result = CliRunner().invoke(app, ["dashboard", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and 'pip install "tunelab[dashboard]"' in result.output
