"""The trial and study records: what tunelab keeps beside each trial and study in Optuna's storage."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3

import optuna
import pytest
from optuna.trial import TrialState

from tunelab.search import record
from tunelab.search.record import StudyRecord, TrialRecord, set_study_attrs, set_trial_attrs, trial_attrs

FULL = TrialRecord(
    stage=1,
    stage_name="fine",
    final=True,
    outcome="completed",
    reason="early stopping at epoch 3",
    overrides={"train.optimizer.lr": 0.01, "model.hidden": [64, 32]},
    seeds=[1, 2, 3],
    runs=[{"seed": 1, "val_accuracy": 0.9, "folder": "trials/3/seed_1"}],
    metrics={"val_accuracy": 0.9, "val_accuracy_std": 0.01, "val_accuracy_ci95": 0.02},
    device="cpu",
    worker={"host": "node1", "pid": 4242},
)


@pytest.fixture(params=["memory", "sqlite"])
def study(request, tmp_path) -> optuna.Study:
    """An empty study; on SQLite every value goes through JSON, as on a shared PostgreSQL database."""
    storage = None if request.param == "memory" else f"sqlite:///{tmp_path / 'study.db'}"
    return optuna.create_study(storage=storage, direction="maximize")


def _only_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    (trial,) = study.get_trials(deepcopy=False)
    return trial


def test_a_full_record_survives_the_round_trip_through_a_trial(study):
    trial = study.ask()
    for key, value in FULL.to_attrs().items():
        trial.set_user_attr(key, value)
    study.tell(trial, 0.9)
    frozen = _only_trial(study)
    assert TrialRecord.from_trial(frozen) == FULL
    assert all(key.startswith("tunelab.") or key in record.FLAT_METRICS for key in frozen.user_attrs)
    assert not TrialRecord.from_trial(frozen).external


def test_every_field_has_its_own_key_and_the_headline_metrics_are_flat_too():
    keys = FULL.to_attrs()
    fields = {f"tunelab.{f.name}" for f in dataclasses.fields(TrialRecord)}
    assert set(keys) == fields | {"val_accuracy", "val_accuracy_ci95"}
    assert keys["tunelab.stage"] == 1 and keys["tunelab.worker"] == {"host": "node1", "pid": 4242}
    assert keys["val_accuracy"] == 0.9 and keys["val_accuracy_ci95"] == 0.02


def test_json_attributes_hold_null_never_nan(study, tmp_path):
    """A one-seed trial's std and CI, a diverged run's loss: NaN is not JSON, so it is stored as null
    (and reads back as NaN in the record's metrics, as it was computed)."""
    trial = study.ask()
    metrics = {"val_accuracy": 0.5, "val_accuracy_std": math.nan, "val_accuracy_ci95": math.nan}
    runs = [{"seed": 0, "history": {"val_loss": [1.0, math.inf, math.nan]}}]
    set_trial_attrs(trial, stage=0, metrics=metrics, runs=runs)
    set_study_attrs(study, provenance={"speed": math.nan})
    study.tell(trial, 0.5)
    frozen = _only_trial(study)
    assert frozen.user_attrs["tunelab.metrics"]["val_accuracy_ci95"] is None
    assert frozen.user_attrs["val_accuracy"] == 0.5 and "val_accuracy_ci95" not in frozen.user_attrs
    assert frozen.user_attrs["tunelab.runs"][0]["history"]["val_loss"] == [1.0, None, None]
    assert study.user_attrs["tunelab.provenance"] == {"speed": None}
    got = TrialRecord.from_trial(frozen)
    assert got.metrics["val_accuracy"] == 0.5 and math.isnan(got.metrics["val_accuracy_ci95"])
    if (tmp_path / "study.db").exists():  # the JSON as the database holds it
        with sqlite3.connect(tmp_path / "study.db") as db:
            stored = [v for (v,) in db.execute("SELECT value_json FROM trial_user_attributes")]
            stored += [v for (v,) in db.execute("SELECT value_json FROM study_user_attributes")]
        assert stored and not any("NaN" in v or "Infinity" in v for v in stored)
        for value in stored:
            json.loads(value, parse_constant=lambda name: pytest.fail(f"{name} in stored JSON"))


def test_pinned_parameters_are_not_drawn(study):
    trial = study.ask()
    trial.suggest_float("model.dropout", 0.0, 0.5)
    trial.suggest_categorical("train.batch_size", [32])
    set_trial_attrs(trial, stage=1, pinned=["train.batch_size"])
    study.tell(trial, 0.5)
    frozen = _only_trial(study)
    got = TrialRecord.from_trial(frozen)
    assert set(frozen.params) == {"model.dropout", "train.batch_size"}
    assert set(got.drawn(frozen)) == {"model.dropout"}


def test_partial_writes_add_up_and_leave_the_rest_at_their_defaults(study):
    trial = study.ask()
    set_trial_attrs(trial, stage=0, stage_name="coarse", outcome="running", worker={"host": "h", "pid": 1})
    running = TrialRecord.from_trial(study.get_trials(deepcopy=False)[0])
    assert (running.stage, running.stage_name, running.outcome) == (0, "coarse", "running")
    assert running.metrics == {} and running.runs == [] and running.seeds == [] and running.final is False
    set_trial_attrs(trial, outcome="completed", seeds=[0], metrics={"val_accuracy": 0.5})
    study.tell(trial, 0.5)
    done = TrialRecord.from_trial(_only_trial(study))
    # stage 0 is a stage, not a missing one: the first stage's trials are tunelab's too
    assert done.stage == 0 and not done.external
    assert (done.stage_name, done.outcome, done.seeds) == ("coarse", "completed", [0])
    assert done.metric("val_accuracy") == 0.5 and done.metric("test_accuracy") is None
    assert done.worker == {"host": "h", "pid": 1} and done.overrides == {} and done.device is None


def test_a_null_value_reads_as_the_default(study):
    trial = study.ask()
    set_trial_attrs(trial, stage=2, metrics=None, runs=None)
    study.tell(trial, 0.1)
    got = TrialRecord.from_trial(_only_trial(study))
    assert got.stage == 2 and got.metrics == {} and got.runs == []


def test_a_trial_made_by_plain_optuna_code_is_external(study):
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    (trial,) = study.get_trials(deepcopy=False)
    trial_record = TrialRecord.from_trial(trial)
    assert trial_record == TrialRecord() and trial_record.external
    assert trial_record.status(trial) == "external"
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0) * float("nan"), n_trials=1)
    failed = study.get_trials(deepcopy=False)[-1]
    assert TrialRecord.from_trial(failed).status(failed) == "external fail"


def test_other_user_attributes_and_unknown_tunelab_keys_are_left_alone(study):
    trial = study.ask()
    trial.set_user_attr("note", "by hand")
    trial.set_user_attr("tunelab.from_a_later_version", 1)
    set_trial_attrs(trial, stage=0)
    study.tell(trial, 0.2)
    assert TrialRecord.from_trial(_only_trial(study)) == TrialRecord(stage=0)


def test_status_is_the_outcome_else_the_optuna_state(study):
    pruned, failed, diverged = study.ask(), study.ask(), study.ask()
    set_trial_attrs(pruned, stage=0)
    set_trial_attrs(failed, stage=0)
    set_trial_attrs(diverged, stage=0, outcome="diverged", reason="loss is nan at epoch 2")
    study.tell(pruned, state=TrialState.PRUNED)
    study.tell(failed, state=TrialState.FAIL)
    study.tell(diverged, state=TrialState.FAIL)
    statuses = [TrialRecord.from_trial(t).status(t) for t in study.get_trials(deepcopy=False)]
    assert statuses == ["pruned", "fail", "diverged"]
    assert "diverged" in record.FAILURES and "worker_died" in record.DEATHS


def test_unknown_field_names_raise_type_error_and_write_nothing(study):
    trial = study.ask()
    with pytest.raises(TypeError, match="not a field of TrialRecord: outcomes, stag"):
        set_trial_attrs(trial, stage=0, stag=1, outcomes="completed")
    with pytest.raises(TypeError, match="not a field of TrialRecord"):
        trial_attrs(metric={"val_accuracy": 1.0})
    with pytest.raises(TypeError, match="not a field of StudyRecord: specs"):
        set_study_attrs(study, specs={})
    study.tell(trial, 0.0)
    assert _only_trial(study).user_attrs == {} and study.user_attrs == {}


def test_trial_attrs_names_the_keys():
    assert trial_attrs(outcome="running", stage=0) == {"tunelab.outcome": "running", "tunelab.stage": 0}
    assert trial_attrs() == {}


def test_the_study_record_reads_what_set_study_attrs_wrote(study):
    assert StudyRecord.from_study(study) == StudyRecord(spec=None, provenance={}, stages=[])
    spec = {"name": "digits-random", "strategy": {"name": "random"}}
    provenance = {"tunelab": "1.0", "datasets": {"digits": "sha256:abc"}}
    stages = [{"name": "search", "final": False}, {"name": "final", "final": True}]
    set_study_attrs(study, spec=spec, provenance=provenance)
    set_study_attrs(study, stages=stages)
    study.set_user_attr("note", "by hand")
    got = StudyRecord.from_study(study)
    assert got == StudyRecord(spec=spec, provenance=provenance, stages=stages)
    assert StudyRecord.from_attrs(study.user_attrs) == got
    assert set(study.user_attrs) == {"tunelab.spec", "tunelab.provenance", "tunelab.stages", "note"}


def test_the_metric_lists_follow_the_split_metrics():
    from tunelab.train.metrics import SCALAR_METRICS

    assert record.SPLIT_METRICS[: len(SCALAR_METRICS)] == tuple(f"val_{m}" for m in SCALAR_METRICS)
    assert len(record.SPLIT_METRICS) == 2 * len(SCALAR_METRICS)
    assert record.RUN_SCALARS[:-2] == record.SPLIT_METRICS
    assert record.RUN_SCALARS[-2:] == ("train_time_s", "epochs")
    assert set(record.PER_EPOCH_METRICS) <= set(record.OBJECTIVE_METRICS) <= set(record.SPLIT_METRICS)
