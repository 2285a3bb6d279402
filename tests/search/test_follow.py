"""probe, ensemble and baselines follow a study: its data folder and split, and they say which."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.search import load_study, run_study

REPO = Path(__file__).resolve().parents[2]
SHARED = [os.environ.get("TUNELAB_SHARED_DATA"), REPO.parent / "shared" / "data"]  # as tests/conftest.py's
EXAMPLES = REPO / "studies" / "examples"
runner = CliRunner()


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A two-trial digits study run with a --data-dir (digits is bundled: the folder is only recorded)."""
    root = tmp_path_factory.mktemp("follow")
    (root / "data").mkdir()
    run_study(
        EXAMPLES / "digits-random.yaml",
        out=root / "study",
        overrides=["train.epochs=1", "budget.n_trials=2"],
        data_dir=root / "data",
    )
    return root


def test_a_study_records_the_data_folder_it_read(digits):
    assert load_study(digits / "study").data_dir == (digits / "data").resolve()


def test_probe_reads_the_study_data_folder_and_says_which_split(digits, tmp_path):
    result = runner.invoke(
        app, ["probe", "lr_scale", str(digits / "study"), "--epochs", "1", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stderr.splitlines() if line.startswith("split:"))
    assert line.startswith("split: digits, validation 20% of train (split seed 0), as study 'digits-random'")
    assert line.endswith(f"· data from {(digits / 'data').resolve()}")


def test_baselines_take_the_study_split(digits, tmp_path):
    args = [
        "baselines",
        "--study",
        str(digits / "study"),
        "--models",
        "knn",
        "--out",
        str(tmp_path),
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "split: digits, validation 20% of train (split seed 0), as study 'digits-random'" in result.stderr
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["data"]["val_fraction"] == 0.2 and saved["n_val"] == 270  # 20% of the 1,347 train images
    report = runner.invoke(
        app, ["report", str(digits / "study"), "--baselines", str(tmp_path), "--out", str(tmp_path / "r")]
    )
    assert report.exit_code == 0, report.output
    assert (
        "The baselines used the study's split (validation 20% of train"
        in (tmp_path / "r" / "report.md").read_text()
    )


def test_an_ensemble_of_one_model_twice_is_warned_about(digits, tmp_path):
    # A copy of the study under another name: the same trained models, as two samplers' same first draws
    shutil.copytree(digits / "study", tmp_path / "copy")
    spec = (
        (tmp_path / "copy" / "study.yaml").read_text().replace("name: digits-random", "name: digits-copy", 1)
    )
    (tmp_path / "copy" / "study.yaml").write_text(spec)
    with sqlite3.connect(tmp_path / "copy" / "study.db") as db:
        db.execute("UPDATE studies SET study_name = 'digits-copy'")
    args = ["ensemble", str(digits / "study"), str(tmp_path / "copy"), "--out", str(tmp_path / "e")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "digits-random#" in result.stderr and "digits-copy#" in result.stderr
    assert "are the same model (identical predictions on validation and test)" in result.stderr
    assert "split: digits, validation 20% of train (split seed 0), as the studies" in result.stderr


@pytest.mark.slow
def test_the_readme_probe_command_runs_on_a_study_run_with_a_data_dir(tmp_path, monkeypatch):
    data = next((Path(p).resolve() for p in SHARED if p and Path(p, "usps").is_dir()), None)
    if data is None:
        pytest.skip("the shared datasets (../shared/data) are not on this machine")
    monkeypatch.chdir(tmp_path)  # runs/ is made here, as the README's commands make it
    study = REPO / "studies" / "usps-mlp-coarse-to-fine.yaml"
    args = ["--data-dir", str(data / "usps"), "--n-trials", "1", "--set", "train.epochs=1", "--quiet"]
    assert runner.invoke(app, ["run", str(study), *args]).exit_code == 0
    # as the README writes it: no --data-dir, and downloads go to a closed port in tests
    result = runner.invoke(app, ["probe", "lr_scale", "runs/usps-mlp-coarse-to-fine", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert f"data from {(data / 'usps').resolve()}" in result.stderr
    assert Path("runs/probes/usps-mlp-coarse-to-fine/lr_scale.csv").is_file()
