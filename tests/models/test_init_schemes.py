from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tunelab.config import BlockConfig, CNNConfig, InitConfig, LCNNConfig, MLPConfig
from tunelab.models import MODELS, LocallyConnected2d, apply_init, build_model
from tunelab.models.init import fans

# Large enough that sample statistics are within a few percent; each has its own (fan_in, fan_out).
LAYERS = {
    "linear": (lambda: nn.Linear(600, 400), (600, 400)),
    "conv": (lambda: nn.Conv2d(32, 64, 5), (32 * 25, 64 * 25)),
    "local": (lambda: LocallyConnected2d(16, 24, (10, 10), 3), (16 * 9, 24 * 9)),
}


def expected_std(init: InitConfig, fan_in: int, fan_out: int) -> float:
    return {
        "normal": init.std,
        "uniform": (init.high - init.low) / math.sqrt(12),
        "xavier_normal": math.sqrt(2 / (fan_in + fan_out)),
        "xavier_uniform": math.sqrt(6 / (fan_in + fan_out)) / math.sqrt(3),
        "kaiming_normal": math.sqrt(2 / fan_in),
        "kaiming_uniform": math.sqrt(6 / fan_in) / math.sqrt(3),
    }[init.scheme]


def bounds(init: InitConfig, fan_in: int, fan_out: int) -> tuple[float, float] | None:
    """The support of the uniform schemes."""
    bound = {"xavier_uniform": math.sqrt(6 / (fan_in + fan_out)), "kaiming_uniform": math.sqrt(6 / fan_in)}
    if init.scheme == "uniform":
        return init.low, init.high
    return (-bound[init.scheme], bound[init.scheme]) if init.scheme in bound else None


SCHEMES = [
    InitConfig(scheme="normal", std=0.2),
    InitConfig(scheme="uniform", low=-0.001, high=0.001),
    InitConfig(scheme="uniform", low=10, high=20),  # the 002 paper's exploding-gradient setting
    InitConfig(scheme="xavier_normal"),
    InitConfig(scheme="xavier_uniform"),
    InitConfig(scheme="kaiming_normal"),
    InitConfig(scheme="kaiming_uniform"),
]


@pytest.mark.parametrize("layer_kind", list(LAYERS))
@pytest.mark.parametrize("init", SCHEMES, ids=lambda i: f"{i.scheme}({i.std},{i.low},{i.high})")
def test_weight_statistics_and_zero_bias(layer_kind, init):
    make, (fan_in, fan_out) = LAYERS[layer_kind]
    torch.manual_seed(0)
    layer = make()
    assert fans(layer) == (fan_in, fan_out)
    apply_init(nn.Sequential(layer), init)
    weight = layer.weight.detach().double()
    mean = (init.low + init.high) / 2 if init.scheme == "uniform" else 0.0
    std = expected_std(init, fan_in, fan_out)
    assert weight.mean().item() == pytest.approx(mean, abs=0.02 * std)
    assert weight.std().item() == pytest.approx(std, rel=0.02)
    support = bounds(init, fan_in, fan_out)
    if support is not None:
        assert support[0] <= weight.min().item() and weight.max().item() <= support[1]
    assert not layer.bias.any()


def test_locally_connected_uses_its_own_fans_not_the_weight_shape():
    torch.manual_seed(0)
    layer = LocallyConnected2d(16, 24, (10, 10), 3)
    apply_init(layer, InitConfig(scheme="xavier_uniform"))
    conv_like = math.sqrt(6 / (16 * 9 + 24 * 9))
    shape_based = nn.init._calculate_fan_in_and_fan_out(layer.weight)  # what nn.init would have used
    assert layer.weight.abs().max().item() == pytest.approx(conv_like, rel=0.01)
    assert math.sqrt(6 / sum(shape_based)) < 0.5 * conv_like


@pytest.mark.parametrize(
    ("scheme", "reference"),
    [
        ("xavier_uniform", nn.init.xavier_uniform_),
        ("xavier_normal", nn.init.xavier_normal_),
        ("kaiming_uniform", lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu")),
        ("kaiming_normal", lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
    ],
)
def test_dense_and_conv_weights_equal_torch_nn_init(scheme, reference):
    for make in (lambda: nn.Linear(30, 20), lambda: nn.Conv2d(3, 8, 3)):
        torch.manual_seed(5)
        ours = make()
        torch.manual_seed(6)
        apply_init(ours, InitConfig(scheme=scheme))
        torch.manual_seed(5)
        theirs = make()
        torch.manual_seed(6)
        with torch.no_grad():
            reference(theirs.weight)
        torch.testing.assert_close(ours.weight, theirs.weight, rtol=0, atol=0)


def full_model(init: InitConfig | str) -> nn.Module:
    cfg = CNNConfig(blocks=[BlockConfig(filters=4, batch_norm=True)], dense=[8], batch_norm=True, init=init)
    return build_model(cfg, (1, 6, 6), 3)


def test_default_leaves_pytorch_initialisation_alone():
    torch.manual_seed(0)
    model = full_model("default")
    torch.manual_seed(0)
    cfg = CNNConfig(blocks=[BlockConfig(filters=4, batch_norm=True)], dense=[8], batch_norm=True)
    raw = MODELS["cnn"](cfg, (1, 6, 6), 3)  # the builder alone: PyTorch's initialisation
    for key, value in raw.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    apply_init(model, InitConfig())
    for key, value in raw.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.conv1.bias.abs().min() > 0 and model.out.bias.abs().min() > 0  # PyTorch's non-zero biases
    assert model.out.weight.abs().max() <= 1 / math.sqrt(8)  # Linear's default U(±1/sqrt(fan_in))


def test_batch_norm_is_untouched():
    model = full_model(InitConfig(scheme="normal", std=3.0))
    for bn in (model.bn1, model.dense_bn1):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))
    assert model.conv1.weight.abs().max() > 1  # while the weights were redrawn


@pytest.mark.parametrize("scheme", ["default", "normal", "xavier_uniform", "kaiming_normal"])
@pytest.mark.parametrize(
    "cfg",
    [
        MLPConfig(hidden=[16, 8], dropout=0.2, batch_norm=True),
        CNNConfig(blocks=[BlockConfig(filters=4, pool="max")], dense=[8]),
        LCNNConfig(blocks=[BlockConfig(filters=4, padding="valid")], dense=[8]),
    ],
    ids=["mlp", "cnn", "lcnn"],
)
def test_seeded_builds_are_identical(cfg, scheme):
    cfg = cfg.model_copy(update={"init": InitConfig(scheme=scheme)})
    torch.manual_seed(123)
    first = build_model(cfg, (1, 8, 8), 10).state_dict()
    torch.manual_seed(123)
    second = build_model(cfg, (1, 8, 8), 10).state_dict()
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    torch.manual_seed(124)
    other = build_model(cfg, (1, 8, 8), 10).state_dict()
    assert not torch.equal(first["out.weight"], other["out.weight"])
