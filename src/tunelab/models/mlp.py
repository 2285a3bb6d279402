"""Multi-layer perceptron on flattened images."""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn

from tunelab.config import MLPConfig
from tunelab.models.layers import dense_stack


def build_mlp(cfg: MLPConfig, input_shape: tuple[int, int, int], n_classes: int) -> nn.Sequential:
    """``flatten, dense1, [bn1], act1, [drop1], …, out``; returns logits (the loss applies softmax)."""
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    layers += dense_stack(
        math.prod(input_shape), cfg.hidden, cfg.activations(), cfg.dropouts(), cfg.batch_norm, n_classes
    )
    return nn.Sequential(OrderedDict(layers))
