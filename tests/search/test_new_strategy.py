"""A new strategy is one module and one registry line: a toy one, registered here, runs a real study.

``fixed_point`` trains the one configuration its section names. Registering it is all it takes for
the study file to accept it (its settings validated, its errors one sentence), for the JSON Schema to
list it and for the runner to build its stage, enqueue its point and train it on digits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import pytest
from optuna.trial import FrozenTrial, TrialState
from pydantic import Field

from tunelab.errors import ConfigError
from tunelab.search import run_study
from tunelab.search.params import Scalar
from tunelab.search.record import TrialRecord
from tunelab.search.space import Space
from tunelab.search.spec import StudySpec, refresh_strategies, validate_study_spec
from tunelab.search.strategies import STRATEGIES, Stage, Strategy, StrategySettings, draws_together


# ---- what would be src/tunelab/search/strategies/fixed_point.py
class FixedPointStrategy(StrategySettings):
    """One trial, at ``point``: the value of each searched parameter."""

    name: Literal["fixed_point"] = "fixed_point"
    point: dict[str, Scalar] = Field(min_length=1)


def fixed_point(spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
    assert isinstance(spec.strategy, FixedPointStrategy)
    if index > 0:
        return None
    return Stage(name="point", space=Space(spec.space), points=[dict(spec.strategy.point)])


STRATEGY = Strategy(FixedPointStrategy, fixed_point, planned=True)
# ---- and the registry line in strategies/__init__.py:  "fixed_point": fixed_point.STRATEGY,


@pytest.fixture
def registered() -> Iterator[None]:
    STRATEGIES["fixed_point"] = STRATEGY
    refresh_strategies()  # done at import for the built-in ones; a strategy added later asks for it
    yield
    del STRATEGIES["fixed_point"]
    refresh_strategies()


def study(**strategy: Any) -> dict[str, Any]:
    return {
        "name": "fixed-point",
        "data": {"name": "digits", "val_fraction": 0.2},
        "model": {"kind": "mlp", "hidden": [16]},
        "train": {"epochs": 1, "batch_size": 64, "device": "cpu"},
        "space": {"train.optimizer.lr": [0.001, 0.01], "model.dropout": [0.0, 0.2]},
        "strategy": {"name": "fixed_point", **strategy},
    }


def test_a_registered_strategy_runs_a_study_end_to_end(registered, tmp_path):
    point = {"train.optimizer.lr": 0.01, "model.dropout": 0.2}
    result = run_study(study(point=point), out=tmp_path)
    (trial,) = result.study.get_trials()
    assert trial.state == TrialState.COMPLETE and trial.params == point
    record = TrialRecord.from_trial(trial)
    assert record.stage_name == "point" and record.overrides == point
    assert result.study.best_value == trial.value
    stage = fixed_point(result.spec, 0, [])
    assert stage is not None and draws_together(stage)  # planned points train together


def test_a_registered_strategy_is_part_of_the_study_file(registered):
    assert "FixedPointStrategy" in StudySpec.model_json_schema()["$defs"]
    with pytest.raises(ConfigError) as error:
        validate_study_spec(study(point={}), "study.yaml")
    assert str(error.value) == (
        "study.yaml: strategy.point: Dictionary should have at least 1 item after validation, not 0"
    )


def test_an_unregistered_strategy_is_unknown_again(registered):
    del STRATEGIES["fixed_point"]
    refresh_strategies()
    with pytest.raises(ConfigError, match=r"strategy: unknown value 'fixed_point'; expected one of 'random'"):
        validate_study_spec(study(point={"model.dropout": 0.2}), "study.yaml")
    STRATEGIES["fixed_point"] = STRATEGY  # for the fixture to remove


def test_every_strategy_is_registered_under_its_settings_name():
    for name, strategy in STRATEGIES.items():
        assert strategy.name == name
        assert strategy.sampler is not None or not strategy.draws_together  # a policy needs a sampler
