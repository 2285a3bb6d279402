"""How a worker's trials train: as populations or one by one, and what an error in one of them fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.search import execution, load_study_spec, run_study
from tunelab.search.record import TrialRecord

GRID = Path(__file__).parents[2] / "studies" / "examples" / "digits-grid.yaml"


def test_an_error_in_one_lone_trial_fails_that_trial_only(tmp_path, monkeypatch):
    """With population: 1 a worker draws and trains one trial at a time, so the second trial's error
    leaves the first one's result alone (and is recorded with its first line)."""
    real_train, calls = execution.train, []

    def train(config, *args, **kwargs):
        calls.append(config.train.optimizer.lr)
        if len(calls) == 2:
            raise RuntimeError("out of memory\ndetails")
        return real_train(config, *args, **kwargs)

    monkeypatch.setattr(execution, "train", train)
    study = {
        "name": "one-fails",
        "data": {"name": "digits", "val_fraction": 0.2},
        "model": {"kind": "mlp", "hidden": [16]},
        "train": {"epochs": 1, "batch_size": 64},
        "space": {"train.optimizer.lr": [0.001, 0.01]},  # one architecture: one population key
        "strategy": "grid",
        "population": 1,
        "retries": 0,
    }
    result = run_study(study, out=tmp_path / "out")
    records = {t.number: TrialRecord.from_trial(t) for t in result.study.get_trials()}
    assert len(calls) == 2
    assert records[0].outcome == "completed" and records[0].metrics["val_accuracy"] > 0
    assert records[1].outcome == "error" and records[1].reason == "RuntimeError: out of memory"


@pytest.mark.parametrize("population", [1, 16])
def test_grid_points_train_alone_or_together_as_population_says(tmp_path, monkeypatch, population):
    runs = []
    real = execution.train_population

    def spy(configs, *args, **kwargs):
        runs.append(len(configs))
        return real(configs, *args, **kwargs)

    monkeypatch.setattr(execution, "train_population", spy)
    overrides = [f"population={population}", "train.epochs=1", "final=null"]
    result = run_study(load_study_spec(GRID, overrides), out=tmp_path / "out")
    assert all(TrialRecord.from_trial(t).outcome == "completed" for t in result.study.get_trials())
    assert (runs == []) if population == 1 else (sum(runs) == 8 and max(runs) > 1)
