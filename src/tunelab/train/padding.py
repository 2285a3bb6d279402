"""Pad MLPs of different widths, depths, activations and dropout rates to one shape.

A random search over architectures (paper 000) rarely draws two trials of the same shape, so a
population of exactly equal shapes would hold one trial. Padded, they train together: every member
becomes a :class:`PaddedMLP` of the population's widest layer and deepest stack, and its own
architecture lives in buffers, which ``stack_module_state`` stacks per member like any other:

- a 0/1 mask of its units in each layer: a padded unit's output is multiplied by 0, so no gradient
  ever reaches its weights, and it never feeds the next layer;
- which layers it has: the layers below a member's depth pass their input through unchanged, so its
  last real layer feeds the output layer;
- each layer's activation (an index into the population's activations) and dropout rate.

A member starts from the weights its own model was initialised with (zeros elsewhere) and ends as
that model again (:func:`unpad_state`): padding adds exact zeros to every sum, so a padded member
follows its lone run within float tolerance. The price is arithmetic: every member computes the
widest, deepest network, which a GPU (launch-bound at small batches) does not notice and a CPU
(compute-bound) does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from tunelab.config import MLPConfig, ModelConfig
from tunelab.models import activation


class PaddedMLP(nn.Module):
    """``depth`` dense layers of ``width`` units; each member's own architecture is in its buffers.

    Layer names are those of :func:`tunelab.models.build_mlp` (``dense1``, ``bn1``, ``out``), so a
    member's state dict maps onto the leading slices of this one's.
    """

    units: torch.Tensor  # (depth, width): 1 for the member's units
    layers: torch.Tensor  # (depth,): whether the member has this layer
    activation: torch.Tensor  # (depth,): index into ``activations``
    drop: torch.Tensor  # (depth,): dropout rate

    def __init__(
        self,
        in_features: int,
        width: int,
        depth: int,
        n_classes: int,
        batch_norm: bool,
        activations: Sequence[str],
        dropout: bool,
    ) -> None:
        super().__init__()
        self.depth, self.batch_norm, self.dropout = depth, batch_norm, dropout
        self.flatten = nn.Flatten()
        for i in range(1, depth + 1):
            self.add_module(f"dense{i}", nn.Linear(in_features if i == 1 else width, width))
            if batch_norm:
                self.add_module(f"bn{i}", nn.BatchNorm1d(width))
        self.out = nn.Linear(width, n_classes)
        self.activations = nn.ModuleList(activation(name) for name in activations)
        self.register_buffer("units", torch.zeros(depth, width))
        self.register_buffer("layers", torch.zeros(depth, dtype=torch.bool))
        self.register_buffer("activation", torch.zeros(depth, dtype=torch.long))
        self.register_buffer("drop", torch.zeros(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.flatten(x)
        acts = list(self.activations)
        for i in range(self.depth):
            z = getattr(self, f"dense{i + 1}")(h)
            if self.batch_norm:
                z = getattr(self, f"bn{i + 1}")(z)
            a = acts[0](z)
            for k, act in enumerate(acts[1:], start=1):
                a = torch.where(self.activation[i] == k, act(z), a)
            keep = self.units[i]
            if self.dropout and self.training:  # inverted dropout at this member's rate, as nn.Dropout
                keep = keep * (torch.rand_like(a) >= self.drop[i]) / (1 - self.drop[i])
            a = a * keep
            h = a if i == 0 else torch.where(self.layers[i], a, h)
        return self.out(h)


def differ(configs: Sequence[ModelConfig]) -> bool:
    """Whether these models have different architectures (MLPs then need padding to share a population)."""
    return len({repr(c.model_dump(exclude={"init"})) for c in configs}) > 1


def padded_mlps(
    configs: Sequence[ModelConfig], models: Sequence[nn.Module], input_shape: tuple[int, ...], n_classes: int
) -> list[PaddedMLP]:
    """Each member's ``models[i]`` (its initial weights) as a :class:`PaddedMLP` of the common shape."""
    if not all(isinstance(c, MLPConfig) for c in configs):
        raise ValueError("only MLPs of different architectures can train as one population")
    mlps = [c for c in configs if isinstance(c, MLPConfig)]
    width = max(max(c.hidden) for c in mlps)
    depth = max(len(c.hidden) for c in mlps)
    kinds = sorted({a for c in mlps for a in c.activations()})
    dropout = any(p > 0 for c in mlps for p in c.dropouts())
    batch_norm = {c.batch_norm for c in mlps}
    if len(batch_norm) != 1:
        raise ValueError("padded MLPs need batch_norm on all or none of them")
    padded = []
    for cfg, model in zip(mlps, models, strict=True):
        net = PaddedMLP(math.prod(input_shape), width, depth, n_classes, cfg.batch_norm, kinds, dropout)
        net.to(next(model.parameters()).device)
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, nn.Linear):  # zero outside the member's slice
                    module.weight.zero_()
                    module.bias.zero_()
            state = net.state_dict()
            for key, value in model.state_dict().items():
                state[key][_slices(value)] = value
            for i, (units, act, p) in enumerate(
                zip(cfg.hidden, cfg.activations(), cfg.dropouts(), strict=True)
            ):
                net.units[i, :units] = 1.0
                net.layers[i] = True
                net.activation[i] = kinds.index(act)
                net.drop[i] = p
        padded.append(net)
    return padded


def unpad_state(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of ``model`` (a member's own MLP) cut out of its padded ``state``."""
    return {key: state[key][_slices(value)].clone() for key, value in model.state_dict().items()}


def _slices(value: torch.Tensor) -> tuple[slice, ...]:
    return tuple(slice(0, n) for n in value.shape)
