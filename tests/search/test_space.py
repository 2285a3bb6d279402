"""Search spaces: drawing, per-layer parameters, grids and overrides."""

from __future__ import annotations

import optuna
import pytest

from tunelab.errors import ConfigError
from tunelab.search.space import Space
from tunelab.search.spec import validate_study_spec

DEEP = {
    "name": "deep",
    "model": {"kind": "mlp"},
    "space": {
        "n_layers": {"type": "int", "low": 3, "high": 5},
        "model.hidden": {"type": "int", "low": 128, "high": 512, "step": 64, "per_layer": "n_layers"},
        "model.activation": {"choices": ["relu", "tanh", "silu"], "per_layer": "n_layers"},
        "model.dropout": {"type": "float", "low": 0.1, "high": 0.3, "step": 0.05, "per_layer": "n_layers"},
        "train.optimizer.lr": [1e-3, 1e-4],
    },
    "budget": {"n_trials": 25},
}


def test_per_layer_parameters_follow_the_depth():
    spec = validate_study_spec(DEEP)
    space = Space(spec.space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    depths = set()
    for _ in range(30):
        trial = study.ask()
        params = space.suggest(trial)
        depth = params["n_layers"]
        depths.add(depth)
        assert {f"model.hidden.{i}" for i in range(depth)} <= set(params)
        assert f"model.hidden.{depth}" not in params
        overrides = space.overrides(params)
        assert len(overrides["model.hidden"]) == len(overrides["model.activation"]) == depth
        assert all(128 <= h <= 512 and (h - 128) % 64 == 0 for h in overrides["model.hidden"])
        assert "n_layers" not in overrides  # a depth parameter is not a run setting
        config = spec.run_config(overrides)
        assert config.model.hidden == overrides["model.hidden"]
        study.tell(trial, 0.0)
    assert depths == {3, 4, 5}


def test_grid_expands_per_layer_choices_for_each_depth():
    space = Space(
        validate_study_spec(
            {
                "name": "g",
                "model": {"kind": "mlp"},
                "space": {
                    "depth": [1, 2],
                    "model.hidden": {"choices": [8, 16], "per_layer": "depth"},
                    "train.optimizer.lr": [0.1, 0.01, 0.001],
                },
                "strategy": "grid",
            }
        ).space
    )
    points = space.grid()
    # depth 1: 2 widths; depth 2: 2 × 2 widths; times 3 learning rates
    assert len(points) == (2 + 4) * 3
    assert len({tuple(sorted(p.items())) for p in points}) == len(points)


def test_fixed_values_and_numeric_grids():
    spec = validate_study_spec(
        {
            "name": "f",
            "space": {
                "train.epochs": 3,
                "model.dropout": {"low": 0.0, "high": 0.3, "step": 0.1},
                "train.batch_size": {"low": 16, "high": 64, "step": 16},
            },
            "strategy": "grid",
        }
    )
    space = Space(spec.space)
    points = space.grid()
    assert len(points) == 4 * 4
    assert sorted({p["model.dropout"] for p in points}) == [0.0, 0.1, 0.2, 0.3]
    assert space.overrides(points[0])["train.epochs"] == 3


def test_grid_needs_discrete_values():
    space = Space(
        validate_study_spec(
            {"name": "x", "space": {"model.dropout": {"low": 0.0, "high": 0.5}}, "budget": {"n_trials": 2}}
        ).space
    )
    with pytest.raises(ConfigError, match=r"model\.dropout"):
        space.grid()


def test_list_index_keys_set_one_entry():
    spec = validate_study_spec(
        {
            "name": "i",
            "model": {"kind": "mlp", "hidden": [64, 32]},
            "space": {"model.hidden.1": [8, 16]},
            "strategy": "grid",
        }
    )
    assert spec.run_config({"model.hidden.1": 8}).model.hidden == [64, 8]


def test_space_round_trips_through_storage_form():
    space = Space(validate_study_spec(DEEP).space)
    again = Space.from_raw(space.to_raw())
    assert again.params == space.params
