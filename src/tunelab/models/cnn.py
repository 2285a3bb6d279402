"""Convolutional and locally-connected networks: blocks, then a dense head.

Each block is ``conv{i}`` (or ``local{i}``), ``[bn{i}]``, ``act{i}``, ``[pool{i}]``, ``[drop{i}]``; then
``flatten``, the head ``dense{j}, [dense_bn{j}], dense_act{j}, [dense_drop{j}]`` and ``out``. Shapes are
worked out by arithmetic while building, so a configuration that shrinks the image to nothing is refused
with a sentence naming the block, before any tensor is allocated.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

from torch import nn

from tunelab.config import BlockConfig, CNNConfig, LCNNConfig
from tunelab.errors import ConfigError
from tunelab.models.layers import activation, dense_stack
from tunelab.models.locally_connected import LocallyConnected2d, conv_output_size

Shape = tuple[int, int, int]  # (channels, height, width)
Kind = Literal["conv", "local"]


def resolve_padding(block: BlockConfig) -> int:
    """Padding on each side: ``same`` → ``(kernel-1)//2``, ``valid`` → 0, an int → itself.

    ``(kernel-1)//2`` keeps the size for odd kernels at stride 1 and gives ``ceil(size/stride)`` at
    larger strides, as Keras' ``same`` does (torch's ``padding='same'`` refuses stride > 1). For an even
    kernel it is one short of Keras' asymmetric padding, so the output is one pixel smaller.
    """
    if block.padding == "same":
        return (block.kernel - 1) // 2
    if block.padding == "valid":
        return 0
    return block.padding


def _block(
    index: int, block: BlockConfig, shape: Shape, kind: Kind, batch_norm: bool
) -> tuple[list[tuple[str, nn.Module]], Shape]:
    """The layers of block ``index`` (0-based) applied to a ``(C, H, W)`` input, and the output shape."""
    channels, height, width = shape
    k, stride, pad = block.kernel, block.stride, resolve_padding(block)
    where = f"model.blocks[{index}]"
    out_h, out_w = conv_output_size(height, k, stride, pad), conv_output_size(width, k, stride, pad)
    if out_h < 1 or out_w < 1:
        raise ConfigError(
            f"{where}: the {height}×{width} input is too small for a {k}×{k} kernel with padding {pad}"
        )

    n = index + 1
    layer: nn.Module
    if kind == "conv":
        layer = nn.Conv2d(channels, block.filters, k, stride=stride, padding=pad, bias=block.bias)
    else:
        layer = LocallyConnected2d(
            channels, block.filters, (height, width), k, stride=stride, padding=pad, bias=block.bias
        )
    layers: list[tuple[str, nn.Module]] = [(f"{kind}{n}", layer)]
    if block.batch_norm or batch_norm:
        layers.append((f"bn{n}", nn.BatchNorm2d(block.filters)))
    layers.append((f"act{n}", activation(block.activation)))
    if block.pool is not None:
        size = block.pool_size
        if out_h < size or out_w < size:
            raise ConfigError(
                f"{where}: the {out_h}×{out_w} output of the {kind} layer is too small for "
                f"{size}×{size} {block.pool} pooling"
            )
        pool = nn.MaxPool2d(size) if block.pool == "max" else nn.AvgPool2d(size)
        layers.append((f"pool{n}", pool))
        out_h, out_w = out_h // size, out_w // size  # stride = size, no padding: floor, as Keras
    if block.dropout > 0:
        layers.append((f"drop{n}", nn.Dropout(block.dropout)))
    return layers, (block.filters, out_h, out_w)


def _build_spatial(
    cfg: CNNConfig | LCNNConfig, input_shape: Shape, n_classes: int, kind: Kind
) -> nn.Sequential:
    layers: list[tuple[str, nn.Module]] = []
    shape = input_shape
    for index, block in enumerate(cfg.blocks):
        block_layers, shape = _block(index, block, shape, kind, cfg.batch_norm)
        layers += block_layers
    layers.append(("flatten", nn.Flatten()))
    channels, height, width = shape
    layers += dense_stack(
        channels * height * width,
        cfg.dense,
        cfg.activations(),
        cfg.dropouts(),
        cfg.batch_norm,
        n_classes,
        tag="dense_",
    )
    return nn.Sequential(OrderedDict(layers))


def build_cnn(cfg: CNNConfig, input_shape: tuple[int, int, int], n_classes: int) -> nn.Sequential:
    """Convolution blocks (``conv1``, …), then the dense head; returns logits."""
    return _build_spatial(cfg, input_shape, n_classes, "conv")


def build_lcnn(cfg: LCNNConfig, input_shape: tuple[int, int, int], n_classes: int) -> nn.Sequential:
    """Locally-connected blocks (``local1``, …), then the dense head; returns logits."""
    return _build_spatial(cfg, input_shape, n_classes, "local")
