"""The plug-in's own tests: run them with ``python -m pytest tests`` once the package is installed."""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np
import pytest
import torch
from tunelab_plugin_example.data import INFO
from tunelab_plugin_example.models import tiny_cnn


@pytest.mark.parametrize("shape", [(3, 16, 16), (1, 28, 28), (3, 32, 32), (1, 20, 12), (2, 1, 1)])
def test_the_model_gives_one_logit_per_class_for_any_image(shape):
    model = tiny_cnn(shape, 5, width=4, depth=3)
    assert model(torch.zeros(2, *shape)).shape == (2, 5)


def test_the_model_refuses_a_depth_below_one():
    with pytest.raises(ValueError, match="depth and width must be at least 1"):
        tiny_cnn((3, 16, 16), 4, depth=0)


def test_the_dataset_has_the_shape_and_classes_it_declares_and_is_the_same_each_time():
    raw, again = INFO.read(None), INFO.read(None)
    assert raw.x_train.shape == (INFO.n_train, *INFO.input_shape) and raw.x_train.dtype == np.float32
    assert raw.x_test.shape == (INFO.n_test, *INFO.input_shape)
    assert set(np.unique(raw.y_train)) == set(range(INFO.n_classes))
    assert raw.x_train.min() >= 0.0 and raw.x_train.max() <= 1.0
    np.testing.assert_array_equal(raw.x_train, again.x_train)
    assert raw.checksums == again.checksums


def test_the_package_registers_both_entry_points():
    models = {e.name: e.value for e in entry_points(group="tunelab.models")}
    datasets = {e.name: e.value for e in entry_points(group="tunelab.datasets")}
    assert models["example-cnn"] == "tunelab_plugin_example.models:tiny_cnn"
    assert datasets["example-shapes"] == "tunelab_plugin_example.data:INFO"


def test_a_study_names_the_plugins_and_trains(tmp_path):
    import tunelab

    study = {
        "name": "plugin-example",
        "data": {"name": "example-shapes", "val_fraction": 0.2},
        "model": {"kind": "example-cnn", "params": {"width": 4}},
        "train": {"epochs": 2, "batch_size": 64, "optimizer": {"name": "adam", "lr": 0.01}},
        "space": {"model.params.width": [4, 8]},
        "strategy": "grid",
    }
    result = tunelab.run_study(study, out=tmp_path)
    frame = result.trials_dataframe()
    assert list(frame["state"]) == ["COMPLETE", "COMPLETE"]
    assert frame["val_accuracy"].max() > 0.25  # above chance on four classes
