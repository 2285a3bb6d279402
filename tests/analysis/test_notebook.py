"""``tunelab.load``: a study for a notebook, and the example script that shows it (run as CI runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

import tunelab
from tunelab.analysis.notebook import BestTrial, LoadedStudy
from tunelab.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def loaded(study_handle) -> LoadedStudy:
    return tunelab.load(study_handle.out_dir)


def test_trials_and_best(loaded, study_handle):
    trials = loaded.trials
    assert isinstance(trials, pd.DataFrame) and len(trials) == 8
    assert {"number", "value", "params_train.optimizer.lr", "val_accuracy", "test_accuracy_ci95"} <= set(
        trials
    )
    best = loaded.best
    assert isinstance(best, BestTrial)
    assert best.number == study_handle.best().number and best.value == trials["value"].max()
    assert set(best.params) == {"train.optimizer.lr", "model.dropout", "train.batch_size"}
    assert 0 < best.metrics["test_accuracy"] <= 1 and best.external == {"count": 0, "best": None}
    assert "report-test" in repr(loaded) and loaded.optuna_study.study_name == "report-test"


def test_every_plot_is_a_matplotlib_figure(loaded):
    for name in [n for n in dir(loaded) if n.startswith("plot_")]:
        figure = getattr(loaded, name)()
        assert isinstance(figure, Figure), name
        assert figure.axes, name


def test_report_writes_into_the_folder_given(loaded, tmp_path):
    page = loaded.report(tmp_path / "report", top_k=2)
    assert page == tmp_path / "report" / "report.html" and page.is_file()
    assert (tmp_path / "report" / "tables" / "results.csv").is_file()


def test_load_refuses_a_path_that_is_not_a_study(tmp_path):
    with pytest.raises(ConfigError, match="no such study file or output folder"):
        tunelab.load(tmp_path / "absent")


@pytest.mark.slow
def test_the_notebook_example_runs(tmp_path):
    out = tmp_path / "notebook"
    env = os.environ | {"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "notebook.py"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "best trial #" in result.stdout and "intermediate values of trial 0: {1:" in result.stdout
    assert (out / "report" / "report.html").is_file() and (out / "learning_curves.png").is_file()
