"""What one forward pass of a network costs, counted by PyTorch's own FLOP counter."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def forward_flops(model: nn.Module, sample: torch.Tensor) -> float | None:
    """FLOPs of ``model``'s forward pass on one ``sample`` (no batch axis): the matrix products and
    convolutions that dominate it. None where the counter cannot follow the network (a user's
    module doing something it does not know); the network's state and the RNG are left as they were.
    """
    was_training = model.training
    model.eval()  # batch norm takes one image and keeps its running statistics; dropout draws nothing
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(sample[None])
        return float(counter.get_total_flops())
    except Exception:  # an estimate only: without it the run trains as it did before it existed
        return None
    finally:
        model.train(was_training)
