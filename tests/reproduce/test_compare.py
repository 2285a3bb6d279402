"""Verdicts from the interval and ranking checks: pure compute on plain numbers."""

from __future__ import annotations

import math

import pytest

from tunelab.reproduce.compare import (
    ABOVE,
    BELOW,
    INSIDE,
    MISSING,
    NO_CI,
    check_ranking,
    compare_row,
    verdict,
)
from tunelab.stats import mean_ci


def row(id: str, paper: float, values: list[float]):
    return compare_row(id, "T", id, "test_accuracy", "test", "s", paper, values)


def test_inside_only_when_the_paper_lies_in_the_interval():
    values = [0.97, 0.975, 0.98]
    mean, _, half = mean_ci(values)
    assert verdict(mean + half * 0.99, values)[3] == INSIDE
    assert verdict(mean - half * 0.99, values)[3] == INSIDE
    assert verdict(mean + half * 1.01, values)[3] == ABOVE  # the paper's number is above tunelab's CI
    assert verdict(mean - half * 1.01, values)[3] == BELOW


def test_difference_is_tunelab_minus_paper():
    mean, half, diff, said = verdict(0.95, [0.96, 0.97])
    assert mean == pytest.approx(0.965) and diff == pytest.approx(0.015) and half > 0
    assert said == INSIDE  # two seeds: a wide t interval (12.7 x the standard error)


def test_one_seed_has_no_interval_only_the_difference():
    _, half, diff, said = verdict(0.9, [0.95])
    assert said == NO_CI and math.isnan(half) and diff == pytest.approx(0.05)


def test_nothing_measured():
    assert verdict(0.9, [])[3] == MISSING
    assert verdict(0.9, [float("nan")])[3] == MISSING


def test_identical_seeds_give_a_zero_width_interval():
    assert verdict(0.5, [0.5, 0.5, 0.5])[3] == INSIDE
    assert verdict(0.51, [0.5, 0.5, 0.5])[3] == ABOVE


def test_row_to_dict_has_no_nan():
    assert row("a", 0.9, [0.95]).to_dict()["ci95"] is None


def test_ranking_holds_and_names_ties():
    rows = {r.id: r for r in (row("a", 0.99, [0.98, 0.981, 0.979]), row("b", 0.97, [0.975, 0.976, 0.974]))}
    check = check_ranking("r", "T", "a > b", ["a", "b"], rows)
    assert check.holds and check.swaps == () and check.tunelab_order == ("a", "b")
    assert check.ties == ()


def test_ranking_that_differs_lists_every_swapped_pair():
    rows = {
        "a": row("a", 0.99, [0.90]),
        "b": row("b", 0.98, [0.95]),
        "c": row("c", 0.97, [0.92]),
    }
    check = check_ranking("r", "T", "a > b > c", ["a", "b", "c"], rows)
    assert not check.holds
    assert set(check.swaps) == {("a", "b"), ("a", "c")}  # every pair, not only neighbours
    assert check.tunelab_order == ("b", "c", "a")
    assert check.verdict.startswith("differs (2 pairs")


def test_ranking_lower_is_better_and_overlapping_intervals():
    rows = {"a": row("a", 0.1, [0.10, 0.12, 0.11]), "b": row("b", 0.2, [0.11, 0.13, 0.12])}
    check = check_ranking("r", "T", "a < b", ["a", "b"], rows, higher_is_better=False)
    assert check.holds and check.ties == (("a", "b"),)


def test_ranking_with_an_unmeasured_number_is_not_judged():
    rows = {"a": row("a", 0.9, [0.9]), "b": row("b", 0.8, [])}
    check = check_ranking("r", "T", "a > b", ["a", "b"], rows)
    assert check.holds is None and check.verdict == "not measured"
