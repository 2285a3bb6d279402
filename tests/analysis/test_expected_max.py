"""Dodge et al. (2019)'s expected best of n trials: hand-computed cases and brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tunelab.analysis.expected import budget_verdict, expected_best, expected_best_curve


def brute_force(values, n, pick=max):
    """Mean and std of the best of n draws with replacement, over all len(values)**n equally likely draws."""
    bests = [pick(draw) for draw in itertools.product(values, repeat=n)]
    return float(np.mean(bests)), float(np.std(bests))


def test_hand_computed_cases():
    assert expected_best([1, 2, 3], 1) == pytest.approx((2.0, math.sqrt(2 / 3)))
    # n = 2: the max is 1 in 1 of 9 draws, 2 in 3, 3 in 5.
    mean, std = expected_best([1, 2, 3], 2)
    assert mean == pytest.approx(22 / 9)
    assert std == pytest.approx(math.sqrt((1 + 3 * 4 + 5 * 9) / 9 - (22 / 9) ** 2))
    assert expected_best([1, 2, 3], 200) == pytest.approx((3.0, 0.0), abs=1e-12)
    # Minimising: the min of two draws is 3 in 1 of 9, 2 in 3, 1 in 5.
    assert expected_best([3, 1, 2], 2, "minimize")[0] == pytest.approx(14 / 9)
    assert expected_best([1, 2, 3], 200, "minimize")[0] == pytest.approx(1.0)
    assert expected_best([0.7], 5) == (0.7, 0.0)


@pytest.mark.parametrize("values", [[0.2, 0.9, 0.5, 0.5], [1.0, 1.0, 2.0], [0.31, 0.12, 0.95, 0.4, 0.66]])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_matches_enumeration_with_ties(values, n):
    assert expected_best(values, n) == pytest.approx(brute_force(values, n))
    assert expected_best(values, n, "minimize") == pytest.approx(brute_force(values, n, min))


def test_curve_is_monotone_and_bounded():
    values = [0.91, 0.85, 0.97, 0.12, 0.95, 0.96]
    curve = expected_best_curve(values)
    assert list(curve["n"]) == list(range(1, 7))
    assert curve["mean"].iloc[0] == pytest.approx(np.mean(values))
    assert (np.diff(curve["mean"]) >= 0).all()
    assert (curve["low"] >= min(values)).all() and (curve["high"] <= max(values)).all()
    assert (curve["low"] <= curve["mean"]).all() and (curve["mean"] <= curve["high"]).all()
    down = expected_best_curve([0.3, 0.2, 0.9], "minimize")
    assert (np.diff(down["mean"]) <= 0).all()
    assert expected_best_curve([]).empty
    assert len(expected_best_curve([0.5, float("nan"), 0.6])) == 2  # NaN is not a trial's score


def test_budget_verdict():
    flat = expected_best_curve([0.95] * 9 + [0.96])
    assert budget_verdict(flat, "val_accuracy").startswith("The budget looks sufficient")
    rising = expected_best_curve([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99])
    assert budget_verdict(rising, "val_accuracy").startswith("The budget looks too small")
    assert "cannot tell" in budget_verdict(expected_best_curve([0.5]), "val_accuracy")
