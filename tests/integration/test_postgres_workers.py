"""Many workers on one PostgreSQL study (127.0.0.1:5432, user postgres, database test), for real."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from tunelab.search import load_study

URL = "postgresql://postgres@127.0.0.1:5432/test"
EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"


def postgres_up() -> bool:
    try:
        with sqlalchemy.create_engine(URL, connect_args={"connect_timeout": 3}).connect():
            return True
    except Exception:
        return False


pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not postgres_up(), reason="PostgreSQL is not running on 127.0.0.1:5432"),
]


@pytest.fixture
def study_name():
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=name, storage=URL)


def test_four_workers_run_a_16_point_grid_exactly_once(tmp_path, study_name):
    overrides = [
        f"--set=name={study_name}",
        "--set=train.epochs=2",
        "--set=space.model.dropout=[0.0, 0.1, 0.2, 0.3]",
        "--set=space.train.batch_size=[32, 64]",
    ]
    cmd = [sys.executable, "-m", "tunelab.cli", "run", str(EXAMPLES / "digits-grid.yaml"), "--storage", URL]
    cmd += ["--out", str(tmp_path), "--workers", "4", "-q", *overrides]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    study = load_study(tmp_path, storage=URL).study
    trials = study.get_trials()
    complete = [tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE]
    assert len(trials) == len(complete) == len(set(complete)) == 16
    workers = {t.user_attrs["tunelab.worker"]["pid"] for t in trials}
    assert len(workers) > 1  # the work was shared
