"""The real datasets in ../shared/data, when present: sizes, ranges, labels, the recorded checksums."""

from __future__ import annotations

import numpy as np
import pytest
from datafiles import file_hash

from tunelab.config import DataConfig
from tunelab.data import DATASETS, load_splits
from tunelab.data.splits import load_raw


@pytest.mark.parametrize(
    ("name", "n_train", "n_test", "side"),
    [("mnist", 60_000, 10_000, 28), ("fashion-mnist", 60_000, 10_000, 28), ("usps", 7_291, 2_007, 16)],
)
def test_real_dataset(shared_data, name, n_train, n_test, side):
    raw = load_raw(name, shared_data, download=False)  # finds the <name> subfolder
    assert raw.x_train.shape == (n_train, 1, side, side) and raw.x_test.shape == (n_test, 1, side, side)
    assert raw.x_train.dtype == np.float32 and raw.y_train.dtype == np.int64
    assert raw.x_train.min() == 0 and raw.x_train.max() == 1
    assert raw.x_test.min() >= 0 and raw.x_test.max() <= 1
    assert np.all(np.bincount(raw.y_train, minlength=10) > n_train / 20)  # all ten classes, none rare
    assert raw.checksums == {f.name: file_hash(shared_data / name / f.name) for f in DATASETS[name].files}


def test_real_mnist_splits(shared_data):
    splits = load_splits(DataConfig(name="mnist", normalize="standardize"), data_dir=shared_data / "mnist")
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (54_000, 6_000, 10_000)
    assert splits.x_train.mean().item() == pytest.approx(0, abs=1e-4)
    assert splits.x_train.std().item() == pytest.approx(1, abs=1e-3)
