"""Which trials of a study train together as one vectorised population, and which alone."""

from __future__ import annotations

import itertools
from pathlib import Path

from optuna.trial import TrialState

from tunelab.search import run_study

STUDIES = Path(__file__).resolve().parents[2] / "studies"
EXAMPLES = STUDIES / "examples"


def populations(result) -> dict[int, list]:
    trials = result.study.get_trials(states=(TrialState.COMPLETE,))
    return {t.number: [r.get("population") for r in t.user_attrs["tunelab.runs"]] for t in trials}


def test_population_one_trains_repeats_one_by_one(tmp_path):
    result = run_study(
        EXAMPLES / "digits-grid.yaml",
        out=tmp_path,
        n_trials=1,
        overrides=["train.epochs=1", "repeats=2", "population=1"],
    )
    (trial,) = result.study.get_trials(states=(TrialState.COMPLETE,))
    assert [r["seed"] for r in trial.user_attrs["tunelab.runs"]] == [0, 1]
    assert all("population" not in r for r in trial.user_attrs["tunelab.runs"])


def test_each_shape_trains_its_seeds_together_when_shapes_differ(tmp_path):
    # digits-listed: three named configurations of different widths, so no two share a population,
    # but each one's two seeds do.
    result = run_study(
        EXAMPLES / "digits-listed.yaml", out=tmp_path, overrides=["train.epochs=1", "repeats=2"]
    )
    assert set(map(tuple, populations(result).values())) == {(2, 2)}


def test_on_a_cpu_mlps_that_differ_in_dropout_only_share_a_population(tmp_path):
    # digits-grid: lr × batch size × dropout; each batch size's four points train together, padded
    # (same layer sizes: padding costs no arithmetic), or in pairs of one dropout rate without it.
    auto = run_study(EXAMPLES / "digits-grid.yaml", out=tmp_path / "auto", overrides=["train.epochs=1"])
    assert sorted(p for runs in populations(auto).values() for p in runs) == [4] * 8
    exact = run_study(
        EXAMPLES / "digits-grid.yaml",
        out=tmp_path / "exact",
        overrides=["train.epochs=1", "population_padding=false"],
    )
    assert sorted(p for runs in populations(exact).values() for p in runs) == [2] * 8


def test_padding_trains_a_random_architecture_search_as_one_population(tmp_path):
    # digits-deep-mlp: 1-3 layers of 32-128 units, activation and dropout per layer: six shapes.
    result = run_study(
        EXAMPLES / "digits-deep-mlp.yaml",
        out=tmp_path,
        overrides=["train.epochs=2", "population_padding=true"],
    )
    trials = result.study.get_trials(states=(TrialState.COMPLETE,))
    assert len({repr(t.user_attrs["tunelab.overrides"]) for t in trials}) == 6
    assert [runs for runs in populations(result).values()] == [[6]] * 6


def test_on_a_cpu_the_draws_of_an_architecture_search_are_asked_one_at_a_time(tmp_path):
    # paper 000's space (3-5 layers of 7 widths): on a CPU no two draws share a population, so a
    # worker asks for its next trial only once it is free; one asked with a batch would wait for it
    # while another worker could have trained it.
    result = run_study(
        STUDIES / "mnist-mlp-random-search.yaml",
        out=tmp_path,
        n_trials=3,
        overrides=["data.name=digits", "train.epochs=1", "train.device=cpu", "final=null"],
    )
    trials = sorted(result.study.get_trials(), key=lambda t: t.number)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for earlier, later in itertools.pairwise(trials):
        assert later.datetime_start >= earlier.datetime_complete


def test_on_a_cpu_draws_that_can_share_a_population_are_still_asked_together(tmp_path):
    # digits-random: a width of 8 choices, learning rate and dropout: draws of one width share one
    result = run_study(
        EXAMPLES / "digits-random.yaml",
        out=tmp_path,
        n_trials=2,
        overrides=["train.epochs=1", "train.device=cpu"],
    )
    first, second = sorted(result.study.get_trials(), key=lambda t: t.number)
    assert second.datetime_start < first.datetime_complete  # asked with the first, as one batch
