"""How a paper number finds tunelab's runs: a configuration matched on resolved dotted settings."""

from __future__ import annotations

from tunelab.reproduce.measure import flatten, matches


def test_flatten_keeps_lists_whole():
    assert flatten({"train": {"optimizer": {"lr": 0.1}}, "model": {"hidden": [64, 32]}}) == {
        "train.optimizer.lr": 0.1,
        "model.hidden": [64, 32],
    }


def test_numbers_match_to_a_relative_tolerance_and_ints_match_floats():
    settings = {"train.optimizer.lr": 0.0010000000001, "train.batch_size": 64}
    assert matches({"train.optimizer.lr": 0.001, "train.batch_size": 64.0}, settings)
    assert not matches({"train.optimizer.lr": 0.002}, settings)


def test_strings_and_booleans_match_exactly_and_a_missing_key_does_not_match():
    settings = {"config": "NN model 1", "model.batch_norm": True, "train.optimizer.name": "adam"}
    assert matches({"config": "NN model 1", "model.batch_norm": True}, settings)
    assert not matches({"config": "NN model 1.1"}, settings)
    assert not matches({"model.batch_norm": False}, settings)
    assert not matches({"model.batch_norm": 1}, settings)  # a flag is not the number 1
    assert not matches({"model.dropout": 0.2}, settings)


def test_an_empty_selection_matches_everything():
    assert matches({}, {"a": 1})
