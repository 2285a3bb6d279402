"""load_splits on the bundled digits: sizes, stratification, seeds, scaling, subsets, the raw cache."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest
import torch

from tunelab.config import DataConfig
from tunelab.data import DATASETS, Splits, load_splits
from tunelab.data.splits import load_raw
from tunelab.errors import ConfigError


def load(**data) -> Splits:
    return load_splits(DataConfig(name="digits", **data))


def test_bundled_digits_raw():
    raw = load_raw("digits")
    info = DATASETS["digits"]
    assert raw.x_train.shape == (info.n_train, 1, 8, 8) == (1347, 1, 8, 8)
    assert raw.x_test.shape == (info.n_test, 1, 8, 8) == (450, 1, 8, 8)
    assert raw.x_train.min() == 0 and raw.x_train.max() == 1  # 0..16 divided by 16
    assert set(np.unique(raw.x_train * 16)) <= set(range(17))
    # The fixed test split is stratified: each class holds a quarter of its images (±1).
    counts = np.bincount(raw.y_test), np.bincount(np.concatenate([raw.y_train, raw.y_test]))
    assert np.all(np.abs(counts[0] - counts[1] * 0.25) <= 1)
    bundled = resources.files("sklearn.datasets.data") / "digits.csv.gz"
    assert raw.checksums == {"digits.csv.gz": hashlib.sha256(bundled.read_bytes()).hexdigest()}


def test_shapes_types_and_range():
    splits = load()
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (1212, 135, 450)  # val: ceil(10%)
    assert splits.x_train.shape[1:] == splits.input_shape == (1, 8, 8)
    assert splits.n_classes == 10 and splits.name == "digits"
    parts = (splits.x_train, splits.y_train), (splits.x_val, splits.y_val), (splits.x_test, splits.y_test)
    for x, y in parts:
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.min() >= 0 and x.max() <= 1
        assert set(y.unique().tolist()) == set(range(10))
    assert splits.device == torch.device("cpu") and splits.to("cpu").device == torch.device("cpu")
    assert "y_train=1212" in repr(splits)


def test_validation_split_is_stratified_and_partitions_train():
    splits, raw = load(val_fraction=0.2), load_raw("digits")
    per_class = np.bincount(raw.y_train)
    assert np.all(np.abs(np.bincount(splits.y_val.numpy()) - 0.2 * per_class) <= 1)
    together = np.concatenate([splits.x_train.numpy(), splits.x_val.numpy()]).reshape(len(raw.y_train), -1)
    original = raw.x_train.reshape(len(together), -1)
    # train + val is exactly the original train set: the same images, each as often
    for got, expected in zip(
        np.unique(together, axis=0, return_counts=True),
        np.unique(original, axis=0, return_counts=True),
        strict=True,
    ):
        np.testing.assert_array_equal(got, expected)


def test_split_seed_decides_the_split_and_nothing_else():
    a, b, c = load(split_seed=1), load(split_seed=1), load(split_seed=2)
    assert torch.equal(a.x_val, b.x_val) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_val, c.x_val)
    assert torch.equal(a.x_test, c.x_test)  # the test set is fixed


def test_normalisations():
    unit, sym, std = load(), load(normalize="symmetric"), load(normalize="standardize")
    torch.testing.assert_close(sym.x_train, unit.x_train * 2 - 1)
    assert sym.x_test.min() == -1 and sym.x_test.max() == 1
    assert std.x_train.mean().item() == pytest.approx(0, abs=1e-5)
    assert std.x_train.std(unbiased=False).item() == pytest.approx(1, abs=1e-5)
    # val and test are scaled with the training part's statistics, not their own
    mean, sd = unit.x_train.double().mean(), unit.x_train.double().std(unbiased=False)
    torch.testing.assert_close(std.x_test, ((unit.x_test - mean) / sd).float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(std.x_val, ((unit.x_val - mean) / sd).float(), atol=1e-5, rtol=1e-5)


def test_train_subset():
    splits = load(train_subset=500, val_fraction=0.2)
    assert (len(splits.y_train), len(splits.y_val)) == (400, 100)
    assert np.all(np.abs(np.bincount(splits.y_train.numpy()) - 40) <= 2)
    assert torch.equal(load(train_subset=500, val_fraction=0.2).x_train, splits.x_train)
    assert len(load(train_subset=1347).y_train) == 1212  # all of it
    with pytest.raises(ConfigError, match=r"data\.train_subset: 2000 is more than the 1347 train images"):
        load(train_subset=2000)
    with pytest.raises(ConfigError, match=r"data\.train_subset"):
        load(train_subset=5)  # fewer images than classes
    with pytest.raises(ConfigError, match=r"data\.val_fraction"):
        load(train_subset=40, val_fraction=0.1)  # 4 validation images for 10 classes


def test_cached_arrays_are_never_changed():
    raw = load_raw("digits")
    assert load_raw("digits") is raw  # read once per process
    before = raw.x_train.copy()
    splits = load(normalize="standardize")
    splits.x_train.add_(100)
    splits.x_test.mul_(3)
    np.testing.assert_array_equal(raw.x_train, before)
    assert load().x_test.max() == 1
    with pytest.raises(ValueError, match="read-only"):
        raw.x_train[0, 0, 0, 0] = 5


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="unknown dataset 'cifar'; expected one of cifar10, digits, emnist"):
        load_splits(DataConfig.model_construct(name="cifar", val_fraction=0.1))  # skip the validator
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'; .*usps, or folder or arrays with a path"):
        DataConfig(name="cifar")
