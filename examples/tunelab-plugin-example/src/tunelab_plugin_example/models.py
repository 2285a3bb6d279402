"""``example-cnn``: a small CNN for images of any size and channel count."""

from __future__ import annotations

from torch import nn


def tiny_cnn(
    input_shape: tuple[int, int, int], n_classes: int, width: int = 8, depth: int = 2, dropout: float = 0.0
) -> nn.Module:
    """``depth`` blocks of 3×3 convolution, ReLU and 2×2 max pooling (while the image is at least
    2×2), then global average pooling, dropout and one linear layer: logits ``(N, n_classes)``.

    ``width`` filters in the first block, doubling with each block. tunelab calls it as
    ``tiny_cnn(input_shape, n_classes, **model.params)``.
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be at least 1, got depth={depth}, width={width}")
    channels, height, breadth = input_shape
    layers: list[nn.Module] = []
    for block in range(depth):
        filters = width * 2**block
        layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU()]
        if min(height, breadth) >= 2:
            layers.append(nn.MaxPool2d(2))
            height, breadth = height // 2, breadth // 2
        channels = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, n_classes)]
    return nn.Sequential(*layers)
