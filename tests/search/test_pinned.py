"""A stage's trial records every parameter of its configuration as an Optuna param, also those the
stage holds at one value: what coarse-to-fine narrows to one value, what staged carries from the
best so far, what a final trial retrains. So ``study.best_params`` and exports have no holes."""

from __future__ import annotations

import math

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution

from tunelab.search import run_study
from tunelab.search.record import TrialRecord
from tunelab.search.space import pinned_distribution

BASE = {
    "data": {"name": "digits", "val_fraction": 0.2},
    "model": {"kind": "mlp", "hidden": [16]},
    "train": {"epochs": 1, "batch_size": 64},
}


def test_coarse_to_fine_pins_what_it_narrowed_to_one_value(tmp_path):
    study = BASE | {
        "name": "pin-c2f",
        "space": {
            "train.optimizer.lr": {"low": 1e-3, "high": 1e-1, "log": True},
            "train.batch_size": [32, 64],
        },
        "strategy": {"name": "coarse_to_fine", "coarse_trials": 4, "fine_trials": 2, "top_fraction": 0.5},
    }
    result = run_study(study, out=tmp_path)
    trials = result.study.get_trials()
    coarse = [t for t in trials if TrialRecord.from_trial(t).stage == 0]
    fine = [t for t in trials if TrialRecord.from_trial(t).stage == 1]
    assert len(coarse) == 4 and len(fine) == 2
    for trial in fine:
        record = TrialRecord.from_trial(trial)
        assert record.pinned == ["train.batch_size"]
        assert trial.params["train.batch_size"] == record.overrides["train.batch_size"]
        # the study's own choices: Optuna's storage refuses other ones for the same name
        assert trial.distributions["train.batch_size"] == coarse[0].distributions["train.batch_size"]
        assert set(record.drawn(trial)) == {"train.optimizer.lr"}
    assert set(result.study.best_params) == {"train.optimizer.lr", "train.batch_size"}
    frame = result.study.trials_dataframe()
    assert frame["params_train.batch_size"].notna().all()


def test_staged_and_final_trials_carry_the_whole_configuration(tmp_path):
    study = BASE | {
        "name": "pin-staged",
        "strategy": {
            "name": "staged",
            "stages": [
                {"name": "lr", "space": {"train.optimizer.lr": [0.001, 0.01]}},
                {"name": "dropout", "space": {"model.dropout": [0.0, 0.2]}},
            ],
        },
        "final": {"top": 1, "seeds": 2},
    }
    result = run_study(study, out=tmp_path)
    trials = {t.number: t for t in result.study.get_trials()}
    records = {n: TrialRecord.from_trial(t) for n, t in trials.items()}
    second = [t for n, t in trials.items() if records[n].stage_name == "dropout"]
    (final,) = [t for n, t in trials.items() if records[n].final]
    for trial in second:
        assert set(trial.params) == {"model.dropout", "train.optimizer.lr"}
        assert records[trial.number].pinned == ["train.optimizer.lr"]
        assert trial.params["train.optimizer.lr"] == records[trial.number].overrides["train.optimizer.lr"]
    source = trials[int(final.params["final"].removeprefix("trial "))]
    assert {k: v for k, v in final.params.items() if k != "final"} == source.params
    assert records[final.number].overrides == records[source.number].overrides
    assert set(result.study.best_params) >= {"train.optimizer.lr"}


def test_the_one_value_distribution_is_what_the_storage_accepts():
    log_range = FloatDistribution(1e-4, 1.0, log=True)
    assert pinned_distribution(0.01, log_range) == FloatDistribution(0.01, 0.01, log=True)
    choices = CategoricalDistribution([16, 32, 64])
    assert pinned_distribution(32, choices) is choices
    assert pinned_distribution(48, choices) is None  # not one of the study's choices
    assert pinned_distribution("adam", None) == CategoricalDistribution(["adam"])
    assert pinned_distribution([64, 32], None) is None  # a list stays an override only
    assert pinned_distribution("relu", log_range) is None
    study = optuna.create_study()
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1.0, log=True)
    study.tell(trial, 1.0)
    pinned = pinned_distribution(0.01, study.trials[0].distributions["lr"])
    study.add_trial(optuna.trial.create_trial(params={"lr": 0.01}, distributions={"lr": pinned}, value=0.5))
    assert math.isclose(study.best_params["lr"], 0.01)
