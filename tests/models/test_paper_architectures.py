"""Every architecture of the seed papers builds with the parameter count Keras would report (trainable)."""

from __future__ import annotations

import pytest
import torch

from tunelab.config import BlockConfig, CNNConfig, LCNNConfig, MLPConfig
from tunelab.models import build_model, count_parameters

MNIST, USPS, DIGITS = (1, 28, 28), (1, 16, 16), (1, 8, 8)


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def conv(c_in: int, c_out: int, k: int = 3) -> int:
    return c_in * k * k * c_out + c_out


def local(c_in: int, c_out: int, k: int, out_h: int, out_w: int) -> int:
    positions = out_h * out_w
    return positions * (c_in * k * k * c_out) + positions * c_out


def batch_norm(channels: int) -> int:
    return 2 * channels  # gamma and beta; Keras' moving mean/variance are non-trainable


def conv3(filters: int, pool: bool = False) -> BlockConfig:
    return BlockConfig(filters=filters, kernel=3, padding="same", pool="max" if pool else None)


def upto(model: torch.nn.Sequential, name: str) -> torch.nn.Sequential:
    """The model's layers up to and including ``name``."""
    return model[: list(dict(model.named_children())).index(name) + 1]


def check(cfg, input_shape, expected: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(cfg, input_shape, 10)
    assert count_parameters(model) == expected
    model.eval()
    assert model(torch.zeros(2, *input_shape)).shape == (2, 10)
    return model


def test_000_mnist_mlp():
    cfg = MLPConfig(
        hidden=[448, 192, 320, 128, 384],
        activation=["silu", "relu", "relu", "silu", "relu"],
        dropout=[0.15, 0.15, 0.25, 0.10, 0.25],
    )
    expected = dense(784, 448) + dense(448, 192) + dense(192, 320) + dense(320, 128) + dense(128, 384)
    expected += dense(384, 10)
    assert expected == 594_122
    model = check(cfg, MNIST, expected)
    assert [type(model.get_submodule(f"act{i}")).__name__ for i in range(1, 6)] == [
        "SiLU",
        "ReLU",
        "ReLU",
        "SiLU",
        "ReLU",
    ]
    assert [model.get_submodule(f"drop{i}").p for i in range(1, 6)] == [0.15, 0.15, 0.25, 0.10, 0.25]


@pytest.mark.parametrize(
    ("hidden", "expected"),
    [
        ([128], dense(784, 128) + dense(128, 10)),  # NN model 1
        ([256, 128], dense(784, 256) + dense(256, 128) + dense(128, 10)),  # 1.1
        ([64], dense(784, 64) + dense(64, 10)),  # 1.2
        ([512, 256], dense(784, 512) + dense(512, 256) + dense(256, 10)),  # 2
    ],
)
def test_003_nn_models(hidden, expected):
    check(MLPConfig(hidden=hidden), MNIST, expected)


def test_003_cnn_model_1():
    cfg = CNNConfig(blocks=[conv3(32), conv3(32, pool=True)], dense=[512], dropout=0.2)
    check(cfg, MNIST, conv(1, 32) + conv(32, 32) + dense(14 * 14 * 32, 512) + dense(512, 10))


def test_003_cnn_model_1_1():
    cfg = CNNConfig(blocks=[conv3(64), conv3(64, pool=True)], dense=[1024, 512], dropout=[0.2, 0.0])
    expected = conv(1, 64) + conv(64, 64) + dense(14 * 14 * 64, 1024) + dense(1024, 512) + dense(512, 10)
    model = check(cfg, MNIST, expected)
    assert hasattr(model, "dense_drop1") and not hasattr(model, "dense_drop2")


def test_003_cnn_model_1_2():
    blocks = [conv3(64), conv3(64, pool=True), conv3(128), conv3(128, pool=True)]
    blocks += [conv3(256), conv3(256, pool=True)]
    cfg = CNNConfig(blocks=blocks, dense=[512], dropout=0.2)
    expected = conv(1, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128) + conv(128, 256) + conv(256, 256)
    expected += dense(3 * 3 * 256, 512) + dense(512, 10)  # 28 -> 14 -> 7 -> 3 (floor)
    check(cfg, MNIST, expected)


def test_003_cnn_model_2():
    cfg = CNNConfig(blocks=[conv3(32), conv3(64, pool=True), conv3(128, pool=True)], dense=[512], dropout=0.2)
    expected = conv(1, 32) + conv(32, 64) + conv(64, 128) + dense(7 * 7 * 128, 512) + dense(512, 10)
    assert expected == 3_309_578
    check(cfg, MNIST, expected)


def test_002_usps_mlp():
    cfg = MLPConfig(hidden=[128, 64, 32], activation=["relu", "sigmoid", "relu"])
    check(cfg, USPS, dense(256, 128) + dense(128, 64) + dense(64, 32) + dense(32, 10))


def test_002_usps_cnn():
    cfg = CNNConfig(
        blocks=[conv3(32, pool=True), conv3(64, pool=True)], dense=[128], dense_activation="tanh", dropout=0.3
    )
    model = check(cfg, USPS, conv(1, 32) + conv(32, 64) + dense(4 * 4 * 64, 128) + dense(128, 10))
    x = torch.zeros(1, *USPS)
    assert upto(model, "act1")(x).shape == (1, 32, 16, 16)
    assert upto(model, "pool1")(x).shape == (1, 32, 8, 8)
    assert upto(model, "pool2")(x).shape == (1, 64, 4, 4)


@pytest.mark.parametrize("bias", [True, False])
def test_002_usps_lcnn_shapes_and_count(bias):
    cfg = LCNNConfig(
        blocks=[
            BlockConfig(filters=8, kernel=3, padding="valid", bias=bias),
            BlockConfig(filters=16, kernel=3, stride=2, padding="valid", pool="max", bias=bias),
        ],
        dense=[128],
        dense_activation="tanh",
    )
    expected = local(1, 8, 3, 14, 14) + local(8, 16, 3, 6, 6) + dense(16 * 3 * 3, 128) + dense(128, 10)
    if not bias:  # the notebook's LocallyConnected2d(bias=False): 8·14·14 + 16·6·6 fewer parameters
        expected -= 8 * 14 * 14 + 16 * 6 * 6
    model = check(cfg, USPS, expected)
    assert (model.local1.bias is not None) is bias
    assert model.local1.output_size == (14, 14)
    assert model.local2.input_size == (14, 14)
    assert model.local2.output_size == (6, 6)
    x = torch.zeros(1, *USPS)
    assert upto(model, "act1")(x).shape == (1, 8, 14, 14)
    assert upto(model, "act2")(x).shape == (1, 16, 6, 6)
    assert upto(model, "pool2")(x).shape == (1, 16, 3, 3)


@pytest.mark.parametrize("bn", [False, True])
def test_004_fashion_fcn(bn):
    cfg = MLPConfig(hidden=[512, 256], batch_norm=bn)
    expected = dense(784, 512) + dense(512, 256) + dense(256, 10)
    if bn:
        expected += batch_norm(512) + batch_norm(256)
    model = check(cfg, MNIST, expected)
    assert hasattr(model, "bn1") is bn
    if bn:  # running statistics exist but are buffers, not parameters
        assert model.bn1.running_mean.shape == (512,)


def test_digits_mlp_and_cnn():
    check(MLPConfig(hidden=[64, 32], dropout=0.1), DIGITS, dense(64, 64) + dense(64, 32) + dense(32, 10))
    cfg = CNNConfig(blocks=[conv3(16, pool=True), conv3(32, pool=True)], dense=[64])  # 8 -> 4 -> 2
    model = check(cfg, DIGITS, conv(1, 16) + conv(16, 32) + dense(2 * 2 * 32, 64) + dense(64, 10))
    model.train()
    logits = model(torch.randn(5, *DIGITS))
    assert logits.shape == (5, 10) and torch.isfinite(logits).all()
