"""A 2-D locally-connected layer: a convolution whose weights are not shared across positions.

Keras had ``LocallyConnected2D``; PyTorch has no such layer, so it is written here. The input is cut into
patches with ``F.unfold`` and every output position multiplies its own patch by its own weight matrix in
one batched matmul (``torch.bmm`` over positions), so there is no Python loop over positions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution along one axis (floor division, as Conv2d and Keras do)."""
    return (size + 2 * padding - kernel) // stride + 1


class LocallyConnected2d(nn.Module):
    """Locally-connected 2-D layer with square kernels, zero padding and unshared weights.

    Parameters:
        weight: ``(L, in_channels·k·k, out_channels)`` where ``L = out_h·out_w``, one matrix per output
            position; row order matches ``F.unfold`` (channel-major, then kernel row, then kernel column),
            so ``weight[l]`` equals ``conv.weight.reshape(out, -1).T`` for an ``nn.Conv2d`` with the same
            filters at every position.
        bias: ``(out_channels, out_h, out_w)``, one per output position and channel, as Keras.

    ``fan_in = in·k·k`` and ``fan_out = out·k·k`` are those of the matching convolution: each output unit
    sees ``in·k·k`` inputs. (Keras computes fans from its 3-D kernel shape, which multiplies both by ``L``
    and makes Glorot/He weights ``sqrt(L)`` times smaller than a convolution's; we deliberately don't.)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: tuple[int, int],
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        height, width = input_size
        out_h = conv_output_size(height, kernel_size, stride, padding)
        out_w = conv_output_size(width, kernel_size, stride, padding)
        if out_h < 1 or out_w < 1:
            raise ValueError(
                f"a {height}×{width} input is too small for a {kernel_size}×{kernel_size} kernel "
                f"with padding {padding}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.input_size = (height, width)
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.output_size = (out_h, out_w)
        self.fan_in = in_channels * kernel_size * kernel_size
        self.fan_out = out_channels * kernel_size * kernel_size
        n_positions = out_h * out_w
        self.weight = nn.Parameter(torch.empty(n_positions, self.fan_in, out_channels))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, out_h, out_w))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's Conv2d default: U(±1/sqrt(fan_in)) for weight and bias.

        Conv2d's ``kaiming_uniform_(a=sqrt(5))`` reduces to this bound; computed here from ``fan_in``
        because ``nn.init`` would derive the fans from the 3-D weight shape, which is wrong for this layout.
        """
        bound = 1.0 / math.sqrt(self.fan_in)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != self.input_size:
            raise ValueError(
                f"LocallyConnected2d was built for {self.input_size[0]}×{self.input_size[1]} inputs, "
                f"got {tuple(x.shape[-2:])}"
            )
        n = x.shape[0]
        patches = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # (N, C·k·k, L)
        # (L, N, C·k·k) @ (L, C·k·k, out) -> (L, N, out): one matmul per position, batched.
        out = torch.bmm(patches.permute(2, 0, 1), self.weight)
        out = out.permute(1, 2, 0).reshape(n, self.out_channels, *self.output_size)
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"output_size={self.output_size}, bias={self.bias is not None}"
        )
