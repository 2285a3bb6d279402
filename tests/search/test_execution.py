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


def test_a_built_in_network_its_settings_cannot_make_is_invalid_once_and_the_study_goes_on(tmp_path):
    """Three 2×2 poolings leave nothing of an 8×8 digit: that listed point is invalid (never rerun,
    whatever ``retries`` says), and the other point trains."""
    block = {"filters": 4, "kernel": 3, "padding": "same", "pool": "max"}
    study = {
        "name": "too-deep",
        "data": {"name": "digits", "val_fraction": 0.2},
        "model": {"kind": "cnn", "blocks": [block], "dense": [8]},
        "train": {"epochs": 1, "batch_size": 64},
        "strategy": {
            "name": "listed",
            "configs": [
                {"name": "one pool", "set": {"model.blocks": [block]}},
                {"name": "four pools", "set": {"model.blocks": [block] * 4}},
            ],
        },
        "retries": 2,
    }
    records = [TrialRecord.from_trial(t) for t in run_study(study, out=tmp_path / "out").study.get_trials()]
    assert [r.outcome for r in records] == ["completed", "invalid"]
    too_small = "the 1×1 output of the conv layer is too small for 2×2 max pooling"
    assert records[1].reason == f"model.blocks[3]: {too_small}"


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


class FakeTrial:
    """What ReportEpochs asks of an optuna.Trial: report, and should_prune from a given answer."""

    def __init__(self, prune_at: int | None = None) -> None:
        self.values: dict[int, float] = {}
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        assert step not in self.values, f"epoch {step} reported twice"
        self.values[step] = value

    def should_prune(self) -> bool:
        return self.prune_at is not None and max(self.values) >= self.prune_at


def test_seeds_training_together_report_their_mean_once_each_has_the_epoch():
    trial = FakeTrial()
    reporter = execution.ReportEpochs(trial, "val_accuracy", seeds=3, prune=False)
    a, b, c = (reporter.member(i) for i in range(3))
    assert not a(1, {"val_accuracy": 0.1}) and not b(1, {"val_accuracy": 0.2})
    assert trial.values == {}  # seed c has not reported epoch 1 yet
    c(1, {"val_accuracy": 0.6})
    assert trial.values == {1: pytest.approx(0.3)}
    # Early stopping ends seed c at epoch 2 before its callbacks: a's epoch 3 says that it left.
    a(2, {"val_accuracy": 0.4})
    b(2, {"val_accuracy": 0.6})
    assert 2 not in trial.values
    a(3, {"val_accuracy": 0.5})
    assert trial.values[2] == pytest.approx(0.5) and 3 not in trial.values
    b(3, {"val_accuracy": 0.7})
    assert trial.values[3] == pytest.approx(0.6)
    reporter.finish([])
    assert sorted(trial.values) == [1, 2, 3] and not reporter.pruned


def test_a_pruned_trial_stops_every_seed_and_reports_nothing_after_the_epoch_it_was_pruned_at():
    trial = FakeTrial(prune_at=2)
    reporter = execution.ReportEpochs(trial, "val_loss", seeds=2, prune=True)
    a, b = reporter.member(0), reporter.member(1)
    assert not a(1, {"val_loss": 1.0}) and not b(1, {"val_loss": 2.0})
    assert not a(2, {"val_loss": 0.5})  # b has not reported epoch 2: nothing decided yet
    assert b(2, {"val_loss": 0.7})  # the mean of epoch 2 is reported, the pruner says stop
    assert a(3, {"val_loss": 0.1})  # a stops at its next epoch
    reporter.finish([{"history": {"epoch": [1, 2, 3], "val_loss": [1.0, 0.5, 0.1]}}])
    assert trial.values == {1: pytest.approx(1.5), 2: pytest.approx(0.6)} and reporter.pruned_at == 2


def test_epochs_no_callback_saw_are_reported_from_the_histories():
    """A trial continued from a checkpoint at epoch 2 sees epochs 3 on only; the earlier ones are in
    its seeds' histories (and so is the last epoch of seeds that all stopped early)."""
    trial = FakeTrial()
    reporter = execution.ReportEpochs(trial, "val_accuracy", seeds=2, prune=False)
    reporter.member(0)(3, {"val_accuracy": 0.3})
    reporter.member(1)(3, {"val_accuracy": 0.5})
    histories = [
        {"history": {"epoch": [1, 2, 3, 4], "val_accuracy": [0.1, 0.2, 0.3, 0.4]}},
        {"history": {"epoch": [1, 2, 3, 4], "val_accuracy": [0.3, 0.4, 0.5, float("nan")]}},
    ]
    reporter.finish(histories)
    assert trial.values == pytest.approx({1: 0.2, 2: 0.3, 3: 0.4, 4: 0.4})


@pytest.mark.parametrize("population", [1, 16])
def test_every_epoch_is_an_intermediate_value_without_a_pruner(tmp_path, population):
    """Seeds in one population report their mean; seeds one after another the first seed's."""
    study = {
        "name": "curves",
        "data": {"name": "digits", "val_fraction": 0.2},
        "model": {"kind": "mlp", "hidden": [16]},
        "train": {"epochs": 3, "batch_size": 64},
        "space": {"train.optimizer.lr": [0.001, 0.01]},
        "strategy": "grid",
        "repeats": 2,
        "population": population,
    }
    result = run_study(study, out=tmp_path / "out")
    for trial in result.study.get_trials():
        runs = TrialRecord.from_trial(trial).runs
        curves = [run["history"]["val_accuracy"] for run in runs]
        expected = [sum(v) / 2 for v in zip(*curves, strict=True)] if population > 1 else curves[0]
        assert trial.intermediate_values == pytest.approx(dict(enumerate(expected, start=1)))
        assert trial.intermediate_values[3] == pytest.approx(trial.value) or population == 1


def test_an_objective_measured_only_after_training_reports_nothing():
    trial = FakeTrial()
    reporter = execution.ReportEpochs(trial, "test_accuracy", seeds=1, prune=False)
    assert not reporter.member(0)(1, {"val_accuracy": 0.5, "val_loss": 1.0})
    reporter.finish([{"history": {"epoch": [1], "val_accuracy": [0.5]}}])
    assert trial.values == {}
