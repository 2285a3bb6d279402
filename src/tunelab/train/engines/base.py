"""What the training loop asks of an engine: the part of training that differs between a lone run
and a vectorised population.

The loop (:mod:`tunelab.train.loop`) owns the epochs, the batch order, the learning rates and each
member's bookkeeping (:class:`~tunelab.train.state.RunState`); an engine owns the members' networks
and optimizers and does the arithmetic. Its rows are the live members, in the order it was given
them; :meth:`Engine.drop` removes finished ones and the rows after them move up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from tunelab.models import LocallyConnected2d


@dataclass(frozen=True)
class EpochSums:
    """A member's training over one epoch: mean loss, accuracy, and mean |gradient| per weight layer."""

    loss: float
    accuracy: float
    grads: dict[str, float]  # by layer name, as the history's ``grad_<name>`` columns


class Engine(Protocol):
    """Steps, evaluates and holds the networks and optimizers of a set of members."""

    def begin_epoch(self, rates: Sequence[Sequence[float]]) -> None:
        """Start an epoch: training mode, zeroed sums, and each step's learning rate of each live
        member (``rates[step][row]``)."""
        ...

    def step(self, rows: torch.Tensor, at: int) -> None:
        """Train every live member on its batch (``rows[row]``: indices into the training split)
        with the learning rates of this epoch's step ``at``."""
        ...

    def sums(self) -> list[EpochSums]:
        """Each live member's training sums of the epoch so far (read once, at its end)."""
        ...

    def evaluate(self) -> list[tuple[float, float]]:
        """Each live member's validation loss and accuracy."""
        ...

    def model_state(self, row: int) -> dict[str, torch.Tensor]:
        """A copy of member ``row``'s weights, as its own model's ``state_dict()``."""
        ...

    def optimizer_state(self, row: int) -> dict[str, Any]:
        """Member ``row``'s optimizer, as a lone run's ``torch.optim`` ``state_dict()`` (it may share
        tensors with the engine: save or load it before the next step)."""
        ...

    def load(self, row: int, model_state: dict[str, torch.Tensor], optimizer_state: dict[str, Any]) -> None:
        """Set member ``row``'s weights and optimizer from what :meth:`model_state` and
        :meth:`optimizer_state` gave (this engine's or the other's)."""
        ...

    def drop(self, rows: Sequence[int]) -> None:
        """Stop training the members in ``rows`` (they have finished)."""
        ...


def weight_layers(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weight of every dense, convolutional and locally-connected layer, by module name."""
    kinds = (nn.Linear, nn.Conv2d, LocallyConnected2d)
    return {name: module.weight for name, module in model.named_modules() if isinstance(module, kinds)}
