"""A tunelab study continued with plain Optuna code on its storage, then read by tunelab again: the
trials Optuna made are shown for what they are (params and value, "external"), never as the best."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.search import load_study, run_study
from tunelab.search.record import TrialRecord

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"
OVERRIDES = ["budget.n_trials=3", "train.epochs=1"]


@pytest.fixture(scope="module")
def continued(tmp_path_factory):
    """digits-random with 3 tunelab trials, then 2 from ``study.optimize`` scoring above them all."""
    out = tmp_path_factory.mktemp("continued")
    run_study(EXAMPLES / "digits-random.yaml", out=out, overrides=OVERRIDES)
    study = optuna.load_study(study_name="digits-random", storage=f"sqlite:///{out / 'study.db'}")

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("train.optimizer.lr", 1e-4, 1e-1, log=True)
        trial.suggest_categorical("optimizer", ["sgd", "adam"])
        return 0.999 if lr > 0 else 0.0

    study.optimize(objective, n_trials=2)
    return out


def test_status_shows_the_external_trials_apart(continued):
    result = CliRunner().invoke(app, ["status", str(continued)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "3 / 3 + 2 external" in result.output  # the budget counts tunelab's trials only
    assert "external 2" in result.output and "completed 3" in result.output
    assert "external trials (2" in result.output and "0.9990" in result.output
    assert "optimizer: " in result.output  # the external trials' params
    best_title = next(line for line in result.output.splitlines() if "best trial #" in line)
    assert "#3" not in best_title and "#4" not in best_title


def test_best_is_tunelabs_and_mentions_the_external_ones(continued):
    runner = CliRunner()
    summary = json.loads(runner.invoke(app, ["best", str(continued), "--json"]).stdout)
    assert summary["number"] in (0, 1, 2) and summary["value"] < 0.999
    assert summary["overrides"] and summary["metrics"]["test_accuracy"] > 0
    assert summary["external"]["count"] == 2 and summary["external"]["best"]["value"] == 0.999
    assert set(summary["external"]["best"]["params"]) == {"train.optimizer.lr", "optimizer"}
    text = runner.invoke(app, ["best", str(continued)], env={"COLUMNS": "200"})
    assert text.exit_code == 0 and "test_accuracy" in text.output and "train.optimizer.lr" in text.output
    assert "2 trial(s) made by other code than tunelab are not ranked" in text.output


def test_the_report_lists_them_as_external_with_their_value(continued, tmp_path):
    result = CliRunner().invoke(app, ["report", str(continued), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    results = pd.read_csv(tmp_path / "tables" / "results.csv")
    external = results[results["status"] == "external"]
    assert sorted(external["trial"]) == [3, 4] and external["rank"].isna().all()
    assert external["reason"].str.contains("made by other code than tunelab: value 0.9990").all()
    assert results.loc[results["rank"] == 1, "trial"].item() in (0, 1, 2)
    summary = pd.read_csv(tmp_path / "tables" / "study.csv")
    assert "2 made by other code than tunelab" in summary.set_index("item").loc["external trials", "value"]
    assert "listed as `external`" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_tunelab_resumes_it_without_counting_or_training_them(continued):
    before = len(load_study(continued).study.get_trials())
    run_study(EXAMPLES / "digits-random.yaml", out=continued, overrides=OVERRIDES)
    trials = load_study(continued).study.get_trials()
    assert len(trials) == before == 5
    assert [TrialRecord.from_trial(t).external for t in trials] == [False] * 3 + [True] * 2
