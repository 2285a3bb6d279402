"""status, best, export and schema read a finished study from its storage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.search import run_study

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    run_study(EXAMPLES / "digits-listed.yaml", out=out, overrides=["train.epochs=2"])
    return out


def test_export_writes_one_row_per_trial_in_each_format(study, tmp_path):
    runner = CliRunner()
    frames = {}
    for fmt in ("csv", "parquet", "json"):
        path = tmp_path / f"trials.{fmt}"
        result = runner.invoke(app, ["export", str(study), "--format", fmt, "--output", str(path)])
        assert result.exit_code == 0, result.output
        frames[fmt] = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[fmt](path)
    for frame in frames.values():
        assert len(frame) == 3
        assert {
            "number",
            "state",
            "value",
            "params_config",
            "test_accuracy_ci95",
            "seeds",
            "duration_s",
        } <= set(frame.columns)
    assert sorted(frames["parquet"]["params_config"]) == ["NN model 1", "NN model 1.1", "NN model 2"]


def test_best_json_and_status(study):
    runner = CliRunner()
    best = json.loads(runner.invoke(app, ["best", str(study), "--json"]).stdout)
    assert best["metric"] == "val_accuracy" and best["seeds"] == [0, 1, 2]
    assert best["overrides"]["model.hidden"]
    status = runner.invoke(app, ["status", str(study)])
    assert status.exit_code == 0 and "completed 3" in status.output


def test_bad_export_format_exits_2(study):
    result = CliRunner().invoke(app, ["export", str(study), "--format", "xlsx"])
    assert result.exit_code == 2 and "--format" in result.output


def test_schema_is_json_schema_of_study_files():
    schema = json.loads(CliRunner().invoke(app, ["schema"]).stdout)
    assert {"space", "strategy", "budget", "repeats", "pruner", "storage"} <= set(schema["properties"])


def test_dashboard_without_the_extra_says_how_to_install_it(study, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_dashboard(name, *args, **kwargs):
        if name.startswith("optuna_dashboard"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dashboard)
    result = CliRunner().invoke(app, ["dashboard", str(study)])
    assert result.exit_code == 2 and "tunelab[dashboard]" in result.output


def test_a_study_folder_moved_elsewhere_still_opens(tmp_path):
    import shutil

    run_study(
        EXAMPLES / "digits-listed.yaml", out=tmp_path / "here", overrides=["train.epochs=1", "repeats=1"]
    )
    shutil.move(tmp_path / "here", tmp_path / "there")  # its SQLite file goes with it
    result = CliRunner().invoke(app, ["best", str(tmp_path / "there"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["study"] == "digits-listed"
    assert not (tmp_path / "here").exists()
