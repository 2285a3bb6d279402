"""Image classifiers built from a model config: MLP, CNN and locally-connected CNN.

``MODELS`` maps ``cfg.kind`` to a builder ``(cfg, input_shape, n_classes) -> nn.Module``; ``build_model``
dispatches on it and applies the config's weight initialisation. Every model is a flat ``nn.Sequential``
with readable, stable layer names (``dense1``, ``conv1``, ``local1``, ``out``…) that the training loop
uses to report gradient magnitudes per layer. Models return logits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from tunelab.config import CNNConfig, LCNNConfig, MLPConfig
from tunelab.models.cnn import build_cnn, build_lcnn
from tunelab.models.init import apply_init
from tunelab.models.layers import activation, count_parameters
from tunelab.models.locally_connected import LocallyConnected2d
from tunelab.models.mlp import build_mlp

__all__ = [
    "MODELS",
    "LocallyConnected2d",
    "activation",
    "apply_init",
    "build_cnn",
    "build_lcnn",
    "build_mlp",
    "build_model",
    "count_parameters",
]

MODELS: dict[str, Callable[[Any, tuple[int, int, int], int], nn.Module]] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "lcnn": build_lcnn,
}


def build_model(
    cfg: MLPConfig | CNNConfig | LCNNConfig, input_shape: tuple[int, int, int], n_classes: int
) -> nn.Module:
    """Build the network ``cfg`` describes for ``(C, H, W)`` images and ``n_classes`` classes.

    Raises ``ConfigError`` naming the block when the image is too small for the blocks.
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {tuple(input_shape)}")
    channels, height, width = input_shape
    model = MODELS[cfg.kind](cfg, (channels, height, width), n_classes)
    return apply_init(model, cfg.init)
