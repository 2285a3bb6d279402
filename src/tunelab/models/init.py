"""Weight-initialisation schemes applied after a model is built.

Fans are computed here for every layer kind rather than by ``nn.init``'s helpers, because those read
them off the weight's shape, which is wrong for ``LocallyConnected2d``'s ``(L, in·k·k, out)`` layout. For
``nn.Linear`` and ``nn.Conv2d`` the results (and the random numbers drawn) equal ``nn.init``'s.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tunelab.config import InitConfig
from tunelab.models.locally_connected import LocallyConnected2d

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, LocallyConnected2d)


def fans(module: nn.Module) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a dense, convolutional or locally-connected layer."""
    if isinstance(module, LocallyConnected2d):
        return module.fan_in, module.fan_out
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if isinstance(module, nn.Conv2d):
        weight = module.weight  # (out, in/groups, kh, kw)
        receptive = weight[0, 0].numel()
        return weight.shape[1] * receptive, weight.shape[0] * receptive
    raise TypeError(f"no fans for {type(module).__name__}")


@torch.no_grad()
def _init_weight(weight: torch.Tensor, fan_in: int, fan_out: int, init: InitConfig) -> None:
    match init.scheme:
        case "normal":
            weight.normal_(0.0, init.std)
        case "uniform":
            weight.uniform_(init.low, init.high)
        case "xavier_normal":
            weight.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))
        case "xavier_uniform":
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            weight.uniform_(-bound, bound)
        case "kaiming_normal":  # He, fan_in mode, gain sqrt(2) for relu
            weight.normal_(0.0, math.sqrt(2.0 / fan_in))
        case "kaiming_uniform":
            bound = math.sqrt(6.0 / fan_in)
            weight.uniform_(-bound, bound)
        case _:
            raise AssertionError(init.scheme)


def apply_init(model: nn.Module, init: InitConfig) -> nn.Module:
    """Re-initialise every Linear, Conv2d and LocallyConnected2d weight by ``init``; biases become zero.

    ``default`` leaves PyTorch's initialisation (biases included) untouched; BatchNorm layers are never
    touched. Returns ``model`` for chaining.
    """
    if init.scheme == "default":
        return model
    for module in model.modules():
        if isinstance(module, WEIGHT_LAYERS):
            _init_weight(module.weight, *fans(module), init)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
