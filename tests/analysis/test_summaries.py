"""Summaries of a real (small) study: shapes, orderings and the numbers behind each table and figure."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from optuna.trial import TrialState
from studyfiles import SPEC, variant

from tunelab.analysis import effects, stages
from tunelab.analysis import summaries as S
from tunelab.baselines import BaselineResults
from tunelab.search import validate_study_spec
from tunelab.search.strategies.coarse_to_fine import coarse_to_fine


def test_results_table_is_ranked_by_the_objective(study_data):
    table = S.results_table(study_data)
    assert len(table) == 8 and list(table["rank"]) == list(range(1, 9))
    assert table["val_accuracy"].is_monotonic_decreasing
    assert {"train.optimizer.lr", "model.dropout", "train.batch_size", "test_accuracy", "val_loss"} <= set(
        table
    )
    assert {"train_time_s", "test_loss", "status"} <= set(table)
    assert not any(c.endswith("_ci95") for c in table)  # one seed: no confidence interval
    assert table["trial"].iloc[0] == study_data.best.number


def test_pruned_and_failed_trials_come_last_with_their_reason(study_data):
    trials = study_data.trials
    data = S.StudyData(
        study_data.spec,
        [
            *trials[:3],
            variant(trials[3], 3, TrialState.PRUNED, "pruned", **{"tunelab.reason": "pruned after epoch 1"}),
            variant(trials[4], 4, TrialState.FAIL, "diverged", **{"tunelab.reason": "loss is nan"}),
        ],
    )
    table = S.results_table(data)
    assert list(table["status"]) == ["completed"] * 3 + ["pruned", "diverged"]
    assert table["rank"].isna().sum() == 2 and list(table["trial"].iloc[3:]) == [3, 4]
    assert table["reason"].iloc[4] == "loss is nan"
    history = S.optimization_history(data)
    assert history["value"].isna().sum() == 2
    assert history["best_so_far"].iloc[-1] == pytest.approx(max(t.value for t in trials[:3]))


def test_best_metrics_per_class_and_confusion(study_data):
    best = S.best_metrics(study_data)
    trial = study_data.best
    assert best.number == trial.number and best.n_runs == 1
    metrics = trial.user_attrs["tunelab.metrics"]
    macro = best.macro.set_index("metric")
    assert macro.loc["accuracy", "test"] == pytest.approx(metrics["test_accuracy"])
    assert macro.loc["f1", "validation"] == pytest.approx(metrics["val_f1"])
    assert list(best.per_class["class"]) == [str(i) for i in range(10)]
    assert best.per_class[["precision", "recall", "f1"]].stack().between(0, 1).all()
    assert best.confusion.shape == (10, 10)
    assert best.confusion.sum() == best.per_class["support"].sum()
    assert np.trace(best.confusion) / best.confusion.sum() == pytest.approx(metrics["test_accuracy"])
    assert best.per_class["f1"].mean() == pytest.approx(metrics["test_f1"])


def test_learning_curves_and_lr_schedule_of_the_top_trials(study_data):
    curves = S.learning_curves(study_data, top_k=3)
    ranked = [t.number for t in study_data.ranked[:3]]
    assert list(dict.fromkeys(curves["trial"])) == ranked
    assert list(curves[curves["rank"] == 1]["epoch"]) == [1, 2]
    assert {"train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr", "n_seeds"} <= set(curves)
    assert curves[["train_accuracy", "val_accuracy"]].stack().between(0, 1).all()
    schedule = S.lr_schedule(study_data)
    assert list(schedule.columns) == ["epoch", "seed 0"]
    assert schedule["seed 0"].tolist() == pytest.approx([study_data.best.params["train.optimizer.lr"]] * 2)


def test_optimization_history_tracks_the_best_so_far(study_data):
    history = S.optimization_history(study_data)
    assert len(history) == 8
    assert history["best_so_far"].is_monotonic_increasing
    assert history["best_so_far"].iloc[-1] == pytest.approx(study_data.best.value)
    assert (history["best_so_far"] >= history["value"]).all()


def test_importance_and_correlations(study_data):
    importance = effects.param_importance(study_data)
    assert importance.note is None
    assert set(importance.table["parameter"]) == {"train.optimizer.lr", "model.dropout", "train.batch_size"}
    assert importance.table["importance"].sum() == pytest.approx(1.0)
    assert importance.table["importance"].is_monotonic_decreasing
    rho = effects.correlations(study_data).set_index("parameter")
    assert set(rho["kind"]) == {"numeric"} and (rho["n"] == 8).all()
    lr = [t.params["train.optimizer.lr"] for t in study_data.ranked]
    values = [t.value for t in study_data.ranked]
    expected = pd.Series(lr).rank().corr(pd.Series(values).rank())
    assert rho.loc["train.optimizer.lr", "rho"] == pytest.approx(expected)


def test_importance_is_skipped_without_enough_trials(study_data):
    one = S.StudyData(study_data.spec, study_data.trials[:1])
    assert effects.param_importance(one).table.empty and "two completed" in effects.param_importance(one).note
    a, b = study_data.trials[:2]
    disjoint = [
        variant(a, 0, TrialState.COMPLETE, "completed"),
        variant(b, 1, TrialState.COMPLETE, "completed"),
    ]
    disjoint[0].params = {"x": 1.0}
    disjoint[1].params = {"y": 2.0}
    assert "no parameter is shared" in effects.param_importance(S.StudyData(study_data.spec, disjoint)).note


def test_categorical_parameters_correlate_one_hot(study_data):
    trials = []
    for i, trial in enumerate(study_data.trials):
        copy = variant(trial, i, TrialState.COMPLETE, "completed")
        copy.params = {"optimizer": "adam" if trial.value > 0.5 else "sgd"}
        trials.append(copy)
    rho = effects.correlations(S.StudyData(study_data.spec, trials))
    assert set(rho["kind"]) == {"one-hot"}
    assert set(rho["parameter"]) <= {"optimizer = adam", "optimizer = sgd"}


def test_densities_of_the_top_trials(study_data):
    found = {d.parameter: d for d in effects.densities(study_data, q=0.2)}
    assert set(found) == {"train.optimizer.lr", "model.dropout"}  # batch size is categorical
    lr = found["train.optimizer.lr"]
    assert lr.log and lr.grid.min() == pytest.approx(1e-4) and lr.grid.max() == pytest.approx(3e-2)
    top = [t.params["train.optimizer.lr"] for t in study_data.ranked[:2]]  # ceil(0.2 × 8) = 2
    assert sorted(lr.top_values) == pytest.approx(sorted(top))
    # A density per log10 unit integrates to at most 1 over the (truncated) range.
    assert 0.3 < np.trapezoid(lr.all, np.log10(lr.grid)) <= 1.0001
    table = effects.density_table(list(found.values())).set_index("parameter")
    assert table.loc["train.optimizer.lr", "top_centre"] == pytest.approx(math.exp(np.mean(np.log(top))))


def test_grouped_by_a_parameter_with_few_values(study_data):
    assert S.group_params(study_data) == ["train.batch_size"]
    grouped = S.grouped_metrics(study_data, "train.batch_size")
    assert list(grouped["value"]) == sorted(grouped["value"]) and grouped["n"].sum() == 8
    assert {"train_time_s", "test_accuracy", "test_loss", "test_accuracy_std"} <= set(grouped)
    points = S.scatter_points(study_data)
    assert len(points) == 8 and {"val_accuracy", "val_loss", "train.batch_size"} <= set(points)


def test_coarse_to_fine_bounds_and_densities(study_data):
    raw = SPEC | {"strategy": {"name": "coarse_to_fine", "coarse_trials": 8, "fine_trials": 2}}
    spec = validate_study_spec(raw)
    both = [coarse_to_fine(spec, i, study_data.trials) for i in (0, 1)]
    data = S.StudyData(spec, study_data.trials, both)
    bounds = stages.narrowed_bounds(data).set_index("parameter")
    assert set(bounds.index) == {"train.optimizer.lr", "model.dropout", "train.batch_size"}
    lr = bounds.loc["train.optimizer.lr"]
    assert lr["scale"] == "log" and lr["coarse_low"] == pytest.approx(1e-4)
    assert 1e-4 <= lr["fine_low"] < lr["fine_high"] <= 3e-2 and 0 < lr["fine_share"] < 1
    assert bounds.loc["train.batch_size", "fine_value"] in (32, 64)
    assert {d.parameter: d.bounds for d in effects.densities(data)}["train.optimizer.lr"] == pytest.approx(
        (lr["fine_low"], lr["fine_high"])
    )
    assert stages.narrowed_bounds(study_data) is None


def test_stage_summaries_and_summary_table(study_data):
    summaries = stages.stage_summaries(study_data)
    assert len(summaries) == 1 and summaries[0].best == study_data.best.number
    assert len(summaries[0].table) == 8
    summary = S.study_summary(study_data).set_index("item")["value"]
    assert summary["study"] == "report-test" and summary["strategy"] == "random"
    assert summary["outcomes"] == "completed 8"
    provenance = S.provenance_table(study_data).set_index("item")["value"]
    assert {"torch", "optuna", "git commit", "device"} <= set(provenance.index)


def test_baselines_table(study_data, baselines_dir):
    table = S.baselines_table(study_data, [BaselineResults.load(baselines_dir)])
    assert list(table["source"].sort_values()) == ["baseline", "study"]
    assert table["test_accuracy"].is_monotonic_decreasing
    study_row = table[table["source"] == "study"].iloc[0]
    assert f"#{study_data.best.number}" in study_row["model"] and study_row["dataset"] == "digits"


def test_baselines_table_names_the_dataset_the_best_trial_trained_on(study_data, baselines_dir):
    # a listed configuration can set data.name (004's final model on Fashion-MNIST and on MNIST)
    best = copy.deepcopy(study_data.best)
    best.user_attrs = {**best.user_attrs, "tunelab.overrides": {"data.name": "mnist"}}
    trials = [best if t.number == best.number else t for t in study_data.trials]
    data = dataclasses.replace(study_data, trials=trials)
    table = S.baselines_table(data, [BaselineResults.load(baselines_dir)])
    datasets = dict(zip(table["source"], table["dataset"], strict=True))
    assert datasets == {"study": "mnist", "baseline": "digits"}


def test_counts_separate_interrupted_trials_from_finished_ones(study_data):
    trials = study_data.trials
    interrupted = variant(
        trials[5], 5, TrialState.FAIL, "interrupted", **{"tunelab.reason": "stopped by the user"}
    )
    data = S.StudyData(study_data.spec, [*trials[:5], interrupted, *trials[6:]])
    assert data.counts() == S.TrialCounts(finished=7, interrupted=1)
    assert data.counts_text() == "7 trials (1 more interrupted and run again)"
    summary = S.study_summary(data).set_index("item")["value"]
    assert summary["trials"] == "7 trials (1 more interrupted and run again) (budget 8)"


def test_counts_name_failed_and_run_again_and_external_trials_apart_from_interrupted_ones(study_data):
    trials = study_data.trials
    failed = variant(trials[5], 5, TrialState.FAIL, "error", **{"tunelab.requeued": True})
    external = copy.deepcopy(trials[6])
    external.user_attrs = {k: v for k, v in external.user_attrs.items() if not k.startswith("tunelab.")}
    data = S.StudyData(study_data.spec, [*trials[:5], failed, external, *trials[7:]])
    assert data.counts() == S.TrialCounts(finished=6, failed=1, external=1)
    assert data.counts_text() == "6 trials (1 more failed and run again; 1 made outside tunelab)"


def test_a_value_fixed_in_its_stage_shows_as_the_value_not_as_missing(study_data):
    trial = copy.deepcopy(study_data.trials[0])
    # coarse-to-fine's fine stage fixes a discrete parameter: it is in the overrides, not in params
    trial.params = {k: v for k, v in trial.params.items() if k != "train.batch_size"}
    trial.user_attrs = {**trial.user_attrs, "tunelab.overrides": {"train.batch_size": 48}}
    data = dataclasses.replace(study_data, trials=[trial, *study_data.trials[1:]])
    table = S.results_table(data).set_index("trial")
    assert table.loc[trial.number, "train.batch_size"] == 48


def test_members_of_a_population_are_marked_as_sharing_its_time(study_data):
    table = S.results_table(study_data)
    runs = [t.user_attrs["tunelab.runs"][0] for t in study_data.trials]
    if any(r.get("population") for r in runs):
        assert "population" in table and (table["population"] >= 1).all()
    else:
        assert "population" not in table


def test_error_bars_stay_inside_the_metric_range():
    from tunelab.analysis.plots import bounded_errors

    errors = bounded_errors(np.array([0.95, 0.05]), np.array([0.2, 0.2]), "test_accuracy")
    np.testing.assert_allclose(errors, [[0.2, 0.05], [0.05, 0.2]])  # below, above: within [0, 1]
    loss = bounded_errors(np.array([0.1]), np.array([0.3]), "test_loss")
    np.testing.assert_allclose(loss, [[0.1], [0.3]])  # a loss is not below 0, and has no top
