"""A padded MLP computes exactly what the member's own MLP computes, and its padding stays inert."""

from __future__ import annotations

import pytest
import torch

from tunelab.config import MLPConfig
from tunelab.models import build_model
from tunelab.train.padding import differ, padded_mlps, unpad_state

SHAPE = (1, 8, 8)
MEMBERS = [
    MLPConfig(hidden=[12, 5], activation=["sigmoid", "tanh"], batch_norm=True),  # sigmoid(0) = 0.5
    MLPConfig(hidden=[20], activation="silu", batch_norm=True, dropout=0.0),
    MLPConfig(hidden=[7, 16, 9], activation=["relu", "gelu", "elu"], batch_norm=True),
]


def build(configs):
    torch.manual_seed(0)
    models = [build_model(c, SHAPE, 10) for c in configs]
    return models, padded_mlps(configs, models, SHAPE, 10)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_padded_member_computes_what_its_own_model_computes(mode):
    models, padded = build(MEMBERS)
    x = torch.randn(32, *SHAPE)
    for model, net in zip(models, padded, strict=True):
        model.train(mode == "train")
        net.train(mode == "train")
        torch.testing.assert_close(net(x), model(x), rtol=1e-5, atol=1e-6)


def test_padding_gets_no_gradient_and_cuts_back_to_the_member():
    models, padded = build(MEMBERS)
    x, y = torch.randn(32, *SHAPE), torch.randint(0, 10, (32,))
    for model, net in zip(models, padded, strict=True):
        torch.nn.functional.cross_entropy(model(x), y).backward()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        own = dict(model.named_parameters())
        for name, param in net.named_parameters():
            grad = param.grad if param.grad is not None else torch.zeros_like(param)
            inside = torch.zeros_like(grad, dtype=torch.bool)
            if name in own:  # the member's slice gets its own gradient, the rest exactly none
                index = tuple(slice(0, n) for n in own[name].shape)
                torch.testing.assert_close(grad[index], own[name].grad, rtol=1e-4, atol=1e-6)
                inside[index] = True
            assert torch.all(grad[~inside] == 0), name
        state = unpad_state(net.state_dict(), model)  # weights, and running statistics of the same batch
        for key, value in model.state_dict().items():
            torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-7, msg=key)


def test_dropout_drops_each_members_rate_of_its_own_units():
    configs = [MLPConfig(hidden=[64], dropout=0.5), MLPConfig(hidden=[32], dropout=0.25)]
    _, padded = build(configs)
    torch.manual_seed(1)
    seen = {}
    for cfg, net in zip(configs, padded, strict=True):
        net.train()
        net.dense1.register_forward_hook(lambda m, i, out: seen.update(z=out))
        net.out.register_forward_pre_hook(lambda m, args: seen.update(a=args[0]))
        net(torch.randn(256, *SHAPE))
        a, z = seen["a"], torch.relu(seen["z"])
        units = cfg.hidden[0]
        assert torch.all(a[:, units:] == 0)
        kept = a[:, :units] != 0
        alive = z[:, :units] != 0
        assert (~kept & alive).float().sum() / alive.sum() == pytest.approx(cfg.dropout, abs=0.03)
        torch.testing.assert_close(a[:, :units][kept], z[:, :units][kept] / (1 - cfg.dropout))


def test_differ_ignores_the_initialisation_only():
    assert not differ([MLPConfig(hidden=[8]), MLPConfig(hidden=[8], init="xavier_uniform")])
    assert differ([MLPConfig(hidden=[8]), MLPConfig(hidden=[8], dropout=0.1)])


def test_batch_norm_on_some_members_only_is_refused():
    with pytest.raises(ValueError, match="batch_norm"):
        build([MLPConfig(hidden=[8], batch_norm=True), MLPConfig(hidden=[8])])
