from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tunelab.models import LocallyConnected2d, count_parameters


def reference(layer: LocallyConnected2d, x: torch.Tensor) -> torch.Tensor:
    """The definition, one output position at a time: each position's patch times its own matrix."""
    k, s, p = layer.kernel_size, layer.stride, layer.padding
    out_h, out_w = layer.output_size
    padded = F.pad(x, (p, p, p, p))
    columns = []
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[:, :, i * s : i * s + k, j * s : j * s + k].reshape(x.shape[0], -1)  # (N, C·k·k)
            value = patch @ layer.weight[i * out_w + j]  # (N, out)
            if layer.bias is not None:
                value = value + layer.bias[:, i, j]
            columns.append(value)
    return torch.stack(columns, dim=-1).reshape(x.shape[0], layer.out_channels, out_h, out_w)


# (in, out, (H, W), kernel, stride, padding)
CASES = [
    (1, 4, (8, 8), 3, 1, 0),
    (3, 5, (9, 7), 3, 2, 1),
    (2, 3, (6, 6), 1, 1, 0),
    (4, 2, (10, 11), 5, 3, 2),
    (2, 6, (5, 8), 2, 1, 1),
    (8, 16, (14, 14), 3, 2, 0),  # USPS LCNN layer 2: 14 -> 6
]


@pytest.mark.parametrize(("c_in", "c_out", "size", "k", "stride", "pad"), CASES)
def test_forward_and_gradients_match_reference(c_in, c_out, size, k, stride, pad):
    torch.manual_seed(0)
    layer = LocallyConnected2d(c_in, c_out, size, k, stride=stride, padding=pad).double()
    with torch.no_grad():
        layer.bias.normal_()  # make a wrong bias layout visible
    x = torch.randn(3, c_in, *size, dtype=torch.float64, requires_grad=True)

    out = layer(x)
    expected = reference(layer, x)
    assert out.shape == (3, c_out, *layer.output_size)
    torch.testing.assert_close(out, expected)

    upstream = torch.randn_like(out)
    grads = torch.autograd.grad((out * upstream).sum(), (x, layer.weight, layer.bias))
    grads_ref = torch.autograd.grad((expected * upstream).sum(), (x, layer.weight, layer.bias))
    for got, want in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize(("c_in", "c_out", "size", "k", "stride", "pad"), CASES)
def test_parameter_count_and_shapes(c_in, c_out, size, k, stride, pad):
    layer = LocallyConnected2d(c_in, c_out, size, k, stride=stride, padding=pad)
    out_h = (size[0] + 2 * pad - k) // stride + 1
    out_w = (size[1] + 2 * pad - k) // stride + 1
    n_positions = out_h * out_w
    assert layer.output_size == (out_h, out_w)
    assert layer.weight.shape == (n_positions, c_in * k * k, c_out)
    assert layer.bias.shape == (c_out, out_h, out_w)
    assert count_parameters(layer) == n_positions * (c_in * k * k * c_out) + n_positions * c_out
    assert (layer.fan_in, layer.fan_out) == (c_in * k * k, c_out * k * k)


@pytest.mark.parametrize(("c_in", "c_out", "size", "k", "stride", "pad"), CASES)
def test_equal_weights_everywhere_is_a_convolution(c_in, c_out, size, k, stride, pad):
    torch.manual_seed(1)
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad).double()
    layer = LocallyConnected2d(c_in, c_out, size, k, stride=stride, padding=pad).double()
    with torch.no_grad():
        layer.weight.copy_(conv.weight.reshape(c_out, -1).T.expand_as(layer.weight))
        layer.bias.copy_(conv.bias[:, None, None].expand_as(layer.bias))
    x = torch.randn(2, c_in, *size, dtype=torch.float64)
    torch.testing.assert_close(layer(x), conv(x))


def test_batch_of_one_and_no_bias():
    torch.manual_seed(2)
    layer = LocallyConnected2d(3, 4, (7, 7), 3, bias=False).double()
    assert layer.bias is None
    assert count_parameters(layer) == 25 * 27 * 4
    x = torch.randn(1, 3, 7, 7, dtype=torch.float64)
    out = layer(x)
    assert out.shape == (1, 4, 5, 5)
    torch.testing.assert_close(out, reference(layer, x))
    # the batch dimension is independent: a sample alone gives what it gives inside a batch
    batch = torch.cat([x, torch.randn(2, 3, 7, 7, dtype=torch.float64)])
    torch.testing.assert_close(layer(batch)[:1], out)


def test_default_initialisation_matches_conv2d_bounds():
    torch.manual_seed(3)
    layer = LocallyConnected2d(16, 32, (12, 12), 3)
    bound = 1 / math.sqrt(16 * 9)
    for tensor in (layer.weight, layer.bias):
        assert tensor.abs().max() <= bound
        assert tensor.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    before = layer.weight.detach().clone()
    layer.reset_parameters()
    assert not torch.equal(before, layer.weight)


def test_refuses_wrong_input_size_and_too_small_input():
    layer = LocallyConnected2d(1, 2, (8, 8), 3)
    with pytest.raises(ValueError, match="built for 8×8"):
        layer(torch.zeros(1, 1, 9, 8))
    with pytest.raises(ValueError, match="too small for a 5×5 kernel"):
        LocallyConnected2d(1, 2, (4, 4), 5)
