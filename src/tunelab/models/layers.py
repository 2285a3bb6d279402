"""Pieces shared by the builders: activations, the dense stack and parameter counting."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

# PyTorch's defaults throughout: leaky_relu slope 0.01 (Keras 2 used 0.3), exact (erf) GELU, ELU alpha 1.
_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "linear": nn.Identity,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module for one of ``tunelab.config.ACTIVATIONS`` (``linear`` is the identity)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(_ACTIVATIONS)}") from None


def dense_stack(
    in_features: int,
    units: Sequence[int],
    activations: Sequence[str],
    dropouts: Sequence[float],
    batch_norm: bool,
    n_classes: int,
    tag: str = "",
) -> list[tuple[str, nn.Module]]:
    """Named layers ``dense{i}, [{tag}bn{i}], {tag}act{i}, [{tag}drop{i}], …, out``.

    ``tag`` keeps the head's auxiliary layers apart from a CNN's block layers of the same number
    (``act1`` of conv1 vs ``dense_act1`` of dense1); the weight-bearing names never carry it.
    """
    layers: list[tuple[str, nn.Module]] = []
    features = in_features
    for i, (width, act, p) in enumerate(zip(units, activations, dropouts, strict=True), start=1):
        layers.append((f"dense{i}", nn.Linear(features, width)))
        if batch_norm:
            layers.append((f"{tag}bn{i}", nn.BatchNorm1d(width)))
        layers.append((f"{tag}act{i}", activation(act)))
        if p > 0:
            layers.append((f"{tag}drop{i}", nn.Dropout(p)))
        features = width
    layers.append(("out", nn.Linear(features, n_classes)))
    return layers


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics are buffers, so not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
