"""Every model kind builds from the dataset's shape (C×H×W) and trains, alone and as a population."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tunelab.config import validate_run_config
from tunelab.data import Splits
from tunelab.models import build_model, register
from tunelab.train import train
from tunelab.train.population import train_population

SHAPES = [(3, 32, 32), (1, 20, 12)]


def factory_cnn(input_shape, n_classes, width=4):
    """A factory that reads the shape it is given (channels, and the size after one pooling)."""
    channels, height, width_px = input_shape
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(width * (height // 2) * (width_px // 2), n_classes),
    )


MODELS = {
    "mlp": {"kind": "mlp", "hidden": [16, 8], "batch_norm": True},
    "cnn": {
        "kind": "cnn",
        "blocks": [{"filters": 4, "pool": "max", "batch_norm": True}, {"filters": 6, "stride": 2}],
        "dense": [8],
    },
    "lcnn": {
        "kind": "lcnn",
        "blocks": [{"filters": 2, "kernel": 3, "stride": 2, "pool": "avg"}],
        "dense": [8],
    },
    "factory": {"kind": "shape-cnn", "params": {"width": 3}},
}


@pytest.fixture(autouse=True)
def _factory():
    register("shape-cnn", factory_cnn)


def splits_of(shape: tuple[int, int, int], n_classes: int = 5, n: int = 60) -> Splits:
    """Random images of ``shape`` whose class is the brightness of one corner: learnable, any shape."""
    g = torch.Generator().manual_seed(0)

    def images(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(count) % n_classes
        x = torch.rand(count, *shape, generator=g) * 0.2
        x[:, :, : shape[1] // 2, : shape[2] // 2] += (y / n_classes).view(-1, 1, 1, 1)
        return x, y

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = images(n), images(n // 2), images(n // 2)
    return Splits("synthetic", x_train, y_train, x_val, y_val, x_test, y_test, n_classes, shape, {})


def run_config(kind: str, seed: int = 0, lr: float = 0.05):
    # SGD, not Adam: a bias before batch norm has no gradient but float noise, which Adam's step
    # normalises to full size, so it drifts differently in a population and alone (with no effect)
    optimizer = {"name": "sgd", "lr": lr, "momentum": 0.9}
    train_cfg = {"epochs": 2, "batch_size": 16, "optimizer": optimizer, "seed": seed}
    return validate_run_config({"model": MODELS[kind], "train": train_cfg | {"device": "cpu"}})


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", list(MODELS))
def test_every_kind_builds_for_the_shape_and_returns_one_logit_per_class(kind, shape):
    model = build_model(run_config(kind).model, shape, 5)
    model.eval()
    assert model(torch.rand(3, *shape)).shape == (3, 5)
    first = next(m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d) or hasattr(m, "fan_in"))
    if kind == "mlp":
        assert first.in_features == shape[0] * shape[1] * shape[2]
    elif kind != "lcnn":
        assert first.in_channels == shape[0]
    else:
        assert first.in_channels == shape[0] and first.input_size == shape[1:]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", list(MODELS))
def test_every_kind_trains_alone_and_as_a_population_alike(kind, shape):
    splits = splits_of(shape)
    configs = [run_config(kind, seed=0, lr=0.05), run_config(kind, seed=1, lr=0.02)]
    together = train_population(configs, splits)
    for cfg, member in zip(configs, together, strict=True):
        alone = train(cfg, splits)
        assert member.status == alone.status == "completed" and len(member.history) == 2
        for a, b in zip(alone.history, member.history, strict=True):
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4, abs=1e-5)
        for key, value in alone.model.state_dict().items():
            torch.testing.assert_close(member.model.state_dict()[key], value, rtol=1e-3, atol=1e-4)
