"""A study of a user's own nn.Module factory, run by two worker processes on PostgreSQL, killed, resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from optuna.trial import TrialState
from storage_support import NEEDS_POSTGRES
from test_postgres_workers import URL, study_name, wait_for_new_checkpoint  # noqa: F401

from tunelab.search import load_study

pytestmark = NEEDS_POSTGRES

# The script a user writes: the factory beside the run_study call, which the `__main__` guard keeps
# from running again when each worker process loads the script for its factory.
SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    from torch import nn

    import tunelab


    class Tiny(nn.Module):
        def __init__(self, input_shape, n_classes, width=16):
            super().__init__()
            channels, height, width_px = input_shape
            features = channels * height * width_px
            self.body = nn.Sequential(
                nn.Flatten(), nn.Linear(features, width), nn.ReLU(), nn.Linear(width, n_classes)
            )

        def forward(self, x):
            return self.body(x)


    if __name__ == "__main__":
        study, storage, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
        tunelab.run_study(study, storage=storage, out=out, workers=2, models={"tiny": Tiny})
    """
)


@pytest.mark.slow
def test_two_workers_of_a_factory_study_resume_after_sigkill(tmp_path, study_name):  # noqa: F811
    script = tmp_path / "tune.py"
    script.write_text(SCRIPT)
    study = {
        "name": study_name,
        "data": {"name": "digits", "val_fraction": 0.2},
        "model": {"kind": "tiny", "params": {"width": 16}},
        "train": {"epochs": 30, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.001}},
        "space": {"model.params.width": [8, 16], "train.optimizer.lr": [0.001, 0.003]},
        "strategy": "grid",
        "checkpoint_interval_s": 0,
        "retries": 10,
    }
    out = tmp_path / "out"
    cmd = [sys.executable, str(script), json.dumps(study), URL, str(out)]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    # its own session: one signal reaches the script and both of its workers
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE)
    wait_for_new_checkpoint(study_name, set())  # a worker is inside a trial that saved an epoch
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = load_study(out, storage=URL).study.get_trials()
    assert any(t.state == TrialState.RUNNING for t in killed)  # cut off mid-trial

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr

    trials = load_study(out, storage=URL).study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    points = {tuple(sorted(t.params.items())) for t in complete}
    assert len(complete) == len(points) == 4
    died = [t for t in trials if t.state == TrialState.FAIL]
    assert died and all(t.user_attrs["tunelab.outcome"] == "worker_died" for t in died)
    retried = [t for t in complete if t.system_attrs.get("failed_trial") is not None]
    runs = [run for t in retried for run in t.user_attrs["tunelab.runs"]]
    assert any(run["resumed_from"] for run in runs)  # a retry continued from its checkpoint...
    for run in runs:
        assert run["history"]["epoch"] == list(range(1, 31))  # ...its epochs continuing, none repeated
    workers = {t.user_attrs["tunelab.worker"]["pid"] for t in trials}
    assert len(workers) > 1  # the workers before the kill and those after
