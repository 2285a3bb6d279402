"""Every strategy, run for real on digits with a tiny budget, and the outcomes each one promises."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from optuna.trial import TrialState

import tunelab
from tunelab.search import load_study, run_study
from tunelab.search.record import TrialRecord
from tunelab.search.space import Space
from tunelab.search.spec import FixedParam, IntParam
from tunelab.search.strategies.coarse_to_fine import narrow

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"


def complete(result):
    return [t for t in result.study.get_trials() if t.state == TrialState.COMPLETE]


def test_grid_runs_every_point_once_and_resuming_adds_nothing(tmp_path):
    path = EXAMPLES / "digits-grid.yaml"
    first = run_study(path, out=tmp_path, overrides=["train.epochs=2"])
    points = {tuple(sorted(t.params.items())) for t in complete(first)}
    assert len(complete(first)) == len(points) == 2 * 2 * 2
    again = run_study(path, out=tmp_path, overrides=["train.epochs=2"])
    assert len(again.study.get_trials()) == 8


@pytest.mark.parametrize("strategy", ["random", "tpe", "gp", "cmaes", "qmc"])
def test_sampling_strategies_spend_their_budget(tmp_path, strategy):
    result = run_study(
        EXAMPLES / f"digits-{strategy}.yaml", out=tmp_path, n_trials=4, overrides=["train.epochs=2"]
    )
    trials = complete(result)
    assert len(trials) == 4
    for trial in trials:
        assert 1e-4 <= trial.params["train.optimizer.lr"] <= 1e-1
        assert trial.params["model.hidden.0"] in range(16, 129, 16)
        assert trial.user_attrs["tunelab.overrides"]["model.hidden.0"] == trial.params["model.hidden.0"]
    frame = result.trials_dataframe()
    assert list(frame["state"]) == ["COMPLETE"] * 4
    assert frame["value"].notna().all() and frame["test_accuracy"].between(0, 1).all()


def test_coarse_to_fine_second_stage_stays_inside_its_bounds(tmp_path):
    result = run_study(EXAMPLES / "digits-coarse-to-fine.yaml", out=tmp_path, overrides=["train.epochs=2"])
    _coarse, fine = load_study(tmp_path).stages()
    bounds = fine.info["bounds"]
    assert set(bounds) == {
        "train.optimizer.lr",
        "train.batch_size",
        "train.optimizer.momentum",
        "model.dropout",
    }
    assert "value" in bounds["train.batch_size"]  # a discrete parameter is fixed at its most frequent value
    trials = result.study.get_trials()
    stage_of = [t.user_attrs["tunelab.stage_name"] for t in trials]
    assert stage_of.count("coarse") == 10 and stage_of.count("fine") == 5
    top = sorted((t for t in trials if t.user_attrs["tunelab.stage"] == 0), key=lambda t: -t.value)[:2]
    assert sorted(fine.info["top_trials"]) == sorted(t.number for t in top)
    for trial in trials[10:]:
        overrides = trial.user_attrs["tunelab.overrides"]
        for name, bound in bounds.items():
            if "value" in bound:
                assert overrides[name] == bound["value"]
            else:
                assert bound["low"] <= overrides[name] <= bound["high"]


def test_staged_carries_each_stage_best_forward(tmp_path):
    result = run_study(EXAMPLES / "digits-staged.yaml", out=tmp_path, overrides=["train.epochs=2"])
    handle = load_study(tmp_path)
    trials = result.study.get_trials()
    assert [s.name for s in handle.stages()] == ["optimizer", "dropout", "init", "batch_norm"]
    for index, stage in enumerate(handle.stages()):
        earlier = [t for t in trials if t.user_attrs["tunelab.stage"] < index and t.value is not None]
        mine = [t for t in trials if t.user_attrs["tunelab.stage"] == index]
        reused = stage.info.get("reused", {})
        # each later stage's point that is the incumbent's own value is its trial, not trained again
        assert (len(mine), len(reused)) == [(6, 0), (1, 1), (2, 1), (1, 1)][index]
        assert all(t.user_attrs["tunelab.stage"] < index for t in trials if t.number in reused.values())
        if not earlier:
            continue
        best = max(earlier, key=lambda t: (t.value, -t.number))
        assert stage.info["carried_from"] == best.number
        for trial in mine:
            overrides = trial.user_attrs["tunelab.overrides"]
            for key, value in best.user_attrs["tunelab.overrides"].items():
                if key not in trial.params:
                    assert overrides[key] == value
    configs = [handle.spec.run_config(t.user_attrs["tunelab.overrides"]).model_dump_json() for t in trials]
    assert len(set(configs)) == len(configs) == 10  # no configuration trained twice


def test_listed_with_repeats_keeps_every_seed_and_a_confidence_interval(tmp_path):
    result = run_study(EXAMPLES / "digits-listed.yaml", out=tmp_path, overrides=["train.epochs=2"])
    trials = complete(result)
    assert sorted(t.params["config"] for t in trials) == ["NN model 1", "NN model 1.1", "NN model 2"]
    for trial in trials:
        runs = trial.user_attrs["tunelab.runs"]
        assert [r["seed"] for r in runs] == [0, 1, 2]
        metrics = trial.user_attrs["tunelab.metrics"]
        mean = sum(r["val_accuracy"] for r in runs) / 3
        assert trial.value == pytest.approx(mean)
        assert metrics["val_accuracy_ci95"] > 0 and math.isfinite(metrics["val_accuracy_std"])
        assert all((tmp_path / r["folder"] / "model.pt").is_file() for r in runs)
    frame = result.trials_dataframe()
    assert set(frame["n_runs"]) == {3} and set(frame["seeds"]) == {"0,1,2"}


def test_pruned_trials_are_marked_pruned(tmp_path):
    result = run_study(EXAMPLES / "digits-asha.yaml", out=tmp_path)
    states = [t.state for t in result.study.get_trials()]
    assert states.count(TrialState.PRUNED) >= 1 and states.count(TrialState.COMPLETE) >= 1
    for trial in result.study.get_trials(states=(TrialState.PRUNED,)):
        assert trial.user_attrs["tunelab.outcome"] == "pruned"
        assert len(trial.user_attrs["tunelab.runs"][0]["history"]["epoch"]) < 9


def test_the_pruner_stops_drawn_trials_never_planned_points(tmp_path):
    result = run_study(EXAMPLES / "digits-asha.yaml", out=tmp_path, overrides=["final={top: 1, seeds: 2}"])
    trials = result.study.get_trials()
    final = [t for t in trials if TrialRecord.from_trial(t).final]
    assert any(t.state == TrialState.PRUNED for t in trials) and len(final) == 1
    assert final[0].state == TrialState.COMPLETE  # the final stage's seeds train all their epochs
    assert all(len(r["history"]["epoch"]) == 9 for r in TrialRecord.from_trial(final[0]).runs)
    grid = run_study(
        EXAMPLES / "digits-grid.yaml", out=tmp_path / "grid", overrides=["train.epochs=3", "pruner=asha"]
    )
    assert len(complete(grid)) == len(grid.study.get_trials()) == 8


def test_conditional_depth_space_trains_each_depth(tmp_path):
    result = run_study(EXAMPLES / "digits-deep-mlp.yaml", out=tmp_path, overrides=["train.epochs=2"])
    for trial in complete(result):
        depth = trial.params["n_layers"]
        config = trial.user_attrs["tunelab.overrides"]
        assert len(config["model.hidden"]) == len(config["model.dropout"]) == depth


def test_a_diverging_trial_is_recorded_and_the_study_goes_on(tmp_path):
    spec = {
        "name": "diverge",
        "data": {"name": "digits"},
        "model": {"kind": "mlp", "hidden": [32]},
        "train": {"epochs": 3, "optimizer": {"name": "sgd"}},
        "space": {"train.optimizer.lr": [1.0e12, 0.05]},
        "strategy": "grid",
    }
    result = tunelab.run_study(spec, out=tmp_path)
    by_lr = {t.params["train.optimizer.lr"]: t for t in result.study.get_trials()}
    assert by_lr[1.0e12].state == TrialState.FAIL
    assert by_lr[1.0e12].user_attrs["tunelab.outcome"] == "diverged"
    assert "became nan" in by_lr[1.0e12].user_attrs["tunelab.reason"]
    assert by_lr[0.05].state == TrialState.COMPLETE


def test_a_narrowed_integer_range_that_collapses_keeps_to_its_step():
    # 224, 256, 256 on a grid of 32: mean 245.3 ± 0.5 std holds no grid value, so the fine stage
    # fixes the nearest one (256), not 245, a width the study file never allowed.
    space = Space({"units": IntParam(low=32, high=512, step=32)})
    top = [SimpleNamespace(params={"units": u}) for u in (224, 256, 256)]
    narrowed, bounds = narrow(space, top, width=0.5)
    assert bounds == {"units": {"value": 256}}
    assert narrowed.params["units"] == FixedParam(value=256)
    _, bounds = narrow(space, top, width=2.0)
    assert bounds == {"units": {"low": 224, "high": 256}}
