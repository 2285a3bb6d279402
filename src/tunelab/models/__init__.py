"""Image classifiers built from a model config: MLP, CNN, locally-connected CNN, or a model factory.

``MODELS`` maps ``cfg.kind`` to a builder ``(cfg, input_shape, n_classes) -> nn.Module``; ``build_model``
dispatches on it and applies the config's weight initialisation. The built-in models are flat
``nn.Sequential``s with readable, stable layer names (``dense1``, ``conv1``, ``local1``, ``out``…) that
the training loop uses to report gradient magnitudes per layer; every model returns logits. Any other
kind is a user's factory (:mod:`tunelab.models.factory`), registered with :func:`register` or
installed as a ``tunelab.models`` plug-in (:mod:`tunelab.models.registry`).
"""

from __future__ import annotations

from torch import nn

from tunelab.config import CNNConfig, CustomModelConfig, LCNNConfig, MLPConfig
from tunelab.errors import ConfigError
from tunelab.models.cnn import build_cnn, build_lcnn
from tunelab.models.factory import Factory
from tunelab.models.init import apply_init
from tunelab.models.layers import activation, count_parameters
from tunelab.models.locally_connected import LocallyConnected2d
from tunelab.models.mlp import build_mlp
from tunelab.models.registry import MODELS, find_factory, register, registered, unknown_kind

__all__ = [
    "MODELS",
    "Factory",
    "LocallyConnected2d",
    "activation",
    "apply_init",
    "build_cnn",
    "build_lcnn",
    "build_mlp",
    "build_model",
    "count_parameters",
    "register",
    "registered",
]


def build_model(
    cfg: MLPConfig | CNNConfig | LCNNConfig | CustomModelConfig,
    input_shape: tuple[int, int, int],
    n_classes: int,
) -> nn.Module:
    """Build the network ``cfg`` describes for ``(C, H, W)`` images and ``n_classes`` classes.

    Raises ``ConfigError`` naming the block when the image is too small for the blocks, and
    ``ModelError`` when a factory raises, returns no module or logits of the wrong shape.
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {tuple(input_shape)}")
    channels, height, width = input_shape
    builder = MODELS.get(cfg.kind) or find_factory(cfg.kind)
    if builder is None:
        raise ConfigError(f"model.kind: {unknown_kind(cfg.kind)}")
    model = builder(cfg, (channels, height, width), n_classes)
    return apply_init(model, cfg.init)
