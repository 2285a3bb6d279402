"""A lone run's fused Adam step made without ``optimizer.step()``: the same numbers, bit for bit."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tunelab.config import OptimizerConfig, RunConfig
from tunelab.data import load_splits
from tunelab.train import train
from tunelab.train.optim import FusedAdamStep, make_optimizer


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.SiLU(), nn.Linear(16, 3))


def steps(
    net: nn.Module, optimizer: torch.optim.Optimizer, lean: FusedAdamStep | None, lrs: list[float]
) -> list[float]:
    """Train ``net`` on fixed random batches, one step per rate; the losses."""
    gen = torch.Generator().manual_seed(1)
    losses = []
    for lr in lrs:
        x, y = torch.randn(8, 12, generator=gen), torch.randint(0, 3, (8,), generator=gen)
        loss = nn.functional.cross_entropy(net(x), y)
        for p in net.parameters():
            p.grad = None
        loss.backward()
        if lean is None:
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()
        else:
            lean(lr)
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize(
    "cfg",
    [
        OptimizerConfig(name="adam", lr=1e-3, eps=1e-7),
        OptimizerConfig(name="adamw", lr=1e-2, weight_decay=0.1, betas=(0.8, 0.99)),
        OptimizerConfig(name="adam", lr=1e-2, weight_decay=1e-3),
    ],
)
def test_the_lean_step_is_optimizer_step_bit_for_bit(cfg):
    a, b = model(), model()
    opt_a, opt_b = make_optimizer(list(a.parameters()), cfg), make_optimizer(list(b.parameters()), cfg)
    assert FusedAdamStep.applies(opt_b)
    lean = FusedAdamStep(opt_b)
    lrs = [1e-2, 5e-3, 5e-3, 1e-3, 2e-3]  # a changing rate, as a schedule gives
    assert steps(a, opt_a, None, lrs) == steps(b, opt_b, lean, lrs)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    sa, sb = opt_a.state_dict(), opt_b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for i, entry in sa["state"].items():
        for k, v in entry.items():
            assert torch.equal(v, sb["state"][i][k]), (i, k)


def test_a_loaded_state_is_stepped_not_the_cached_one():
    cfg = OptimizerConfig(name="adam", lr=1e-3)
    a, b = model(), model()
    opt_a, opt_b = make_optimizer(list(a.parameters()), cfg), make_optimizer(list(b.parameters()), cfg)
    lean = FusedAdamStep(opt_b)
    steps(a, opt_a, None, [1e-3] * 3)
    steps(b, opt_b, lean, [1e-3] * 3)
    saved_model, saved_opt = copy.deepcopy(a.state_dict()), copy.deepcopy(opt_a.state_dict())
    b.load_state_dict(saved_model)
    opt_b.load_state_dict(saved_opt)  # new state tensors: the lean step must not keep the old ones
    lean.forget()
    assert steps(a, opt_a, None, [2e-3] * 2) == steps(b, opt_b, lean, [2e-3] * 2)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_only_plain_fused_adam_takes_the_lean_step():
    params = list(model().parameters())
    assert not FusedAdamStep.applies(make_optimizer(params, OptimizerConfig(name="sgd", lr=0.1)))
    assert not FusedAdamStep.applies(torch.optim.Adam(params, foreach=True))
    assert not FusedAdamStep.applies(torch.optim.Adam(params, fused=True, amsgrad=True))


def test_training_with_the_lean_step_gives_the_same_run(monkeypatch):
    """Same seed, same history and weights with the lean step and with ``optimizer.step()``."""
    config = RunConfig.model_validate(
        {
            "data": {"name": "digits", "normalize": "standardize"},
            "model": {"kind": "mlp", "hidden": [64, 32], "dropout": 0.1, "batch_norm": True},
            "train": {
                "epochs": 2,
                "batch_size": 32,
                "device": "cpu",
                "optimizer": {"name": "adam", "lr": 1e-3},
            },
        }
    )
    splits = load_splits(config.data)
    lean = train(config, splits)
    monkeypatch.setattr(FusedAdamStep, "applies", staticmethod(lambda optimizer: False))
    plain = train(config, splits)
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in lean.history]
    assert strip == [{k: v for k, v in r.items() if k != "time_s"} for r in plain.history]
    for key, value in lean.model.state_dict().items():
        assert torch.equal(value, plain.model.state_dict()[key]), key


def test_a_parameter_without_a_gradient_is_left_to_optimizer_step():
    """A frozen layer (no gradient, so no state): every step goes through ``optimizer.step()``, and
    the numbers are its numbers; two groups never step twice."""
    cfg = OptimizerConfig(name="adam", lr=1e-3)
    a, b = model(), model()
    for net in (a, b):
        net[3].weight.requires_grad_(False)
    groups = lambda net: [{"params": list(net[0].parameters())}, {"params": list(net[1:].parameters())}]  # noqa: E731
    opt_a = torch.optim.Adam(groups(a), lr=cfg.lr, fused=True)
    opt_b = torch.optim.Adam(groups(b), lr=cfg.lr, fused=True)
    lean = FusedAdamStep(opt_b)
    assert steps(a, opt_a, None, [1e-3] * 4) == steps(b, opt_b, lean, [1e-3] * 4)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    c, d = model(), model()
    opt_c = torch.optim.Adam(groups(c), lr=cfg.lr, fused=True)
    opt_d = torch.optim.Adam(groups(d), lr=cfg.lr, fused=True)
    lean = FusedAdamStep(opt_d)
    assert steps(c, opt_c, None, [1e-3] * 4) == steps(d, opt_d, lean, [1e-3] * 4)  # two groups, lean path
    assert lean._groups is not None
    for key, value in c.state_dict().items():
        assert torch.equal(value, d.state_dict()[key]), key
