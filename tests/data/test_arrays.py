"""The arrays dataset: images and labels in one .npz file."""

from __future__ import annotations

import numpy as np
import pytest

from tunelab.config import DataConfig
from tunelab.data import load_splits
from tunelab.data.local import _load_arrays, cache_folder, load_local
from tunelab.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def _fresh():
    _load_arrays.cache_clear()
    yield
    _load_arrays.cache_clear()


def npz(tmp_path, name="data.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def local(path, **data):
    return load_local(DataConfig(name="arrays", path=str(path), **data))


RNG = np.random.default_rng(0)
LABELS = np.arange(40) % 4


@pytest.mark.parametrize(
    ("x", "shape"),
    [
        (RNG.integers(0, 256, (40, 6, 5), dtype=np.uint8), (1, 6, 5)),  # N×H×W
        (RNG.integers(0, 256, (40, 6, 5, 3), dtype=np.uint8), (3, 6, 5)),  # N×H×W×C
        (RNG.integers(0, 256, (40, 3, 6, 5), dtype=np.uint8), (3, 6, 5)),  # N×C×H×W
        (RNG.integers(0, 256, (40, 4, 4, 4), dtype=np.uint8), (4, 4, 4)),  # equal: the last is C
    ],
    ids=["nhw", "nhwc", "nchw", "ambiguous"],
)
def test_layouts(tmp_path, x, shape):
    raw, n_classes = local(npz(tmp_path, x_train=x, y_train=LABELS))
    assert raw.x_train.shape[1:] == shape and n_classes == 4
    # uint8 scaled to [0, 1]; the held-out test images are the same pixels, channels first
    channels_first = x[:, None] if x.ndim == 3 else x if x.shape[1] < x.shape[3] else x.transpose(0, 3, 1, 2)
    every = np.concatenate([raw.x_train, raw.x_test]) * 255
    assert sorted(map(bytes, np.round(every).astype(np.uint8))) == sorted(map(bytes, channels_first))


def test_floats_are_kept_and_a_test_set_is_used(tmp_path):
    x = RNG.normal(size=(40, 2, 3, 3)).astype(np.float64)
    x_test, y_test = RNG.normal(size=(8, 2, 3, 3)), np.arange(8) % 6
    path = npz(tmp_path, x_train=x, y_train=LABELS.astype(np.float32), x_test=x_test, y_test=y_test[:, None])
    raw, n_classes = local(path)
    assert n_classes == 6  # labels 0..5 seen in either part
    np.testing.assert_array_equal(raw.x_train, x.astype(np.float32))  # not rescaled
    np.testing.assert_array_equal(raw.y_test, y_test)
    assert raw.x_train.dtype == np.float32 and raw.y_train.dtype == np.int64
    with pytest.raises(ConfigError, match=r"data.test_fraction: not needed, .*data.npz holds x_test"):
        _load_arrays.cache_clear()
        local(path, test_fraction=0.3)


def test_splits_record_the_files_hash_and_the_cache_is_used(tmp_path):
    import hashlib

    path = npz(tmp_path, x_train=RNG.integers(0, 256, (40, 6, 5), dtype=np.uint8), y_train=LABELS)
    splits = load_splits(DataConfig(name="arrays", path=str(path), val_fraction=0.25, test_fraction=0.25))
    assert splits.checksums == {"data.npz": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (22, 8, 10)
    assert splits.input_shape == (1, 6, 5) and splits.n_classes == 4
    assert len(list(cache_folder().glob("*.npz"))) == 1


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"y_train": LABELS}, "x_train is missing; expected x_train and y_train (found y_train)"),
        ({"x_train": np.zeros((40, 4, 4))}, "y_train is missing"),
        (
            {"x_train": np.zeros((40, 4, 4)), "y_train": LABELS + 0.5},
            "y_train must hold integer class labels",
        ),
        ({"x_train": np.zeros((40, 4, 4)), "y_train": LABELS.astype(str)}, "y_train must hold integer class"),
        ({"x_train": np.zeros((40, 4, 4)), "y_train": LABELS - 1}, "y_train must hold class labels 0..K-1"),
        (
            {"x_train": np.zeros((39, 4, 4)), "y_train": LABELS},
            "x_train holds 39 images but y_train holds 40",
        ),
        ({"x_train": np.zeros((40, 4)), "y_train": LABELS}, "x_train must be N×H×W, N×H×W×C or N×C×H×W"),
        ({"x_train": np.full((40, 4, 4), np.nan), "y_train": LABELS}, "x_train holds NaN or infinite"),
        (
            {"x_train": np.zeros((40, 4, 4)), "y_train": LABELS, "x_test": np.zeros((2, 4, 4))},
            "x_test is given ",
        ),
        (
            {
                "x_train": np.zeros((40, 4, 4)),
                "y_train": LABELS,
                "x_test": np.zeros((2, 5, 4)),
                "y_test": [0, 1],
            },
            "x_test's images are 1×5×4, x_train's 1×4×4",
        ),
    ],
    ids=[
        "no-x",
        "no-y",
        "fractional-labels",
        "string-labels",
        "negative-labels",
        "length-mismatch",
        "2-d",
        "nan",
        "x-test-alone",
        "test-shape",
    ],
)
def test_bad_arrays_are_one_sentence_naming_the_file(tmp_path, arrays, expected):
    path = npz(tmp_path, **arrays)
    with pytest.raises(DataError) as info:
        local(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message, message


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DataError, match=r"nope.npz: file not found"):
        local(tmp_path / "nope.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"bad.npz: not a readable .npz file"):
        local(tmp_path / "bad.npz")
    with pytest.raises(DataError, match=r"not a file \(the arrays dataset reads one .npz file\)"):
        local(tmp_path)


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = npz(tmp_path, x_train=np.array([object()] * 3, dtype=object), y_train=[0, 1, 2])
    with pytest.raises(DataError, match=r"data.npz: not a readable .npz file"):
        local(path)
