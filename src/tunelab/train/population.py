"""Train several configurations of one architecture at once, as one vectorised population.

Trials that differ only in learning rate, momentum, weight decay, schedule, initialisation, early
stopping or seed (a grid over those, or the seeds of ``repeats``) share every layer shape, and train
through the one loop (:func:`~tunelab.train.loop.train_members`) with the population engine
(:mod:`tunelab.train.engines.population`). Each member keeps its own seed (initial weights and batch
order), hyperparameters, schedule, early stopping and callbacks, so its result matches training it
alone (within float tolerance; dropout masks come from a different random stream). A member that
stops leaves the population while the others go on. MLPs of different widths, depths, activations
and dropout rates train together padded to one shape (:mod:`tunelab.train.padding`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch

from tunelab.config import MLPConfig, RunConfig
from tunelab.data import Splits
from tunelab.train.callbacks import EpochCallback, EpochWatcher
from tunelab.train.checkpoint import Checkpointer
from tunelab.train.engines.population import PopulationEngine
from tunelab.train.loop import train_members
from tunelab.train.optim import PopulationOptimizer
from tunelab.train.padding import differ
from tunelab.train.state import TrainResult

__all__ = ["Padding", "PopulationEngine", "PopulationOptimizer", "population_key", "train_population"]

Padding = Literal["none", "free", "any"]


def population_key(config: RunConfig, pad: Padding = "none") -> tuple[Any, ...]:
    """Configurations with the same key can train as one population.

    ``pad`` lets MLPs of different architectures share a key; they train padded to one shape
    (:mod:`tunelab.train.padding`): ``free``, MLPs whose layers have the same sizes but other
    activations or dropout rates (padding adds no arithmetic); ``any``, MLPs of any widths and depths.
    """
    model, tc = config.model, config.train
    shape: dict[str, Any] = model.model_dump(exclude={"init"})
    if pad != "none" and isinstance(model, MLPConfig):
        shape = {"kind": "mlp", "batch_norm": model.batch_norm}
        if pad == "free":
            shape["hidden"] = model.hidden
    return (
        repr(shape),
        config.data,
        tc.batch_size,
        tc.optimizer.name,
        tc.precision,
        tc.track_gradients,
        tc.eval_batch_size,
    )


def train_population(
    configs: Sequence[RunConfig],
    splits: Splits,
    callbacks: Sequence[Sequence[EpochCallback]] | None = None,
    device: str | torch.device | None = None,
    checkpoints: Sequence[Checkpointer | None] | None = None,
    watchers: Sequence[EpochWatcher | None] | None = None,
) -> list[TrainResult]:
    """Train ``configs`` (same :func:`population_key`) together; one result per configuration.

    MLPs of different architectures (same key with ``pad="any"``) train padded to one shape. With
    ``checkpoints`` (one per member, or None), each member's state is saved after its epochs as
    :func:`~tunelab.train.loop.train` saves a lone run's, and a member that finds a saved state
    continues from it, alone or in any population. ``watchers`` (one per member, or None) see
    each member's epochs as they end.
    """
    pad = differ([c.model for c in configs])
    if len({population_key(c, "any" if pad else "none") for c in configs}) != 1:
        raise ValueError("these configurations cannot train as one population (see population_key)")
    return train_members(PopulationEngine, configs, splits, callbacks, device, checkpoints, watchers)
