"""On-device crops and flips: what they do to a batch, and that a population augments each member
as its lone run does."""

from __future__ import annotations

import pytest
import torch

from tunelab.config import TrainConfig, validate_run_config
from tunelab.data import load_splits
from tunelab.train import train
from tunelab.train.augment import Augmenter, crop_flip, wanted
from tunelab.train.engines import PlainEngine
from tunelab.train.population import population_key, train_population
from tunelab.train.state import RunState

X = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)  # 2 images, 3 channels, 4×5


def test_no_shift_and_no_flip_is_the_identity():
    offsets = torch.full((2, 2), 2)
    assert torch.equal(crop_flip(X, offsets, torch.zeros(2, dtype=torch.bool), margin=2), X)
    assert torch.equal(
        crop_flip(X, torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, dtype=torch.bool), 0), X
    )


def test_flip_mirrors_left_to_right():
    out = crop_flip(X, torch.zeros(2, 2, dtype=torch.long), torch.tensor([True, False]), margin=0)
    assert torch.equal(out[0], X[0].flip(-1)) and torch.equal(out[1], X[1])


def test_a_crop_of_the_padded_image():
    # top-left corner of the padded image: one row and one column of zeros, then the image shifted
    out = crop_flip(X, torch.tensor([[0, 0], [1, 2]]), torch.zeros(2, dtype=torch.bool), margin=1)
    expected = torch.zeros_like(X[0])
    expected[:, 1:, 1:] = X[0][:, :-1, :-1]
    assert torch.equal(out[0], expected)
    expected = torch.zeros_like(X[1])
    expected[:, :, :-1] = X[1][:, :, 1:]  # one row down of the margin = no vertical shift; two right = 1 left
    assert torch.equal(out[1], expected)


def test_leading_dimensions_are_kept():
    x = X.expand(3, *X.shape)  # members × batch × C × H × W
    out = crop_flip(x, torch.full((3, 2, 2), 1), torch.ones(3, 2, dtype=torch.bool), margin=1)
    assert out.shape == x.shape and torch.equal(out[2, 1], X[1].flip(-1))


def test_off_by_default_and_only_when_something_is_asked():
    assert TrainConfig().augment is None
    assert not wanted([None, TrainConfig.model_validate({"augment": {}}).augment])
    assert wanted([None, TrainConfig.model_validate({"augment": {"flip": True}}).augment])


def config(seed: int = 0, **augment):
    return validate_run_config(
        {
            "data": {"name": "digits", "train_subset": 600},
            "model": {"kind": "mlp", "hidden": [16]},
            "train": {"epochs": 3, "batch_size": 64, "seed": seed, "augment": augment or None},
        }
    )


def test_draws_come_from_each_members_generator():
    configs = [config(0, crop_padding=2, flip=True), config(1), config(2, crop_padding=1)]
    aug = Augmenter([c.train.augment for c in configs], 50, torch.device("cpu"))
    generators = [torch.Generator().manual_seed(c.train.seed) for c in configs]
    aug.draw(generators)
    assert aug.margin == 2
    assert ((aug.offsets[0] >= 0) & (aug.offsets[0] <= 4)).all() and aug.flipped[0].any()
    assert (aug.offsets[1] == 2).all() and not aug.flipped[1].any()  # no augmentation: no shift
    assert ((aug.offsets[2] >= 1) & (aug.offsets[2] <= 3)).all() and not aug.flipped[2].any()
    # the same draws as a lone run of member 0 makes (its own margin, 2)
    alone = Augmenter([configs[0].train.augment], 50, torch.device("cpu"))
    alone.draw([torch.Generator().manual_seed(0)])
    assert torch.equal(alone.offsets[0], aug.offsets[0]) and torch.equal(alone.flipped[0], aug.flipped[0])


def test_an_unaugmented_run_builds_no_augmenter():
    splits = load_splits(config().data)
    state = RunState.start(config(), splits, torch.device("cpu"))
    assert PlainEngine([state], splits, torch.device("cpu")).augment is None


def test_population_members_augment_as_their_lone_runs():
    configs = [config(0, crop_padding=2, flip=True), config(1), config(2, crop_padding=1)]
    assert len({population_key(c) for c in configs}) == 1  # augmentation does not split a population
    splits = load_splits(configs[0].data)
    together = train_population(configs, splits)
    for cfg, member in zip(configs, together, strict=True):
        alone = train(cfg, splits)
        for a, b in zip(alone.history, member.history, strict=True):
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4, abs=1e-5)
        for key, value in alone.model.state_dict().items():
            torch.testing.assert_close(member.model.state_dict()[key], value, rtol=1e-2, atol=1e-3)
    plain = train(config(0), splits)
    assert plain.history[0]["train_loss"] != together[0].history[0]["train_loss"]  # it did augment
