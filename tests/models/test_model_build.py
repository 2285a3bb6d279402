from __future__ import annotations

import pytest
import torch
from torch import nn

from tunelab.config import ACTIVATIONS, BlockConfig, CNNConfig, LCNNConfig, MLPConfig
from tunelab.errors import ConfigError
from tunelab.models import MODELS, LocallyConnected2d, activation, build_model
from tunelab.models.cnn import resolve_padding


def weight_names(model: nn.Module) -> list[str]:
    """The names the training loop reports gradients under."""
    kinds = (nn.Linear, nn.Conv2d, LocallyConnected2d)
    return [name for name, module in model.named_modules() if isinstance(module, kinds)]


def children(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_children()]


def without_dropout(cfg):
    update = {"dropout": 0.0}
    if hasattr(cfg, "blocks"):
        update["blocks"] = [block.model_copy(update={"dropout": 0.0}) for block in cfg.blocks]
    return cfg.model_copy(update=update)


def test_registry_is_a_plain_dict_of_the_three_kinds():
    assert isinstance(MODELS, dict) and set(MODELS) == {"mlp", "cnn", "lcnn"}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_configurable_activation_builds(name):
    x = torch.linspace(-3, 3, 13)
    expected = {
        "relu": torch.relu(x),
        "tanh": torch.tanh(x),
        "silu": x * torch.sigmoid(x),
        "sigmoid": torch.sigmoid(x),
        "gelu": 0.5 * x * (1 + torch.erf(x / 2**0.5)),
        "leaky_relu": torch.where(x > 0, x, 0.01 * x),
        "elu": torch.where(x > 0, x, torch.expm1(x)),
        "linear": x,
    }[name]
    torch.testing.assert_close(activation(name)(x), expected)
    with pytest.raises(ValueError, match="unknown activation"):
        activation("swish")


def test_mlp_layer_names_and_order():
    model = build_model(MLPConfig(hidden=[8, 4], dropout=[0.5, 0.0], batch_norm=True), (1, 3, 3), 5)
    assert children(model) == ["flatten", "dense1", "bn1", "act1", "drop1", "dense2", "bn2", "act2", "out"]
    assert weight_names(model) == ["dense1", "dense2", "out"]


def test_cnn_layer_names_and_order():
    cfg = CNNConfig(
        blocks=[
            BlockConfig(filters=4, pool="max", batch_norm=True, dropout=0.1),
            BlockConfig(filters=6, pool="avg"),
        ],
        dense=[16, 8],
        dropout=0.2,
    )
    model = build_model(cfg, (3, 8, 8), 4)
    assert children(model) == [
        "conv1",
        "bn1",
        "act1",
        "pool1",
        "drop1",
        "conv2",
        "act2",
        "pool2",
        "flatten",
        "dense1",
        "dense_act1",
        "dense_drop1",
        "dense2",
        "dense_act2",
        "dense_drop2",
        "out",
    ]
    assert isinstance(model.pool1, nn.MaxPool2d) and isinstance(model.pool2, nn.AvgPool2d)
    assert weight_names(model) == ["conv1", "conv2", "dense1", "dense2", "out"]


def test_model_level_batch_norm_reaches_every_block_and_the_head():
    cfg = LCNNConfig(blocks=[BlockConfig(filters=4), BlockConfig(filters=2)], dense=[8], batch_norm=True)
    model = build_model(cfg, (1, 6, 6), 3)
    assert children(model) == [
        "local1",
        "bn1",
        "act1",
        "local2",
        "bn2",
        "act2",
        "flatten",
        "dense1",
        "dense_bn1",
        "dense_act1",
        "out",
    ]
    assert isinstance(model.bn1, nn.BatchNorm2d) and isinstance(model.dense_bn1, nn.BatchNorm1d)
    assert weight_names(model) == ["local1", "local2", "dense1", "out"]


@pytest.mark.parametrize(
    "cfg",
    [
        MLPConfig(hidden=[32, 16], dropout=0.3, batch_norm=True),
        CNNConfig(blocks=[BlockConfig(filters=4, pool="max", dropout=0.3)], dense=[16], dropout=0.3),
        LCNNConfig(blocks=[BlockConfig(filters=4, padding="valid", dropout=0.3)], dense=[16], dropout=0.3),
    ],
    ids=["mlp", "cnn", "lcnn"],
)
def test_logits_shape_and_dropout_only_in_training(cfg):
    torch.manual_seed(0)
    model = build_model(cfg, (2, 10, 9), 7)
    x = torch.randn(6, 2, 10, 9)
    model.train()
    first, second = model(x), model(x)
    assert first.shape == (6, 7)
    assert not torch.allclose(first, second)
    model.eval()
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
    # in eval mode the model is the same network without its dropout layers
    plain = build_model(without_dropout(cfg), (2, 10, 9), 7)
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
    plain.load_state_dict(model.state_dict())
    plain.eval()
    torch.testing.assert_close(plain(x), model(x))


def test_rgb_input_from_a_yaml_like_mapping():
    raw = {"blocks": [{"filters": 3, "stride": 2}], "dense": [5], "init": "kaiming_normal"}
    cfg = CNNConfig.model_validate(raw)
    model = build_model(cfg, (3, 15, 15), 2)
    assert model(torch.randn(4, 3, 15, 15)).shape == (4, 2)
    assert model.dense1.in_features == 3 * 8 * 8  # "same" at stride 2 gives ceil(15 / 2), as Keras
    assert all(not m.bias.any() for m in (model.conv1, model.dense1, model.out))  # the init was applied


def test_padding_resolution():
    assert resolve_padding(BlockConfig(filters=1, kernel=5, padding="same")) == 2
    assert resolve_padding(BlockConfig(filters=1, kernel=4, padding="same")) == 1  # even: one short of Keras
    assert resolve_padding(BlockConfig(filters=1, kernel=5, padding="valid")) == 0
    assert resolve_padding(BlockConfig(filters=1, kernel=5, padding=3)) == 3


@pytest.mark.parametrize("kind", [CNNConfig, LCNNConfig])
def test_too_small_input_names_the_block(kind):
    valid = BlockConfig(filters=2, padding="valid")
    cfg = kind(blocks=[valid.model_copy(update={"pool": "max"}), valid, valid])  # 8 -> 6 -> 3 -> 1 -> ?
    with pytest.raises(ConfigError) as info:
        build_model(cfg, (1, 8, 8), 10)
    assert str(info.value) == "model.blocks[2]: the 1×1 input is too small for a 3×3 kernel with padding 0"


def test_too_small_for_pooling_names_the_block():
    cfg = CNNConfig(blocks=[BlockConfig(filters=2, kernel=5, padding="valid", pool="max", pool_size=3)])
    message = r"^model\.blocks\[0\]: the 2×4 output of the conv layer is too small for 3×3 max pooling$"
    with pytest.raises(ConfigError, match=message):
        build_model(cfg, (1, 6, 8), 10)
    # non-square images are reported as they are
    with pytest.raises(ConfigError, match=r"the 8×3 input is too small for a 5×5 kernel with padding 0"):
        build_model(CNNConfig(blocks=[BlockConfig(filters=2, kernel=5, padding="valid")]), (1, 8, 3), 10)


def test_input_shape_must_be_channels_height_width():
    with pytest.raises(ValueError, match="channels, height, width"):
        build_model(MLPConfig(), (28, 28), 10)  # type: ignore[arg-type]
